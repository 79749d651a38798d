"""Issue 15 item 7: a WHEP session's server-sent events, both ways players open them.

- `GET` on the linked URL (an `EventSource` on the hub's page, with the cookie);
- `POST` a JSON array of wanted types to it, as Medooze's `WHEPClient` (whip-whep 1.2.0's whep.js) does with a
  bearer token, then `GET` the `Location` of the 201 with no credential at all (an `EventSource` sends none).

Each is judged by the `end` event arriving when the view ends, against a real hub and camera agent.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from yarl import URL

from hub.media.whep_events import EVENTS_REL
from tests.conftest import PASSWORDS
from tests.support.client import Api
from tests.support.procs import Hub, running_agent
from tests.support.secrets import SECRETS

pytestmark = pytest.mark.asyncio(loop_scope="module")
CAMERA = "front-door"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def hub(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Hub]:
    """One seeded hub with the camera's agent connected, for the module."""
    tmp = tmp_path_factory.mktemp("events-hub")
    instance = Hub(tmp)
    instance.write_config()
    seeded = await instance.seed()
    await instance.start()
    try:
        async with running_agent(instance, CAMERA, seeded.tokens[CAMERA], tmp):
            yield instance
    finally:
        await instance.stop()


@pytest_asyncio.fixture(loop_scope="module")
async def officer(hub: Hub) -> AsyncIterator[Api]:
    api = await Api(hub.url).login("olivia", PASSWORDS["olivia"])
    try:
        yield api
    finally:
        await api.close()


def session_token(api: Api) -> str:
    """The officer's session token, as a plain WHEP player is given it (Authorization: Bearer)."""
    cookies = api.http.cookie_jar.filter_cookies(URL(api.base))
    return str(cookies["porchlight_session"].value)


class Session:
    """One WHEP session opened with an aiortc peer: its Location and the events Link of its 201."""

    def __init__(self) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.location = ""
        self.events_url = ""
        self.events_param = ""

    async def open(self, http: aiohttp.ClientSession, base: str, headers: dict[str, str]) -> None:
        self.pc.addTransceiver("video", direction="recvonly")
        await self.pc.setLocalDescription(await self.pc.createOffer())
        SECRETS.add_sdp(self.pc.localDescription.sdp)
        async with http.post(
            f"{base}/whep/{CAMERA}",
            params={"case": "CASE-9", "reason": "events test"},
            data=self.pc.localDescription.sdp,
            headers={"Content-Type": "application/sdp", **headers},
        ) as response:
            answer = await response.text()
            assert response.status == 201, answer
            SECRETS.add_sdp(answer)
            self.location = str(response.url.join(URL(response.headers["Location"])))
            link = response.links.get(EVENTS_REL)
            assert link is not None, response.headers.getall("Link", [])
            self.events_url = str(response.url.join(URL(str(link["url"]))))
            self.events_param = str(link.get("events", ""))
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))

    async def close(self) -> None:
        await self.pc.close()


async def read_events(response: aiohttp.ClientResponse, into: list[tuple[str, dict[str, Any]]]) -> None:
    """Read a text/event-stream to its end: (event, data) pairs, one data line each (the draft's format)."""
    assert response.status == 200, await response.text()
    assert response.content_type == "text/event-stream"
    event = None
    async for raw in response.content:
        line = raw.decode().rstrip("\n")
        if line.startswith("event:"):
            event = line.split(":", 1)[1].strip()
        elif line.startswith("data:"):
            assert event is not None, line
            into.append((event, json.loads(line.split(":", 1)[1])))


async def test_get_streams_the_end_of_the_view(hub: Hub, officer: Api) -> None:
    """The EventSource way: GET the linked URL with the page's cookie; `end` arrives when the view ends."""
    session = Session()
    try:
        await session.open(officer.http, hub.url, officer.headers)
        assert session.events_param == "end"  # the types offered, advertised in the Link
        seen: list[tuple[str, dict[str, Any]]] = []
        async with officer.http.get(session.events_url) as response:
            reader = asyncio.create_task(read_events(response, seen))
            async with officer.http.delete(session.location, headers=officer.headers) as hang_up:
                assert hang_up.status == 200
            await asyncio.wait_for(reader, 10)  # the hub closes the stream after `end`
        assert [(event, data["reason"]) for event, data in seen] == [("end", "viewer_left")]
    finally:
        await session.close()


async def test_post_subscribes_and_the_location_streams_the_end(hub: Hub, officer: Api) -> None:
    """The Medooze way: with a bearer token and no cookie, POST the advertised types; 201 and a Location; a GET of it
    with no credential streams them; `end` arrives when the view ends. Before issue 15 the POST got 405."""
    bearer = {"Authorization": f"Bearer {session_token(officer)}"}
    session = Session()
    async with aiohttp.ClientSession() as player, aiohttp.ClientSession() as event_source:
        try:
            await session.open(player, hub.url, bearer)
            wanted = session.events_param.split(",")  # what whep.js posts: the Link's `events`
            async with player.post(
                session.events_url, data=json.dumps(wanted), headers={"Content-Type": "application/json", **bearer}
            ) as response:
                assert response.status == 201, await response.text()
                stream_url = str(response.url.join(URL(response.headers["Location"])))
            assert stream_url != session.events_url
            seen: list[tuple[str, dict[str, Any]]] = []
            async with event_source.get(stream_url) as response:
                reader = asyncio.create_task(read_events(response, seen))
                async with player.delete(session.location, headers=bearer) as hang_up:
                    assert hang_up.status == 200
                await asyncio.wait_for(reader, 10)
            assert [(event, data["reason"]) for event, data in seen] == [("end", "viewer_left")]
            # A late listener still hears how the session ended; a stream deleted is gone.
            late: list[tuple[str, dict[str, Any]]] = []
            async with event_source.get(stream_url) as response:
                await asyncio.wait_for(read_events(response, late), 10)
            assert [event for event, _ in late] == ["end"]
            async with event_source.delete(stream_url) as response:
                assert response.status == 200
            async with event_source.get(stream_url) as response:
                assert (response.status, (await response.json())["reason"]) == (404, "event_stream_unknown")
        finally:
            await session.close()


async def test_subscriptions_are_checked(hub: Hub, officer: Api) -> None:
    """Only the session's officer subscribes; the body is a list of offered types; a stream's URL cannot be guessed."""
    bearer = {"Authorization": f"Bearer {session_token(officer)}"}
    session = Session()
    async with aiohttp.ClientSession() as player:
        try:
            await session.open(player, hub.url, bearer)
            json_type = {"Content-Type": "application/json"}
            cases = [
                (bearer, '["layers", "viewercount"]', 400, "events_not_offered"),
                (bearer, '{"end": true}', 400, "events_invalid"),
                (bearer, "not json", 400, "events_invalid"),
                ({}, '["end"]', 401, "login_required"),
            ]
            for headers, body, status, reason in cases:
                async with player.post(session.events_url, data=body, headers={**json_type, **headers}) as response:
                    assert (response.status, (await response.json())["reason"]) == (status, reason), body
            # Another officer's token: the session is not theirs (the same answer as an unknown one).
            sam = await Api(hub.url).login("sam", PASSWORDS["sam"])
            try:
                other = {"Authorization": f"Bearer {session_token(sam)}"}
                async with player.post(session.events_url, data="[]", headers={**json_type, **other}) as response:
                    assert (response.status, (await response.json())["reason"]) == (404, "session_unknown")
            finally:
                await sam.close()
            # An empty list, or no body, means every type offered.
            async with player.post(session.events_url, headers=bearer) as response:
                assert response.status == 201
                location = URL(response.headers["Location"])
            guessed = response.url.join(location.with_query(id="A" * 22))
            async with player.get(guessed) as response:
                assert response.status == 404
            async with player.delete(session.location, headers=bearer) as response:
                assert response.status == 200
        finally:
            await session.close()


async def test_unit_streams_are_bounded() -> None:
    """A session keeps at most a few POSTed streams; the streams of forgotten sessions go."""
    from hub.media.whep_events import MAX_STREAMS_PER_SESSION, EventStreams

    streams = EventStreams()
    ids = [streams.create("v1", frozenset({"end"})) for _ in range(MAX_STREAMS_PER_SESSION + 3)]
    assert len(streams) == MAX_STREAMS_PER_SESSION
    assert streams.get(ids[0]) is None and streams.get(ids[-1]) is not None
    streams.create("v2", frozenset({"end"}))
    streams.forget_unless(lambda viewer_id: viewer_id == "v2")
    assert len(streams) == 1
