"""Cross-site request forgery and cross-site sockets: the checks a browser's ambient cookie needs.

- Every state-changing request (anything but GET, HEAD, OPTIONS) authenticated by the session cookie must carry
  `X-CSRF-Token`, a value derived from the session token (so it needs no storage, and a page on another site,
  which cannot read the HttpOnly cookie, cannot compute it). The pages get it from the log-in answer and
  `GET /api/me`. Requests with `Authorization: Bearer` carry no ambient credential and need none.
- A request that says where it comes from (`Origin`) must come from this hub: log-ins, WebSocket and
  event-stream handshakes included.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import urlsplit

from aiohttp import web

CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def csrf_token(session_token: str) -> str:
    """The CSRF token that goes with a session token."""
    digest = hashlib.sha256(b"porchlight-csrf\0" + session_token.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def csrf_ok(request: web.Request, session_token: str) -> bool:
    """Whether the request carries the session's CSRF token (compared in constant time)."""
    given = request.headers.get(CSRF_HEADER, "")
    return hmac.compare_digest(given.encode(), csrf_token(session_token).encode())


def origin_ok(request: web.Request, base_url: str) -> bool:
    """True unless the request names an Origin other than this hub (as reached, or its public URL)."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    own = {f"{request.scheme}://{request.host}".lower(), _origin(base_url)}
    return origin.lower() in own


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()
