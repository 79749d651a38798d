"""Issue 14 on two hubs sharing Redis: a device token rotated through one hub ends the sockets opened with the old
one on the other; a disable and a pilot end made through one hub end views on the other at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import PASSWORDS
from tests.support.client import Api, Viewer, close_code
from tests.support.cluster import TwoHubs, two_hubs
from tests.support.procs import running_agent
from tests.test_cli import porchlight

CAM = "front-door"


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[TwoHubs]:
    async with two_hubs(tmp_path) as hubs:
        yield hubs


async def test_a_token_rotated_through_one_hub_ends_the_old_socket_on_another(cluster: TwoHubs) -> None:
    old = cluster.seeded.tokens[CAM]
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(f"{cluster.a.url}/control/{CAM}", headers={"Authorization": f"Bearer {old}"})
        await ws.send_json({"type": "masks_applied", "version": 0})
        assert (await ws.receive_json(timeout=10))["type"] == "hello"
        result = await asyncio.to_thread(porchlight, cluster.b, "camera", "token", CAM)
        assert result.returncode == 0, result.stderr
        assert "done by the running hub" in result.stdout
        assert await close_code(ws) == 4003
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(f"{cluster.a.url}/control/{CAM}", headers={"Authorization": f"Bearer {old}"})
        assert refused.value.status == 401


async def test_a_disable_through_one_hub_ends_the_view_on_another(cluster: TwoHubs, tmp_path: Path) -> None:
    async with running_agent(cluster.a, CAM, cluster.seeded.tokens[CAM], tmp_path):
        officer = await Api(cluster.a.url).login("olivia", PASSWORDS["olivia"])
        viewer = Viewer(officer, CAM)
        assert await viewer.watch() == 201, viewer.error
        await viewer.wait_frames(5)
        admin = await Api(cluster.b.url).login("ada", PASSWORDS["ada"])
        accounts = (await admin.call("GET", "/api/accounts"))[1]["accounts"]
        olivia = next(a for a in accounts if a["username"] == "olivia")
        began = time.time()
        status, body = await admin.call("POST", f"/api/accounts/{olivia['id']}/disable")
        assert status == 200, body
        assert body["gates"]["confirmed"] is False and body["gates"]["closed_by"]  # a lease bound on a cluster
        assert (await viewer.wait_end())["reason"] == "account_disabled"
        late = [s for s in viewer.stamped() if s >= (began + 0.5) * 1000]
        assert not late, f"{len(late)} frames captured well after the disable reached the viewer on hub A"
        await viewer.close()
        for api in (officer, admin):
            await api.close()
