"""Cluster-wide state for the pages (issue 17), on two hub processes sharing one real redis-server: who watches,
the admin's live views, ending views, withdrawals and disables counted on every hub, the owner's still picture and
the masks' applied state from the hub holding the camera's agent, and the agent hearing of every hub's viewers.

The camera's agent is a stand-in (its control WebSocket, driven by the test) on hub B, and the officers watch
there (asked to publish, it never does: the view waits for its first frame), while the pages and the actions run
on hub A. Only the last test needs a view on the hub without the agent: through hub B's relay.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from tests.conftest import PASSWORDS
from tests.support.client import Api, Viewer
from tests.support.cluster import TwoHubs, two_hubs
from tests.support.procs import Hub, wait_until

pytestmark = pytest.mark.asyncio(loop_scope="module")

CAM = "front-door"
JPEG = b"\xff\xd8\xff\xe0" + b"porchlight still" + b"\xff\xd9"
SQUARE = {"points": [[0.1, 0.1], [0.4, 0.1], [0.4, 0.4], [0.1, 0.4]], "style": "black"}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def cluster(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[TwoHubs]:
    async with two_hubs(tmp_path_factory.mktemp("cluster-state"), a_via_proxy=False) as hubs:
        yield hubs


async def _login(hub: Hub, username: str) -> Api:
    return await Api(hub.url).login(username, PASSWORDS[username])


@contextlib.asynccontextmanager
async def _view(hub: Hub, username: str) -> AsyncIterator[tuple[Viewer, str]]:
    """An officer's view of the camera held by `hub`: (viewer, its id)."""
    api = await _login(hub, username)
    viewer = Viewer(api, CAM)
    try:
        assert await viewer.watch() == 201, viewer.error
        assert viewer.location is not None and viewer.location.startswith(hub.url), "not held by this hub"
        yield viewer, viewer.location.rstrip("/").rsplit("/", 1)[-1]
    finally:
        await viewer.close()
        await api.close()


async def _watching(api: Api) -> list[dict[str, Any]]:
    status, body = await api.call("GET", "/api/cameras")
    assert status == 200, body
    return next(c for c in body["cameras"] if c["id"] == CAM)["watching"]


async def _ids_live(admin: Api) -> dict[str, dict[str, Any]]:
    status, body = await admin.call("GET", "/api/live")
    assert status == 200, body
    return {view["id"]: view for view in body["views"]}


@dataclass
class Topics:
    """One page's live-update stream (GET /api/events), the topics it was told."""

    told: list[str] = field(default_factory=list)
    hello: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, api: Api) -> None:
        async with api.http.get(f"{api.base}/api/events", timeout=aiohttp.ClientTimeout(total=None)) as response:
            async for raw in response.content:
                line = raw.decode().strip()
                if line == "event: hello":
                    self.hello.set()
                elif line.startswith("data: ") and "topics" in line:
                    self.told += json.loads(line[len("data: ") :])["topics"]


@contextlib.asynccontextmanager
async def _page(api: Api) -> AsyncIterator[Topics]:
    topics = Topics()
    task = asyncio.create_task(topics.run(api))
    try:
        await asyncio.wait_for(topics.hello.wait(), 10)
        yield topics
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_pages_on_one_hub_see_and_end_a_view_on_the_other(cluster: TwoHubs) -> None:
    alice, ada = await _login(cluster.a, "alice"), await _login(cluster.a, "ada")
    async with _agent(cluster), _page(alice) as page, _view(cluster.b, "olivia") as (viewer, viewer_id):
        # The owner's page on A is told, and sees the officer watching through B.
        await wait_until(lambda: "watchers" in page.told, 10, "the owner's page on A to hear of B's viewer")
        watching = await _watching(alice)
        assert [(w["id"], w["officer"], w["case"]) for w in watching] == [(viewer_id, "olivia", "CASE-1")]
        live = await _ids_live(ada)
        assert live[viewer_id]["hub"] == "hub-b" and live[viewer_id]["camera"] == CAM
        status, body = await ada.call("GET", "/api/admin/cameras")
        assert next(c for c in body["cameras"] if c["id"] == CAM)["watchers"] == 1
        assert "known_here" not in body["cameras"][0] and "watchers_here" not in body["cameras"][0]
        # The admin on A ends it: hub B does, and the officer is told why.
        status, body = await ada.call("DELETE", f"/api/live/{viewer_id}", {"reason": "wrong case"})
        assert (status, body) == (200, {"ended": viewer_id})
        end = await viewer.wait_end()
        assert (end["reason"], end.get("note")) == ("ended_by_admin", "wrong case")
        page.told.clear()
        await wait_until(lambda: "watchers" in page.told, 10, "the owner's page on A to hear the view ended")
        assert await _watching(alice) == []
        assert viewer_id not in await _ids_live(ada)
        status, body = await ada.call("DELETE", f"/api/live/{viewer_id}", {"reason": "again"})
        assert (status, body["reason"]) == (404, "view_unknown")
    for api in (alice, ada):
        await api.close()


async def test_a_withdrawal_counts_the_views_it_ended_on_every_hub(cluster: TwoHubs) -> None:
    alice = await _login(cluster.a, "alice")
    async with _agent(cluster), _view(cluster.b, "olivia") as (viewer, viewer_id):
        await wait_until_listed(alice, viewer_id)
        status, body = await alice.call("DELETE", f"/api/cameras/{CAM}/grant")
        assert status == 200, body
        assert body["views_ended"] == 1
        assert (await viewer.wait_end())["reason"] == "withdrawn"
    status, body = await alice.call("POST", f"/api/cameras/{CAM}/grant", {"duration_seconds": 3600})
    assert status == 201, body
    await alice.close()


async def wait_until_listed(api: Api, viewer_id: str) -> None:
    async def listed() -> bool:
        return viewer_id in {w["id"] for w in await _watching(api)}

    await wait_until(listed, 10, "the view on B to be listed on A")


async def test_the_owner_stops_a_view_held_by_the_other_hub(cluster: TwoHubs) -> None:
    alice = await _login(cluster.a, "alice")
    async with _agent(cluster), _view(cluster.b, "sam") as (viewer, viewer_id):
        await wait_until_listed(alice, viewer_id)
        status, body = await alice.call("DELETE", f"/api/cameras/{CAM}/views/{viewer_id}")
        assert status == 200, body
        assert (body["ended"], body["views"], body["barred"]) == (viewer_id, 1, True)
        assert (await viewer.wait_end())["reason"] == "ended_by_owner"
    await alice.close()


async def test_a_disable_counts_the_views_it_ended_on_every_hub(cluster: TwoHubs) -> None:
    ada = await _login(cluster.a, "ada")
    accounts = (await ada.call("GET", "/api/accounts"))[1]["accounts"]
    olivia = next(a for a in accounts if a["username"] == "olivia")
    async with _agent(cluster), _view(cluster.b, "olivia") as (viewer, viewer_id):
        await wait_until(lambda: _has(ada, viewer_id), 10, "the view on B in A's live views")
        status, body = await ada.call("POST", f"/api/accounts/{olivia['id']}/disable")
        assert status == 200, body
        assert body["views_ended"] == 1
        assert (await viewer.wait_end())["reason"] == "account_disabled"
    assert (await ada.call("POST", f"/api/accounts/{olivia['id']}/enable"))[0] == 200
    await ada.close()


async def _has(admin: Api, viewer_id: str) -> bool:
    return viewer_id in await _ids_live(admin)


@dataclass
class StandIn:
    """The camera's agent on a hub, played by the test: the messages it was sent; it answers still pictures."""

    ws: aiohttp.ClientWebSocketResponse
    confirms: bool  # says it applies each mask version it is sent
    messages: list[dict[str, Any]] = field(default_factory=list)

    async def run(self) -> None:
        async for message in self.ws:
            data = json.loads(message.data)
            self.messages.append(data)
            if data["type"] == "masks" and self.confirms:
                await self.ws.send_json({"type": "masks_applied", "version": data["version"]})
            if data["type"] == "snapshot":
                await self.ws.send_json({"type": "snapshot", "id": data["id"], "jpeg": base64.b64encode(JPEG).decode()})

    def watchers(self) -> list[dict[str, Any]]:
        """The viewers its last "watchers" or "publish" message listed."""
        told = [m for m in self.messages if m["type"] in ("watchers", "publish")]
        return told[-1]["viewers"] if told else []


@contextlib.asynccontextmanager
async def _agent(cluster: TwoHubs, confirms: bool = True) -> AsyncIterator[StandIn]:
    """The camera's stand-in agent, connected to hub B."""
    token = cluster.seeded.tokens[CAM]
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(f"{cluster.b.url}/control/{CAM}", headers={"Authorization": f"Bearer {token}"})
        agent = StandIn(ws, confirms)
        task = asyncio.create_task(agent.run())
        try:
            await wait_until(lambda: any(m["type"] == "hello" for m in agent.messages), 10, "the hub's hello")
            yield agent
        finally:
            await ws.close()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def _admitted(officer: Api) -> bool:
    status, body = await officer.call("GET", "/api/cameras")
    assert status == 200, body
    return any(c["id"] == CAM for c in body["cameras"])


async def test_the_agent_on_one_hub_serves_the_pages_and_gates_of_the_other(cluster: TwoHubs) -> None:
    alice, olivia = await _login(cluster.a, "alice"), await _login(cluster.a, "olivia")
    async with _agent(cluster, confirms=False) as agent:
        # The owner's page on A sees the camera online (its agent is on B), and gets its still picture through B.
        status, body = await alice.call("GET", "/api/cameras")
        assert next(c for c in body["cameras"] if c["id"] == CAM)["status"] == "idle"
        async with alice.http.get(f"{cluster.a.url}/api/cameras/{CAM}/snapshot", headers=alice.headers) as got:
            assert (got.status, await got.read()) == (200, JPEG)
        # New masks hold the camera on every hub until its agent on B applies them; then A's gates open too.
        status, body = await alice.call("PUT", f"/api/cameras/{CAM}/masks", {"masks": [SQUARE]})
        assert status == 200, body
        version = body["version"]
        await wait_until(lambda: _not(_admitted(olivia)), 10, "A's gate to hold the camera for its masks")
        assert (await alice.call("GET", f"/api/cameras/{CAM}/masks"))[1]["applied"] is False
        await agent.ws.send_json({"type": "masks_applied", "version": version})
        await wait_until(lambda: _admitted(olivia), 10, "A's gate to hear that the agent on B applies the masks")
        assert (await alice.call("GET", f"/api/cameras/{CAM}/masks"))[1]["applied"] is True
    status, body = await alice.call("GET", "/api/cameras")
    assert next(c for c in body["cameras"] if c["id"] == CAM)["status"] == "offline"
    async with alice.http.get(f"{cluster.a.url}/api/cameras/{CAM}/snapshot", headers=alice.headers) as got:
        assert (got.status, (await got.json())["reason"]) == (503, "camera_offline")
    for api in (alice, olivia):
        await api.close()


async def test_the_agent_hears_of_viewers_on_every_hub(cluster: TwoHubs) -> None:
    async with _agent(cluster) as agent, _view(cluster.a, "olivia") as (_, viewer_id):  # through B's relay
        await wait_until(lambda: [w["id"] for w in agent.watchers()] == [viewer_id], 10, "the agent to hear of A")
        assert agent.watchers()[0]["officer"] == "olivia"


async def _not(answer: Any) -> bool:
    return not await answer
