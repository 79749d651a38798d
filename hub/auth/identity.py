"""Who is asking: middleware attaches an identity, handlers enforce it with explicit `ensure_*` helpers.

Routes are closed unless a handler is marked `@public` (no log-in) or `@device` (checks a device token
itself): a route nobody marked answers 401 to a request without a valid session.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from aiohttp import web

from hub.auth.tokens import hash_token
from hub.errors import Forbidden, Unauthorized
from hub.store.base import Account, Camera, NotFound, Role, Session, Store

SESSION_COOKIE = "porchlight_session"

_F = TypeVar("_F", bound=Callable[..., Awaitable[web.StreamResponse]])


@dataclass(frozen=True, slots=True)
class Identity:
    """A logged-in account and the session it came with."""

    account: Account
    session: Session


IDENTITY_KEY = web.RequestKey("identity", Identity)


def public(handler: _F) -> _F:
    """Mark a handler as open to anyone (log-in, health, metrics)."""
    handler.porchlight_access = "public"  # type: ignore[attr-defined]
    return handler


def device(handler: _F) -> _F:
    """Mark a handler that authenticates a camera's device token itself (WHIP, control)."""
    handler.porchlight_access = "device"  # type: ignore[attr-defined]
    return handler


def session_token(request: web.Request) -> str | None:
    """The session token from the cookie, or from `Authorization: Bearer` for plain WHEP players."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        return token
    return bearer_token(request)


def bearer_token(request: web.Request) -> str | None:
    """The token of an `Authorization: Bearer` header, if any."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


async def resolve_identity(store: Store, token: str | None, now: float) -> Identity | None:
    """The identity behind a session token: None when unknown, expired or the account is disabled."""
    if not token:
        return None
    try:
        session = await store.get_session(hash_token(token))
        account = await store.get_account(session.account_id)
    except NotFound:
        return None
    if session.expires_at <= now or account.disabled:
        return None
    return Identity(account, session)


def identity_middleware(
    store_of: Callable[[web.Application], Store],
) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Attach the caller's identity, and refuse unmarked routes to callers without one."""

    @web.middleware
    async def middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        access = _access_of(request)
        identity = None
        if access != "device":
            identity = await resolve_identity(store_of(request.app), session_token(request), time.time())
        if identity is not None:
            request[IDENTITY_KEY] = identity
        elif access is None:
            raise Unauthorized("log in first", "login_required")
        return await handler(request)

    return middleware


def _access_of(request: web.Request) -> str | None:
    info = request.match_info
    handler = getattr(info, "handler", None)
    if info.http_exception is not None:
        return "public"  # 404/405 answers need no identity
    return getattr(handler, "porchlight_access", None)


def ensure_identity(request: web.Request) -> Identity:
    """The caller's identity, or 401."""
    identity: Identity | None = request.get(IDENTITY_KEY)
    if identity is None:
        raise Unauthorized("log in first", "login_required")
    return identity


def ensure_role(request: web.Request, *roles: Role) -> Identity:
    """The caller's identity if it has one of `roles`, else 401/403."""
    identity = ensure_identity(request)
    if identity.account.role not in roles:
        raise Forbidden(f"this needs the role {' or '.join(r.value for r in roles)}", "wrong_role")
    return identity


def ensure_owner(identity: Identity, camera: Camera) -> None:
    """403 unless the caller owns the camera."""
    if camera.owner_id != identity.account.id:
        raise Forbidden("this is not your camera", "not_owner")
