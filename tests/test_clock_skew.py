"""Issue 14 item 1: hubs whose clocks disagree. A withdrawal takes effect on every hub the moment it arrives,
whatever that hub's clock says, and is confirmed only once the gate there is closed; a hub whose clock strays from
the store's (Redis TIME) beyond `cluster.max_clock_offset_ms` closes every gate and says it is not ready.

Skew is given to one hub process only, with libfaketime (Debian's `faketime`, installed by `make test`): the
process's wall clock runs behind, its monotonic clock and the machine's clock are untouched. The camera's agent
runs on the true clock, so capture stamps in the pixels judge what reached the viewer."""

from __future__ import annotations

import glob
import time
from pathlib import Path

import aiohttp

from tests.conftest import PASSWORDS
from tests.support.client import Api, Viewer
from tests.support.cluster import two_hubs
from tests.support.procs import running_agent, wait_until

CAM = "front-door"


def behind(seconds: float) -> dict[str, str]:
    """The environment that runs a process's wall clock `seconds` behind the machine's."""
    found = glob.glob("/usr/lib/*/faketime/libfaketime.so.1")
    assert found, "libfaketime is missing: `make test` installs Debian's faketime package"
    return {"LD_PRELOAD": found[0], "FAKETIME": f"-{seconds}s", "FAKETIME_DONT_FAKE_MONOTONIC": "1"}


async def test_withdrawal_closes_a_hub_whose_clock_runs_behind(tmp_path: Path) -> None:
    # The bound is lifted for hub A, so that only the withdrawal's own handling is judged.
    skew = {**behind(5), "PORCHLIGHT_CLUSTER__MAX_CLOCK_OFFSET_MS": "60000"}
    async with (
        two_hubs(tmp_path, a_env=skew) as cluster,
        running_agent(cluster.a, CAM, cluster.seeded.tokens[CAM], tmp_path) as agent,
    ):
        officer = await Api(cluster.a.url).login("olivia", PASSWORDS["olivia"])
        viewer = Viewer(officer, CAM)

        async def watching() -> bool:
            # The grant was opened on the true clock: hub A, 5 s behind, sees it start 5 s late.
            nonlocal viewer
            if await viewer.watch() == 201:
                return True
            await viewer.close()
            viewer = Viewer(officer, CAM)
            return False

        await wait_until(watching, 30, "hub A to admit the officer", interval=0.5)
        await viewer.wait_frames(10)
        resident = await Api(cluster.b.url).login("alice", PASSWORDS["alice"])
        began = time.time()
        status, body = await resident.call("DELETE", f"/api/cameras/{CAM}/grant")
        assert status == 200, body
        assert body["gates"]["confirmed"] is True
        assert (await viewer.wait_end())["reason"] == "withdrawn"
        late = [s for s in viewer.stamped() if s >= began * 1000]
        assert not late, f"{len(late)} frames captured after the withdrawal reached the viewer on hub A"
        await agent.wait_log("publishing stopped")
        await viewer.close()
        await officer.close()
        await resident.close()


async def test_a_hub_whose_clock_strays_closes_its_gates(tmp_path: Path) -> None:
    async with two_hubs(tmp_path, a_env=behind(2), a_ready=False) as cluster:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{cluster.a.url}/readyz") as response:
                assert response.status == 503 and (await response.json())["reason"] == "clock_offset"
            async with http.get(f"{cluster.b.url}/readyz") as response:
                assert response.status == 200
        offset = await cluster.a.metric("porchlight_clock_offset_seconds")
        assert 1.5 < offset < 2.5
        assert abs(await cluster.b.metric("porchlight_clock_offset_seconds")) < 0.25
        officer = await Api(cluster.a.url).login("olivia", PASSWORDS["olivia"])
        async with running_agent(cluster.a, CAM, cluster.seeded.tokens[CAM], tmp_path):
            viewer = Viewer(officer, CAM)
            assert await viewer.watch() == 403
            assert viewer.error is not None and viewer.error["reason"] == "state_stale"
            await viewer.close()
        await officer.close()
