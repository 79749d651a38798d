"""Reading the audit log: the public checkpoint, key and proofs; records for their owners and admins.

Residents read the records of their own cameras, admins any record; officers none. Each record comes with its
exact bytes, the log's signature over them and an inclusion proof against the checkpoint given with it, so the
page (or `porchlight audit check`) can check it.

Admins may filter (`officer`, `kind`, `from`, `to`, beside `camera`: hub/api/audit_filter.py); a filtered page
holds the matching records among at most `MAX_SCAN` looked at, and its `next` is where the next look starts, so a
page may hold fewer records than asked (even none) and still have a `next`.

Records come in pages: `?after=SEQ&limit=N` (N at most `MAX_PAGE`, `DEFAULT_PAGE` when not given) answers the
records after SEQ that the page's checkpoint covers, in log order, and `next`: the SEQ to ask after for the next
page, or null once the checkpoint's last record was given. Each page carries its own checkpoint (taken before the
page is read) and every proof in it is against that checkpoint.

What an owner reads holds no client address: records carry only a salted commitment (hub/audit/sources.py), and
records written before that, whose signed bytes hold the address itself, are given to owners redacted: the hash
of their leaf (so the proof still places them in the log) and their fields without `source`, but not their bytes
or signature, which would give the address away. Admins read the kept addresses at `GET /api/audit/sources`.

Reads are on the record at most once per reader, scope and hour (hub/audit/reads.py).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from aiohttp import web

from hub.api.audit_filter import RecordFilter, record_filter
from hub.audit import sources
from hub.audit.http import record
from hub.audit.log import AuditLog, describe
from hub.audit.merkle import leaf_hash
from hub.audit.record import Kind, Record, RecordError
from hub.auth.identity import Identity, ensure_owner, ensure_role, public
from hub.auth.throttle import source
from hub.errors import BadRequest
from hub.keys import AUDIT, STORE, THROTTLE
from hub.store.base import Role

DEFAULT_PAGE = 500
MAX_PAGE = 1000
MAX_SCAN = 20_000  # records a filtered page looks at, at most
SCAN_CHUNK = 2_000


def _b64(values: list[bytes]) -> list[str]:
    return [base64.b64encode(v).decode() for v in values]


def _int(request: web.Request, name: str, default: int | None = None) -> int:
    raw = request.query.get(name)
    if raw is None and default is not None:
        return default
    try:
        value = int(raw or "")
    except ValueError:
        raise BadRequest(f"{name} must be a whole number", "bad_query") from None
    if value < 0:
        raise BadRequest(f"{name} must not be negative", "bad_query")
    return value


def _page(request: web.Request) -> tuple[int, int]:
    """(after, limit) from `?after=SEQ&limit=N` (or the older `?start=SEQ`, the first record wanted)."""
    limit = min(_int(request, "limit", DEFAULT_PAGE), MAX_PAGE)
    if limit < 1:
        raise BadRequest("limit must be at least 1", "bad_query")
    if "after" in request.query:
        return _int(request, "after"), limit
    return _int(request, "start", 0) - 1, limit


def limit_public(request: web.Request) -> None:
    """Count a request to a public route against its client address's allowance (429 once spent)."""
    throttle = request.app[THROTTLE]
    throttle.take((throttle.public_per_source, source(request)))


@public
async def verifier_key(request: web.Request) -> web.Response:
    """GET: the log's origin and verifier key (pin it out of band: a key fetched from the hub proves nothing)."""
    limit_public(request)
    audit = request.app[AUDIT]
    return web.json_response({"origin": audit.origin, "verifier_key": audit.signer.verifier.text()})


@public
async def checkpoint(request: web.Request) -> web.Response:
    """GET: a signed checkpoint of the whole log as it is now."""
    limit_public(request)
    return web.json_response((await request.app[AUDIT].checkpoint()).as_json())


async def records(request: web.Request) -> web.Response:
    """GET ?camera=ID (the owner or an admin) or without a camera (admins), `after` and `limit`: one page of
    records with inclusion proofs against the page's checkpoint, and the cursor of the next page."""
    identity = ensure_role(request, Role.RESIDENT, Role.ADMIN)
    audit = request.app[AUDIT]
    camera_id = request.query.get("camera")
    after, limit = _page(request)
    if camera_id is not None:
        camera = await request.app[STORE].get_camera(camera_id)
        if identity.account.role is Role.RESIDENT:
            ensure_owner(identity, camera)
    else:
        ensure_role(request, Role.ADMIN)
    wanted = record_filter(request)
    if not wanted.empty:
        ensure_role(request, Role.ADMIN)
    head = await audit.checkpoint()  # first: the page holds only records it covers
    found: list[tuple[int, Record]]
    if wanted.empty:
        if camera_id is not None:
            found = await audit.camera_records(camera_id, after, limit + 1)
        else:
            found = list(enumerate(await audit.read(after + 1, min(head.size, after + 2 + limit)), start=after + 1))
        found = [(seq, item) for seq, item in found if seq < head.size]
        more = len(found) > limit
        found = found[:limit]
        next_after = found[-1][0] if more and found else None
    else:
        found, next_after = await _scan(audit, camera_id, wanted, after, limit, head.size)
    owner = identity.account.role is Role.RESIDENT
    answer: list[dict[str, Any]] = []
    for seq, item in found:
        proof = _b64(await audit.inclusion_proof(seq, head.size))
        answer.append(_for_owner(seq, item, proof) if owner else {"seq": seq, **describe(item), "proof": proof})
    scope: dict[str, Any] = {"scope": "camera", "camera": camera_id} if camera_id else {"scope": "all"}
    if not wanted.empty:
        scope["filter"] = wanted.as_fields()
    await _on_the_record(request, identity, scope, len(answer))
    return web.json_response({"checkpoint": head.as_json(), "records": answer, "next": next_after})


async def _scan(
    audit: AuditLog, camera_id: str | None, wanted: RecordFilter, after: int, limit: int, size: int
) -> tuple[list[tuple[int, Record]], int | None]:
    """The records after `after` (below `size`) that match, at most `limit` of them among at most `MAX_SCAN`
    looked at, and where the next look starts (None once the log up to `size` has been looked at)."""
    found: list[tuple[int, Record]] = []
    position, looked = after, 0
    while looked < MAX_SCAN:
        chunk = min(SCAN_CHUNK, MAX_SCAN - looked)
        if camera_id is not None:
            batch = [(seq, item) for seq, item in await audit.camera_records(camera_id, position, chunk) if seq < size]
        else:
            stop = min(size, position + 1 + chunk)
            batch = (
                list(enumerate(await audit.read(position + 1, stop), start=position + 1)) if stop > position + 1 else []
            )
        if not batch:
            return found, None
        for seq, item in batch:
            position, looked = seq, looked + 1
            if wanted.matches(item):
                found.append((seq, item))
                if len(found) == limit:
                    return found, position if position < size - 1 else None
    return found, position if position < size - 1 else None


def _for_owner(seq: int, item: Record, proof: list[str]) -> dict[str, Any]:
    """A record as its camera's owner gets it: whole, unless its signed bytes hold a client address (records
    written before addresses left the log); then redacted, with the leaf hash its proof starts from."""
    try:
        parsed = json.loads(item.body)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict) or parsed.get(sources.LEGACY) is None:
        return {"seq": seq, **describe(item), "proof": proof}
    shown = {name: value for name, value in parsed.items() if name != sources.LEGACY}
    return {
        "seq": seq,
        "leaf": base64.b64encode(leaf_hash(item.body)).decode(),
        "fields": shown,
        "redacted": [sources.LEGACY],
        "proof": proof,
    }


async def _on_the_record(request: web.Request, identity: Identity, scope: dict[str, Any], count: int) -> None:
    """An audit.read record for the first such read of this reader in the current window (hub/audit/reads.py)."""
    key = json.dumps([identity.account.id, scope], sort_keys=True, separators=(",", ":"))
    if await request.app[AUDIT].reads.first(key):
        await record(request, Kind.AUDIT_READ, {**scope, "records": count})


async def addresses(request: web.Request) -> web.Response:
    """GET ?seq=N (repeatable) or ?after=SEQ&limit=N (admins): the client address kept for each record, with its
    salt and whether the record's signed commitment matches it; records written before addresses left the log
    give the address their bytes hold. For investigations; every lookup of the same records is on the record
    once an hour."""
    identity = ensure_role(request, Role.ADMIN)
    audit = request.app[AUDIT]
    head = await audit.checkpoint()
    asked = request.query.getall("seq", [])
    if asked:
        if len(asked) > MAX_PAGE:
            raise BadRequest(f"at most {MAX_PAGE} records at a time", "bad_query")
        try:
            seqs = sorted({int(value) for value in asked})
        except ValueError:
            raise BadRequest("seq must be a whole number", "bad_query") from None
        if seqs[0] < 0 or seqs[-1] >= head.size:
            raise BadRequest(f"the log holds records 0 to {head.size - 1}", "bad_query")
    else:
        after, limit = _page(request)
        seqs = list(range(after + 1, min(head.size, after + 1 + limit)))
    kept = await audit.sources(seqs)
    found = await audit.store.read_at(seqs) if seqs else []
    answer = []
    for seq, item in zip(seqs, found, strict=True):
        try:
            fields = item.fields()
        except RecordError:
            fields = {}  # altered behind the log's back: `porchlight audit verify` names it
        entry: dict[str, Any] = {"seq": seq, "kind": fields.get("kind")}
        source_kept = kept.get(seq)
        if source_kept is not None:
            entry.update(
                address=source_kept.address,
                salt=base64.b64encode(source_kept.salt).decode(),
                commitment_matches=sources.matches(source_kept, fields.get(sources.COMMITMENT)),
            )
        elif isinstance(fields.get(sources.LEGACY), str):
            entry.update(address=fields[sources.LEGACY], in_record=True)
        else:
            continue  # the hub's own events, and the CLI's, have no address
        answer.append(entry)
    span = {"scope": "sources", "first": seqs[0] if seqs else None, "last": seqs[-1] if seqs else None}
    await _on_the_record(request, identity, span, len(answer))
    return web.json_response({"checkpoint": head.as_json(), "sources": answer})


@public
async def inclusion(request: web.Request) -> web.Response:
    """GET ?seq=&size=: the inclusion proof of one record in the tree of `size` records (public: only hashes)."""
    limit_public(request)
    seq, size = _int(request, "seq"), _int(request, "size")
    try:
        proof = await request.app[AUDIT].inclusion_proof(seq, size)
    except ValueError as exc:
        raise BadRequest(str(exc), "bad_proof_request") from exc
    return web.json_response({"seq": seq, "size": size, "proof": _b64(proof)})


@public
async def consistency(request: web.Request) -> web.Response:
    """GET ?from=&to=: the proof that the log of `from` records is a prefix of the one of `to` records."""
    limit_public(request)
    old, new = _int(request, "from"), _int(request, "to")
    try:
        proof = await request.app[AUDIT].consistency_proof(old, new)
    except ValueError as exc:
        raise BadRequest(str(exc), "bad_proof_request") from exc
    return web.json_response({"from": old, "to": new, "proof": _b64(proof)})
