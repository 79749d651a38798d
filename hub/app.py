"""The application factory: routes, middleware, and the shared objects opened and closed in cleanup_ctx."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from aiohttp import web

from hub import admin_socket, memory, sync
from hub.api import accounts, cameras, enrolment, events, health, masks, mfa, pilot, requests, session, transparency
from hub.api import area as area_api
from hub.api import audit as audit_api
from hub.api import map as map_api
from hub.api.admin_cameras import admin_cameras
from hub.api.push import add_push_routes
from hub.api.push_answer import add_answer_route
from hub.api.views import end_view
from hub.audit import expiry
from hub.audit import orphans as orphaned_views
from hub.audit.setup import open_audit
from hub.auth.csrf import allowed_origins
from hub.auth.identity import Guard, identity_middleware, public
from hub.auth.keepalive import keep_views_alive
from hub.auth.throttle import FAILED_AUTHENTICATION, Throttle
from hub.clock import Clock
from hub.cluster.setup import install_cluster
from hub.config import Config, ForwardingMode, StoreKind
from hub.consent.actions import ConsentActions
from hub.consent.registry import GateRegistry
from hub.errors import Handler, HubError, error_middleware
from hub.http_cors import cors_middleware, cors_origins, install_cors_headers, whep_options, whip_options
from hub.http_headers import install_security_headers
from hub.icons import add_icon_routes
from hub.keys import ACTIONS, AUDIT, CLOCK, CONFIG, LIVE, METRICS, REGISTRY, ROUTER, RTC, STORE, STREAMS, THROTTLE
from hub.live import LiveEvents
from hub.log_redaction import install_log_redaction
from hub.media import control, whep, whip
from hub.media.audio_sessions import push_audio
from hub.media.encoded import check_internals
from hub.media.ice_servers import ICE, IceServers, LiveRtcConfiguration
from hub.media.masks import push_masks
from hub.media.relay_setup import add_relay_routes, relay_ctx
from hub.media.streams import StreamManager
from hub.media.whep_events import EVENT_STREAMS, EventStreams, stream_delete, stream_get
from hub.metrics import Metrics
from hub.metrics_site import metrics_site
from hub.notify.setup import notify_ctx
from hub.routing.redis import RedisRouter
from hub.store.base import Store
from hub.store.redis import RedisStore
from hub.store.redis_sentinel import redis_target
from hub.store.sqlite import SqliteStore
from hub.sync import make_router
from porchlight_rtc import patch_aiortc
from porchlight_rtc.ice import enable_loopback, gather_only

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
# After answering a request whose body never finished (a 408, a 413), aiohttp reads on for this long before it
# closes the connection (its default, 10 s, would let a slow client hold each socket that much longer).
LINGERING_SECONDS = 1.0


async def open_store(config: Config) -> Store:
    """The store the configuration names."""
    consent, store = config.consent, config.store
    if store.kind is StoreKind.REDIS:
        return await RedisStore.open(
            redis_target(store),
            default_max_grant_seconds=consent.default_max_grant_seconds,
            prefix=store.redis_prefix,
            connect_timeout=store.redis_connect_timeout_seconds,
            socket_timeout=store.redis_socket_timeout_seconds,
            wait_replicas=store.redis_wait_replicas,
            wait_timeout=store.redis_wait_timeout_seconds,
        )
    return await SqliteStore.open(store.sqlite_path, default_max_grant_seconds=consent.default_max_grant_seconds)


GUARD = Guard(
    store=lambda app: app[STORE],
    now=lambda app: app[CLOCK].now(),
    idle_seconds=lambda app: app[CONFIG].auth.idle_seconds,
    origins=lambda app: allowed_origins(app[CONFIG].http),
)

CORS = cors_middleware(lambda app: cors_origins(app[CONFIG].http))

StoreFactory = Callable[[Config], Awaitable[Store]]
STORE_FACTORY: web.AppKey[StoreFactory] = web.AppKey("store_factory")


async def _state_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    store = await app[STORE_FACTORY](config)
    try:
        audit = await open_audit(config, config.node_id())
    except BaseException:
        await store.close()
        raise
    live = LiveEvents()
    registry = GateRegistry(config.auth.idle_seconds)
    registry.on_change = lambda: live.publish("cameras")
    metrics = Metrics()
    metrics.watch_audit(audit.leaf_count, audit.pending)
    streams = StreamManager(registry, audit, metrics, live, config.media, config.limits)
    metrics.watch_peers(lambda: len(streams.peers))
    app[STORE], app[AUDIT], app[REGISTRY], app[METRICS], app[STREAMS] = store, audit, registry, metrics, streams
    app[LIVE] = live
    # A new mask version (set here or on another hub) goes to the camera's agent if it is connected here.
    registry.on_masks_changed = lambda camera_id: streams.spawn(push_masks(app, camera_id), f"masks-{camera_id}")
    # Whether the camera's grant allows audio changed (here or on another hub): its agent starts or stops sending.
    registry.on_audio_changed = lambda camera_id: streams.spawn(push_audio(app, camera_id), f"audio-{camera_id}")
    app[ROUTER] = router = make_router(app)
    # What every hub serves (live views, agents), for the pages, and acting on views wherever they are.
    cluster = install_cluster(app)
    app[ACTIONS] = ConsentActions(
        store, registry, streams, router, audit, live, lease_seconds=config.consent.lease_seconds, cluster=cluster
    )
    marker = await sync.refresh(app, None)
    watcher = asyncio.create_task(sync.watch(app, marker), name="consent-watcher")
    expiries = asyncio.create_task(expiry.watch(app), name="audit-expiries")
    # Only records written before this start can be another run's; ours come after.
    orphans = asyncio.create_task(
        orphaned_views.sweep(audit, config.node_id(), audit.leaf_count()), name="audit-orphaned-views"
    )
    trimmer = asyncio.create_task(memory.trim_every(), name="memory-trim")
    if isinstance(router, RedisRouter):
        router.start()
    cluster.start()
    try:
        yield
    finally:
        for task in (watcher, expiries, orphans, trimmer):
            task.cancel()
        await asyncio.gather(watcher, expiries, orphans, trimmer, return_exceptions=True)
        await cluster.close()
        await router.close()
        await streams.close()
        await audit.close()
        await store.close()


async def _admin_socket_ctx(app: web.Application) -> AsyncIterator[None]:
    # The CLI's way in (hub/admin_socket.py): open once the consent actions exist, closed before they go.
    async with admin_socket.serving(app[ACTIONS], admin_socket.socket_path(app[CONFIG].store.data_dir)):
        yield


async def _end_event_streams(app: web.Application) -> None:
    # Open event streams (the pages', and each viewer's) would otherwise hold the shutdown until their next
    # keep-alive: end them, and every viewer with its `end` event, before the server waits for its handlers.
    app[LIVE].close()
    await app[STREAMS].close()


@web.middleware
async def refusal_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Pause before answering a failed authentication; count what the limits turn away (errors pass on)."""
    try:
        return await handler(request)
    except HubError as exc:
        if exc.reason in FAILED_AUTHENTICATION:
            await request.app[THROTTLE].pause_after_failure()
        if exc.retry_after is not None:
            request.app[METRICS].refusals.labels(exc.reason).inc()
        endpoint = request.path.split("/")[1]
        if request.method == "POST" and endpoint in ("whip", "whep"):
            # A client that cannot connect finds why in the hub's log too (the message names no secret).
            log.info(
                "%s offer for %s refused: %d %s (%s)",
                endpoint.upper(),
                request.match_info.get("camera_id"),
                exc.status,
                exc.reason,
                exc,
            )
            request.app[METRICS].offer_refusals.labels(endpoint, exc.reason).inc()
        raise


async def _close_throttle(app: web.Application) -> None:
    app[THROTTLE].close()


def create_app(config: Config, store_factory: StoreFactory = open_store, clock: Clock | None = None) -> web.Application:
    """Build the hub's aiohttp application from a validated configuration (how to open its store, and the clock
    log-in sessions are timed by)."""
    patch_aiortc()
    install_log_redaction()  # aiohttp's own error lines would quote request targets (WHEP's case and reason)
    if config.media.loopback:
        enable_loopback(*config.media.ice_addresses)
    elif config.media.ice_addresses:
        gather_only(config.media.ice_addresses)
    if config.media.forwarding is ForwardingMode.PASSTHROUGH:
        check_internals()  # fail at start, naming the aiortc internal, rather than forward nothing
    app = web.Application(
        # CORS first: a preflight carries no credential, and the origin check of the rest is its to relax.
        middlewares=[CORS, error_middleware, refusal_middleware, identity_middleware(GUARD)],
        client_max_size=config.media.max_sdp_bytes + 1024,
    )
    app[CONFIG] = config
    app[CLOCK] = clock or Clock()
    app[STORE_FACTORY] = store_factory
    app[THROTTLE] = Throttle(config.limits)
    app.on_cleanup.append(_close_throttle)
    # The hub's own peers and the Link headers of WHIP/WHEP answers: TURN credentials made fresh for each.
    app[ICE] = IceServers(config.media.ice_servers)
    app[RTC] = LiveRtcConfiguration(app[ICE])
    app[EVENT_STREAMS] = EventStreams()
    install_security_headers(app, config.http.secure_cookies, config.map.tile_origin())
    install_cors_headers(app)
    app.cleanup_ctx.append(_state_ctx)
    app.cleanup_ctx.append(relay_ctx)  # after _state_ctx: relays between hubs use its streams and router
    app.cleanup_ctx.append(keep_views_alive)  # live views keep their officers' sessions alive
    app.cleanup_ctx.append(metrics_site)  # after _state_ctx: it serves the metrics made there
    app.cleanup_ctx.append(notify_ctx)  # after _state_ctx: it sends with its store and counts in its metrics
    app.cleanup_ctx.append(_admin_socket_ctx)
    app.on_shutdown.append(_end_event_streams)
    _routes(app)
    return app


def _routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/healthz", health.healthz)
    r.add_get("/readyz", health.readyz)
    if app[CONFIG].http.metrics_port is None:  # else only on its own address (hub/metrics_site.py)
        r.add_get("/metrics", health.metrics)
    r.add_post("/api/login", session.login)
    r.add_post("/api/logout", session.logout)
    r.add_get("/api/me", session.me)
    r.add_get("/api/session", session.session_state)
    r.add_post("/api/session/keepalive", session.keepalive)
    r.add_post("/api/mfa/enrol", mfa.start)
    r.add_post("/api/mfa/confirm", mfa.confirm)
    r.add_get("/api/events", events.events)
    r.add_get("/api/agencies", accounts.list_agencies)
    r.add_post("/api/agencies", accounts.add_agency)
    r.add_get("/api/accounts", accounts.list_accounts)
    r.add_post("/api/accounts", accounts.add_account)
    r.add_post("/api/accounts/{account_id}/disable", accounts.disable)
    r.add_post("/api/accounts/{account_id}/enable", accounts.enable)
    r.add_post("/api/accounts/{account_id}/unlock", accounts.unlock)
    r.add_post("/api/accounts/{account_id}/mfa/reset", accounts.reset_mfa)
    r.add_post("/api/accounts/{account_id}/enrolment-code", enrolment.issue_code)
    r.add_get("/api/live", accounts.live_views)
    r.add_delete("/api/live/{viewer_id}", accounts.end_live_view)
    r.add_get("/api/admin/cameras", admin_cameras)
    r.add_get("/api/cameras", cameras.list_cameras)
    r.add_post("/api/cameras/{camera_id}/grant", cameras.opt_in)
    r.add_delete("/api/cameras/{camera_id}/grant", cameras.withdraw)
    r.add_put("/api/cameras/{camera_id}/grant/audio", cameras.set_audio)
    r.add_put("/api/cameras/{camera_id}/location", cameras.set_location)
    r.add_delete("/api/cameras/{camera_id}/views/{viewer_id}", end_view)
    r.add_get("/api/cameras/{camera_id}/masks", masks.get_masks)
    r.add_put("/api/cameras/{camera_id}/masks", masks.put_masks)
    r.add_get("/api/cameras/{camera_id}/snapshot", masks.get_snapshot)
    r.add_post("/api/cameras/{camera_id}/requests", requests.ask)
    r.add_get("/api/requests", requests.list_requests)
    r.add_post("/api/requests/area", area_api.ask_area)
    r.add_get("/api/map", map_api.map_settings)
    r.add_get("/vendor/{path:.+}", map_api.vendor_file)
    r.add_post("/api/requests/{request_id}/approve", requests.approve)
    r.add_post("/api/requests/{request_id}/decline", requests.decline)
    r.add_get("/api/pilot", pilot.get_pilot)
    r.add_put("/api/pilot", pilot.put_pilot)
    r.add_post("/api/pilot/end", pilot.end_pilot)
    r.add_put("/api/policy", pilot.put_policy)
    r.add_get("/api/audit/key", audit_api.verifier_key)
    r.add_get("/api/audit/checkpoint", audit_api.checkpoint)
    r.add_get("/api/audit/records", audit_api.records)
    r.add_get("/api/audit/sources", audit_api.addresses)
    r.add_get("/api/audit/proof/inclusion", audit_api.inclusion)
    r.add_get("/api/audit/proof/consistency", audit_api.consistency)
    r.add_get("/transparency", transparency.transparency_page)
    r.add_get("/api/transparency", transparency.transparency_json)
    r.add_get("/api/transparency.csv", transparency.transparency_csv)
    r.add_post("/whip/{camera_id}", whip.whip_post)
    r.add_route("OPTIONS", "/whip/{camera_id}", whip_options)
    r.add_delete("/whip/{camera_id}/{resource_id}", whip.whip_delete)
    r.add_patch("/whip/{camera_id}/{resource_id}", whip.whip_patch)
    r.add_post("/whep/{camera_id}", whep.whep_post)
    r.add_route("OPTIONS", "/whep/{camera_id}", whep_options)
    r.add_delete("/whep/{camera_id}/{viewer_id}", whep.whep_delete)
    r.add_patch("/whep/{camera_id}/{viewer_id}", whep.whep_patch)
    r.add_get("/whep/{camera_id}/{viewer_id}/events", whep.whep_events)
    r.add_post("/whep/{camera_id}/{viewer_id}/events", whep.whep_events_subscribe)
    r.add_get("/whep/{camera_id}/{viewer_id}/events/stream", stream_get)
    r.add_delete("/whep/{camera_id}/{viewer_id}/events/stream", stream_delete)
    r.add_get("/control/{camera_id}", control.control_ws)
    add_relay_routes(r)  # hub-to-hub, signed (hub/media/relay_server.py)
    for path in PAGES:
        r.add_get(path, page)
    r.add_get("/js/{name}", asset)
    r.add_get("/css/{name}", asset)
    add_icon_routes(r)
    add_push_routes(r)
    add_answer_route(r)  # a notification's Approve/Decline, with its answer token instead of a session


PAGES = {
    "/": "index.html",
    "/resident": "resident.html",
    "/resident/masks": "masks.html",
    "/officer": "officer.html",
    "/admin": "admin.html",
}
ASSETS = {"js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8"}


@public
async def page(request: web.Request) -> web.FileResponse:
    """A page (each asks for a log-in itself)."""
    return web.FileResponse(WEB_DIR / PAGES[request.path])


@public
async def asset(request: web.Request) -> web.FileResponse:
    """The pages' ES modules and style sheets (plain names under web/js and web/css: no path can leave them)."""
    folder = request.path.split("/")[1]
    name = request.match_info["name"]
    path = WEB_DIR / folder / name
    if not name.endswith("." + folder) or "/" in name or name.startswith(".") or not path.is_file():
        raise web.HTTPNotFound()
    return web.FileResponse(path, headers={"Content-Type": ASSETS[folder]})
