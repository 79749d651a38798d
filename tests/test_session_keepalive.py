"""Never logging anyone out silently, the hub's side: what keeps a session alive (a live view, an open page with live
consent, never past the absolute limit, never a page with nothing live), when the page is told its session ends,
and why a page must log in again (the 401's reason).

In-process with a fake clock for the sessions (as tests/test_sessions.py), and one real hub process with a camera
agent and an officer's aiortc viewer for a view outliving the idle limit.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from hub.demo import Seeded
from tests.conftest import PASSWORDS
from tests.support.client import Api, Viewer
from tests.support.procs import running_agent, seeded_hub, wait_until
from tests.test_sessions import Hub, _code, _config, _login, _start, _totp

MINUTE = 60.0


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    """Second factors on (the default), idle limit 30 minutes, absolute 12 hours."""
    async for running in _start(_config(tmp_path)):
        yield running


async def _session(client: TestClient, method: str = "GET") -> tuple[int, Any]:
    path = "/api/session" if method == "GET" else "/api/session/keepalive"
    response = await client.request(method, path)
    return response.status, await response.json()


async def test_live_consent_keeps_an_open_page_logged_in_and_nothing_live_idles_out(hub: Hub) -> None:
    alice, bob = await hub.client(), await hub.client()  # alice shares Front door now; bob shares nothing
    try:
        began = hub.clock.now()
        await _login(alice, "alice")
        await _login(bob, "bob")
        status, first = await _session(bob)
        assert status == 200 and first["session"]["ends_because"] == "idle", first
        # Both pages open and asking after 20 minutes; neither person does anything.
        hub.clock.advance(20 * MINUTE)
        status, kept = await _session(alice, "POST")
        assert status == 200 and kept["session"]["kept_alive"] == "live_consent", kept
        status, left = await _session(bob, "POST")
        assert status == 200 and left["session"]["kept_alive"] is None, left
        # Asking is not activity: bob's idle end stays where his log-in put it.
        assert left["session"]["idle_ends_at"] == first["session"]["idle_ends_at"]
        hub.clock.advance(20 * MINUTE)
        status, kept = await _session(alice, "POST")
        assert status == 200 and kept["session"]["kept_alive"] == "live_consent", kept
        assert (await _session(bob))[1]["reason"] == "session_idle"  # 40 minutes idle: gone, and told why
        assert (await _session(alice))[0] == 200
        # However long it stays live, the absolute limit ends it.
        while hub.clock.now() - began < 12 * 3600 - 20 * MINUTE:
            hub.clock.advance(20 * MINUTE)
            status, kept = await _session(alice, "POST")
            assert status == 200 and kept["session"]["kept_alive"] == "live_consent", kept
        assert kept["session"]["ends_because"] == "limit"
        hub.clock.advance(20 * MINUTE)
        status, ended = await _session(alice, "POST")
        assert (status, ended["reason"]) == (401, "session_limit"), ended
    finally:
        await alice.close()
        await bob.close()


async def test_withdrawn_consent_no_longer_keeps_the_page_alive(hub: Hub) -> None:
    alice = await hub.client()
    try:
        await _login(alice, "alice")
        assert (await _session(alice, "POST"))[1]["session"]["kept_alive"] == "live_consent"
        assert (await alice.delete("/api/cameras/front-door/grant")).status == 200
        hub.clock.advance(20 * MINUTE)
        assert (await _session(alice, "POST"))[1]["session"]["kept_alive"] is None
        hub.clock.advance(11 * MINUTE)
        assert (await _session(alice, "POST"))[1]["reason"] == "session_idle"
    finally:
        await alice.close()


async def test_the_page_is_told_when_its_session_ends(hub: Hub) -> None:
    bob = await hub.client()
    try:
        await _login(bob, "bob")
        hub.clock.advance(10 * MINUTE)
        me = await (await bob.get("/api/me")).json()  # activity: the idle end moves
        state = me["session"]
        assert state["idle_seconds"] == 30 * MINUTE and state["session_seconds"] == 12 * 3600
        assert state["ends_at"] == state["idle_ends_at"] and state["ends_because"] == "idle"
        assert 0 < state["warn_seconds"] <= 120 and 0 < state["keepalive_seconds"] <= 60
        ends = time.mktime(time.strptime(state["ends_at"][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
        assert abs(ends - (hub.clock.now() + 30 * MINUTE)) < 2, state
    finally:
        await bob.close()


async def test_why_a_page_must_log_in_again(hub: Hub) -> None:
    nobody, bob, sam, admin = [await hub.client() for _ in range(4)]
    try:
        assert (await _session(nobody))[1]["reason"] == "login_required"  # no cookie at all
        nobody.session.cookie_jar.update_cookies({"porchlight_session": "pls_never-issued"})
        assert (await _session(nobody))[1]["reason"] == "session_ended"  # a cookie the hub knows nothing of

        # Logged out (in another tab: this jar keeps the cookie the log-out cleared).
        _, answer = await _login(bob, "bob")
        assert (await bob.post("/api/logout")).status == 200
        bob.session.cookie_jar.update_cookies({"porchlight_session": answer["token"]})
        assert (await _session(bob))[1]["reason"] == "logged_out"
        # The bearer form of the same token stays a plain refusal (WHEP players).
        headers = {"Authorization": f"Bearer {answer['token']}"}
        assert (await (await nobody.get("/api/session", headers=headers)).json())["reason"] == "session_ended"

        # An administrator disables the account: its page is told so.
        await _login(sam, "sam", _code(hub, await _totp(hub, "sam")))
        await _login(admin, "ada", _code(hub, await _totp(hub, "ada")))
        accounts = (await (await admin.get("/api/accounts")).json())["accounts"]
        [sam_id] = [a["id"] for a in accounts if a["username"] == "sam"]
        assert (await admin.post(f"/api/accounts/{sam_id}/disable")).status == 200
        assert (await _session(sam))[1]["reason"] == "session_ended_by_admin"
    finally:
        for client in (nobody, bob, sam, admin):
            await client.close()


IDLE = 3.0  # seconds: the real hub's idle limit below


@pytest.mark.timeout(90)
async def test_a_live_view_outlives_the_idle_limit_and_its_session_idles_out_after(tmp_path: Path) -> None:
    async with seeded_hub(tmp_path, {"PORCHLIGHT_AUTH__IDLE_SECONDS": str(IDLE)}) as hub:
        seeded: Seeded = hub.seeded  # type: ignore[attr-defined]
        async with running_agent(hub, "front-door", seeded.tokens["front-door"], tmp_path):
            olivia = await Api(hub.url).login("olivia", PASSWORDS["olivia"])
            try:
                await _watch_past_the_idle_limit(olivia)

                async def idled_out() -> bool:
                    status, body = await olivia.call("GET", "/api/session")
                    return status == 401 and body["reason"] == "session_idle"

                await wait_until(idled_out, 4 * IDLE, "the session to idle out once the view ended")
            finally:
                await olivia.close()


async def _watch_past_the_idle_limit(olivia: Api) -> None:
    """Watch for three idle limits with no request from the officer: the view plays on; then hang up."""
    viewer = Viewer(olivia, "front-door")
    try:
        assert await viewer.watch("CASE-KEEP", "idle test") == 201, viewer.error
        await viewer.wait_frames(3)
        deadline = time.monotonic() + 3 * IDLE
        while time.monotonic() < deadline:
            before = len(viewer.frames)
            await viewer.wait_frames(len(viewer.stamped()) + 1, timeout=IDLE)
            assert not viewer.got_end.is_set(), viewer.events
            assert len(viewer.frames) > before
        status, state = await olivia.call("GET", "/api/session")  # not activity: only the view kept it alive
        assert status == 200, state
        assert await viewer.hang_up() == 200
    finally:
        await viewer.close()
