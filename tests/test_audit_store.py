"""The audit store contract (hub/store/audit_base.py), run on both backends, and each backend's failure modes.

The embedded store runs on a real SQLite file, the shared one on a real redis-server on loopback (one per
module, flushed between tests, and a fresh key prefix per test). A `Backing` opens any number of stores on one
shared backing (a restart, or another hub) and can remove a record behind the stores' backs, as someone with
access to the file or to Redis could.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis.asyncio as aredis

from hub.audit.record import Record
from hub.store.audit_base import AuditStore, Source
from hub.store.audit_redis import CLAIM_SECONDS, RedisAuditStore
from hub.store.audit_sqlite import SCHEMA_VERSION, SqliteAuditStore
from hub.store.base import NotFound, StoreUnavailable
from tests.support.procs import free_port
from tests.support.redis_server import RedisServer

BACKENDS = ["sqlite", "redis"]
WRITE_TIMEOUT = 0.5
SIGNATURE = bytes(range(64))
_prefixes = itertools.count()


def record(seq: int, **fields: str | int) -> Record:
    """A record with canonical-looking bytes and a dummy signature (the store never parses or checks them)."""
    body = json.dumps({"seq": seq, **fields}, sort_keys=True, separators=(",", ":")).encode()
    return Record(body, SIGNATURE)


def seqs(records: list[Record]) -> list[int]:
    return [json.loads(r.body)["seq"] for r in records]


@dataclass
class Backing:
    """One backing (a file, or a Redis prefix) shared by every store opened from it."""

    opener: Callable[[], Awaitable[AuditStore]]
    remove: Callable[[int], Awaitable[None]]
    """Delete the record at this position directly in the backing, as tampering would."""
    opened: list[AuditStore] = field(default_factory=list)

    async def open(self) -> AuditStore:
        store = await self.opener()
        self.opened.append(store)
        return store


@pytest.fixture(params=BACKENDS)
async def backing(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backing]:
    async with contextlib.AsyncExitStack() as cleanup:
        if request.param == "redis":
            server: RedisServer = request.getfixturevalue("redis_server")
            server.flushall()
            prefix = f"t{next(_prefixes)}:"
            raw = aredis.Redis.from_url(server.url, socket_timeout=2.0)
            cleanup.push_async_callback(raw.aclose)

            async def open_redis() -> AuditStore:
                return await RedisAuditStore.open(server.url, prefix=prefix, connect_timeout=1.0, socket_timeout=1.0)

            async def remove_redis(position: int) -> None:
                await raw.lset(f"{prefix}audit:log", position, "tombstone")
                await raw.lrem(f"{prefix}audit:log", 1, "tombstone")

            made = Backing(open_redis, remove_redis)
        else:
            path = tmp_path / "data" / "audit.sqlite3"

            async def open_sqlite() -> AuditStore:
                return await SqliteAuditStore.open(path, write_timeout=WRITE_TIMEOUT)

            async def remove_sqlite(position: int) -> None:
                with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as db:
                    db.execute(
                        "DELETE FROM records WHERE position ="
                        " (SELECT position FROM records ORDER BY position LIMIT 1 OFFSET ?)",
                        (position,),
                    )

            made = Backing(open_sqlite, remove_sqlite)
        yield made
        for store in made.opened:
            await store.close()


@pytest.fixture
async def store(backing: Backing) -> AuditStore:
    return await backing.open()


# -- appending and reading ------------------------------------------------------------------------------------


async def test_an_empty_log(store: AuditStore) -> None:
    assert await store.size() == 0
    assert await store.read(0, 10) == []
    assert await store.read_at([]) == []
    assert await store.positions_for_camera("cam-1") == []


async def test_append_at_the_current_size(store: AuditStore) -> None:
    assert await store.append(0, [(record(0), "cam-1"), (record(1), None)]) is None
    assert await store.append(2, [(record(2), "cam-2")]) is None
    assert await store.size() == 3
    assert await store.read(0, 3) == [record(0), record(1), record(2)]


async def test_append_at_a_wrong_size_is_refused_with_the_current_size(store: AuditStore) -> None:
    assert await store.append(0, [(record(0), "cam-1"), (record(1), "cam-1")]) is None
    assert await store.append(0, [(record(0, late=1), "cam-1")]) == 2  # another writer got there first
    assert await store.append(5, [(record(5), "cam-1")]) == 2  # ahead of the log
    assert await store.size() == 2
    assert await store.read(0, 10) == [record(0), record(1)]
    assert await store.positions_for_camera("cam-1") == [0, 1]


async def test_an_empty_append_writes_nothing(store: AuditStore) -> None:
    assert await store.append(0, []) is None
    assert await store.append(1, []) == 0
    assert await store.size() == 0


async def test_read_ranges(store: AuditStore) -> None:
    await store.append(0, [(record(seq), None) for seq in range(5)])
    assert seqs(await store.read(1, 4)) == [1, 2, 3]
    assert seqs(await store.read(3, 99)) == [3, 4]  # past the end: fewer
    assert await store.read(5, 10) == []
    assert await store.read(2, 2) == []
    assert await store.read(4, 1) == []


async def test_read_at_answers_in_the_order_asked(store: AuditStore) -> None:
    await store.append(0, [(record(seq), None) for seq in range(4)])
    assert seqs(await store.read_at([3, 0, 2, 0])) == [3, 0, 2, 0]
    with pytest.raises(NotFound):
        await store.read_at([1, 4])


async def test_negative_positions_are_refused(store: AuditStore) -> None:
    await store.append(0, [(record(0), None)])
    with pytest.raises(ValueError):
        await store.read(-1, 1)
    with pytest.raises(ValueError):
        await store.read_at([-1])
    with pytest.raises(ValueError):
        await store.append(-1, [(record(0), None)])


async def test_positions_for_camera(store: AuditStore) -> None:
    cameras = ["cam-1", None, "cam-2", "cam-1"]
    await store.append(0, [(record(seq), camera) for seq, camera in enumerate(cameras)])
    await store.append(4, [(record(4), "cam-2"), (record(5), "cam-1")])
    assert await store.positions_for_camera("cam-1") == [0, 3, 5]
    assert await store.positions_for_camera("cam-2") == [2, 4]
    assert await store.positions_for_camera("cam-3") == []
    assert seqs(await store.read_at(await store.positions_for_camera("cam-2"))) == [2, 4]


async def test_a_camera_is_read_a_page_at_a_time(store: AuditStore) -> None:
    cameras = ["cam-1" if seq % 3 else "cam-2" for seq in range(40)]
    await store.append(0, [(record(seq), camera) for seq, camera in enumerate(cameras)])
    every = [seq for seq, camera in enumerate(cameras) if camera == "cam-1"]
    assert await store.positions_for_camera("cam-1", -1, None) == every
    walked: list[int] = []
    after = -1
    while page := await store.positions_for_camera("cam-1", after, 7):
        assert len(page) <= 7
        walked += page
        after = page[-1]
    assert walked == every
    assert await store.positions_for_camera("cam-1", 37, 5) == [38]
    assert await store.positions_for_camera("cam-1", 38, 5) == []
    assert await store.positions_for_camera("cam-1", 5, 0) == []
    assert await store.positions_for_camera("cam-3", -1, 5) == []


async def test_addresses_are_kept_beside_the_records(backing: Backing) -> None:
    store = await backing.open()
    salt = bytes(range(16))
    written = [Source("203.0.113.9", salt), None, Source("2001:db8::1", b"\x00" * 16)]
    assert await store.append(0, [(record(seq), None) for seq in range(3)], written) is None
    assert await store.append(3, [(record(3), None)]) is None  # no sources given at all
    assert await store.sources([0, 1, 2, 3, 99]) == {0: written[0], 2: written[2]}
    assert await store.sources([]) == {}
    # A refused append (another writer got there first) keeps no address either.
    assert await store.append(1, [(record(1, late=1), None)], [Source("198.51.100.1", salt)]) == 4
    assert await store.sources([1]) == {}
    again = await backing.open()
    assert await again.sources([2]) == {2: written[2]}


async def test_the_report_snapshot_is_kept_and_replaced(backing: Backing) -> None:
    store = await backing.open()
    assert await store.tally() is None
    await store.save_tally('{"size":1}')
    await store.save_tally('{"size":2}')
    assert await (await backing.open()).tally() == '{"size":2}'


async def test_bodies_and_signatures_are_kept_byte_for_byte(store: AuditStore) -> None:
    odd = Record(b'{"reason":"a dog, then a cat","seq":0}', bytes([255, 0, 32, 10] * 16))
    await store.append(0, [(odd, None)])
    assert await store.read(0, 1) == [odd]
    assert await store.read_at([0]) == [odd]


# -- checkpoints, claims, the verifier key ------------------------------------------------------------------


async def test_checkpoints(store: AuditStore) -> None:
    assert await store.checkpoint() is None
    assert await store.checkpoint(3) is None
    await store.add_checkpoint(3, "note-3")
    await store.add_checkpoint(3, "another note-3")  # the first kept wins
    await store.add_checkpoint(7, "note-7")
    await store.add_checkpoint(5, "note-5")  # older, written later: the latest stays the largest size
    assert await store.checkpoint() == "note-7"
    assert await store.checkpoint(3) == "note-3"
    assert await store.checkpoint(5) == "note-5"
    assert await store.checkpoint(4) is None


async def test_a_claim_is_won_once(backing: Backing) -> None:
    first, second = await backing.open(), await backing.open()
    assert await first.claim("expired:cam-1:7") is True
    assert await first.claim("expired:cam-1:7") is False
    assert await second.claim("expired:cam-1:7") is False
    assert await second.claim("expired:cam-1:8") is True


async def test_the_first_verifier_key_stays(backing: Backing) -> None:
    first, second = await backing.open(), await backing.open()
    assert await first.bind_key("key-a") == "key-a"
    assert await second.bind_key("key-b") == "key-a"
    assert await first.bind_key("key-a") == "key-a"


async def test_everything_survives_a_reopen(backing: Backing) -> None:
    store = await backing.open()
    await store.append(0, [(record(0), "cam-1"), (record(1), None)])
    await store.add_checkpoint(2, "note-2")
    assert await store.claim("k")
    await store.bind_key("key-a")
    await store.close()
    again = await backing.open()
    assert await again.size() == 2
    assert await again.read(0, 2) == [record(0), record(1)]
    assert await again.positions_for_camera("cam-1") == [0]
    assert await again.checkpoint() == "note-2"
    assert not await again.claim("k")
    assert await again.bind_key("key-b") == "key-a"
    assert await again.append(2, [(record(2), None)]) is None


# -- one total order -------------------------------------------------------------------------------------------


async def test_concurrent_appenders_make_one_order(backing: Backing) -> None:
    stores = [await backing.open(), await backing.open()]
    writers, each = 6, 15
    # Every writer reads the size before any appends, so the first round conflicts for all but one of them.
    start = asyncio.Barrier(writers)
    conflicts = 0

    async def write(store: AuditStore, name: str) -> None:
        nonlocal conflicts
        expected = await store.size()
        await start.wait()
        for n in range(each):
            while True:
                current = await store.append(expected, [(record(expected, writer=name, n=n), f"cam-{name}")])
                if current is None:
                    expected += 1
                    break
                conflicts += 1
                expected = current

    await asyncio.gather(*(write(stores[i % 2], f"w{i}") for i in range(writers)))
    total = writers * each
    assert await stores[0].size() == await stores[1].size() == total
    fields = [json.loads(r.body) for r in await stores[1].read(0, total + 10)]
    assert [f["seq"] for f in fields] == list(range(total))  # no gap, no duplicate
    assert sorted((f["writer"], f["n"]) for f in fields) == sorted(
        (f"w{i}", n) for i in range(writers) for n in range(each)
    )
    assert conflicts >= writers - 1
    for i in range(writers):
        positions = await stores[0].positions_for_camera(f"cam-w{i}")
        assert [fields[p]["writer"] for p in positions] == [f"w{i}"] * each
        assert [fields[p]["n"] for p in positions] == list(range(each))


# -- tampering -------------------------------------------------------------------------------------------------


async def test_a_record_removed_behind_the_store_shifts_the_rest(backing: Backing) -> None:
    store = await backing.open()
    await store.append(0, [(record(seq), None) for seq in range(5)])
    await backing.remove(1)
    # As a list: one shorter, and a verifier finds seq p+1 at position p from the hole on.
    assert await store.size() == 4
    assert seqs(await store.read(0, 10)) == [0, 2, 3, 4]
    assert seqs(await store.read(1, 3)) == [2, 3]
    assert seqs(await store.read_at([3, 1])) == [4, 2]
    with pytest.raises(NotFound):
        await store.read_at([4])
    # A writer that expected 5 records learns there are 4; appending there lands at position 4.
    assert await store.append(5, [(record(5), None)]) == 4
    assert await store.append(4, [(record(5), None)]) is None
    assert seqs(await store.read(3, 10)) == [4, 5]


# -- SQLite only -----------------------------------------------------------------------------------------------


async def test_sqlite_file_settings(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "audit.sqlite3"
    store = await SqliteAuditStore.open(path, write_timeout=WRITE_TIMEOUT)
    try:
        with contextlib.closing(sqlite3.connect(path)) as raw:
            assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        await store.close()


async def test_sqlite_camera_positions_are_ordinal_after_tampering(tmp_path: Path) -> None:
    path = tmp_path / "audit.sqlite3"
    store = await SqliteAuditStore.open(path, write_timeout=WRITE_TIMEOUT)
    try:
        await store.append(0, [(record(0), "cam-1"), (record(1), None), (record(2), "cam-1")])
        with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as raw:
            raw.execute("DELETE FROM records WHERE position = 1")
        assert await store.positions_for_camera("cam-1") == [0, 1]
        assert seqs(await store.read_at([0, 1])) == [0, 2]
    finally:
        await store.close()


async def test_sqlite_append_fails_closed_while_another_process_holds_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "audit.sqlite3"
    store = await SqliteAuditStore.open(path, write_timeout=WRITE_TIMEOUT)
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match="locked"):
            await asyncio.wait_for(store.append(0, [(record(0), "cam-1")]), 10 * WRITE_TIMEOUT)
        elapsed = time.monotonic() - started
        assert elapsed < 2 * WRITE_TIMEOUT, f"StoreUnavailable took {elapsed:.2f}s"
        with pytest.raises(StoreUnavailable):
            await store.claim("k")
        assert await store.size() == 0  # WAL: reads still answer while the lock is held
        other.execute("ROLLBACK")
        assert await store.size() == 0  # nothing was written
        assert await store.claim("k") is True
        assert await store.append(0, [(record(0), "cam-1")]) is None
    finally:
        other.close()
        await store.close()


# -- Redis only ------------------------------------------------------------------------------------------------


async def test_redis_key_layout(redis_server: RedisServer) -> None:
    redis_server.flushall()
    prefix = f"t{next(_prefixes)}:"
    store = await RedisAuditStore.open(redis_server.url, prefix=prefix, connect_timeout=1.0, socket_timeout=1.0)
    raw = aredis.Redis.from_url(redis_server.url, socket_timeout=2.0)
    try:
        await store.append(0, [(record(0), "cam-1"), (record(1), None), (record(2), "cam-1")])
        await store.add_checkpoint(3, "note-3")
        await store.claim("k")
        await store.bind_key("key-a")
        entries = await raw.lrange(f"{prefix}audit:log", 0, -1)
        assert entries[0] == base64.b64encode(SIGNATURE) + b" " + record(0).body
        assert await raw.lrange(f"{prefix}audit:camera:cam-1", 0, -1) == [b"0", b"2"]
        assert await raw.hgetall(f"{prefix}audit:checkpoints") == {b"3": b"note-3"}
        assert await raw.get(f"{prefix}audit:checkpoint:max") == b"3"
        assert 0 < await raw.ttl(f"{prefix}audit:claim:k") <= CLAIM_SECONDS
        assert await raw.get(f"{prefix}audit:key") == b"key-a"
    finally:
        await raw.aclose()
        await store.close()


async def test_redis_writes_fail_closed_without_enough_replicas(redis_server: RedisServer) -> None:
    redis_server.flushall()
    prefix = f"t{next(_prefixes)}:"
    store = await RedisAuditStore.open(redis_server.url, prefix=prefix, connect_timeout=1.0, socket_timeout=1.0)
    raw = aredis.Redis.from_url(redis_server.url, socket_timeout=2.0)
    try:
        await raw.config_set("min-replicas-to-write", 1)
        try:
            with pytest.raises(StoreUnavailable, match="NOREPLICAS"):
                await store.append(0, [(record(0), "cam-1")])
            with pytest.raises(StoreUnavailable, match="NOREPLICAS"):
                await store.claim("k")
            with pytest.raises(StoreUnavailable, match="NOREPLICAS"):
                await store.bind_key("key-a")
            with pytest.raises(StoreUnavailable, match="NOREPLICAS"):
                await store.add_checkpoint(1, "note-1")
            assert await store.size() == 0  # reads still answer
        finally:
            await raw.config_set("min-replicas-to-write", 0)
        assert await raw.keys(f"{prefix}*") == []  # nothing was written
        assert await store.append(0, [(record(0), "cam-1")]) is None
    finally:
        await raw.aclose()
        await store.close()


async def test_redis_down_is_unavailable_without_naming_the_server() -> None:
    port = free_port()
    with pytest.raises(StoreUnavailable) as caught:
        await RedisAuditStore.open(
            f"redis://:s3cret@127.0.0.1:{port}/0", prefix="pl:", connect_timeout=0.5, socket_timeout=0.5
        )
    message = str(caught.value)
    assert "ConnectionError" in message
    assert str(port) not in message and "s3cret" not in message and "127.0.0.1" not in message
