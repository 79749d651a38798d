"""/metrics on an address of its own (`http.metrics_host`, `http.metrics_port`).

The figures are anonymous but not harmless: how many officers watch right now, and when, is police activity. With
a metrics port configured, the main address answers 404 for /metrics (hub/app.py does not route it) and a second,
small aiohttp site serves only /metrics there, so it can be bound to loopback or to an interface only the
monitoring reaches. The site is started and stopped with the app (a `cleanup_ctx`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from hub.api import health
from hub.http_headers import install_security_headers
from hub.keys import CONFIG, METRICS

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"


def metrics_app(main: web.Application) -> web.Application:
    """The application of the metrics address: GET /metrics of `main`'s figures, nothing else (404)."""
    app = web.Application()
    app[METRICS] = main[METRICS]
    app.router.add_get("/metrics", health.metrics)
    install_security_headers(app, main[CONFIG].http.secure_cookies)
    return app


async def metrics_site(main: web.Application) -> AsyncIterator[None]:
    """Serve /metrics on `http.metrics_host`:`http.metrics_port` while `main` runs (nothing when no port is set)."""
    http = main[CONFIG].http
    if http.metrics_port is None:
        yield
        return
    # No access log: a scraper's request every few seconds says nothing worth keeping.
    runner = web.AppRunner(metrics_app(main), access_log=None, handle_signals=False)
    await runner.setup()
    try:
        await web.TCPSite(runner, http.metrics_host or DEFAULT_HOST, http.metrics_port).start()
        log.info("metrics served on their own address (http.metrics_host, http.metrics_port)")
        yield
    finally:
        await runner.cleanup()
