"""The WHEP session's server-sent events (the WHEP draft's `urn:ietf:params:whep:ext:core:server-sent-events`).

The 201 to a WHEP offer links the session's events URL and the event types offered (`events="end"`). Players use it
either way:
- `GET` it (an `EventSource` on the hub's own page, with the session cookie; or any client with its bearer token):
  the stream itself, every event type.
- `POST` it a JSON array of wanted types (Medooze's `WHEPClient`, as the draft says): `201` with the `Location` of a
  new event stream carrying only those types. That stream is read with a plain `GET` (an `EventSource` sends no
  `Authorization` and, from another origin, no cookie), so its URL is the credential: 128 random bits, in the query
  string (which the access log leaves out). `DELETE` on it ends it; it ends with its session anyway.

Each event is `event: <type>` and one `data:` line of JSON. `end` carries why and when the session ended, and the
hub closes the stream after it. The session's events are kept, so a listener that comes late still hears them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from hub.auth.identity import public
from hub.errors import BadRequest, Missing, TooLarge
from hub.keys import STREAMS
from hub.media.viewer import Viewer

EVENTS_REL = "urn:ietf:params:whep:ext:core:server-sent-events"
# The event types a session's stream carries (the draft's own, active/inactive/layers/viewercount, mean nothing
# for a gated view: the one thing a player must learn is that its view ended, and why).
OFFERED = ("end",)
KEEP_ALIVE_SECONDS = 15.0
MAX_BODY = 1024
# Event streams a session may have open through POST; creating one more forgets its oldest.
MAX_STREAMS_PER_SESSION = 4


def events_link(camera_id: str, viewer_id: str) -> str:
    """The `Link` value the 201 carries for the session's events."""
    return f'</whep/{camera_id}/{viewer_id}/events>; rel="{EVENTS_REL}"; events="{",".join(OFFERED)}"'


@dataclass(frozen=True, slots=True)
class _Subscription:
    viewer_id: str
    types: frozenset[str]


class EventStreams:
    """The event streams created by POST, by their (secret) id. Bounded: a few per session, forgotten with it."""

    def __init__(self) -> None:
        self._streams: dict[str, _Subscription] = {}

    def __len__(self) -> int:
        return len(self._streams)

    def create(self, viewer_id: str, types: frozenset[str]) -> str:
        """A new stream's id."""
        mine = [key for key, sub in self._streams.items() if sub.viewer_id == viewer_id]
        for key in mine[: max(0, len(mine) - MAX_STREAMS_PER_SESSION + 1)]:
            del self._streams[key]
        stream_id = secrets.token_urlsafe(16)
        self._streams[stream_id] = _Subscription(viewer_id, types)
        return stream_id

    def get(self, stream_id: str) -> _Subscription | None:
        return self._streams.get(stream_id)

    def delete(self, stream_id: str) -> bool:
        return self._streams.pop(stream_id, None) is not None

    def forget_unless(self, known: Callable[[str], bool]) -> None:
        """Drop the streams of sessions the hub no longer knows (`known(viewer_id)` false)."""
        for key in [key for key, sub in self._streams.items() if not known(sub.viewer_id)]:
            del self._streams[key]


EVENT_STREAMS = web.AppKey("whep_event_streams", EventStreams)


async def open_stream(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    """`GET` on the session's events URL: the stream of every offered event type."""
    return await _stream(request, viewer, frozenset(OFFERED))


async def subscribe(request: web.Request, viewer: Viewer) -> web.Response:
    """`POST` on the session's events URL: a JSON array of wanted types (empty body: all offered); 201 with the new
    stream's Location. 400 naming the offered types when none of the wanted ones is offered."""
    wanted = await _wanted_types(request)
    types = frozenset(OFFERED) if wanted is None else frozenset(wanted) & frozenset(OFFERED)
    if not types:
        raise BadRequest(f"none of these events is offered; offered: {','.join(OFFERED)}", "events_not_offered")
    streams = request.app[EVENT_STREAMS]
    hub_streams = request.app[STREAMS]
    streams.forget_unless(lambda viewer_id: hub_streams.viewer(viewer_id) is not None)
    stream_id = streams.create(viewer.id, types)
    location = f"/whep/{viewer.camera_id}/{viewer.id}/events/stream?id={stream_id}"
    return web.Response(status=201, headers={"Location": location})


@public
async def stream_get(request: web.Request) -> web.StreamResponse:
    """`GET` on a stream created by `subscribe` (its URL is its credential)."""
    subscription, viewer = _subscription(request)
    return await _stream(request, viewer, subscription.types)


@public
async def stream_delete(request: web.Request) -> web.Response:
    """`DELETE` on a stream created by `subscribe`: later `GET`s answer 404."""
    _subscription(request)
    request.app[EVENT_STREAMS].delete(request.query.get("id", ""))
    return web.Response(status=200)


def _subscription(request: web.Request) -> tuple[_Subscription, Viewer]:
    subscription = request.app[EVENT_STREAMS].get(request.query.get("id", ""))
    viewer = request.app[STREAMS].viewer(request.match_info["viewer_id"])
    if (
        subscription is None
        or viewer is None
        or subscription.viewer_id != viewer.id
        or viewer.camera_id != request.match_info["camera_id"]
    ):
        raise Missing("no such event stream", "event_stream_unknown")
    return subscription, viewer


async def _wanted_types(request: web.Request) -> list[str] | None:
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise TooLarge("the list of events is too long")
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise TooLarge("the list of events is too long")
    if not raw.strip():
        return None
    try:
        wanted = json.loads(raw)
    except ValueError:
        wanted = None
    if not isinstance(wanted, list) or not all(isinstance(item, str) for item in wanted):
        raise BadRequest('the body must be a JSON array of event types, like ["end"]', "events_invalid")
    return wanted


async def _stream(request: web.Request, viewer: Viewer, types: frozenset[str]) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await response.prepare(request)
    # A listener that goes away ends only its stream, not the session.
    with contextlib.suppress(ConnectionError):
        await _write_events(viewer, response, types)
    return response


async def _write_events(viewer: Viewer, response: web.StreamResponse, types: frozenset[str]) -> None:
    sent = 0
    while True:
        while sent < len(viewer.events):
            event = viewer.events[sent]
            sent += 1
            if event["type"] in types:
                await response.write(f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode())
            if event["type"] == "end":
                await response.write_eof()
                return
        viewer.changed.clear()
        try:
            await asyncio.wait_for(viewer.changed.wait(), timeout=KEEP_ALIVE_SECONDS)
        except TimeoutError:
            await response.write(b": keep-alive\n\n")
