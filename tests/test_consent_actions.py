"""Issue 14: the consent actions, in one place, hold against the attacks found: a slow audit write letting a join
pass a withdrawal, masks written before the gate closed, a disable undone by a request in flight, a new pilot
reviving old consent, officers learning other agencies' opt-ins, a rotated device token left connected, a bearer
view outliving its session. Each against a hub in this process, its real store or audit log behind a proxy that
holds chosen calls (tests/support/inproc.py), with real agents and WebRTC viewers where frames matter."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from hub.consent.actions import Who
from hub.consent.decision import Reason, decide
from hub.consent.registry import GateRegistry
from hub.keys import AUDIT
from hub.store.base import Account, Role
from tests.conftest import PASSWORDS
from tests.support.client import Api, Viewer, close_code
from tests.support.inproc import InProcHub, inproc_hub
from tests.support.procs import running_agent, wait_until
from tests.support.secrets import SECRETS


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[InProcHub]:
    async with inproc_hub(tmp_path) as instance:
        yield instance


@pytest.fixture
async def clients(hub: InProcHub) -> AsyncIterator[dict[str, Api]]:
    logged = {name: await Api(hub.url).login(name, PASSWORDS[name]) for name in ("alice", "olivia", "sam", "ada")}
    yield logged
    for api in logged.values():
        await api.close()


async def _kinds(hub: InProcHub) -> list[dict[str, Any]]:
    audit = hub.app[AUDIT]
    await wait_until(lambda: audit.pending() == 0, 10, "the audit log's queue to drain")
    return [record.fields() for record in await audit.read(0, audit.leaf_count())]


# Item 5 --------------------------------------------------------------------------------------------------------
async def test_a_join_held_at_its_record_never_passes_a_withdrawal(
    hub: InProcHub, clients: dict[str, Api], tmp_path: Path
) -> None:
    """view.started delayed: the owner withdraws meanwhile. The join is refused after the write (403 withdrawn),
    ended at once on the record, and the camera's agent is never told anyone watches."""
    audit_store = hub.hold_audit()
    audit_store.hold("append", lambda first, records, *rest: any(b'"view.started"' in r.body for r, _ in records))
    async with running_agent(hub, "front-door", hub.seeded.tokens["front-door"], tmp_path) as agent:  # type: ignore[arg-type]
        viewer = Viewer(clients["olivia"], "front-door")
        join = asyncio.create_task(viewer.watch())
        await asyncio.wait_for(audit_store.reached["append"].wait(), 20)
        # The withdrawal's own record queues behind the held write: its effect must not wait for it.
        withdraw = asyncio.create_task(clients["alice"].call("DELETE", "/api/cameras/front-door/grant"))
        await wait_until(lambda: hub.registry.withdrawn("front-door", 0), 10, "the gate to close")
        audit_store.release("append")
        assert await join == 403
        status, body = await withdraw
        assert status == 200 and body["gates"]["confirmed"] is True
        assert viewer.error is not None and viewer.error["reason"] == "withdrawn"
        await viewer.close()
        records = await _kinds(hub)
        started = [r for r in records if r["kind"] == "view.started"]
        ended = [r for r in records if r["kind"] == "view.ended"]
        assert len(started) == 1 and [r["view"] for r in ended] == [started[0]["seq"]]
        assert ended[0]["ended_by"] == "withdrawn" and ended[0]["frames"] == 0
        assert hub.streams.stream("front-door").viewers == {}
        assert "watching" not in agent.log()


# Item 17 -------------------------------------------------------------------------------------------------------
async def test_masks_hold_the_video_before_the_store_write(hub: InProcHub, clients: dict[str, Api]) -> None:
    """While the new masks' store write is in flight, the camera's gate already holds its video."""
    # The camera's own gate judged with a fresh officer state: a pass for a session the store does not know would
    # be expired by the hub's next idle-session refresh, whenever that runs (a flake, not a masks question).
    state = _officer_state(await _account(hub, "olivia"))
    gate = hub.registry.gate("front-door")
    assert decide(time.time(), gate.state, state) is Reason.OK
    hub.store.hold("set_camera_masks")
    masks = {"masks": [{"points": [[0, 0], [0.5, 0], [0.5, 0.5]], "style": "black"}]}
    put = asyncio.create_task(clients["alice"].call("PUT", "/api/cameras/front-door/masks", masks))
    await asyncio.wait_for(hub.store.reached["set_camera_masks"].wait(), 10)
    assert decide(time.time(), gate.state, state) is Reason.MASKS_PENDING
    hub.store.release("set_camera_masks")
    status, body = await put
    assert status == 200 and body["applied"] is False
    assert decide(time.time(), gate.state, state) is Reason.MASKS_PENDING  # until the agent confirms the new version


async def test_a_failed_mask_write_keeps_holding_until_a_reload(hub: InProcHub) -> None:
    state = _officer_state(await _account(hub, "olivia"))
    gate = hub.registry.gate("front-door")
    hub.store.delays["set_camera_masks"] = 0.0
    with pytest.raises(Exception):  # noqa: B017 (whatever the store raises, the hold must stay)
        await hub.actions.set_masks("front-door", 1, [{"bad": object()}], Who())
    assert decide(time.time(), gate.state, state) is Reason.MASKS_PENDING
    await hub.registry.reload(hub.store)  # it finds nothing written: the old masks stand
    assert decide(time.time(), gate.state, state) is Reason.OK


# Item 18 -------------------------------------------------------------------------------------------------------
def _officer_state(account: Account) -> Any:
    from hub.consent.registry import officer_state
    from hub.store.base import Session

    return officer_state(account, Session("h", account.id, 0.0, time.time() + 3600, time.time()))


async def _account(hub: InProcHub, username: str) -> Account:
    account, _ = await hub.store.find_account(username)
    return account


def test_a_disable_is_never_undone_by_state_read_before_it() -> None:
    """officer_pass() with an account state read before a disable (version 0) cannot reopen the pass, neither
    while the disable's write is in flight nor after it settled (version 5)."""
    registry = GateRegistry()
    account = Account(7, "olivia", Role.OFFICER, "metro-pd", False, 0.0, version=0)
    read_before = _officer_state(account)
    officer = registry.officer_pass("s1", read_before)
    registry.close_account(7)
    assert registry.officer_pass("s1", read_before).state.enabled is False  # in flight
    registry.settle_account(replace(account, disabled=True, version=5))
    assert registry.officer_pass("s1", read_before).state.enabled is False  # arrived late
    assert registry.officer_pass("s2", read_before).state.enabled is False  # another session, same account
    assert officer.state.version == 5
    registry.settle_account(replace(account, disabled=False, version=6))  # enabled again, by a newer write
    assert registry.officer_pass("s1", _officer_state(replace(account, version=6))).state.enabled is True


async def test_disable_closes_in_memory_before_the_store_write(hub: InProcHub) -> None:
    olivia = await _account(hub, "olivia")
    officer = hub.registry.officer_pass("olivia-session", _officer_state(olivia))
    hub.store.hold("set_account_disabled")
    disable = asyncio.create_task(hub.actions.disable_account(olivia.id, Who()))
    await asyncio.wait_for(hub.store.reached["set_account_disabled"].wait(), 10)
    # A request that read the account before the disable asks for its pass meanwhile.
    assert hub.registry.officer_pass("olivia-session", _officer_state(olivia)) is officer
    assert hub.registry.gate("front-door").admit(time.time(), officer) is Reason.ACCOUNT_DISABLED
    hub.store.release("set_account_disabled")
    account, _, gates = await disable
    assert account.disabled and account.version > olivia.version and gates.confirmed
    assert hub.registry.officer_pass("olivia-session", _officer_state(olivia)).state.enabled is False


# Item 2 --------------------------------------------------------------------------------------------------------
async def test_a_new_pilot_starts_with_no_camera_shared(hub: InProcHub, clients: dict[str, Api]) -> None:
    olivia = clients["olivia"]
    _, listed = await olivia.call("GET", "/api/cameras")
    assert [c["id"] for c in listed["cameras"]] == ["front-door"]
    status, ended = await clients["ada"].call("POST", "/api/pilot/end")
    assert status == 200 and ended["pilot"]["state"] == "over"
    now = time.time()
    status, started = await clients["ada"].call("PUT", "/api/pilot", {"starts_at": now, "ends_at": now + 86400})
    assert status == 200 and started["pilot"]["state"] == "running"
    assert started["pilot"]["run"] == ended["pilot"]["run"] + 1
    _, listed = await olivia.call("GET", "/api/cameras")
    assert listed["cameras"] == []
    officer = hub.registry.officer_pass("olivia-session", _officer_state(await _account(hub, "olivia")))
    assert hub.registry.gate("front-door").admit(time.time(), officer) is Reason.NO_GRANT
    # The owner's page shows the old grant as not live, and opting in again works in the new pilot.
    _, mine = await clients["alice"].call("GET", "/api/cameras")
    front = next(c for c in mine["cameras"] if c["id"] == "front-door")
    assert front["grant"] is None or front["grant"]["live"] is False
    status, _ = await clients["alice"].call("POST", "/api/cameras/front-door/grant", {"duration_seconds": 600})
    assert status == 201
    assert hub.registry.gate("front-door").admit(time.time(), officer) is Reason.OK


async def test_extending_a_running_pilot_keeps_its_consent(hub: InProcHub, clients: dict[str, Api]) -> None:
    _, before = await clients["ada"].call("GET", "/api/pilot")
    now = time.time()
    status, after = await clients["ada"].call("PUT", "/api/pilot", {"starts_at": now - 60, "ends_at": now + 90 * 86400})
    assert status == 200 and after["pilot"]["run"] == before["pilot"]["run"]
    _, listed = await clients["olivia"].call("GET", "/api/cameras")
    assert [c["id"] for c in listed["cameras"]] == ["front-door"]


# Item 10 -------------------------------------------------------------------------------------------------------
async def test_officers_learn_nothing_of_another_agencys_opt_in(hub: InProcHub, clients: dict[str, Api]) -> None:
    """'porch' is opted in for county-so only: metro-pd's officer sees it exactly as a camera not opted in at all,
    and may ask for it (the answer never says whether it is shared)."""
    bob = await Api(hub.url).login("bob", PASSWORDS["bob"])
    try:
        status, _ = await bob.call("POST", "/api/cameras/porch/grant", {"agencies": ["county-so"]})
        assert status == 201
    finally:
        await bob.close()
    _, listed = await clients["olivia"].call("GET", "/api/cameras?all=1")
    others = {c["id"]: c for c in listed["cameras"] if not c["admitted"]}
    assert others["porch"] == {"id": "porch", "name": "Porch", "admitted": False, "askable": True}
    assert {k: v for k, v in others["backyard"].items() if k not in ("id", "name")} == {
        k: v for k, v in others["porch"].items() if k not in ("id", "name")
    }
    ask = {"case": "C-1", "reason": "witness", "duration_seconds": 600}
    asked = [await clients["olivia"].call("POST", f"/api/cameras/{c}/requests", ask) for c in ("porch", "backyard")]
    assert [status for status, _ in asked] == [201, 201]
    # sam (county-so) is admitted to it: it is in his list.
    _, listed = await clients["sam"].call("GET", "/api/cameras")
    assert "porch" in {c["id"] for c in listed["cameras"]}


# Item 4 --------------------------------------------------------------------------------------------------------
async def test_a_rotated_device_token_ends_the_old_socket(hub: InProcHub) -> None:
    old = hub.seeded.tokens["front-door"]
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(f"{hub.url}/control/front-door", headers={"Authorization": f"Bearer {old}"})
        hello = await ws.receive_json(timeout=10)
        assert hello["type"] == "hello"
        new = await hub.actions.rotate_device_token("front-door", Who(via="cli"))
        assert new != old
        assert await close_code(ws) == 4003
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(f"{hub.url}/control/front-door", headers={"Authorization": f"Bearer {old}"})
        assert refused.value.status == 401
        again = await http.ws_connect(f"{hub.url}/control/front-door", headers={"Authorization": f"Bearer {new}"})
        assert (await again.receive_json(timeout=10))["type"] == "hello"
        await again.close()


# Item 7 --------------------------------------------------------------------------------------------------------
async def test_a_bearer_view_outlives_the_idle_limit_and_ends_at_the_absolute_one(tmp_path: Path) -> None:
    """A plain WHEP player (bearer token, no page, no requests): its live view keeps its log-in alive past the idle
    limit (issue 16: nobody's live view is cut by an idle timeout), and ends when the log-in reaches its absolute
    limit, which nothing extends."""
    idle, absolute = 3.0, 9.0
    env = {"PORCHLIGHT_AUTH__IDLE_SECONDS": str(idle), "PORCHLIGHT_HTTP__SESSION_SECONDS": str(absolute)}
    async with inproc_hub(tmp_path, env) as hub:
        credentials = {"username": "olivia", "password": PASSWORDS["olivia"]}
        logged_in = time.monotonic()
        async with aiohttp.ClientSession() as http, http.post(f"{hub.url}/api/login", json=credentials) as r:
            token = (await r.json())["token"]
        SECRETS.add(token, "session token")
        player = Api(hub.url)
        player.http._default_headers["Authorization"] = f"Bearer {token}"
        try:
            async with running_agent(hub, "front-door", hub.seeded.tokens["front-door"], tmp_path):  # type: ignore[arg-type]
                viewer = Viewer(player, "front-door")
                assert await viewer.watch() == 201
                await viewer.wait_frames(3)
                event = await viewer.wait_end(timeout=absolute + 10)
                lasted = time.monotonic() - logged_in
                assert event["reason"] == "session_expired"
                assert 2 * idle < lasted, f"the view ended after {lasted:.1f} s: cut by the idle limit ({idle} s)"
                await viewer.close()
        finally:
            await player.close()


async def test_a_logged_out_session_never_reopens_its_pass(hub: InProcHub) -> None:
    olivia = await _account(hub, "olivia")
    state = _officer_state(olivia)
    officer = hub.registry.officer_pass("gone-session", state)
    await hub.actions.end_session("gone-session", "session_expired")
    assert hub.registry.officer_pass("gone-session", state) is officer
    assert hub.registry.gate("front-door").admit(time.time(), officer) is Reason.SESSION_EXPIRED


def test_lifting_a_mask_hold_rebuilds_the_gate_even_for_a_version_already_known() -> None:
    """Two owners' tabs save masks at once: the second write's version is already installed when it lands; its hold
    must still lift."""
    registry = GateRegistry()
    registry.require_masks("cam", 3)
    registry.masks_confirmed("cam", 3)
    registry.hold_masks("cam")
    assert registry.gate("cam").state.masks_applied == -1
    registry.require_masks("cam", 3)
    assert registry.gate("cam").state.masks_applied == 3
