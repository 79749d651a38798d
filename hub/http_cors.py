"""CORS for WHIP and WHEP: players and publishers on the origins `http.cors_origins` names, with a bearer token.

A page on another origin calls WHIP and WHEP with `fetch` and `Authorization: Bearer` (a camera's device token for
WHIP, an officer's session token for WHEP). The browser asks first (a preflight `OPTIONS`); this module answers it
for a configured origin, and adds `Access-Control-Allow-Origin` and `Access-Control-Expose-Headers` (the
`Location`, `Link` and `ETag` a client must read) to the answers themselves, errors included, so the page learns
why it was refused.

What stays as it was:
- A request that carries the session cookie stays same-origin (hub/auth/csrf.py refuses its foreign Origin, 403):
  the cookie is an ambient credential another site must never ride on. No answer says
  `Access-Control-Allow-Credentials`, so a browser never sends the cookie across origins to begin with.
- An origin that is not configured gets no CORS header at all, on any route.
- Routes other than /whip/ and /whep/ are same-origin only.

A request that passes here reaches the rest of the app without its Origin header (the origin check has been made
here, by the configuration), and authenticates as any other: no token, no answer but 401.

Also here: the answer to a plain (not preflight) `OPTIONS` on the WHIP and WHEP endpoints (RFC 9725 §4.6): the
methods, `Accept-Post: application/sdp` and, to an authenticated caller, the ICE servers with fresh credentials, for
clients that must configure them before they make their offer.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable

from aiohttp import web
from multidict import CIMultiDict

from hub.auth.csrf import normal_origin
from hub.auth.identity import IDENTITY_KEY, Identity, bearer_token, cookie_token, device, public
from hub.config import HttpConfig
from hub.errors import Handler, Unauthorized
from hub.media.ice_servers import ICE, add_ice_links
from hub.media.whip import authenticate_camera
from hub.store.base import Role

CORS_PATHS = ("/whip/", "/whep/")
ALLOW_HEADERS = "Authorization, Content-Type, If-Match"
EXPOSE_HEADERS = "Location, Link, ETag"
MAX_AGE_SECONDS = 600
# The Origin of a request let through here: its answer carries the CORS headers (see install_cors_headers).
CORS_ORIGIN = web.RequestKey("cors_origin", str)


def cors_origins(http: HttpConfig) -> frozenset[str]:
    """The configured origins, normalized as Origin headers are compared (hub.auth.csrf.normal_origin)."""
    return frozenset(origin for origin in map(normal_origin, http.cors_origins) if origin is not None)


def cors_middleware(
    origins: Callable[[web.Application], frozenset[str]],
) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Answer preflights from configured origins; let their WHIP/WHEP requests without the cookie through (see the
    module doc). Goes before every other middleware: a preflight carries no credential."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if (
            origin is None
            or not request.path.startswith(CORS_PATHS)
            or normal_origin(origin) not in origins(request.app)
            or cookie_token(request) is not None
        ):
            return await handler(request)
        methods = _methods(request)
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers and methods:
            return _preflight(origin, methods)
        request[CORS_ORIGIN] = origin
        # The handlers see no Origin: this one was checked against the configuration just now.
        headers = CIMultiDict(request.headers)
        del headers["Origin"]
        return await handler(request.clone(headers=headers))

    return middleware


def _preflight(origin: str, methods: list[str]) -> web.StreamResponse:
    return web.Response(
        status=204,
        headers={
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": ", ".join(methods),
            "Access-Control-Allow-Headers": ALLOW_HEADERS,
            "Access-Control-Max-Age": str(MAX_AGE_SECONDS),
            "Vary": "Origin",
        },
    )


def _methods(request: web.Request) -> list[str] | None:
    """The methods the request's route answers, OPTIONS included; None when no route matches."""
    info = request.match_info
    if isinstance(info.http_exception, web.HTTPMethodNotAllowed):
        methods = set(info.http_exception.allowed_methods)
    elif info.http_exception is not None:
        return None
    else:
        methods = {route.method for route in info.route.resource or ()}
    return sorted(methods | {"OPTIONS"})


def install_cors_headers(app: web.Application) -> None:
    """Add the CORS answer headers to every response to a request `cors_middleware` let through (errors, redirects
    and event streams included: all are prepared through this signal)."""

    async def add_headers(request: web.Request, response: web.StreamResponse) -> None:
        origin = request.get(CORS_ORIGIN)
        if origin is None:
            return
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
        response.headers.add("Vary", "Origin")

    app.on_response_prepare.append(add_headers)


def _options_answer(request: web.Request, ice: bool) -> web.Response:
    response = web.Response(status=204, headers={"Allow": "OPTIONS, POST", "Accept-Post": "application/sdp"})
    if ice:
        # The TURN username's id is random, as the 201s' session ids are: the TURN server's logs name no camera or
        # account.
        add_ice_links(response.headers, request.app[ICE], secrets.token_urlsafe(12))
    return response


@device
async def whip_options(request: web.Request) -> web.Response:
    """`OPTIONS /whip/{camera}`: the methods, and the ICE servers when the camera's device token comes with it."""
    if bearer_token(request) is None:
        return _options_answer(request, ice=False)
    await authenticate_camera(request, request.match_info["camera_id"])
    return _options_answer(request, ice=True)


@public
async def whep_options(request: web.Request) -> web.Response:
    """`OPTIONS /whep/{camera}`: the methods, and the ICE servers for a logged-in officer."""
    identity: Identity | None = request.get(IDENTITY_KEY)
    if identity is None and bearer_token(request) is not None:
        raise Unauthorized("the token is not valid, or its session has ended", "token_invalid")
    if identity is None or identity.account.role is not Role.OFFICER:
        return _options_answer(request, ice=False)
    return _options_answer(request, ice=True)
