"""Liveness, readiness and metrics: open to anyone (serve /metrics on its own address in production:
`http.metrics_host`, `http.metrics_port`)."""

from __future__ import annotations

import asyncio
import time

from aiohttp import web

from hub.auth.identity import public
from hub.keys import METRICS, REGISTRY, STORE

READY_TIMEOUT = 2.0


@public
async def healthz(request: web.Request) -> web.Response:
    """The process is up."""
    return web.json_response({"ok": True})


@public
async def readyz(request: web.Request) -> web.Response:
    """The store answers and this hub's view of consent is fresh: ready to serve."""
    try:
        await asyncio.wait_for(request.app[STORE].change_marker(), READY_TIMEOUT)
    except Exception:
        return web.json_response({"ok": False, "reason": "store_unavailable"}, status=503)
    if request.app[REGISTRY].clock_strays:
        return web.json_response({"ok": False, "reason": "clock_offset"}, status=503)
    if request.app[REGISTRY].lapsed(time.time()):
        return web.json_response({"ok": False, "reason": "state_stale"}, status=503)
    return web.json_response({"ok": True})


@public
async def metrics(request: web.Request) -> web.Response:
    """Prometheus text format."""
    return request.app[METRICS].render()
