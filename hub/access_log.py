"""An access log without client addresses or query strings (WHEP queries carry case numbers)."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

log = logging.getLogger("hub.access")


class AccessLogger(AbstractAccessLogger):
    """Method, path, status and duration: enough to operate the hub, nothing about who or why."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info("%s %s %d %.1fms", request.method, request.path, response.status, time * 1000)
