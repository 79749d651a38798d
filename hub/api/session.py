"""Log-in and log-out: a server-side session behind an HttpOnly, SameSite=Strict cookie.

A log-in takes a username, a password and, for officers and admins, a TOTP code. Every log-in gets a new session
id (256 random bits; only its hash is stored). All of it is on the audit record.

Guessing is slowed, and nobody is ever locked out (NIST SP 800-63B §5.2.2), because a lock anyone can set off would
stand between a resident and withdrawing their consent:
- Failed log-ins (a wrong password or code) are counted per account in the store, across hubs. Once an account has
  `auth.throttle_after_failures` within `auth.throttle_window_seconds`, every attempt on it, right or wrong, waits
  an exponentially growing, capped delay before the password is checked (`hub.auth.guessing`); so the wait tells
  nothing, and the right password is accepted after it and forgets the failures.
- The per-address rate limit (`limits.login_per_source`) counts every attempt and refuses (429) before any check.
- The per-username rate limit (`limits.login_per_account`) counts only failed attempts, and only ever turns a wrong
  answer into a 429: the right password is never refused by it, so a flood against a resident's username from
  other addresses cannot keep the resident out. The delay alone slows such a flood's guessing.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any, NoReturn

from aiohttp import web

from hub.api.body import json_body
from hub.audit.http import record
from hub.audit.record import Kind
from hub.auth import totp
from hub.auth.csrf import csrf_token
from hub.auth.guessing import GuessingPolicy, count_failure, wait_before_checking
from hub.auth.identity import (
    IDENTITY_KEY,
    Identity,
    cookie_name,
    enrolment,
    ensure_identity,
    not_activity,
    public,
    session_token,
)
from hub.auth.keepalive import live_reason, renew, renew_every
from hub.auth.passwords import burn_verify, hash_password, needs_rehash, verify_password
from hub.auth.throttle import source
from hub.auth.tokens import SESSION_TOKEN_PREFIX, hash_token, new_token
from hub.errors import BadRequest, Unauthorized
from hub.keys import ACTIONS, CLOCK, CONFIG, REGISTRY, STORE, STREAMS, THROTTLE
from hub.store.base import Account, NotFound, Role, Session
from hub.store.session_ends_base import NOTE_SECONDS, EndedBecause
from hub.timefmt import iso

MAX_USERNAME = 100  # a failed log-in records at most this much of what was typed
MFA_ROLES = frozenset({Role.OFFICER, Role.ADMIN})


def account_json(account: Account) -> dict[str, Any]:
    """An account as the API shows it (never its password hash or TOTP secret)."""
    return {
        "id": account.id,
        "username": account.username,
        "role": account.role.value,
        "agency": account.agency_id,
        "disabled": account.disabled,
        "mfa_enrolled": account.mfa_enrolled,
    }


def needs_mfa(request: web.Request, account: Account) -> bool:
    """Whether this account must log in with a second factor here."""
    return request.app[CONFIG].auth.mfa_required and account.role in MFA_ROLES


@public
async def login(request: web.Request) -> web.Response:
    """POST {"username", "password", "code"?}: start a session (cookie), answer the account and the CSRF token.

    An officer or admin with no second factor yet gets a session that may only enrol one (`"mfa": "enrol"`).
    """
    body = await json_body(request)
    username, password, code = body.get("username"), body.get("password"), body.get("code")
    if not isinstance(username, str) or not isinstance(password, str) or not username or not password:
        raise BadRequest("username and password are required", "credentials_required")
    if code is not None and not isinstance(code, str):
        raise BadRequest("code must be the 6 digits of your authenticator app", "bad_code")
    # Before any hashing: a flood from one address is turned away cheaply. The username's limit counts only
    # failures (see `_failed`): a flood against someone's username must not refuse their right password.
    throttle = request.app[THROTTLE]
    throttle.take((throttle.login_per_source, source(request)))
    # One address's log-ins are checked one after another: its burst cannot crowd out other users' checks.
    async with throttle.turn(source(request)):
        return await _authenticate(request, username, password, code)


async def _authenticate(request: web.Request, username: str, password: str, code: str | None) -> web.Response:
    """Check the credentials (argon2 in a thread), then start the session; refusals raise."""
    store = request.app[STORE]
    try:
        account, password_hash = await store.find_account(username)
    except NotFound:
        # The same cost as a real check, so timing does not reveal which usernames exist.
        await asyncio.to_thread(burn_verify)
        await _failed(request, username, "unknown_user")
    # After failures on this account, every attempt waits first, right or wrong; nothing is ever refused for them.
    policy = GuessingPolicy.from_config(request.app[CONFIG].auth)
    await wait_before_checking(store, policy, account.id, request.app[CLOCK].now())
    # argon2 takes tens of milliseconds of CPU: off the event loop, which forwards frames meanwhile.
    if not await asyncio.to_thread(verify_password, password_hash, password):
        await _count_failure(request, account, "bad_password")
    if account.disabled:
        await _failed(request, username, "disabled")
    pending = False
    if needs_mfa(request, account):
        if account.mfa_enrolled:
            await _check_code(request, account, code)
        else:
            pending = True
    if needs_rehash(password_hash):
        await store.set_password_hash(account.id, await asyncio.to_thread(hash_password, password))
    return await _start_session(request, account, pending)


async def _check_code(request: web.Request, account: Account, code: str | None) -> None:
    if not code:
        raise Unauthorized("enter the code from your authenticator app", "mfa_code_required")
    store = request.app[STORE]
    secret, _ = await store.get_totp(account.id)
    step = totp.matching_step(secret, code, request.app[CLOCK].now()) if secret else None
    if step is None:
        await _count_failure(request, account, "bad_code")
    if not await store.use_totp_step(account.id, step):
        await _count_failure(request, account, "code_reused")


async def _start_session(request: web.Request, account: Account, mfa_pending: bool) -> web.Response:
    app = request.app
    config, store, now = app[CONFIG], app[STORE], app[CLOCK].now()
    await store.clear_login_failures(account.id)
    token = new_token(SESSION_TOKEN_PREFIX)
    await store.add_session(hash_token(token), account.id, now, now + config.http.session_seconds, mfa_pending)
    # Not required: a resident must be able to log in and withdraw even while the audit log is down.
    await record(request, Kind.LOGIN_OK, {"mfa": "enrol" if mfa_pending else None}, account=account)
    answer = {
        "account": account_json(account),
        "csrf_token": csrf_token(token),
        "mfa": "enrol" if mfa_pending else ("ok" if needs_mfa(request, account) else "off"),
        # For plain WHEP players, which send `Authorization: Bearer` instead of the cookie.
        "token": token,
    }
    response = web.json_response(answer)
    secure = config.http.secure_cookies
    response.set_cookie(
        cookie_name(secure),
        token,
        max_age=int(config.http.session_seconds),
        httponly=True,
        samesite="Strict",
        secure=secure,
        path="/",
    )
    return response


async def _failed(request: web.Request, username: str, why: str) -> NoReturn:
    """Record a failed log-in and refuse it with the same answer whatever the cause; past the username's rate
    limit, the answer is 429 instead (only failures are counted against it)."""
    await record(request, Kind.LOGIN_FAILED, {"username": username[:MAX_USERNAME], "why": why})
    throttle = request.app[THROTTLE]
    throttle.take((throttle.login_per_account, username.casefold()))
    raise Unauthorized("wrong username, password or code", "bad_credentials")


async def _count_failure(request: web.Request, account: Account, why: str) -> NoReturn:
    """A wrong password or code for a real account: counted in the store, so further attempts on it wait."""
    app = request.app
    policy = GuessingPolicy.from_config(app[CONFIG].auth)
    await count_failure(app[STORE], policy, account.id, app[CLOCK].now())
    await _failed(request, account.username, why)


@public
@enrolment
async def logout(request: web.Request) -> web.Response:
    """End the caller's session (idempotent)."""
    token = session_token(request)
    if token:
        # Its views end with it, closed here before the store forgets the session.
        await request.app[ACTIONS].end_session(hash_token(token), "session_expired")
        now = request.app[CLOCK].now()
        # Another tab of the same browser, or a player with the same token, is told it was a log-out.
        await request.app[STORE].note_session_end(hash_token(token), EndedBecause.LOGGED_OUT, now, now + NOTE_SECONDS)
        await request.app[STORE].delete_session(hash_token(token))
        if request.get(IDENTITY_KEY) is not None:
            await record(request, Kind.LOGOUT)
    response = web.json_response({"ok": True})
    response.del_cookie(cookie_name(request.app[CONFIG].http.secure_cookies), path="/")
    return response


@enrolment
async def me(request: web.Request) -> web.Response:
    """Who the caller is, the CSRF token the pages send back, and the state of the second factor."""
    identity = ensure_identity(request)
    return web.json_response(me_json(request, identity))


def me_json(request: web.Request, identity: Identity) -> dict[str, Any]:
    """The caller's account, CSRF token and second-factor state (`enrol`, `ok`, or `off` when not required)."""
    token = session_token(request) or ""
    account = identity.account
    mfa = "enrol" if identity.session.mfa_pending else ("ok" if needs_mfa(request, account) else "off")
    return {
        "account": account_json(account),
        "csrf_token": csrf_token(token),
        "mfa": mfa,
        "mfa_required": request.app[CONFIG].auth.mfa_required,
        "session": session_json(request, identity.session),
    }


def session_json(request: web.Request, session: Session, kept_alive: str | None = None) -> dict[str, Any]:
    """When the caller's session ends, so the page can warn before it does: `ends_at` (the earlier of the idle end,
    `idle_ends_at`, and the absolute one, `absolute_ends_at`) and `ends_because` (`idle` or `limit`); the hub's
    `now`; how often the page should ask to be kept alive (`keepalive_seconds`) and how long before the end to warn
    (`warn_seconds`); `kept_alive`, what kept it alive just now (keep-alive answers only). `expires_at` is the
    absolute end in Unix seconds (as before)."""
    idle = request.app[CONFIG].auth.idle_seconds
    idle_ends = session.last_seen_at + idle
    ends, because = (idle_ends, "idle") if idle_ends < session.expires_at else (session.expires_at, "limit")
    return {
        "expires_at": session.expires_at,
        "absolute_ends_at": iso(session.expires_at),
        "idle_ends_at": iso(idle_ends),
        "ends_at": iso(ends),
        "ends_because": because,
        "now": iso(request.app[CLOCK].now()),
        "idle_seconds": idle,
        "session_seconds": request.app[CONFIG].http.session_seconds,
        "keepalive_seconds": renew_every(idle),
        "warn_seconds": min(120.0, idle / 3),
        "kept_alive": kept_alive,
    }


@not_activity
@enrolment
async def session_state(request: web.Request) -> web.Response:
    """GET /api/session: when the caller's session ends (see `session_json`). Reading it is not activity: a page
    that asks leaves its idle time running."""
    identity = ensure_identity(request)
    return web.json_response({"session": session_json(request, identity.session)})


@not_activity
async def keepalive(request: web.Request) -> web.Response:
    """POST /api/session/keepalive: an open page asks to stay logged in. Renewed only while something of the
    caller's is live (a view of theirs open on this hub; for a resident, a camera of theirs shared now), never past
    the session's absolute end; otherwise it is left to idle out. Answers as `GET /api/session`, with `kept_alive`
    saying what kept it (null: nothing)."""
    identity = ensure_identity(request)
    app = request.app
    why = await live_reason(identity, app[STORE], app[REGISTRY], app[STREAMS], time.time())
    session = identity.session
    if why is not None:
        now = app[CLOCK].now()
        if await renew(app[STORE], session.token_hash, now, app[CONFIG].auth.idle_seconds):
            session = replace(session, last_seen_at=max(session.last_seen_at, now))
        else:
            why = None
    return web.json_response({"session": session_json(request, session, why)})
