"""Reading the audit log: the public checkpoint, key and proofs; records for their owners and admins.

Residents read the records of their own cameras, admins any record; officers none. Each record comes with its
exact bytes, the log's signature over them and an inclusion proof against the checkpoint given with it, so the
page (or `porchlight audit prove`) can check it. Every read of records is itself recorded.
"""

from __future__ import annotations

import base64
from typing import Any

from aiohttp import web

from hub.audit.http import record
from hub.audit.log import describe
from hub.audit.record import Kind, Record
from hub.auth.identity import ensure_owner, ensure_role, public
from hub.errors import BadRequest
from hub.keys import AUDIT, STORE
from hub.store.base import Role

MAX_PAGE = 1000


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


@public
async def verifier_key(request: web.Request) -> web.Response:
    """GET: the log's origin and verifier key (pin it out of band: a key fetched from the hub proves nothing)."""
    audit = request.app[AUDIT]
    return web.json_response({"origin": audit.origin, "verifier_key": audit.signer.verifier.text()})


@public
async def checkpoint(request: web.Request) -> web.Response:
    """GET: a signed checkpoint of the whole log as it is now."""
    return web.json_response((await request.app[AUDIT].checkpoint()).as_json())


async def records(request: web.Request) -> web.Response:
    """GET ?camera=ID (the owner or an admin) or ?start=&limit= (admins): records with inclusion proofs."""
    identity = ensure_role(request, Role.RESIDENT, Role.ADMIN)
    audit = request.app[AUDIT]
    camera_id = request.query.get("camera")
    found: list[tuple[int, Record]]
    if camera_id is not None:
        camera = await request.app[STORE].get_camera(camera_id)
        if identity.account.role is Role.RESIDENT:
            ensure_owner(identity, camera)
        found = await audit.camera_records(camera_id)
    else:
        ensure_role(request, Role.ADMIN)
        start, limit = _int(request, "start", 0), min(_int(request, "limit", 100), MAX_PAGE)
        found = list(enumerate(await audit.read(start, start + limit), start=start))
    head = await audit.checkpoint()  # after the read, so it covers every record returned
    answer: list[dict[str, Any]] = []
    for seq, item in found:
        proof = await audit.inclusion_proof(seq, head.size)
        answer.append({"seq": seq, **describe(item), "proof": _b64(proof)})
    scope: dict[str, Any] = {"scope": "camera", "camera": camera_id} if camera_id else {"scope": "all"}
    await record(request, Kind.AUDIT_READ, {**scope, "records": len(answer)})
    return web.json_response({"checkpoint": head.as_json(), "records": answer})


@public
async def inclusion(request: web.Request) -> web.Response:
    """GET ?seq=&size=: the inclusion proof of one record in the tree of `size` records (public: only hashes)."""
    seq, size = _int(request, "seq"), _int(request, "size")
    try:
        proof = await request.app[AUDIT].inclusion_proof(seq, size)
    except ValueError as exc:
        raise BadRequest(str(exc), "bad_proof_request") from exc
    return web.json_response({"seq": seq, "size": size, "proof": _b64(proof)})


@public
async def consistency(request: web.Request) -> web.Response:
    """GET ?from=&to=: the proof that the log of `from` records is a prefix of the one of `to` records."""
    old, new = _int(request, "from"), _int(request, "to")
    try:
        proof = await request.app[AUDIT].consistency_proof(old, new)
    except ValueError as exc:
        raise BadRequest(str(exc), "bad_proof_request") from exc
    return web.json_response({"from": old, "to": new, "proof": _b64(proof)})
