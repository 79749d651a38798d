"""Keeping this hub in step with the store: the consent lease, reloads, and other hubs' changes."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiohttp import web

from hub.config import StoreKind
from hub.consent.actions import drop_stale_devices
from hub.consent.decision import Pilot
from hub.keys import CONFIG, METRICS, REGISTRY, ROUTER, STORE, STREAMS
from hub.routing.base import Router
from hub.routing.local import LocalRouter
from hub.routing.redis import RedisRouter
from hub.store.base import NotFound, Store
from hub.store.redis import RedisStore

log = logging.getLogger(__name__)

# Expired log-in sessions are deleted this often.
PURGE_SECONDS = 300.0


async def refresh(app: web.Application, marker: int | None) -> int:
    """Ask the store what changed; reload if anything did or the lease lapsed; renew the lease. The new marker.

    The lease is renewed from the moment the question was asked, and a lapsed lease only after a full reload,
    so the gates reopen only on state read after the store came back. A hub whose clock strays from the store's
    by more than `cluster.max_clock_offset_ms` does not renew: its gates close as stale. A store that may have lost
    writes this hub applied (`lost_writes`) closes every gate until `recover_lost_writes` has reloaded from it.
    """
    store, registry, config = app[STORE], app[REGISTRY], app[CONFIG]
    consent = config.consent
    asked = time.time()
    async with asyncio.timeout(consent.store_timeout_seconds):
        offset = await clock_offset(store)
        server = await store.server_id()
        current = await store.change_marker()
        lost = lost_writes(registry.followed_server, server, marker, current)
        if lost is not None:
            # Every gate closes now and reopens only with the renewal below, after the store's state is in.
            registry.expire_lease()
            await recover_lost_writes(app, lost)
            await drop_stale_devices(store, app[STREAMS])
        # A lease that lapsed because the store went silent reloads everything; one this hub let lapse for its own
        # clock did not lose track of the store (it kept polling), so it needs no reload every poll meanwhile.
        elif current != marker or (registry.lapsed(time.time()) and not registry.clock_strays):
            await registry.reload(store)
            await drop_stale_devices(store, app[STREAMS])
        registry.followed_server = server
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


def lost_writes(followed: str | None, server: str | None, marker: int | None, current: int) -> str | None:
    """Why the store may have lost writes this hub applied, or None: the server answering is not the one this hub
    followed (a failover, a restart; the embedded store has no server id), or the change marker went back."""
    if followed is not None and server != followed:
        return "another Redis server answers (a failover or a restart)"
    if marker is not None and current < marker:
        return f"the change marker went back from {marker} to {current}"
    return None


async def recover_lost_writes(app: web.Application, why: str) -> None:
    """The store lost writes this hub had applied: reload taking it as the truth (`GateRegistry.resync`), after
    writing again what closed consent here and the store lost, since nobody but the owner may undo a withdrawal:
    each withdrawal of a grant the store holds live and made before it (`revoke_grant` at the withdrawal's time), the
    pilot's end or shortening in its run (`set_pilot` with that end), each account disabled here that the store
    has enabled with an older version. The caller keeps the gates closed until this returns."""
    store, registry = app[STORE], app[REGISTRY]
    now = time.time()
    withdrawn: list[str] = []
    for camera_id, held in sorted(registry.held_withdrawals().items()):
        grant, revoked_at = await store.get_grant(camera_id), held.revoked_at
        # Live in the store and made before the withdrawal: the withdrawal covers it (a later one is a new opt-in).
        if grant is not None and grant.revoked_at is None and revoked_at is not None and grant.starts_at <= revoked_at:
            await store.revoke_grant(camera_id, revoked_at)
            withdrawn.append(camera_id)
    pilot_end = await _reassert_pilot_end(store, registry.pilot, now)
    disabled: list[int] = []
    for account_id, version in sorted(registry.held_disabled().items()):
        try:
            account = await store.get_account(account_id)
        except NotFound:
            continue  # gone from the store: nothing of it passes
        if not account.disabled and account.version < version:
            await store.set_account_disabled(account_id, True)
            await store.delete_sessions_of(account_id)
            disabled.append(account_id)
    await registry.resync(store)
    log.error(
        "the store lost writes this hub had applied (%s): reloaded taking the store as the truth; written again: "
        "withdrawals of cameras %s, the pilot's end: %s, disabled accounts %s",
        why,
        withdrawn or "none",
        "yes" if pilot_end else "no",
        disabled or "none",
    )


async def _reassert_pilot_end(store: Store, held: Pilot | None, now: float) -> bool:
    """Write again the pilot's end (or shortening) this hub holds and the store lost; whether it did."""
    stored = await store.get_pilot()
    if held is None or stored is None or stored.ended:
        return False
    if held.run == stored.run and held.ends_at < stored.ends_at:
        await store.set_pilot(held.starts_at, held.ends_at, now)
        return True
    if held.run > stored.run and stored.starts_at < now:
        # The store lost this pilot's start and the end of the one before it: end that one now (fail closed).
        await store.set_pilot(stored.starts_at, now, now)
        return True
    return False


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
        except Exception as exc:
            app[METRICS].lease_renewals_missed.inc()
            if not failing:
                log.warning(
                    "consent watcher: the store does not answer (%s); gates close when the lease ends",
                    type(exc).__name__,
                )
                failing = True
        else:
            if failing:
                log.warning("consent watcher: the store answers again; state reloaded")
                failing = False
            now = time.time()
            if now >= next_purge:
                try:
                    await store.purge_sessions(now)
                    next_purge = now + PURGE_SECONDS
                except Exception as exc:
                    log.warning("consent watcher: purging expired sessions failed (%s)", type(exc).__name__)
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
