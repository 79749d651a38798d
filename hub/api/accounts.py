"""Administration: agencies, accounts (create, disable, enable, unlock, reset the second factor) and the live
views on every hub (list, end one)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from hub.api.body import json_body
from hub.api.cameras import gates_json
from hub.api.models import who
from hub.api.session import account_json
from hub.audit.events import account_fields
from hub.audit.http import record
from hub.audit.record import Kind
from hub.auth.identity import ensure_role
from hub.auth.passwords import hash_password
from hub.errors import BadRequest, HubSilent, Missing
from hub.keys import ACTIONS, CLUSTER, LIVE, STORE, STREAMS
from hub.store.base import Account, Role
from hub.text import free_text

MIN_PASSWORD = 8
MAX_END_REASON = 200  # why an admin ended a live view: shown to the officer, kept on the record


def _text(body: dict[str, Any], name: str, *, required: bool = True, limit: int = 100) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    return free_text(value, name, limit)  # names are shown to others: no control or text-direction characters


async def list_agencies(request: web.Request) -> web.Response:
    """GET: every agency (anyone logged in: the pages name them)."""
    ensure_role(request, Role.RESIDENT, Role.OFFICER, Role.ADMIN)
    agencies = await request.app[STORE].list_agencies()
    return web.json_response({"agencies": [{"id": a.id, "name": a.name} for a in agencies]})


async def add_agency(request: web.Request) -> web.Response:
    """POST {"id", "name"} (admin): a new agency."""
    ensure_role(request, Role.ADMIN)
    body = await json_body(request)
    agency_id, name = _text(body, "id", limit=40), _text(body, "name")
    assert agency_id is not None and name is not None
    agency = await request.app[STORE].add_agency(agency_id, name)
    request.app[LIVE].publish("accounts")
    await record(request, Kind.AGENCY_CREATED, {"agency": agency.id, "name": agency.name})
    return web.json_response({"agency": {"id": agency.id, "name": agency.name}}, status=201)


async def list_accounts(request: web.Request) -> web.Response:
    """GET (admin): every account."""
    ensure_role(request, Role.ADMIN)
    return web.json_response({"accounts": [account_json(a) for a in await request.app[STORE].list_accounts()]})


async def add_account(request: web.Request) -> web.Response:
    """POST {"username", "password", "role", "agency"?} (admin): a new account."""
    ensure_role(request, Role.ADMIN)
    body = await json_body(request)
    username, password = _text(body, "username"), body.get("password")
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise BadRequest(f"the password must have at least {MIN_PASSWORD} characters", "bad_password")
    try:
        role = Role(str(body.get("role")))
    except ValueError:
        raise BadRequest("role must be resident, officer or admin", "bad_role") from None
    agency = _text(body, "agency", required=False, limit=40)
    assert username is not None
    store = request.app[STORE]
    account = await store.add_account(username, await asyncio.to_thread(hash_password, password), role, agency)
    request.app[LIVE].publish("accounts")
    await record(request, Kind.ACCOUNT_CREATED, account_fields(account))
    return web.json_response({"account": account_json(account)}, status=201)


async def _target(request: web.Request) -> Account:
    ensure_role(request, Role.ADMIN)
    try:
        account_id = int(request.match_info["account_id"])
    except ValueError:
        raise Missing("no such account", "account_unknown") from None
    return await request.app[STORE].get_account(account_id)


async def disable(request: web.Request) -> web.Response:
    """POST (admin): disable an account: its live views end at once and its sessions are gone."""
    account = await _target(request)
    account, ended, gates = await request.app[ACTIONS].disable_account(account.id, who(request))
    return web.json_response({"account": account_json(account), "views_ended": ended, "gates": gates_json(gates)})


async def enable(request: web.Request) -> web.Response:
    """POST (admin): enable a disabled account."""
    account = await request.app[ACTIONS].enable_account((await _target(request)).id, who(request))
    return web.json_response({"account": account_json(account)})


async def unlock(request: web.Request) -> web.Response:
    """POST (admin): forget an account's failed log-ins, so its log-ins wait no more (nothing ever locks one)."""
    account = await _target(request)
    await request.app[STORE].clear_login_failures(account.id)
    await record(request, Kind.ACCOUNT_UNLOCKED, account_fields(account))
    return web.json_response({"account": account_json(account)})


async def reset_mfa(request: web.Request) -> web.Response:
    """POST (admin): forget an account's second factor (lost phone); it enrols again with a code an admin issues."""
    target = await _target(request)
    store = request.app[STORE]
    account = await store.set_totp(target.id, None, enrolled=False)
    await request.app[ACTIONS].end_sessions_of(account.id, "mfa_reset")
    request.app[LIVE].publish("accounts")
    await record(request, Kind.ACCOUNT_MFA_RESET, account_fields(account))
    return web.json_response({"account": account_json(account)})


async def live_views(request: web.Request) -> web.Response:
    """GET (admin): the live views on every hub (`hub`: the one holding each); `this_hub` names the hub answering
    and `single_hub` says whether it is the only one (the page then has no hub to name)."""
    ensure_role(request, Role.ADMIN)
    cluster = request.app[CLUSTER]
    views = [{**view.watching(), "camera": view.camera, "hub": view.node} for view in await cluster.views()]
    return web.json_response({"views": views, "this_hub": cluster.node, "single_hub": cluster.single_hub})


async def end_live_view(request: web.Request) -> web.Response:
    """DELETE {"reason"} (admin): end one live view now. The reason (required, one line of at most `MAX_END_REASON`
    characters) goes on the session.ended record and to the officer, with the session's `end` event (`note`)."""
    ensure_role(request, Role.ADMIN)
    reason = _text(await json_body(request), "reason", limit=MAX_END_REASON)
    assert reason is not None
    streams, cluster = request.app[STREAMS], request.app[CLUSTER]
    viewer_id = request.match_info["viewer_id"]
    viewer = streams.viewer(viewer_id)
    if viewer is not None and not viewer.ended:
        await streams.end_viewer(viewer, "ended_by_admin", note=reason)
        camera_id, view_id, officer = viewer.camera_id, viewer.view_id, viewer.actor
    else:
        # Held by another hub: that hub ends it (and answers), this one keeps the record of who ended it and why.
        found = await cluster.find(viewer_id)
        if found is None:
            raise Missing("no such live view", "view_unknown")
        ended = await cluster.end_elsewhere(cluster.match(ids=frozenset({viewer_id})), "ended_by_admin", note=reason)
        if viewer_id not in ended.ids:
            if not ended.complete:
                raise HubSilent(f"the hub holding the view ({found.node}) did not answer; try again")
            raise Missing("no such live view", "view_unknown")
        camera_id, view_id, officer = found.camera, found.view, found.actor
    fields = {"camera": camera_id, "view": view_id, "officer": officer, "reason": reason}
    await record(request, Kind.SESSION_ENDED, fields)
    return web.json_response({"ended": viewer_id})
