"""Who is asking: middleware attaches an identity, handlers enforce it with explicit `ensure_*` helpers.

Routes are closed unless a handler is marked `@public` (no log-in) or `@device` (checks a device token
itself): a route nobody marked answers 401 to a request without a valid session. The middleware also enforces
what a browser session needs: the idle and absolute timeouts (by the app's clock), the CSRF token on every
state-changing request made with the cookie, the Origin of every request that names one, and that a log-in still
enrolling its second factor does nothing else (`@enrolment` marks what it may do).

A request is activity: it renews the session's last-seen time, unless its handler is marked `@not_activity`
(reading the session's deadlines, the page's keep-alive: those decide for themselves). A request with a cookie
whose session is gone is told why where the hub noted it (`hub.store.session_ends_base`): a 401 whose reason is
`session_idle`, `session_limit`, `logged_out` or `session_ended_by_admin`, else `session_ended`; a request with
no credential at all gets `login_required`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TypeVar

from aiohttp import web

from hub.auth.csrf import CSRF_HEADER, SAFE_METHODS, csrf_ok, origin_ok
from hub.auth.tokens import hash_token
from hub.errors import Forbidden, Unauthorized
from hub.store.base import Account, Camera, NotFound, Role, Session, Store
from hub.store.session_ends_base import NOTE_SECONDS, EndedBecause

SESSION_COOKIE = "porchlight_session"
# Over HTTPS the cookie is `__Host-` prefixed: the browser then insists on Secure, Path=/ and no Domain, so no
# sibling host can plant or read it.
SECURE_SESSION_COOKIE = "__Host-porchlight_session"
# last_seen_at is written at most this often (a tenth of the idle limit when that is shorter): the idle timeout is
# exact to within it.
TOUCH_SECONDS = 30.0
# The 401 a request with a cookie gets when its session is gone: by how it ended, where the hub noted it.
ENDED = {
    EndedBecause.IDLE: ("session_idle", "your session ended after a time without activity: log in again"),
    EndedBecause.LIMIT: ("session_limit", "your session reached its time limit: log in again"),
    EndedBecause.LOGGED_OUT: ("logged_out", "you logged out: log in again"),
    EndedBecause.BY_ADMIN: ("session_ended_by_admin", "an administrator ended your session: log in again"),
}
SESSION_ENDED = ("session_ended", "your session has ended: log in again")

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


def not_activity(handler: _F) -> _F:
    """Mark a handler whose requests do not count as activity (they leave the session's idle time running)."""
    handler.porchlight_activity = False  # type: ignore[attr-defined]
    return handler


def enrolment(handler: _F) -> _F:
    """Mark a handler a log-in that has yet to enrol its second factor may use (enrolment, me, log-out)."""
    handler.porchlight_enrolment = True  # type: ignore[attr-defined]
    return handler


def cookie_name(secure: bool) -> str:
    """The session cookie's name: `__Host-` prefixed when served over HTTPS."""
    return SECURE_SESSION_COOKIE if secure else SESSION_COOKIE


def cookie_token(request: web.Request) -> str | None:
    """The session token from the cookie (either name), if any."""
    return request.cookies.get(SECURE_SESSION_COOKIE) or request.cookies.get(SESSION_COOKIE) or None


def session_token(request: web.Request) -> str | None:
    """The session token from the cookie, or from `Authorization: Bearer` for plain WHEP players."""
    return cookie_token(request) or bearer_token(request)


def bearer_token(request: web.Request) -> str | None:
    """The token of an `Authorization: Bearer` header, if any."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def timed_out(session: Session, now: float, idle_seconds: float) -> bool:
    """Whether a session is past its absolute or its idle timeout."""
    return session.expires_at <= now or now - session.last_seen_at > idle_seconds


def touch_every(idle_seconds: float) -> float:
    """How long after its last write a session's last-seen time is written again."""
    return min(TOUCH_SECONDS, idle_seconds / 10)


async def resolve_identity(
    store: Store, token: str | None, now: float, idle_seconds: float, activity: bool = True
) -> Identity | None:
    """The identity behind a session token: None when unknown, past its absolute or idle timeout (then it is
    deleted, with a note of why), or the account is disabled. A session in use has its last-seen time renewed
    (unless the request is not `activity`)."""
    if not token:
        return None
    token_hash = hash_token(token)
    try:
        session = await store.get_session(token_hash)
        account = await store.get_account(session.account_id)
    except NotFound:
        return None
    if timed_out(session, now, idle_seconds):
        why = EndedBecause.LIMIT if session.expires_at <= now else EndedBecause.IDLE
        at = session.expires_at if why is EndedBecause.LIMIT else session.last_seen_at + idle_seconds
        await store.note_session_end(token_hash, why, at, now + NOTE_SECONDS)
        await store.delete_session(token_hash)
        return None
    if account.disabled:
        return None
    if activity and now - session.last_seen_at > touch_every(idle_seconds):
        await store.touch_session(token_hash, now)
        session = replace(session, last_seen_at=now)
    return Identity(account, session)


async def ended_reason(store: Store, token: str, now: float) -> tuple[str, str]:
    """The 401's reason and message for a cookie whose session is gone: how it ended, where noted."""
    note = await store.session_end(hash_token(token), now)
    return ENDED[note.why] if note is not None else SESSION_ENDED


@dataclass(frozen=True, slots=True)
class Guard:
    """What the identity middleware needs from the app."""

    store: Callable[[web.Application], Store]
    now: Callable[[web.Application], float]
    idle_seconds: Callable[[web.Application], float]
    # The origins a request may name (hub.auth.csrf.allowed_origins): from the configuration, never from Host.
    origins: Callable[[web.Application], frozenset[str]]


def identity_middleware(guard: Guard) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Attach the caller's identity, and refuse unmarked routes to callers without one (see the module doc)."""

    @web.middleware
    async def middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        app = request.app
        if not origin_ok(request, guard.origins(app)):
            raise Forbidden("this request comes from another site", "bad_origin")
        access = _access_of(request)
        identity = None
        if access != "device":
            token = session_token(request)
            activity = getattr(getattr(request.match_info, "handler", None), "porchlight_activity", True)
            identity = await resolve_identity(
                guard.store(app), token, guard.now(app), guard.idle_seconds(app), activity
            )
        if identity is not None:
            _check_browser_session(request, identity)
            request[IDENTITY_KEY] = identity
        elif access is None and (cookie := cookie_token(request)) is not None:
            reason, message = await ended_reason(guard.store(app), cookie, guard.now(app))
            raise Unauthorized(message, reason)
        elif access is None and bearer_token(request) is not None:
            raise Unauthorized("the token is not valid, or its session has ended", "token_invalid")
        elif access is None:
            raise Unauthorized("log in first", "login_required")
        return await handler(request)

    return middleware


def _check_browser_session(request: web.Request, identity: Identity) -> None:
    cookie = cookie_token(request)
    if cookie is not None and request.method not in SAFE_METHODS and not csrf_ok(request, cookie):
        raise Forbidden(f"this request needs the {CSRF_HEADER} header of your session", "csrf_token_invalid")
    handler = getattr(request.match_info, "handler", None)
    if identity.session.mfa_pending and not getattr(handler, "porchlight_enrolment", False):
        raise Forbidden("enrol your second factor (TOTP) first", "mfa_enrolment_required")


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
    """Unless the caller owns the camera, the very answer an unknown camera gets (404 not_found, the store's
    message): whether someone else's camera exists is not the caller's to learn."""
    if camera.owner_id != identity.account.id:
        raise NotFound(f"camera {camera.id!r} not found")
