"""Cross-site request forgery and cross-site sockets: the checks a browser's ambient cookie needs.

- Every state-changing request (anything but GET, HEAD, OPTIONS) authenticated by the session cookie must carry
  `X-CSRF-Token`, a value derived from the session token (so it needs no storage, and a page on another site,
  which cannot read the HttpOnly cookie, cannot compute it). The pages get it from the log-in answer and
  `GET /api/me`. Requests with `Authorization: Bearer` carry no ambient credential and need none.
- A request that says where it comes from (`Origin`) must come from this hub: log-ins, WebSocket and
  event-stream handshakes included. "This hub" is what the configuration says (`http.public_url`, and the address
  it listens on), never the request's own `Host`: a page on evil.example whose name is made to resolve to the hub
  (DNS rebinding) sends `Host` and `Origin` both evil.example, and would otherwise vouch for itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Awaitable, Callable
from typing import TypeVar
from urllib.parse import urlsplit

from aiohttp import web

from hub.config import HttpConfig

CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_F = TypeVar("_F", bound=Callable[..., Awaitable[web.StreamResponse]])


def csrf_token(session_token: str) -> str:
    """The CSRF token that goes with a session token."""
    digest = hashlib.sha256(b"porchlight-csrf\0" + session_token.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def csrf_exempt(handler: _F) -> _F:
    """Mark a handler that acts on a credential in its body alone, never on the session cookie (a notification's
    answer token, hub/api/push_answer.py): a forged cross-site request has no ambient credential to ride on there,
    so it needs no CSRF token. Nothing else may wear this."""
    handler.porchlight_csrf_exempt = True  # type: ignore[attr-defined]
    return handler


def csrf_ok(request: web.Request, session_token: str) -> bool:
    """Whether the request carries the session's CSRF token (compared in constant time), or needs none."""
    if getattr(getattr(request.match_info, "handler", None), "porchlight_csrf_exempt", False):
        return True
    given = request.headers.get(CSRF_HEADER, "")
    return hmac.compare_digest(given.encode(), csrf_token(session_token).encode())


# Listening on one of these, the hub is reached by its loopback names too (the demo and the tests use both).
LOOPBACK_V4 = frozenset({"127.0.0.1", "0.0.0.0", "localhost"})
LOOPBACK_V6 = frozenset({"::1", "::"})
DEFAULT_PORTS = {"http": 80, "https": 443}


def allowed_origins(http: HttpConfig) -> frozenset[str]:
    """The origins this hub's pages are served from: `http.public_url` when set, and the address it listens on
    (`http://host:port`; with a loopback or wildcard host, `localhost` and the loopback address on that port)."""
    hosts = {http.host}
    if http.host in LOOPBACK_V4:
        hosts |= {"localhost", "127.0.0.1"}
    if http.host in LOOPBACK_V6:
        hosts |= {"localhost", "::1"}
    origins = {normal_origin(f"http://{_netloc(host, http.port)}") for host in hosts}
    if http.public_url:
        origins.add(normal_origin(http.public_url))
    return frozenset(origin for origin in origins if origin is not None)


def origin_ok(request: web.Request, origins: frozenset[str]) -> bool:
    """True unless the request names an Origin that is not one of `origins` (see `allowed_origins`)."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    return normal_origin(origin) in origins


def normal_origin(url: str) -> str | None:
    """`scheme://host:port` of a URL or an Origin header, lower case and with the port always written; None when
    it names no host (`null`, garbage)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port or DEFAULT_PORTS.get(parts.scheme.lower())
    except ValueError:
        return None
    if not parts.hostname or port is None:
        return None
    return f"{parts.scheme.lower()}://{_netloc(parts.hostname.lower(), port)}"


def _netloc(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
