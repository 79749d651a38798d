"""The audit log as the hub uses it: ordering, group commit, failing closed, checkpoints and proofs."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from hub.audit import sources
from hub.audit.checkpoint import open_checkpoint
from hub.audit.log import AuditKeyMismatch, AuditLog
from hub.audit.merkle import leaf_hash, verify_consistency, verify_inclusion
from hub.audit.record import Kind
from hub.audit.signing import Signer
from hub.errors import AuditUnavailable
from hub.store.audit_base import AuditStore
from hub.store.audit_redis import RedisAuditStore
from hub.store.audit_sqlite import SqliteAuditStore
from tests.support.redis_server import RedisServer

ORIGIN = "porchlight.test/audit"
OpenStore = Callable[[], Awaitable[AuditStore]]


@pytest.fixture(params=["sqlite", "redis"])
async def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[OpenStore]:
    """Opens stores on one backend: the same SQLite file, or the same Redis keys."""
    if request.param == "sqlite":

        async def open_one() -> AuditStore:
            return await SqliteAuditStore.open(tmp_path / "audit.sqlite3", write_timeout=0.5)
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        prefix = f"t{uuid.uuid4().hex[:8]}:"

        async def open_one() -> AuditStore:
            return await RedisAuditStore.open(server.url, prefix=prefix, connect_timeout=1, socket_timeout=0.5)

    yield open_one


@pytest.fixture
def signer() -> Signer:
    return Signer.generate(ORIGIN)


async def _open(open_store: OpenStore, signer: Signer, hub: str = "hub-a") -> AuditLog:
    return await AuditLog.open(await open_store(), signer, origin=ORIGIN, hub=hub, checkpoint_seconds=0)


async def test_records_get_positions_in_order_and_say_who_and_where(open_store: OpenStore, signer: Signer) -> None:
    audit = await _open(open_store, signer)
    try:
        actor = {"id": 3, "username": "olivia", "role": "officer", "agency": "pd"}
        first = await audit.append(
            Kind.VIEW_REQUESTED, {"camera": "cam", "case": "C-1"}, actor=actor, source="10.0.0.9"
        )
        second = await audit.append(Kind.LOGIN_FAILED, {"username": "x", "why": "bad_password"})
        assert (first, second) == (0, 1)
        [record] = await audit.read(0, 1)
        fields = record.fields()
        assert fields["seq"] == 0 and fields["kind"] == "view.requested" and fields["hub"] == "hub-a"
        assert fields["actor"] == actor and fields["case"] == "C-1"
        # The address is not in the record: a salted commitment is, and the address is kept beside the log.
        assert b"10.0.0.9" not in record.body and "source" not in fields
        kept = await audit.sources([0, 1])
        assert list(kept) == [0] and kept[0].address == "10.0.0.9" and len(kept[0].salt) == 16
        assert sources.matches(kept[0], fields["source_commitment"])
        assert fields["time"].endswith("Z") and len(fields["time"]) == len("2026-01-01T00:00:00.00Z")
        assert signer.verifier.check_record(record.body, record.signature)
        assert [seq for seq, _ in await audit.camera_records("cam")] == [0]
    finally:
        await audit.close()


async def test_concurrent_appends_share_writes_and_keep_one_order(open_store: OpenStore, signer: Signer) -> None:
    audit = await _open(open_store, signer)
    try:
        seqs = await asyncio.gather(*(audit.append(Kind.LOGOUT, {"n": i}) for i in range(300)))
        assert sorted(seqs) == list(range(300))  # type: ignore[type-var]
        records = await audit.read(0, 300)
        assert [r.fields()["seq"] for r in records] == list(range(300))
        # Each caller got the position its own record landed at.
        assert all(records[seq].fields()["n"] == i for i, seq in enumerate(seqs))  # type: ignore[index]
    finally:
        await audit.close()


async def test_two_hubs_on_one_store_interleave_into_one_total_order(open_store: OpenStore, signer: Signer) -> None:
    a, b = await _open(open_store, signer, "hub-a"), await _open(open_store, signer, "hub-b")
    try:
        await asyncio.gather(
            *(a.append(Kind.LOGOUT, {"n": i}) for i in range(50)), *(b.append(Kind.LOGOUT, {"n": i}) for i in range(50))
        )
        records = await a.read(0, 200)
        assert [r.fields()["seq"] for r in records] == list(range(100))
        assert sorted(r.fields()["hub"] for r in records).count("hub-b") == 50
        # Both hubs sign the same checkpoint for the same log.
        ca, cb = await a.checkpoint(), await b.checkpoint()
        assert (ca.size, ca.root) == (cb.size, cb.root) == (100, ca.root)
    finally:
        await a.close()
        await b.close()


async def test_checkpoints_and_proofs_verify(open_store: OpenStore, signer: Signer) -> None:
    audit = await _open(open_store, signer)
    try:
        for i in range(5):
            await audit.append(Kind.LOGOUT, {"n": i})
        old = await audit.checkpoint()
        assert old is await audit.checkpoint()  # unchanged log: the same checkpoint
        for i in range(6):
            await audit.append(Kind.LOGOUT, {"n": i})
        new = await audit.checkpoint()
        assert open_checkpoint(new.note, signer.verifier, ORIGIN).size == 11
        assert await audit.store.checkpoint() == new.note and await audit.store.checkpoint(5) == old.note
        for seq, record in enumerate(await audit.read(0, 11)):
            proof = await audit.inclusion_proof(seq, new.size)
            verify_inclusion(leaf_hash(record.body), seq, new.size, proof, new.root)
        verify_consistency(old.size, new.size, old.root, new.root, await audit.consistency_proof(old.size, new.size))
    finally:
        await audit.close()


async def test_a_second_hub_catches_up_before_signing(open_store: OpenStore, signer: Signer) -> None:
    a = await _open(open_store, signer, "hub-a")
    b = await _open(open_store, signer, "hub-b")
    try:
        for i in range(3):
            await a.append(Kind.LOGOUT, {"n": i})
        checkpoint = await b.checkpoint()
        assert checkpoint.size == 3 and checkpoint.root == (await a.checkpoint()).root
        assert await b.append(Kind.LOGOUT, {}) == 3  # b writes after a's records, not over them
    finally:
        await a.close()
        await b.close()


async def test_a_log_started_with_another_key_refuses_ours(open_store: OpenStore, signer: Signer) -> None:
    audit = await _open(open_store, signer)
    await audit.close()
    store = await open_store()
    with pytest.raises(AuditKeyMismatch):
        await AuditLog.open(store, Signer.generate(ORIGIN), origin=ORIGIN, hub="h", checkpoint_seconds=0)
    await store.close()


async def test_reopened_log_keeps_its_tree(open_store: OpenStore, signer: Signer) -> None:
    audit = await _open(open_store, signer)
    for i in range(7):
        await audit.append(Kind.LOGOUT, {"n": i})
    before = await audit.checkpoint()
    await audit.close()
    again = await _open(open_store, signer)
    try:
        assert (await again.checkpoint()).root == before.root
        assert await again.append(Kind.LOGOUT, {}) == 7
    finally:
        await again.close()


async def test_unwritable_sqlite_fails_required_events_and_retries_the_others(tmp_path: Path, signer: Signer) -> None:
    path = tmp_path / "audit.sqlite3"
    audit = await AuditLog.open(
        await SqliteAuditStore.open(path, write_timeout=0.3), signer, origin=ORIGIN, hub="h", checkpoint_seconds=0
    )
    blocker = sqlite3.connect(path, isolation_level=None)
    try:
        blocker.execute("BEGIN EXCLUSIVE")
        with pytest.raises(AuditUnavailable):
            await audit.append(Kind.VIEW_STARTED, {"camera": "cam"})
        assert await audit.append(Kind.CONSENT_WITHDRAWN, {"camera": "cam"}, required=False) is None
        blocker.execute("ROLLBACK")
        # The withdrawal was kept and is written once the file can be written again; the refused view is not.
        await audit.append(Kind.LOGOUT, {})
        kinds = [r.fields()["kind"] for r in await audit.read(0, 10)]
        assert kinds == ["consent.withdrawn", "logout"]
    finally:
        blocker.close()
        await audit.close()
