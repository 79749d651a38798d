"""`porchlight audit ...`: print the checkpoint, verify the whole log, prove and check records.

porchlight audit key                      the verifier key to pin
porchlight audit checkpoint > saved.txt   a fresh signed checkpoint
porchlight audit verify --checkpoint saved.txt [--key VKEY]
porchlight audit prove --seq 12 [--size N] | --from 100 [--to N]
porchlight audit check page1.json [page2.json ...] --key VKEY
                                          (what GET /api/audit/records answered, one page or several, each
                                          file a page or a JSON list of pages; no store needed)
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from hub.audit.checkpoint import CheckpointError, open_checkpoint
from hub.audit.log import AuditLog
from hub.audit.merkle import ProofError, leaf_hash, verify_inclusion
from hub.audit.record import Record
from hub.audit.setup import open_audit, open_audit_store, signer_for
from hub.audit.signing import KeyFormatError, Verifier
from hub.audit.verify import verify_log
from hub.config import Config
from hub.store.audit_base import AuditStore

CHUNK = 10_000


def add_parser(sub: Any) -> None:
    """The `audit` subcommands."""
    audit = sub.add_parser("audit", help="the audit log").add_subparsers(dest="action", required=True)
    audit.add_parser("key", help="print the log's verifier key")
    audit.add_parser("checkpoint", help="print a fresh signed checkpoint")
    verify = audit.add_parser("verify", help="check the whole log against a saved checkpoint")
    verify.add_argument("--checkpoint", type=Path, required=True)
    verify.add_argument("--key", help="the verifier key to trust (default: the configured signer's)")
    prove = audit.add_parser("prove", help="print and check an inclusion or a consistency proof")
    what = prove.add_mutually_exclusive_group(required=True)
    what.add_argument("--seq", type=int, help="the record to prove (inclusion)")
    what.add_argument("--from", dest="old", type=int, help="the older tree size (consistency)")
    prove.add_argument("--size", "--to", dest="size", type=int, help="the tree size (default: the whole log)")
    check = audit.add_parser("check", help="check records and proofs saved from GET /api/audit/records")
    check.add_argument("file", type=Path, nargs="+", help="saved pages, in the order they were read")
    check.add_argument("--key", required=True)


def _verifier(config: Config, key: str | None) -> Verifier:
    try:
        return Verifier.parse(key) if key else signer_for(config).verifier
    except KeyFormatError as exc:
        raise SystemExit(f"porchlight audit: {exc}") from None


async def run(args: argparse.Namespace, config: Config) -> int:
    """Run one audit subcommand; the exit status."""
    if args.action == "check":
        return check_file(args.file, _verifier(config, args.key))
    if args.action == "key":
        print(signer_for(config).verifier.text())
        return 0
    if args.action == "verify":
        return await _verify(config, args.checkpoint, _verifier(config, args.key))
    audit = await open_audit(config, "cli", background=False)
    try:
        if args.action == "checkpoint":
            print((await audit.checkpoint()).note, end="")
            return 0
        return await _prove(audit, args)
    finally:
        await audit.close()


async def _records(store: AuditStore) -> AsyncIterator[Record]:
    start = 0
    while chunk := await store.read(start, start + CHUNK):
        for record in chunk:
            yield record
        start += len(chunk)


async def _verify(config: Config, path: Path, verifier: Verifier) -> int:
    try:
        saved = open_checkpoint(
            await asyncio.to_thread(path.read_text, encoding="utf-8"), verifier, config.audit.origin
        )
    except (OSError, CheckpointError) as exc:
        print(f"the saved checkpoint cannot be used: {exc}", file=sys.stderr)
        return 2
    store = await open_audit_store(config)
    try:
        report = await verify_log(_records(store), saved, verifier)
    finally:
        await store.close()
    if report.ok:
        print(f"ok: {report.size} records; the first {saved.size} match the saved checkpoint; every signature holds")
        return 0
    print(f"FAILED: {len(report.findings)} problem(s) in a log of {report.size} records:")
    for finding in report.findings:
        print(f"  {finding}")
    return 1


def _b64(values: list[bytes]) -> list[str]:
    return [base64.b64encode(v).decode() for v in values]


async def _prove(audit: AuditLog, args: argparse.Namespace) -> int:
    head = await audit.checkpoint()
    size = head.size if args.size is None else args.size
    try:
        if args.seq is not None:
            found = await audit.read(args.seq, args.seq + 1)
            if not found:
                raise ValueError(f"there is no record {args.seq}")
            item = found[0]
            proof = await audit.inclusion_proof(args.seq, size)
            if size == head.size:
                verify_inclusion(leaf_hash(item.body), args.seq, size, proof, head.root)
            out: dict[str, Any] = {"seq": args.seq, "size": size, "record": item.body.decode(), "proof": _b64(proof)}
        else:
            proof = await audit.consistency_proof(args.old, size)
            out = {"from": args.old, "to": size, "proof": _b64(proof)}
    except (ValueError, ProofError) as exc:
        print(f"porchlight audit prove: {exc}", file=sys.stderr)
        return 2
    out["checkpoint"] = head.note
    print(json.dumps(out, indent=2))
    return 0


def _pages(paths: Path | list[Path]) -> list[dict[str, Any]]:
    """Every saved page, in order (a file holds one page, or a JSON list of pages)."""
    pages: list[dict[str, Any]] = []
    for path in [paths] if isinstance(paths, Path) else paths:
        data = json.loads(path.read_text(encoding="utf-8"))
        pages.extend(data if isinstance(data, list) else [data])
    return pages


def _check_item(item: dict[str, Any], verifier: Verifier, size: int, root: bytes) -> bool:
    """Check one record of a page against its checkpoint; True when it was given redacted (only its leaf hash:
    its bytes held a client address), so only its place in the log could be checked."""
    seq = item["seq"]
    proof = [base64.b64decode(p) for p in item["proof"]]
    if "record" not in item:
        leaf = base64.b64decode(item["leaf"], validate=True)
        verify_inclusion(leaf, seq, size, proof, root)
        return True
    body = item["record"].encode("ascii")
    if not verifier.check_record(body, base64.b64decode(item["signature"])):
        raise ProofError(f"record {seq}: its signature does not verify")
    if Record(body, b"").fields().get("seq") != seq:
        raise ProofError(f"record {seq}: its text says it is another record")
    verify_inclusion(leaf_hash(body), seq, size, proof, root)
    return False


def check_file(paths: Path | list[Path], verifier: Verifier) -> int:
    """Check saved answers of GET /api/audit/records (one page or several, in the order read): each page's
    checkpoint signature, each record's signature and inclusion proof against its page's checkpoint, and that
    the pages follow one another (each record once, in log order). Returns the exit status."""
    records = redacted = 0
    last_seq = -1
    sizes: list[int] = []
    try:
        pages = _pages(paths)
        if not pages:
            raise ValueError("no page to check")
        for page in pages:
            head = open_checkpoint(page["checkpoint"]["note"], verifier)
            sizes.append(head.size)
            for item in page["records"]:
                if not isinstance(item["seq"], int) or item["seq"] <= last_seq:
                    raise ValueError(
                        f"record {item['seq']} comes after record {last_seq}: pages overlap or are out of order"
                    )
                redacted += _check_item(item, verifier, head.size, head.root)
                last_seq = item["seq"]
                records += 1
    except (OSError, ValueError, KeyError, TypeError, CheckpointError) as exc:
        print(f"FAILED: {exc}")
        return 1
    checkpoints = (
        f"the log of {sizes[0]} records the checkpoint signs"
        if len(set(sizes)) == 1
        else (f"the logs the {len(sizes)} pages' checkpoints sign ({min(sizes)} to {max(sizes)} records)")
    )
    print(f"ok: {records} record(s) are in {checkpoints}")
    if redacted:
        print(
            f"{redacted} of them came without their text (it holds a client address, kept from owners): "
            "only their place in the log was checked"
        )
    following = pages[-1].get("next")
    if following is not None:
        print(f"more pages follow: ask again with after={following}")
    return 0
