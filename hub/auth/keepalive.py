"""Never logging anyone out under a live view: what keeps a log-in session alive besides the person's own requests.

- A live view keeps its officer's session alive: every view open on this hub has its session's last-seen time
  renewed in the store while it plays (`keep_views_alive`, a background task of the hub), so an officer's tiles
  are never wiped by the idle timeout. Each hub renews the sessions of its own viewers, so this holds on a cluster.
- An open page asks (`POST /api/session/keepalive`), and the hub renews the session only if something of the
  caller's is live now (`live_reason`): a view of theirs open on this hub, or, for a resident, a camera of theirs
  shared right now. A page left open with nothing live still idles out.

Neither ever moves a session's absolute end, and neither revives a session already past its idle time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from hub.api.cameras import grant_json
from hub.auth.identity import TOUCH_SECONDS, Identity, timed_out
from hub.consent.registry import GateRegistry
from hub.keys import CLOCK, CONFIG, REGISTRY, STORE, STREAMS
from hub.media.streams import StreamManager
from hub.store.base import NotFound, Role, Store, StoreUnavailable

log = logging.getLogger(__name__)

LIVE_VIEW = "live_view"
LIVE_CONSENT = "live_consent"


def renew_every(idle_seconds: float) -> float:
    """How often a live view's session is renewed, and an open page asks to be kept alive: well inside the idle
    limit (a quarter of it), and at most once a minute for a page (half that for views)."""
    return min(2 * TOUCH_SECONDS, idle_seconds / 4)


async def live_reason(
    identity: Identity, store: Store, registry: GateRegistry, streams: StreamManager, now: float
) -> str | None:
    """What of the caller's is live now (`live_view`, `live_consent`), or None: then nothing keeps it alive."""
    session_hash = identity.session.token_hash
    if any(viewer.officer.session_hash == session_hash for viewer in streams.live_viewers()):
        return LIVE_VIEW
    if identity.account.role is Role.RESIDENT:
        for camera in await store.list_cameras(owner_id=identity.account.id):
            shown = grant_json(registry.gate(camera.id).state.grant, now, registry.pilot)
            if shown is not None and shown["live"]:
                return LIVE_CONSENT
    return None


async def renew(store: Store, token_hash: str, now: float, idle_seconds: float) -> bool:
    """Renew a session's last-seen time unless it is gone or already timed out; whether it was renewed."""
    try:
        session = await store.get_session(token_hash)
    except NotFound:
        return False
    if timed_out(session, now, idle_seconds):
        return False  # ended already: the next request with it notes why and deletes it
    await store.touch_session(token_hash, now)
    return True


async def keep_views_alive_once(
    store: Store, registry: GateRegistry, streams: StreamManager, now: float, idle_seconds: float
) -> int:
    """Renew the session of every view open on this hub, and hand the viewers' passes the new idle deadline; how
    many sessions were renewed."""
    sessions = {viewer.officer.session_hash: viewer.account_id for viewer in streams.live_viewers()}
    renewed: set[int] = set()
    for token_hash, account_id in sessions.items():
        if await renew(store, token_hash, now, idle_seconds):
            renewed.add(account_id)
    for account_id in renewed:
        await registry.reload_passes_of(store, account_id)
    return len(renewed)


async def keep_views_alive(app: web.Application) -> AsyncIterator[None]:
    """A cleanup context: while the hub runs, renew its live views' sessions every `renew_every` seconds."""
    idle = app[CONFIG].auth.idle_seconds
    # As often as half a page's keep-alive: a view's pass must learn the new deadline before the old one passes.
    every = renew_every(idle) / 2

    async def loop() -> None:
        while True:
            await asyncio.sleep(every)
            try:
                await keep_views_alive_once(app[STORE], app[REGISTRY], app[STREAMS], app[CLOCK].now(), idle)
            except StoreUnavailable:
                log.warning("could not renew the sessions of live views: the store does not answer")
            except Exception:
                log.exception("renewing the sessions of live views failed")

    task = asyncio.create_task(loop(), name="keep-views-alive")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
