"""Relays that cannot be opened or that carry nothing, with real hubs on one real Redis: a hub with the wrong peer
secret, an owning hub whose agent never publishes, and an owning hub killed with its lease still in Redis. The
officer is refused (or ended) with a clear reason, on the record, and nothing is left open on the asking hub."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from hub.routing.peer_auth import load_or_create_secret
from hub.store.redis import RedisStore
from tests.conftest import PASSWORDS
from tests.support.client import Api, Viewer
from tests.support.cluster import Hubs, hub_env, many_hubs
from tests.support.procs import Hub, running_agent, wait_until

CAM = "front-door"
PUBLISH_TIMEOUT = 3.0
pytestmark = pytest.mark.asyncio(loop_scope="module")


@dataclass
class Rig:
    hubs: Hubs
    stranger: Hub  # on the same Redis and audit key, with a peer secret of its own

    @property
    def a(self) -> Hub:
        return self.hubs.a

    @property
    def b(self) -> Hub:
        return self.hubs.b


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def rig(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Rig]:
    """Hubs A and B (viewers give up on a camera that does not publish after 3 s, a relay silent for 1 s is dropped,
    ownership leases last 30 s so a killed A's stays), and hub X with the wrong peer secret. The last test kills A."""
    tmp = tmp_path_factory.mktemp("relay-failures")
    env = {
        "PORCHLIGHT_MEDIA__PUBLISH_TIMEOUT_SECONDS": str(PUBLISH_TIMEOUT),
        "PORCHLIGHT_MEDIA__SILENCE_SECONDS": "1",
        "PORCHLIGHT_CLUSTER__OWNER_TTL_SECONDS": "30",
    }
    async with many_hubs(tmp, 2, a_via_proxy=False, env=env) as hubs:
        wrong = tmp / "wrong-peer-secret.key"
        load_or_create_secret(wrong)
        stranger = Hub(tmp / "x", env={**hub_env("hub-x", hubs.redis.url, tmp / "audit-signer.key", wrong), **env})
        stranger.tmp.mkdir()
        stranger.write_config()
        await stranger.start()
        try:
            yield Rig(hubs, stranger)
        finally:
            await stranger.stop()


async def _officer(hub: Hub, who: str = "olivia") -> Api:
    return await Api(hub.url).login(who, PASSWORDS[who])


async def _sample(hub: Hub, name: str) -> float:
    """A sample from /metrics, 0 if the hub has none yet (a labelled counter appears at its first count)."""
    async with aiohttp.ClientSession() as http, http.get(f"{hub.url}/metrics") as response:
        text = await response.text()
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def _failures(reason: str) -> str:
    return f'porchlight_relay_failures_total{{reason="{reason}"}}'


async def _denials(hub: Hub) -> list[str]:
    """Why each view of the camera was denied, oldest first (the owner reads the shared audit log)."""
    owner = await Api(hub.url).login("alice", PASSWORDS["alice"])
    try:
        status, body = await owner.call("GET", f"/api/audit/records?camera={CAM}&limit=1000")
        assert status == 200, body
        return [r["fields"]["denied"] for r in body["records"] if r["fields"]["kind"] == "view.denied"]
    finally:
        await owner.close()


async def _carriers(rig: Rig) -> list[str]:
    store = await RedisStore.open(rig.hubs.redis.url, default_max_grant_seconds=7 * 86400)
    try:
        return await store.camera_carriers(CAM)
    finally:
        await store.close()


async def _nothing_open(hub: Hub, rig: Rig) -> bool:
    """No relay, no peer connection and no carrier lease left on the asking hub."""
    return (
        await _sample(hub, 'porchlight_relays{role="asking"}') == 0
        and await _sample(hub, "porchlight_peer_connections") == 0
        and await _sample(hub, "porchlight_publishers") == 0
        and await _carriers(rig) == []
    )


async def test_a_hub_with_the_wrong_peer_secret_is_refused_on_the_record_with_nothing_left_open(
    rig: Rig, tmp_path: Path
) -> None:
    async with running_agent(rig.a, CAM, rig.hubs.seeded.tokens[CAM], tmp_path) as agent:
        officer = await _officer(rig.stranger)
        viewer = Viewer(officer, CAM)
        try:
            assert await viewer.watch() == 502
            assert viewer.error is not None and viewer.error["reason"] == "relay_failed", viewer.error
            assert "peer_auth_failed" in viewer.error["message"], viewer.error
            assert (await _denials(rig.a))[-1] == "relay_failed"
            assert await _nothing_open(rig.stranger, rig)
            assert await _sample(rig.stranger, _failures("peer_auth_failed")) == 1
            assert await _sample(rig.a, 'porchlight_relays{role="owner"}') == 0
            assert not agent.log_has("publishing started")
        finally:
            await viewer.close()
            await officer.close()


@contextlib.asynccontextmanager
async def _silent_agent(hub: Hub, token: str) -> AsyncIterator[list[dict[str, Any]]]:
    """A camera "agent" on the hub's control channel that never publishes: the messages it was sent."""
    got: list[dict[str, Any]] = []
    auth = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as http, http.ws_connect(f"{hub.url}/control/{CAM}", headers=auth) as ws:
        assert (await ws.receive_json())["type"] == "hello"

        async def read() -> None:
            async for message in ws:
                if message.type is aiohttp.WSMsgType.TEXT:
                    got.append(message.json())

        task = asyncio.create_task(read())
        try:
            yield got
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def test_a_viewer_through_a_relay_that_never_carries_a_frame_is_told_the_camera_is_not_publishing(
    rig: Rig,
) -> None:
    """The owning hub's agent never publishes: hub B drops the silent relay (counted) and reopens it, but the
    viewer's wait counts from when it began, so it ends `camera_not_publishing` and the agent is told to stop."""
    async with _silent_agent(rig.a, rig.hubs.seeded.tokens[CAM]) as told:
        officer = await _officer(rig.b)
        viewer = Viewer(officer, CAM)
        try:
            silent_before = await _sample(rig.b, _failures("silent"))
            assert await viewer.watch() == 201, viewer.error
            end = await viewer.wait_end(timeout=PUBLISH_TIMEOUT + 12)
            assert end["reason"] == "camera_not_publishing", viewer.events
            assert viewer.stamped() == []
            # The relay went silent while the viewer waited: a relay lost mid-view, counted.
            assert await _sample(rig.b, _failures("silent")) > silent_before
            await wait_until(lambda: _nothing_open(rig.b, rig), 10, "hub B's relay to end")

            # Asked to publish each time the relay reopened (at least once), and left told to stop.
            def orders() -> list[str]:
                return [m["type"] for m in told if m["type"] in ("publish", "stop")]

            await wait_until(lambda: orders()[-1:] == ["stop"], 10, "the agent to be told to stop")
            assert orders().count("publish") >= 2, told
            assert await _sample(rig.a, 'porchlight_relays{role="owner"}') == 0
        finally:
            await viewer.close()
            await officer.close()


async def test_an_owning_hub_that_cannot_be_reached_is_a_clear_503_on_the_record_with_nothing_left_open(
    rig: Rig, tmp_path: Path
) -> None:
    """Hub A is killed mid-view, its ownership lease still in Redis: B counts the relay lost, and a new officer on B
    is refused 503 relay_unavailable on the record, with nothing left open on B."""
    async with running_agent(rig.a, CAM, rig.hubs.seeded.tokens[CAM], tmp_path):
        first, second = await _officer(rig.b), await _officer(rig.b, "sam")
        watching, late = Viewer(first, CAM), Viewer(second, CAM)
        try:
            assert await watching.watch() == 201, watching.error
            await watching.wait_frames(5)

            async def lost() -> float:
                return await _sample(rig.b, _failures("silent")) + await _sample(rig.b, _failures("lost"))

            before = await lost()
            assert rig.a.proc is not None
            await rig.a.proc.stop(sig=9)

            async def counted() -> bool:
                return await lost() > before

            await wait_until(counted, 10, "hub B to count its relay lost")
            assert await late.watch() == 503
            assert late.error is not None and late.error["reason"] == "relay_unavailable", late.error
            assert "cannot be reached" in late.error["message"], late.error
            assert await _sample(rig.b, _failures("unreachable")) >= 1
            assert (await _denials(rig.b))[-1] == "relay_unavailable"
            # The viewer who was watching waited, and was told once the wait ran out.
            assert (await watching.wait_end(timeout=PUBLISH_TIMEOUT + 10))["reason"] == "camera_not_publishing"
            await wait_until(lambda: _nothing_open(rig.b, rig), 10, "nothing left open on hub B")
        finally:
            for client in (watching, late):
                await client.close()
            for api in (first, second):
                await api.close()
