"""Two hub processes on one real redis-server: shared consent, withdrawal across hubs, redirects, and gates
that fail closed when Redis is lost."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hub.timefmt import parse_time
from tests.conftest import PASSWORDS
from tests.support.client import Api, Viewer
from tests.support.cluster import TwoHubs as Cluster
from tests.support.cluster import two_hubs
from tests.support.procs import Hub, running_agent, wait_until

CAM = "front-door"


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    async with two_hubs(tmp_path) as hubs:
        yield hubs


async def _officer(hub: Hub) -> Api:
    return await Api(hub.url).login("olivia", PASSWORDS["olivia"])


async def test_withdrawal_through_another_hub(cluster: Cluster, tmp_path: Path) -> None:
    async with running_agent(cluster.a, CAM, cluster.seeded.tokens[CAM], tmp_path) as agent:
        officer = await _officer(cluster.a)
        viewer = Viewer(officer, CAM)
        assert await viewer.watch() == 201, viewer.error
        await viewer.wait_frames(10)
        resident = await Api(cluster.b.url).login("alice", PASSWORDS["alice"])
        began = time.time()
        status, body = await resident.call("DELETE", f"/api/cameras/{CAM}/grant")
        assert status == 200, body
        assert body["gates"]["confirmed"] is True
        assert (await viewer.wait_end())["reason"] == "withdrawn"
        late = [s for s in viewer.stamped() if s >= began * 1000]
        assert not late, f"{len(late)} frames captured after the withdrawal began reached the viewer"
        await agent.wait_log("publishing stopped")
        for client in (viewer,):
            await client.close()
        await officer.close()
        await resident.close()


async def test_viewer_asking_the_other_hub_watches_through_its_relay(cluster: Cluster, tmp_path: Path) -> None:
    async with running_agent(cluster.a, CAM, cluster.seeded.tokens[CAM], tmp_path):
        officer = await _officer(cluster.b)
        viewer = Viewer(officer, CAM)
        assert await viewer.watch() == 201, viewer.error
        # Served by hub B (the session is B's), the camera's video relayed from hub A.
        assert viewer.location is not None and viewer.location.startswith(cluster.b.url)
        await viewer.wait_frames(5)
        assert await viewer.hang_up() == 200
        await viewer.close()
        await officer.close()


async def test_with_whep_redirect_the_other_hub_redirects_to_the_owner(tmp_path: Path) -> None:
    async with (
        two_hubs(tmp_path, env={"PORCHLIGHT_CLUSTER__WHEP_REDIRECT": "true"}) as hubs,
        running_agent(hubs.a, CAM, hubs.seeded.tokens[CAM], tmp_path),
    ):
        officer = await _officer(hubs.b)
        viewer = Viewer(officer, CAM)
        assert await viewer.watch() == 201, viewer.error
        assert viewer.location is not None and viewer.location.startswith(hubs.a.url)
        await viewer.wait_frames(5)
        assert await viewer.hang_up() == 200
        await viewer.close()
        await officer.close()


async def test_a_redirect_names_the_owners_own_address(tmp_path: Path) -> None:
    """Behind a proxy that spreads one name over the hubs (http.public_url), a redirect must name the owner's own
    address (cluster.redirect_url), or it would land on the shared name again."""
    own = "https://hub-a.porchlight.invalid"
    redirect = {"PORCHLIGHT_CLUSTER__WHEP_REDIRECT": "true"}
    async with (
        two_hubs(tmp_path, env=redirect, a_env={"PORCHLIGHT_CLUSTER__REDIRECT_URL": own}) as hubs,
        running_agent(hubs.a, CAM, hubs.seeded.tokens[CAM], tmp_path),
    ):
        officer = await _officer(hubs.b)
        try:
            async with officer.http.post(
                f"{hubs.b.url}/whep/{CAM}?case=C-1&reason=test",
                data="v=0\r\n",
                headers={**officer.headers, "Content-Type": "application/sdp"},
                allow_redirects=False,
            ) as response:
                assert response.status == 307, await response.text()
                assert response.headers["Location"] == f"{own}/whep/{CAM}?case=C-1&reason=test"
        finally:
            await officer.close()


async def _watching_on_a(cluster: Cluster) -> tuple[Api, Viewer]:
    officer = await _officer(cluster.a)
    viewer = Viewer(officer, CAM)
    assert await viewer.watch() == 201, viewer.error
    await viewer.wait_frames(10)
    return officer, viewer


async def _stalls(viewer: Viewer, lost_at: float, bound: float) -> None:
    """No frame reaches the viewer later than `bound` seconds after Redis was lost, for a while."""
    await wait_until(lambda: time.time() > lost_at + bound + 1.0, bound + 5, "the stall window to pass")
    late = [f for f in viewer.frames if f.received_at > lost_at + bound]
    assert not late, f"{len(late)} frames reached the viewer after the lease should have closed the gate"


@pytest.mark.parametrize("fault", ["kill", "sigstop"])
async def test_redis_lost_mid_view_closes_gates_until_reload(cluster: Cluster, tmp_path: Path, fault: str) -> None:
    async with running_agent(cluster.a, CAM, cluster.seeded.tokens[CAM], tmp_path):
        officer, viewer = await _watching_on_a(cluster)
        lost_at = time.time()
        if fault == "kill":
            cluster.redis.kill()
        else:
            cluster.redis.pause()
        try:
            # Lease (2 s) plus the store timeout (1 s): after that nothing more is forwarded.
            await _stalls(viewer, lost_at, 3.0)
            status, body = await officer.call("GET", "/api/pilot")
            assert (status, body["reason"]) == (503, "store_unavailable")
            assert not viewer.track_ended.is_set(), "losing the store pauses viewers; it does not end them"
        finally:
            if fault == "kill":
                cluster.redis.start()
            else:
                cluster.redis.resume()
        # Back: the state is reloaded (the append-only file kept it) and the gate reopens.
        count = len(viewer.frames)
        await viewer.wait_frames(len(viewer.stamped()) + 10, timeout=20)
        assert len(viewer.frames) > count
        await viewer.close()
        await officer.close()


async def test_withdrawal_while_cut_off_is_honoured_after_reconnect(cluster: Cluster, tmp_path: Path) -> None:
    async with running_agent(cluster.a, CAM, cluster.seeded.tokens[CAM], tmp_path):
        officer, viewer = await _watching_on_a(cluster)
        await cluster.proxy.cut()  # hub A loses Redis; hub B keeps it
        resident = await Api(cluster.b.url).login("alice", PASSWORDS["alice"])
        began = time.time()
        status, body = await resident.call("DELETE", f"/api/cameras/{CAM}/grant")
        assert status == 200, body
        # A cannot confirm: the answer says when A's lease guarantees its gates closed, and claims no more.
        assert body["gates"]["confirmed"] is False
        closed_by = parse_time(body["gates"]["closed_by"])
        assert began < closed_by <= began + 2.5  # the withdrawal's time plus hub A's consent lease
        # A cut-off hub keeps its gates only until its lease runs out: nothing captured after that is shown.
        await wait_until(lambda: time.time() > closed_by + 0.5, 5, "hub A's lease to run out")
        await cluster.proxy.start()
        assert (await viewer.wait_end(timeout=15))["reason"] == "withdrawn"
        late = [s for s in viewer.stamped() if s >= closed_by * 1000]
        assert not late, f"{len(late)} frames captured after the lease deadline reached the viewer"
        await viewer.close()
        await officer.close()
        await resident.close()


async def test_killed_hub_its_agent_serves_through_the_other(cluster: Cluster, tmp_path: Path) -> None:
    token = cluster.seeded.tokens[CAM]
    async with running_agent(cluster.a, CAM, token, tmp_path, "--hub", cluster.b.url) as agent:
        assert cluster.a.proc is not None
        await cluster.a.proc.stop(sig=9)
        killed_at = time.time()
        await agent.wait_log_count("hub says hello", 2, timeout=20)
        officer = await _officer(cluster.b)
        viewer = Viewer(officer, CAM)
        assert await viewer.watch() == 201, viewer.error
        await viewer.wait_frames(5)
        assert time.time() - killed_at < 15
        await viewer.close()
        await officer.close()


async def test_plain_whip_publisher_is_sent_to_the_owning_hub(cluster: Cluster) -> None:
    """A standard WHIP publisher (no agent) holds its camera on the hub it reached; another hub redirects."""
    from device_agent.sources import SyntheticSource
    from device_agent.track import CameraTrack
    from device_agent.whip import WhipPublisher
    from porchlight_rtc.ice import rtc_configuration

    token = cluster.seeded.tokens[CAM]
    first = WhipPublisher(cluster.a.url, CAM, token, rtc_configuration([]), "vp8")
    second = WhipPublisher(cluster.b.url, CAM, token, rtc_configuration([]), "vp8")
    tracks = [CameraTrack(SyntheticSource(320, 240, "plain"), fps=5) for _ in range(2)]
    try:
        await first.start(tracks[0])
        await wait_until(lambda: _equals(cluster.a.metric("porchlight_publishers"), 1), 10, "hub A to take it")
        await second.start(tracks[1])  # asks hub B, which answers 307 to hub A
        assert second.resource is not None and second.resource.startswith(cluster.a.url)
        assert await cluster.b.metric("porchlight_publishers") == 0
    finally:
        for publisher in (second, first):
            await publisher.stop()
        for track in tracks:
            track.stop()


async def _equals(value, expected) -> bool:
    return (await value) == expected
