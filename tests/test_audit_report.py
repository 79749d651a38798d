"""The report the hub serves equals a full scan of its log: after scripted activity, on both stores, after a
restart (from the kept snapshot, or from nothing when the snapshot does not match), and on another hub."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hub.audit.log import AuditLog
from hub.audit.reads import ReadWindow
from hub.audit.record import Kind, audit_time
from hub.audit.report import Report, compute_report
from hub.audit.signing import Signer
from hub.store.audit_base import AuditStore
from hub.store.audit_redis import RedisAuditStore
from hub.store.audit_sqlite import SqliteAuditStore
from tests.support.redis_server import RedisServer

ORIGIN = "porchlight.test/audit"
AGENCIES = ["metro", "county"]
NAMES = {"metro": "Metro PD", "county": "County Sheriff"}
OpenStore = Callable[[], Awaitable[AuditStore]]


@pytest.fixture(params=["sqlite", "redis"])
async def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[OpenStore]:
    """Opens stores on one backend: the same SQLite file, or the same Redis keys (a restart, or another hub)."""
    if request.param == "sqlite":

        async def open_one() -> AuditStore:
            return await SqliteAuditStore.open(tmp_path / "audit.sqlite3", write_timeout=1.0)
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        prefix = f"r{uuid.uuid4().hex[:8]}:"

        async def open_one() -> AuditStore:
            return await RedisAuditStore.open(server.url, prefix=prefix, connect_timeout=1, socket_timeout=1)

    yield open_one


async def _open(open_store: OpenStore, signer: Signer, hub: str) -> AuditLog:
    return await AuditLog.open(await open_store(), signer, origin=ORIGIN, hub=hub, checkpoint_seconds=0)


def _officer(n: int, agency: str | None) -> dict[str, Any]:
    return {"id": n, "username": f"officer{n}", "role": "officer", "agency": agency}


async def _activity(audit: AuditLog, round_: int) -> None:
    """Grants, withdrawals, looks (started, refused, ended, cut short), access requests: what a day brings."""
    now = time.time()
    source = f"203.0.113.{round_ + 1}"
    for n, camera in enumerate(["front", "back", "porch"]):
        agencies = None if n == 0 else [AGENCIES[n % 2]]
        grant = {
            "camera": camera, "owner": 1, "starts": audit_time(now), "ends": audit_time(now + 3600),
            "agencies": agencies, "version": round_ * 10 + n,
        }  # fmt: skip
        await audit.append(Kind.CONSENT_GRANTED, grant, actor={"id": 1, "username": "alice", "role": "resident"})
    for n in range(6):
        agency = [*AGENCIES, None][n % 3]
        officer = _officer(n, agency)
        look = {"camera": ["front", "back", "porch"][n % 3], "owner": 1, "case": f"C-{round_}-{n}", "reason": "r"}
        asked = await audit.append(Kind.VIEW_REQUESTED, look, actor=officer, source=source)
        if n == 4:
            await audit.append(Kind.VIEW_DENIED, {**look, "request": asked, "denied": "no_grant"}, actor=officer)
            continue
        started = await audit.append(Kind.VIEW_STARTED, {**look, "request": asked}, actor=officer, source=source)
        if n != 5:  # one view stays open
            ending = {
                **look, "view": started, "started": audit_time(now), "ended": audit_time(now + 1),
                "duration_ms": 1000 * (n + 1) * 37, "frames": 10, "bytes": 100,
                "ended_by": "withdrawn" if n == 1 else "viewer_left",
            }  # fmt: skip
            await audit.append(Kind.VIEW_ENDED, ending, actor=officer, source=source)
    await audit.append(Kind.CONSENT_WITHDRAWN, {"camera": "back", "owner": 1, "at": audit_time(now), "version": 99})
    request = {"camera": "porch", "owner": 1, "request": round_, "case": "C", "reason": "r", "duration_seconds": 60}
    await audit.append(
        Kind.ACCESS_REQUESTED, {**request, "urgent": False, "agency": "county"}, actor=_officer(7, "county")
    )
    await audit.append(Kind.ACCESS_APPROVED, {**request, "urgent": False, "agency": "county"})
    await audit.append(Kind.LOGOUT, {}, actor=_officer(1, "metro"), source=source)


async def _scan(audit: AuditLog, size: int, first: date, last: date, agency: str | None) -> Report:
    """The report from every record of the first `size`, computed the old way (a full scan)."""
    records = [record.fields() for record in await audit.read(0, size)]
    start = datetime(first.year, first.month, first.day, tzinfo=UTC).timestamp()
    end = start + ((last - first).days + 1) * 86_400
    return compute_report(records, start, end, agency, AGENCIES, NAMES)


async def _same_as_a_scan(audit: AuditLog) -> dict[str, Any]:
    today = datetime.now(UTC).date()
    answers = {}
    for first, last, agency in [
        (today - timedelta(days=29), today, None),
        (today, today, "metro"),
        (today, today, "county"),
    ]:
        report, checkpoint = await audit.report(first, last, agency, AGENCIES, NAMES)
        assert report == await _scan(audit, checkpoint.size, first, last, agency)
        answers[agency or "all"] = report.as_json()
    return answers


async def test_the_report_follows_the_log_across_restarts_and_hubs(open_store: OpenStore) -> None:
    signer = Signer.generate(ORIGIN)
    audit = await _open(open_store, signer, "hub-a")
    try:
        await _activity(audit, 0)
        first = await _same_as_a_scan(audit)
        assert first["all"]["total"]["views"] == 5 and first["all"]["total"]["cut_short_by_withdrawal"] == 1
        await _activity(audit, 1)
        before = await _same_as_a_scan(audit)
        assert before != first
    finally:
        await audit.close()  # keeps the report's snapshot
    store = await open_store()
    saved = json.loads(await store.tally() or "{}")
    await store.close()
    assert saved["size"] == audit.leaf_count()

    # A restart starts from the snapshot and gives the same figures.
    restarted = await _open(open_store, signer, "hub-a")
    other = await _open(open_store, signer, "hub-b")
    try:
        assert await _same_as_a_scan(restarted) == before
        # Another hub on the same log appends: both hubs' figures follow it and agree.
        await _activity(other, 2)
        after_b = await _same_as_a_scan(other)
        # (The report looks for other hubs' records at most once a second; a checkpoint looks at once.)
        assert (await restarted.checkpoint()).size == (await other.checkpoint()).size
        assert await _same_as_a_scan(restarted) == after_b != before
    finally:
        await other.close()
        await restarted.close()


async def test_a_snapshot_of_another_log_is_not_used(open_store: OpenStore) -> None:
    signer = Signer.generate(ORIGIN)
    audit = await _open(open_store, signer, "hub-a")
    try:
        await _activity(audit, 0)
        truth = await _same_as_a_scan(audit)
    finally:
        await audit.close()
    store = await open_store()
    saved = json.loads(await store.tally() or "{}")
    # Figures inflated and the snapshot's root changed (a snapshot of another log, or tampered with).
    saved["books"][0][1][0][1] += 1000
    saved["root"] = "A" * 43 + "="
    await store.save_tally(json.dumps(saved))
    await store.close()
    again = await _open(open_store, signer, "hub-a")
    try:
        assert await _same_as_a_scan(again) == truth
    finally:
        await again.close()


async def test_reads_are_on_the_record_once_per_window_on_any_hub(open_store: OpenStore) -> None:
    now = [1_800_000_000.0]
    a, b = await open_store(), await open_store()
    try:
        here, there = ReadWindow(a, 3600, lambda: now[0]), ReadWindow(b, 3600, lambda: now[0])
        assert await here.first("alice:front")
        assert not await here.first("alice:front")
        assert not await there.first("alice:front")  # another hub (or a restart): the window is claimed
        assert await there.first("alice:back") and await here.first("bob:front")
        now[0] += 3600
        assert await there.first("alice:front") and not await here.first("alice:front")
    finally:
        await a.close()
        await b.close()
