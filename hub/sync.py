"""Keeping this hub in step with the store: the consent lease, reloads, and other hubs' changes."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiohttp import web

from hub.config import StoreKind
from hub.consent.actions import drop_stale_devices
from hub.keys import CONFIG, METRICS, REGISTRY, ROUTER, STORE, STREAMS
from hub.routing.base import Router
from hub.routing.local import LocalRouter
from hub.routing.redis import RedisRouter
from hub.store.base import Store
from hub.store.redis import RedisStore

log = logging.getLogger(__name__)

# Expired log-in sessions are deleted this often.
PURGE_SECONDS = 300.0


async def refresh(app: web.Application, marker: int | None) -> int:
    """Ask the store what changed; reload if anything did or the lease lapsed; renew the lease. The new marker.

    The lease is renewed from the moment the question was asked, and a lapsed lease only after a full reload,
    so the gates reopen only on state read after the store came back. A hub whose clock strays from the store's
    by more than `cluster.max_clock_offset_ms` does not renew: its gates close as stale.
    """
    store, registry, config = app[STORE], app[REGISTRY], app[CONFIG]
    consent = config.consent
    asked = time.time()
    async with asyncio.timeout(consent.store_timeout_seconds):
        offset = await clock_offset(store)
        current = await store.change_marker()
        # A lease that lapsed because the store went silent reloads everything; one this hub let lapse for its own
        # clock did not lose track of the store (it kept polling), so it needs no reload every poll meanwhile.
        if current != marker or (registry.lapsed(time.time()) and not registry.clock_strays):
            await registry.reload(store)
            await drop_stale_devices(store, app[STREAMS])
        await registry.refresh_idle_passes(store, time.time(), consent.lease_seconds + consent.poll_seconds)
    app[METRICS].clock_offset.set(offset)
    if abs(offset) * 1000 > config.cluster.max_clock_offset_ms:
        if not registry.clock_strays:
            log.error(
                "this hub's clock is %.3f s off the store's (more than %.0f ms): every gate closes until it is fixed",
                offset,
                config.cluster.max_clock_offset_ms,
            )
        registry.clock_strays = True
        registry.expire_lease()
        return current
    registry.clock_strays = False
    registry.renew(asked + consent.lease_seconds)
    return current


async def clock_offset(store: Store) -> float:
    """How far the store's clock is ahead of this hub's, in seconds (0 for the embedded store: same clock)."""
    if not isinstance(store, RedisStore):
        return 0.0
    before = time.time()
    server = await store.server_time()
    return server - (before + time.time()) / 2


async def watch(app: web.Application, marker: int) -> None:
    """Keep consent fresh: reload on changes from other processes, hold the lease, sweep closed gates."""
    store, streams, consent = app[STORE], app[STREAMS], app[CONFIG].consent
    next_purge = 0.0
    failing = False
    while True:
        await asyncio.sleep(consent.poll_seconds)
        try:
            marker = await refresh(app, marker)
            if failing:
                log.warning("consent watcher: the store answers again; state reloaded")
                failing = False
            now = time.time()
            if now >= next_purge:
                await store.purge_sessions(now)
                next_purge = now + PURGE_SECONDS
        except Exception as exc:
            if not failing:
                log.warning(
                    "consent watcher: the store does not answer (%s); gates close when the lease ends",
                    type(exc).__name__,
                )
                failing = True
        try:
            await streams.sweep()
        except Exception:
            log.exception("consent watcher: sweep failed")


def make_router(app: web.Application) -> Router:
    """A local router for one hub; a Redis router when hubs share Redis."""
    config, store = app[CONFIG], app[STORE]
    if config.store.kind is not StoreKind.REDIS or not isinstance(store, RedisStore):
        return LocalRouter(config.node_id())
    streams = app[STREAMS]
    return RedisRouter(
        store,
        config.node_id(),
        config.redirect_base_url(),
        internal_url=config.internal_base_url(),
        owner_ttl=config.cluster.owner_ttl_seconds,
        confirm_timeout=config.cluster.confirm_timeout_seconds,
        lease_seconds=config.consent.lease_seconds,
        on_change=lambda message: apply_change(app, message),
        on_lost=streams.disown,
    )


async def apply_change(app: web.Application, message: dict[str, Any]) -> None:
    """Apply one change another hub (or this one) published; newer versions only, as the registry enforces.

    A withdrawal takes effect here the moment it arrives, whatever this hub's clock says; it is confirmed to the
    withdrawing hub only once this hub's gate for the camera is seen closed and its viewers are ended.
    """
    store, registry, streams, router = app[STORE], app[REGISTRY], app[STREAMS], app[ROUTER]
    kind, ident, version = message.get("kind"), message.get("id"), message.get("version")
    if kind == "grant" and isinstance(ident, str):
        registry.apply_grant(await store.get_grant(ident), ident)
        await streams.sweep()
        if isinstance(version, int) and (registry.withdrawn(ident, version) or registry.audio_closed(ident, version)):
            await router.confirm_closed(ident, version)
        return
    if kind == "pilot":
        registry.apply_pilot(await store.get_pilot())
    else:
        # "subscribed" (pub/sub may have lost messages before it), accounts, cameras, sessions: everything.
        await registry.reload(store)
        cameras = [ident] if kind == "camera" and isinstance(ident, str) else None
        await drop_stale_devices(store, streams, cameras)
    await streams.sweep()
