"""GET /api/events: the live-update stream the pages listen to (server-sent events).

Each stream hears only of what its caller is entitled to (`hub.live_scope`); an event names topics, never what
changed or for whom.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

from aiohttp import web

from hub.auth.identity import ensure_identity, timed_out
from hub.keys import CLOCK, CONFIG, LIVE, REGISTRY, STORE
from hub.live_scope import Audience
from hub.store.base import NotFound, StoreUnavailable

KEEPALIVE_SECONDS = 15.0
COALESCE_SECONDS = 0.1


async def events(request: web.Request) -> web.StreamResponse:
    """GET /api/events: `event: changed` with `{"topics": [...]}` whenever something the caller's page shows
    changed (and that caller may know of)."""
    identity = ensure_identity(request)
    app = request.app
    audience = await Audience.open(identity, app[REGISTRY], app[STORE])
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await response.prepare(request)
    live = app[LIVE]
    with live.subscribe(audience.accepts) as subscription, contextlib.suppress(ConnectionError):
        audience.wake = subscription.poke
        await response.write(b"event: hello\ndata: {}\n\n")
        loop = asyncio.get_running_loop()
        # Keep-alives on a fixed beat: their timing must not show when other users' changes woke the stream.
        beat = loop.time() + KEEPALIVE_SECONDS
        while True:
            woken = await subscription.wait(max(0.0, beat - loop.time()))
            if live.closed:
                break
            if not await _still_valid(request, identity.session.token_hash):
                await response.write(b"event: logged-out\ndata: {}\n\n")
                break
            if not woken:
                await response.write(b": keep-alive\n\n")
                beat = loop.time() + KEEPALIVE_SECONDS
                continue
            await asyncio.sleep(COALESCE_SECONDS)  # a burst of changes becomes one event
            if audience.stale and await _owner_changed(request, audience):
                subscription.add("cameras")
            # A wake-up with nothing for this caller writes nothing: the stream's timing tells no one of others.
            topics = subscription.take()
            if topics:
                await response.write(f"event: changed\ndata: {json.dumps({'topics': topics})}\n\n".encode())
    return response


async def _owner_changed(request: web.Request, audience: Audience) -> bool:
    """Whether the cameras the caller owns changed (a store that does not answer: as before, asked again later)."""
    try:
        return await audience.refresh(request.app[STORE])
    except StoreUnavailable:
        audience.stale = True
        return False


async def _still_valid(request: web.Request, token_hash: str) -> bool:
    """Whether the session that opened the stream still stands (an open page is not activity: no touch here)."""
    app = request.app
    now = app[CLOCK].now()
    try:
        session = await app[STORE].get_session(token_hash)
        account = await app[STORE].get_account(session.account_id)
    except (NotFound, StoreUnavailable):
        return False
    return not timed_out(session, now, app[CONFIG].auth.idle_seconds) and not account.disabled
