"""The relay between hubs, with real hubs on one real Redis, a real agent and real aiortc viewers: an officer on hub
B watches a camera whose agent reached hub A through one relay per camera, gated on both sides."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from hub.routing.peer_auth import NONCE_HEADER, load_or_create_secret, sign
from tests.conftest import PASSWORDS
from tests.interop.gstreamer import fresh, gst_player, missing, officer_token
from tests.support.client import Api, Viewer
from tests.support.cluster import Hubs, many_hubs
from tests.support.procs import Hub, running_agent, wait_until

CAM = "front-door"
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def cluster(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Hubs]:
    """Hubs A, B and C on one Redis for the module (the last test kills A)."""
    async with many_hubs(tmp_path_factory.mktemp("relay"), 3, a_via_proxy=False) as hubs:
        yield hubs


async def _officer(hub: Hub, who: str = "olivia") -> Api:
    return await Api(hub.url).login(who, PASSWORDS[who])


async def _relays(hub: Hub, role: str) -> float:
    return await hub.metric(f'porchlight_relays{{role="{role}"}}')


async def _is(value: object, expected: float) -> bool:
    return (await value) == expected  # type: ignore[misc]


async def test_two_viewers_on_b_share_one_relay_that_ends_with_the_last(cluster: Hubs, tmp_path: Path) -> None:
    async with running_agent(cluster.a, CAM, cluster.seeded.tokens[CAM], tmp_path) as agent:
        olivia, sam = await _officer(cluster.b), await _officer(cluster.b, "sam")
        first, second = Viewer(olivia, CAM), Viewer(sam, CAM)
        began = time.time()
        # Both first viewers at once: one relay between them.
        assert list(await asyncio.gather(first.watch(), second.watch())) == [201, 201], (first.error, second.error)
        assert first.location is not None and first.location.startswith(cluster.b.url)
        await first.wait_frames(10)
        await second.wait_frames(10)
        stamps = first.stamped()
        assert min(stamps) >= began * 1000 - 1000, "a frame from before the view reached it"
        assert await _relays(cluster.a, "owner") == 1
        assert await _relays(cluster.b, "asking") == 1
        assert await first.hang_up() == 200
        await second.wait_frames(len(second.stamped()) + 5)
        assert await second.hang_up() == 200
        await wait_until(lambda: _is(_relays(cluster.a, "owner"), 0), 10, "hub A's relay to end")
        await wait_until(lambda: _is(_relays(cluster.b, "asking"), 0), 10, "hub B's relay to end")
        await agent.wait_log("publishing stopped")
        for client in (first, second):
            await client.close()
        await olivia.close()
        await sam.close()


async def _regrant(hub: Hub) -> None:
    resident = await Api(hub.url).login("alice", PASSWORDS["alice"])
    status, body = await resident.call("POST", f"/api/cameras/{CAM}/grant", {})
    assert status in (200, 201), body
    await resident.close()


@pytest.mark.parametrize("side", ["owner", "relaying"])
async def test_withdrawal_on_either_hub_closes_both_with_no_frame_after(
    cluster: Hubs, tmp_path: Path, side: str
) -> None:
    """Officers on A and on B (through the relay); the owner withdraws on A or on B: both views end, nothing
    captured after the withdrawal began reaches either, and the answer names both hubs as confirmed."""
    async with running_agent(cluster.a, CAM, cluster.seeded.tokens[CAM], tmp_path) as agent:
        on_a, on_b = await _officer(cluster.a, "sam"), await _officer(cluster.b)
        here, there = Viewer(on_a, CAM), Viewer(on_b, CAM)
        assert await here.watch() == 201, here.error
        assert await there.watch() == 201, there.error
        await here.wait_frames(10)
        await there.wait_frames(10)
        resident = await Api((cluster.a if side == "owner" else cluster.b).url).login("alice", PASSWORDS["alice"])
        began = time.time()
        status, body = await resident.call("DELETE", f"/api/cameras/{CAM}/grant")
        assert status == 200, body
        assert body["gates"]["confirmed"] is True, body
        assert sorted(body["gates"]["hubs"]) == ["hub-a", "hub-b"], body
        for viewer in (here, there):
            assert (await viewer.wait_end())["reason"] == "withdrawn"
            late = [s for s in viewer.stamped() if s >= began * 1000]
            assert not late, f"{len(late)} frames captured after the withdrawal began reached a viewer"
        await agent.wait_log("publishing stopped")
        await wait_until(lambda: _is(_relays(cluster.a, "owner"), 0), 10, "hub A's relay to end")
        await wait_until(lambda: _is(_relays(cluster.b, "asking"), 0), 10, "hub B's relay to end")
        for client in (here, there):
            await client.close()
        for api in (on_a, on_b, resident):
            await api.close()
    await _regrant(cluster.a)


async def _post_relay(hub: Hub, camera: str, headers: dict[str, str], body: bytes = b"v=0\r\n") -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{hub.url}/relay/{camera}", data=body, headers={"Content-Type": "application/sdp", **headers}) as r,
    ):
        return r.status, (await r.json())["reason"]


async def test_relay_requests_must_be_signed_fresh_and_for_a_camera_the_hub_streams(
    cluster: Hubs, tmp_path_factory: pytest.TempPathFactory
) -> None:
    secret = load_or_create_secret(cluster.a.tmp.parent / "peer-secret.key")
    wrong = load_or_create_secret(tmp_path_factory.mktemp("other") / "peer-secret.key")
    path = f"/relay/{CAM}"
    body = b"v=0\r\n"
    assert await _post_relay(cluster.a, CAM, {}, body) == (401, "peer_auth_failed")
    # A body beyond an offer's size is refused before anything is computed over it, signed or not.
    huge = b"v=0\r\n" + b"a=x\r\n" * 60_000  # 360 kB: past media.max_sdp_bytes, within aiohttp's own limit
    assert await _post_relay(cluster.a, CAM, sign(secret, "hub-b", "POST", path, huge), huge) == (413, "too_large")
    assert await _post_relay(cluster.a, CAM, sign(wrong, "hub-b", "POST", path, body), body) == (
        401,
        "peer_auth_failed",
    )
    # Signed for another body, another path, or long ago.
    assert await _post_relay(cluster.a, CAM, sign(secret, "hub-b", "POST", path, b"x"), body) == (
        401,
        "peer_auth_failed",
    )
    assert await _post_relay(cluster.a, CAM, sign(secret, "hub-b", "POST", "/relay/x", body), body) == (
        401,
        "peer_auth_failed",
    )
    stale = sign(secret, "hub-b", "POST", path, body, now=time.time() - 120)
    assert await _post_relay(cluster.a, CAM, stale, body) == (401, "peer_auth_stale")
    # Well signed: an unknown camera is 404, one no agent of which is here 409; a replay of either is 401.
    unknown = sign(secret, "hub-b", "POST", "/relay/no-such-camera", body)
    assert await _post_relay(cluster.a, "no-such-camera", unknown, body) == (404, "camera_unknown")
    assert await _post_relay(cluster.a, "no-such-camera", unknown, body) == (401, "peer_auth_replayed")
    signed = sign(secret, "hub-b", "POST", path, body)
    assert await _post_relay(cluster.a, CAM, signed, body) == (409, "not_owner")
    replayed = {**signed}
    assert await _post_relay(cluster.a, CAM, replayed, body) == (401, "peer_auth_replayed")
    assert len({signed[NONCE_HEADER], unknown[NONCE_HEADER]}) == 2
    assert await _relays(cluster.a, "owner") == 0
    assert await cluster.a.metric("porchlight_peer_connections") == 0


async def test_a_third_party_whep_player_watches_through_the_relay(cluster: Hubs, tmp_path: Path) -> None:
    """GStreamer's webrtcbin (tests/interop/gstreamer.py) plays the camera over WHEP from hub B, relayed from A."""
    why_not = missing()
    if why_not is not None:
        pytest.fail(why_not)
    token = await officer_token(cluster.b.url, "olivia", PASSWORDS["olivia"])
    async with (
        running_agent(cluster.a, CAM, cluster.seeded.tokens[CAM], tmp_path),
        gst_player(cluster.b.url, CAM, token, "vp8", tmp_path) as (proc, frames),
    ):
        await wait_until(lambda: len(frames.stamps) >= 10 or proc.proc.returncode is not None, 20, "stamped frames")
        assert len(frames.stamps) >= 10, proc.log()[-2000:]
        assert fresh(frames.stamps), frames.stamps[:3]
        assert await _relays(cluster.b, "asking") == 1


async def test_owner_killed_mid_view_the_view_resumes_through_the_hub_the_agent_reaches(
    cluster: Hubs, tmp_path: Path
) -> None:
    """Hub A is killed (SIGKILL) while an officer on B watches through its relay: the view waits, and resumes once
    the camera's agent has reached hub C, relayed from there; no frame from before the kill arrives after it."""
    token = cluster.seeded.tokens[CAM]
    async with running_agent(cluster.a, CAM, token, tmp_path, "--hub", cluster.c.url) as agent:
        officer = await _officer(cluster.b)
        viewer = Viewer(officer, CAM)
        assert await viewer.watch() == 201, viewer.error
        await viewer.wait_frames(10)
        assert cluster.a.proc is not None
        await cluster.a.proc.stop(sig=9)
        killed_at = time.time()
        before = len(viewer.frames)
        await agent.wait_log_count("hub says hello", 2, timeout=20)
        await viewer.wait_frames(len(viewer.stamped()) + 10, timeout=30)
        assert not viewer.got_end.is_set(), viewer.events
        resumed = [
            f.stamp_ms for f in viewer.frames[before:] if f.stamp_ms is not None and f.stamp_ms > killed_at * 1000
        ]
        assert resumed, "no frame captured after the owner's death"
        # Nothing old or repeated arrives once the view resumed: the stamps only grow (the one frame a viewer's
        # jitter buffer held at the kill may come late, but it is the newest of before).
        stamps = viewer.stamped()
        assert stamps == sorted(set(stamps)), "a frame arrived out of order or twice"
        assert await _relays(cluster.c, "owner") == 1
        assert await _relays(cluster.b, "asking") == 1
        await viewer.close()
        await officer.close()
