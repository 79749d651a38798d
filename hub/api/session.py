"""Log-in and log-out: a session cookie (HttpOnly, SameSite=Strict) backed by a hashed token in the store."""

from __future__ import annotations

import time
from typing import Any, NoReturn

from aiohttp import web

from hub.api.body import json_body
from hub.audit.http import record
from hub.audit.record import Kind
from hub.auth.identity import IDENTITY_KEY, SESSION_COOKIE, ensure_identity, public, session_token
from hub.auth.passwords import burn_verify, hash_password, needs_rehash, verify_password
from hub.auth.tokens import hash_token, new_token
from hub.errors import BadRequest, Unauthorized
from hub.keys import CONFIG, STORE
from hub.store.base import Account, NotFound

MAX_USERNAME = 100  # a failed log-in records at most this much of what was typed


def account_json(account: Account) -> dict[str, Any]:
    """An account as the API shows it (never its password hash)."""
    return {
        "id": account.id,
        "username": account.username,
        "role": account.role.value,
        "agency": account.agency_id,
        "disabled": account.disabled,
    }


@public
async def login(request: web.Request) -> web.Response:
    """POST {"username", "password"}: set the session cookie; the token is also returned for WHEP players."""
    body = await json_body(request)
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or not isinstance(password, str) or not username or not password:
        raise BadRequest("username and password are required", "credentials_required")
    store = request.app[STORE]
    try:
        account, password_hash = await store.find_account(username)
    except NotFound:
        burn_verify()  # the same cost as a real check, so timing does not reveal which usernames exist
        await _failed(request, username, "unknown_user")
    if not verify_password(password_hash, password):
        await _failed(request, username, "bad_password")
    if account.disabled:
        await _failed(request, username, "disabled")
    if needs_rehash(password_hash):
        await store.set_password_hash(account.id, hash_password(password))
    config = request.app[CONFIG]
    token = new_token("pls_")
    now = time.time()
    await store.add_session(hash_token(token), account.id, now, now + config.http.session_seconds)
    # Not required: a resident must be able to log in and withdraw even while the audit log is down.
    await record(request, Kind.LOGIN_OK, account=account)
    response = web.json_response({"account": account_json(account), "token": token})
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(config.http.session_seconds),
        httponly=True,
        samesite="Strict",
        secure=config.http.secure_cookies,
        path="/",
    )
    return response


async def _failed(request: web.Request, username: str, why: str) -> NoReturn:
    """Record a failed log-in and refuse it with the same answer whatever the cause."""
    await record(request, Kind.LOGIN_FAILED, {"username": username[:MAX_USERNAME], "why": why})
    raise Unauthorized("wrong username or password", "bad_credentials")


@public
async def logout(request: web.Request) -> web.Response:
    """End the caller's session (idempotent)."""
    token = session_token(request)
    if token:
        await request.app[STORE].delete_session(hash_token(token))
        if request.get(IDENTITY_KEY) is not None:
            await record(request, Kind.LOGOUT)
    response = web.json_response({"ok": True})
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


async def me(request: web.Request) -> web.Response:
    """Who the caller is."""
    identity = ensure_identity(request)
    return web.json_response({"account": account_json(identity.account)})
