"""Gates and the registry: snapshots swap whole, closures are sticky until the store confirms them."""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hub.consent.decision import CameraState, Officer, Reason
from hub.consent.gate import CameraGate, OfficerPass
from hub.consent.registry import GateRegistry, officer_state
from hub.demo import seed
from hub.store.sqlite import SqliteStore

OLIVIA = OfficerPass("session", Officer(3, "metro-pd", True, True, math.inf))


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    opened = await SqliteStore.open(tmp_path / "s.sqlite3", default_max_grant_seconds=86400)
    await seed(opened)
    yield opened
    await opened.close()


async def test_gates_close_when_the_lease_lapses(store: SqliteStore) -> None:
    registry = GateRegistry()
    await registry.reload(store)
    now = time.time()
    assert registry.gate("front-door").admit(now, OLIVIA) is Reason.STATE_STALE  # no lease yet
    registry.renew(now + 2)
    assert registry.gate("front-door").admit(now + 1.999, OLIVIA) is Reason.OK
    assert registry.gate("front-door").admit(now + 2, OLIVIA) is Reason.STATE_STALE
    assert registry.lapsed(now + 2) and not registry.lapsed(now + 1)


def test_gate_refuses_older_snapshots() -> None:
    gate = CameraGate(CameraState("c", True, None, None, version=5))
    assert not gate.swap(CameraState("c", True, None, None, version=4))
    assert gate.state.version == 5
    assert gate.swap(CameraState("c", False, None, None, version=6))
    assert gate.admit(time.time(), OLIVIA) is Reason.CAMERA_UNKNOWN


async def test_reload_opens_gates_from_the_store(store: SqliteStore) -> None:
    registry = GateRegistry()
    assert registry.gate("front-door").admit(time.time(), OLIVIA) is Reason.CAMERA_UNKNOWN
    await registry.reload(store)
    registry.renew(math.inf)
    assert registry.gate("front-door").admit(time.time(), OLIVIA) is Reason.OK
    assert registry.gate("backyard").admit(time.time(), OLIVIA) is Reason.NO_GRANT
    assert registry.gate("nowhere").admit(time.time(), OLIVIA) is Reason.CAMERA_UNKNOWN


async def test_withdrawal_in_memory_survives_a_racing_reload(store: SqliteStore) -> None:
    registry = GateRegistry()
    await registry.reload(store)
    registry.renew(math.inf)
    now = time.time()
    registry.close_camera("front-door", now)
    assert registry.gate("front-door").admit(now, OLIVIA) is Reason.WITHDRAWN
    # A reload that read the store before the revocation was written must not reopen the gate.
    await registry.reload(store)
    registry.renew(math.inf)
    assert registry.gate("front-door").admit(now + 1, OLIVIA) is Reason.WITHDRAWN
    # So must a pilot change written meanwhile (a newer version for every camera).
    pilot = await store.get_pilot()
    assert pilot is not None
    await store.set_pilot(pilot.starts_at, pilot.ends_at + 60, now)
    await registry.reload(store)
    registry.renew(math.inf)
    assert registry.gate("front-door").admit(now + 1, OLIVIA) is Reason.WITHDRAWN
    # A message about an older grant arriving meanwhile (another hub's news) must not settle the closure.
    registry.apply_grant(await store.get_grant("front-door"), "front-door")
    assert registry.gate("front-door").admit(now + 1, OLIVIA) is Reason.WITHDRAWN
    # Once the store confirms, the confirmed grant holds the gate closed.
    registry.apply_grant(await store.revoke_grant("front-door", now), "front-door", settle=True)
    assert registry.gate("front-door").admit(now + 1, OLIVIA) is Reason.WITHDRAWN


async def test_a_stale_read_cannot_undo_a_newer_write(store: SqliteStore) -> None:
    registry = GateRegistry()
    await registry.reload(store)
    registry.renew(math.inf)
    stale = await store.get_grant("front-door")
    now = time.time()
    registry.apply_grant(await store.revoke_grant("front-door", now), "front-door", settle=True)
    registry.apply_grant(stale, "front-door")  # arrives late, older version
    assert registry.gate("front-door").admit(now + 1, OLIVIA) is Reason.WITHDRAWN


async def test_a_late_audio_on_reply_cannot_lift_an_audio_off_under_way(store: SqliteStore) -> None:
    registry = GateRegistry()
    grant = await store.set_grant_audio("front-door", True)
    await registry.reload(store)
    registry.renew(math.inf)
    now = time.time()
    assert registry.gate("front-door").admit_audio(now, OLIVIA) is Reason.OK
    # The owner turns audio off while an earlier "on" is still being written: off closes in memory at once...
    registry.close_audio("front-door")
    assert registry.gate("front-door").admit_audio(now, OLIVIA) is Reason.AUDIO_OFF
    # ...and the "on" reply landing late keeps it closed until the off's own write has landed.
    registry.audio_opened("front-door", grant)
    assert registry.gate("front-door").admit_audio(now, OLIVIA) is Reason.AUDIO_OFF
    registry.audio_settled("front-door", await store.set_grant_audio("front-door", False))
    assert registry.gate("front-door").admit_audio(now, OLIVIA) is Reason.AUDIO_OFF
    assert registry.gate("front-door").admit(now, OLIVIA) is Reason.OK  # the video goes on


async def test_pilot_end_in_memory_closes_every_gate(store: SqliteStore) -> None:
    registry = GateRegistry()
    await registry.reload(store)
    registry.renew(math.inf)
    now = time.time()
    registry.close_pilot(now, ended=True)
    await registry.reload(store)
    registry.renew(math.inf)
    assert registry.gate("front-door").admit(now, OLIVIA) is Reason.PILOT_OVER
    pilot = await store.get_pilot()
    assert pilot is not None
    registry.apply_pilot(await store.set_pilot(pilot.starts_at, now, now), settle=True)
    assert registry.gate("front-door").admit(now, OLIVIA) is Reason.PILOT_OVER


async def test_disabled_account_closes_its_pass_on_reload(store: SqliteStore) -> None:
    registry = GateRegistry()
    account, _ = await store.find_account("olivia")
    now = time.time()
    session = await store.add_session("hash", account.id, now, now + 3600)
    officer = registry.officer_pass("hash", officer_state(account, session))
    await registry.reload(store)
    registry.renew(math.inf)
    assert registry.gate("front-door").admit(now, officer) is Reason.OK
    await store.set_account_disabled(account.id, True)
    await registry.reload(store)
    registry.renew(math.inf)
    assert registry.gate("front-door").admit(now, officer) is Reason.ACCOUNT_DISABLED
    # Logging out (the session deleted) closes the pass too.
    account = await store.set_account_disabled(account.id, False)
    other = registry.officer_pass("other", officer_state(account, session))
    await store.delete_session("hash")
    await registry.reload(store)
    registry.renew(math.inf)
    assert registry.gate("front-door").admit(now, other) is Reason.SESSION_EXPIRED
