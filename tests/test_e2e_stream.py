"""End to end with real processes on loopback: hub, camera agent, an aiortc viewer logged in as an officer."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from hub.timefmt import parse_time
from tests.conftest import MODES
from tests.support.client import Viewer
from tests.support.procs import running_agent, wait_until

CAM = "front-door"

# Withdrawal, expiry and the pilot hold in every forwarding mode and codec.
pytestmark = pytest.mark.parametrize("hub_env", list(MODES.values()), ids=list(MODES))


async def test_on_demand_publish_and_stop(hub, tokens, login, tmp_path: Path) -> None:
    async with running_agent(hub, CAM, tokens[CAM], tmp_path) as agent:
        await wait_until(lambda: hub.metric("porchlight_agents_connected"), 20, "the agent to connect")
        assert not agent.log_has("publishing started"), "the agent published before anyone watched"
        assert await hub.metric("porchlight_publishers") == 0

        officer = await login("olivia")
        viewer = Viewer(officer, CAM)
        asked = time.time()
        assert await viewer.watch() == 201
        await viewer.wait_frames(5, timeout=20)
        first = viewer.frames[0]
        stamps = viewer.stamped()
        assert stamps[0] >= (asked - 1) * 1000, "the first frame was captured before the viewer asked"
        assert max(stamps) <= time.time() * 1000
        assert first.received_at - asked < 20
        log = agent.log()
        assert log.index("watching") < log.index("publishing started"), "owner not told before publishing"
        # The owner's device is told who: officer and agency (the case number only to the owner's command).
        assert log.index("officer olivia (metro-pd) started watching") < log.index("publishing started")

        assert await viewer.hang_up() == 200
        await agent.wait_log("officer olivia \\(metro-pd\\) ended watching")
        await agent.wait_log("publishing stopped")
        await wait_until(lambda: _equals(hub.metric("porchlight_publishers"), 0), 10, "the publisher to go")
        await viewer.close()
    # Secrets, ICE credentials, peers' addresses and case numbers stay out of the logs.
    for text in (hub.proc.log(), agent.log()):
        for secret in (tokens[CAM], "ice-pwd", "candidate", "CASE-1", "Check CandidatePair"):
            assert secret not in text


async def _equals(value, expected) -> bool:
    return (await value) == expected


async def _watching(hub, tokens, login, tmp_path, username="olivia"):
    officer = await login(username)
    viewer = Viewer(officer, CAM)
    assert await viewer.watch() == 201, viewer.error
    await viewer.wait_frames(10, timeout=20)
    return viewer


def _assert_nothing_after(viewer: Viewer, cutoff_s: float) -> None:
    late = [s for s in viewer.stamped() if s >= cutoff_s * 1000]
    assert not late, f"{len(late)} frames captured after the cut-off reached the viewer"


async def test_withdrawal_mid_stream(hub, tokens, login, tmp_path: Path) -> None:
    async with running_agent(hub, CAM, tokens[CAM], tmp_path) as agent:
        viewer = await _watching(hub, tokens, login, tmp_path)
        resident = await login("alice")
        began = time.time()
        status, body = await resident.call("DELETE", f"/api/cameras/{CAM}/grant")
        assert status == 200, body
        assert body["grant"]["revoked_at"] is not None
        event = await viewer.wait_end()
        assert (event["type"], event["reason"]) == ("end", "withdrawn")
        # The page says when: the moment of the withdrawal, not of the viewer's next frame.
        assert began - 1 <= parse_time(event["at"]) <= time.time()
        await viewer.track_ended.wait()
        _assert_nothing_after(viewer, began)
        await agent.wait_log("publishing stopped")
        # The gate stays closed for a new request too.
        again = Viewer(await login("olivia"), CAM)
        assert await again.watch() == 403
        assert again.error == {"reason": "withdrawn", "message": "the consent gate is closed: withdrawn"}
        await viewer.close()


async def test_grant_runs_out(hub, tokens, login, tmp_path: Path) -> None:
    resident = await login("alice")
    async with running_agent(hub, CAM, tokens[CAM], tmp_path) as agent:
        # Watching first (the seed's grant), then the owner's new time box is short: it ends by the clock alone.
        viewer = await _watching(hub, tokens, login, tmp_path)
        status, body = await resident.call("POST", f"/api/cameras/{CAM}/grant", {"duration_seconds": 2})
        assert status == 201, body
        ends_at = parse_time(body["grant"]["ends_at"])
        event = await viewer.wait_end(timeout=15)
        assert event["reason"] == "grant_expired"
        _assert_nothing_after(viewer, ends_at)
        await agent.wait_log("publishing stopped")
        await viewer.close()


async def test_pilot_ended_by_admin(hub, tokens, login, tmp_path: Path) -> None:
    async with running_agent(hub, CAM, tokens[CAM], tmp_path) as agent:
        viewer = await _watching(hub, tokens, login, tmp_path)
        admin = await login("ada")
        began = time.time()
        status, body = await admin.call("POST", "/api/pilot/end")
        assert status == 200, body
        assert body["pilot"]["state"] == "over"
        event = await viewer.wait_end()
        assert event["reason"] == "pilot_over"
        _assert_nothing_after(viewer, began)
        await agent.wait_log("publishing stopped")
        await viewer.close()


async def test_pilot_runs_out_by_time(hub, tokens, login, tmp_path: Path) -> None:
    admin = await login("ada")
    async with running_agent(hub, CAM, tokens[CAM], tmp_path):
        # Watching first, then the pilot is set to end shortly: its end comes by the clock alone.
        viewer = await _watching(hub, tokens, login, tmp_path)
        ends = time.time() + 2
        status, body = await admin.call("PUT", "/api/pilot", {"starts_at": ends - 3600, "ends_at": ends})
        assert status == 200, body
        event = await viewer.wait_end(timeout=15)
        assert event["reason"] == "pilot_over"
        assert abs(parse_time(event["at"]) - ends) < 0.01  # the page can say when it ended
        _assert_nothing_after(viewer, ends)
        await viewer.close()
