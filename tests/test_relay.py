"""The relay between hubs, with real hubs on one real Redis, a real agent and real aiortc viewers: an officer on hub
B watches a camera whose agent reached hub A through one relay per camera, gated on both sides."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.conftest import PASSWORDS
from tests.support.client import Api, Viewer
from tests.support.cluster import Hubs, many_hubs
from tests.support.procs import Hub, running_agent, wait_until

CAM = "front-door"
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def cluster(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Hubs]:
    async with many_hubs(tmp_path_factory.mktemp("relay"), 2, a_via_proxy=False) as hubs:
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
        assert await first.watch() == 201, first.error
        assert first.location is not None and first.location.startswith(cluster.b.url)
        assert await second.watch() == 201, second.error
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
