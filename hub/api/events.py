"""GET /api/events: the live-update stream the pages listen to (server-sent events)."""

from __future__ import annotations

import asyncio
import contextlib
import json

from aiohttp import web

from hub.auth.identity import ensure_identity, timed_out
from hub.keys import CLOCK, CONFIG, LIVE, STORE
from hub.store.base import NotFound, StoreUnavailable

KEEPALIVE_SECONDS = 15.0
COALESCE_SECONDS = 0.1


async def events(request: web.Request) -> web.StreamResponse:
    """GET /api/events: `event: changed` with `{"topics": [...]}` whenever something the pages show changed."""
    identity = ensure_identity(request)
    live = request.app[LIVE]
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await response.prepare(request)
    seen = live.version
    with contextlib.suppress(ConnectionError):
        await response.write(f"event: hello\ndata: {json.dumps({'version': seen})}\n\n".encode())
        while True:
            await live.wait(seen, KEEPALIVE_SECONDS)
            if live.closed:
                break
            if not await _still_valid(request, identity.session.token_hash):
                await response.write(b"event: logged-out\ndata: {}\n\n")
                break
            if live.version == seen:
                await response.write(b": keep-alive\n\n")
                continue
            await asyncio.sleep(COALESCE_SECONDS)  # a burst of changes becomes one event
            topics, seen = live.topics_since(seen), live.version
            await response.write(f"event: changed\ndata: {json.dumps({'topics': topics})}\n\n".encode())
    return response


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
