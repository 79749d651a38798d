"""Consent after the store lost writes the hubs had applied (issue 17, "Operating it").

A failover to a replica that trailed, or a Redis restarted without its append-only file, can lose writes the hubs
already applied from pub/sub, and the shared version counter goes back. Each hub must notice (another server
answers, or the change marker went back), close its gates, write again what closed consent and the store lost,
and reload taking the store as the truth.

Here the loss is real: two hub processes on one redis-server without an append-only file; the test SAVEs a
snapshot, makes the writes that will be lost (the hubs apply them), then SIGKILLs Redis and starts it again, which
loads the snapshot. Viewers are real aiortc peers on hub A (the camera's) and hub B (through its relay), reading
the capture stamps the synthetic agent draws.

Solo: the tests judge when frames stop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from hub.consent.decision import Grant
from hub.store.redis import RedisStore
from tests.conftest import PASSWORDS
from tests.support.client import Api, Viewer
from tests.support.cluster import Hubs, two_hubs
from tests.support.procs import Hub, running_agent
from tests.support.redis_server import _command

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.solo]

LEASE = 2.0  # the hubs' consent lease (the default)
POLL = 0.1  # how often a hub asks the store what changed (tests.support.procs.Hub's configuration)
DETECTED = "the store lost writes this hub had applied"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def rig(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Hubs]:
    # No append-only file: a restart loads the last SAVEd snapshot, so every write since is lost.
    async with two_hubs(tmp_path_factory.mktemp("failover"), appendonly=False, a_via_proxy=False) as hubs:
        yield hubs


def _save(rig: Hubs) -> None:
    """Snapshot the store now: what is written after this is what the restart loses."""
    assert _command(rig.redis.port, "SAVE", timeout=5.0) == b"+OK"


def _detections(hubs: list[Hub]) -> list[int]:
    return [hub.proc.log().count(DETECTED) if hub.proc is not None else 0 for hub in hubs]


async def _lose_writes(rig: Hubs) -> float:
    """SIGKILL Redis and start it again from the snapshot; when it answers again (then the hubs settle)."""
    rig.redis.kill()
    await asyncio.to_thread(rig.redis.start)
    restarted = time.time()
    await _settled(rig)
    return restarted


async def _settled(rig: Hubs, burst: int = 24, timeout: float = 10.0) -> None:
    """Until a burst of concurrent /readyz (each a store call) all answer 200 on every hub: each of a hub's pooled
    connections to the killed process fails once, at its next use (a page's request then answers 503)."""

    async def ready(http: aiohttp.ClientSession, hub: Hub) -> bool:
        async with http.get(f"{hub.url}/readyz") as response:
            return response.status == 200

    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while not all(await asyncio.gather(*(ready(http, hub) for hub in rig.hubs for _ in range(burst)))):
            assert time.monotonic() < deadline, "the hubs kept failing on the restarted Redis"
            await asyncio.sleep(0.05)


async def _detected(rig: Hubs, before: list[int], timeout: float = 5.0) -> bool:
    """Whether every hub logged the loss (within `timeout`); the tests judge consent, this only orders them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(now > was for now, was in zip(_detections(rig.hubs), before, strict=True)):
            return True
        await asyncio.sleep(0.05)
    return False


async def _ends_by(viewer: Viewer, deadline: float) -> bool:
    """Whether the viewer is told its view ended before `deadline` (wall clock)."""
    try:
        await viewer.wait_end(timeout=max(0.1, deadline - time.time()))
    except TimeoutError:
        return False
    return True


async def _grant(rig: Hubs, camera_id: str) -> Grant | None:
    store = await RedisStore.open(rig.redis.url, default_max_grant_seconds=7 * 86400)
    try:
        return await store.get_grant(camera_id)
    finally:
        await store.close()


async def _refused_everywhere(officers: list[Api], camera_id: str) -> list[int]:
    """A new view of the camera asked of each officer's hub: the answers (403 where the gates hold it closed)."""
    statuses = []
    for officer in officers:
        deadline = time.monotonic() + RETRY_503_SECONDS
        while True:
            viewer = Viewer(officer, camera_id)
            status = await viewer.watch()
            await viewer.close()
            if status != 503 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        statuses.append(status)
    return statuses


# Right after a restart, each of a hub's pooled connections to the old Redis process fails once (503
# store_unavailable, never retried behind the caller's back): the tests ask again, for a few seconds.
RETRY_503_SECONDS = 5.0


async def _login(url: str, username: str) -> Api:
    deadline = time.monotonic() + RETRY_503_SECONDS
    while True:
        api = Api(url)
        try:
            return await api.login(username, PASSWORDS[username])
        except AssertionError as exc:
            await api.close()
            if "store_unavailable" not in str(exc) or time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.1)


async def _call(api: Api, method: str, path: str, body: object = None) -> tuple[int, dict]:
    deadline = time.monotonic() + RETRY_503_SECONDS
    while True:
        status, answer = await api.call(method, path, body)
        if status != 503 or time.monotonic() > deadline:
            return status, answer
        await asyncio.sleep(0.1)


async def _logged_in(rig: Hubs, owner: str) -> tuple[Api, list[Api]]:
    """The owner on hub B, an officer on each hub (before the snapshot: log-ins after it would be lost too)."""
    resident = await _login(rig.b.url, owner)
    officers = [await _login(rig.a.url, "olivia"), await _login(rig.b.url, "sam")]
    return resident, officers


async def _watching(officers: list[Api], camera_id: str) -> list[Viewer]:
    viewers = [Viewer(officer, camera_id) for officer in officers]
    for viewer in viewers:
        assert await viewer.watch() == 201, viewer.error
    for viewer in viewers:
        await viewer.wait_frames(5)
    return viewers


async def _close(viewers: list[Viewer], apis: list[Api]) -> None:
    for viewer in viewers:
        await viewer.close()
    for api in apis:
        await api.close()


async def test_a_lost_opt_in_closes_every_hubs_gates(rig: Hubs, tmp_path: Path) -> None:
    camera = "backyard"  # not shared in the snapshot
    async with running_agent(rig.a, camera, rig.seeded.tokens[camera], tmp_path):
        owner, officers = await _logged_in(rig, "alice")
        _save(rig)
        status, body = await _call(owner, "POST", f"/api/cameras/{camera}/grant", {"duration_seconds": 3600})
        assert status == 201, body
        viewers = await _watching(officers, camera)  # both hubs applied the opt-in

        before = _detections(rig.hubs)
        restarted = await _lose_writes(rig)
        # The loss is seen at a hub's next poll; one lease after that at most, nothing captured reaches a viewer.
        bound = restarted + POLL + LEASE
        ended = [await _ends_by(viewer, bound + 3.0) for viewer in viewers]
        for viewer, hub in zip(viewers, ("A", "B"), strict=True):
            late = [s for s in viewer.stamped() if s > bound * 1000]
            assert not late, f"{len(late)} frames captured after the lost opt-in was seen reached the viewer on {hub}"
        assert ended == [True, True], "the lost opt-in's views were not ended"
        assert await _refused_everywhere(officers, camera) == [403, 403]
        assert await _grant(rig, camera) is None
        assert await _detected(rig, before)
        await _close(viewers, [owner, *officers])


async def test_b_a_withdrawal_the_store_lost_is_written_again(rig: Hubs, tmp_path: Path) -> None:
    camera = "front-door"
    async with running_agent(rig.a, camera, rig.seeded.tokens[camera], tmp_path):
        owner, officers = await _logged_in(rig, "alice")
        status, body = await _call(owner, "POST", f"/api/cameras/{camera}/grant", {"duration_seconds": 3600})
        assert status == 201, body
        viewers = await _watching(officers, camera)
        _save(rig)  # the camera is shared in the snapshot
        began = time.time()
        status, body = await _call(owner, "DELETE", f"/api/cameras/{camera}/grant")
        assert status == 200, body
        for viewer in viewers:
            assert (await viewer.wait_end())["reason"] == "withdrawn"

        before = _detections(rig.hubs)
        await _lose_writes(rig)
        detected = await _detected(rig, before)
        # Written again, at the owner's time: the store no longer holds the camera shared.
        grant = await _grant(rig, camera)
        assert grant is not None and grant.revoked_at is not None, "the lost withdrawal was not written again"
        assert abs(grant.revoked_at - began) < 1.0
        assert await _refused_everywhere(officers, camera) == [403, 403]
        for viewer in viewers:
            late = [s for s in viewer.stamped() if s >= began * 1000]
            assert not late, f"{len(late)} frames captured after the withdrawal reached a viewer"
        assert detected
        await _close(viewers, [owner, *officers])


async def test_c_a_later_withdrawal_with_a_lower_version_takes_effect(rig: Hubs, tmp_path: Path) -> None:
    camera = "porch"
    async with running_agent(rig.a, camera, rig.seeded.tokens[camera], tmp_path):
        owner, officers = await _logged_in(rig, "bob")
        status, body = await _call(owner, "POST", f"/api/cameras/{camera}/grant", {"duration_seconds": 3600})
        assert status == 201, body
        viewers = await _watching(officers, camera)
        _save(rig)
        # Lost: the camera shared again, several times; the hubs hold the newest version in memory.
        for _ in range(4):
            status, body = await _call(owner, "POST", f"/api/cameras/{camera}/grant", {"duration_seconds": 3600})
            assert status == 201, body
        held = await _grant(rig, camera)
        assert held is not None

        before = _detections(rig.hubs)
        await _lose_writes(rig)
        await _detected(rig, before)  # without the fix nothing is logged: the checks below say what went wrong
        for viewer in viewers:  # the grant in the snapshot is live: the views go on
            await viewer.wait_frames(len(viewer.stamped()) + 5, timeout=15)

        began = time.time()
        status, body = await _call(owner, "DELETE", f"/api/cameras/{camera}/grant")
        assert status == 200, body
        written = await _grant(rig, camera)
        assert written is not None and written.revoked_at is not None
        assert written.version < held.version, "the scenario needs a withdrawal older by version than memory's grant"
        for viewer in viewers:
            assert (await viewer.wait_end())["reason"] == "withdrawn"
        for viewer, hub in zip(viewers, ("A", "B"), strict=True):
            late = [s for s in viewer.stamped() if s >= began * 1000]
            assert not late, f"{len(late)} frames captured after the withdrawal reached the viewer on {hub}"
        assert await _refused_everywhere(officers, camera) == [403, 403]
        await _close(viewers, [owner, *officers])
