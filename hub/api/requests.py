"""Officers ask, owners answer: a request for live access to a camera that is not opted in.

Nothing here opens a camera by itself. Only its owner's approval does, and then as an ordinary grant: for the
asking officer's agency, for the duration asked (capped like every grant). There is no emergency bypass: an
"urgent" request only makes the owner's notification more prominent. Unanswered requests expire after
`consent.request_ttl_seconds`. Every request, answer and expiry is on the audit record.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from hub.api.cameras import grant_json
from hub.api.models import AccessAsk, parse, who
from hub.audit.events import request_fields
from hub.audit.http import record
from hub.audit.record import Kind
from hub.auth.identity import Identity, ensure_role
from hub.consent.decision import Reason, decide
from hub.consent.registry import officer_state
from hub.errors import BadRequest, Clash, Missing
from hub.keys import ACTIONS, CONFIG, LIVE, REGISTRY, STORE
from hub.notify.setup import request_made
from hub.store.base import AccessRequest, NotFound, RequestState, Role
from hub.timefmt import iso


def request_json(item: AccessRequest, officers: dict[int, str], cameras: dict[str, str]) -> dict[str, Any]:
    """A request as the API shows it (to its officer, the camera's owner and admins)."""
    return {
        "id": item.id,
        "camera": item.camera_id,
        "camera_name": cameras.get(item.camera_id, item.camera_id),
        "officer": officers.get(item.account_id),
        "agency": item.agency_id,
        "case": item.case_number,
        "reason": item.reason,
        "duration_seconds": item.duration_seconds,
        "urgent": item.urgent,
        "state": item.state.value,
        "created_at": iso(item.created_at),
        "expires_at": iso(item.expires_at),
        "answered_at": iso(item.answered_at),
    }


async def ask(request: web.Request) -> web.Response:
    """POST {"case", "reason", "duration_seconds", "urgent"?} (officer): ask a camera's owner for live access."""
    identity = ensure_role(request, Role.OFFICER)
    app = request.app
    store, now = app[STORE], time.time()
    camera_id = request.match_info["camera_id"]
    try:
        camera = await store.get_camera(camera_id)
    except NotFound:
        raise Missing(f"no camera {camera_id!r}", "camera_unknown") from None
    body = await parse(request, AccessAsk)
    policy = await store.get_policy()
    if body.duration_seconds > policy.max_grant_seconds:
        raise BadRequest(f"at most {policy.max_grant_seconds:g} seconds may be asked for", "duration_too_long")
    await _check_askable(request, camera_id, identity)
    item = await store.add_access_request(
        camera_id, identity.account.id, body.case, body.reason, body.duration_seconds, body.urgent, now,
        now + app[CONFIG].consent.request_ttl_seconds,
    )  # fmt: skip
    # On the owner's record before the owner is told (and refused if it cannot be).
    await record(request, Kind.ACCESS_REQUESTED, request_fields(item, camera.owner_id), required=True)
    app[LIVE].publish("requests", camera=item.camera_id, account=item.account_id)
    request_made(app, item, camera)  # the owner's browsers, e-mail and camera agent, in the background
    names = await requests_names(request)
    return web.json_response({"request": request_json(item, *names)}, status=201)


async def _check_askable(request: web.Request, camera_id: str, identity: Identity) -> None:
    """Any camera the officer may not watch may be asked for: the answer never says whether (or for whom) it is
    opted in. Only one pending request per officer and camera."""
    registry, now = request.app[REGISTRY], time.time()
    pilot = registry.pilot
    if pilot is None or pilot.ended or not pilot.starts_at <= now < pilot.ends_at:
        raise BadRequest("the pilot is not running", "no_pilot")
    officer = officer_state(identity.account, identity.session)
    if decide(now, registry.gate(camera_id).state, officer) is Reason.OK:
        raise Clash("you may watch this camera already", "camera_admitted")
    for item in await request.app[STORE].list_access_requests(camera_id=camera_id, account_id=identity.account.id):
        if item.state is RequestState.PENDING and item.expires_at > now:
            raise Clash("you have asked for this camera already; wait for the owner's answer", "request_pending")


async def requests_names(request: web.Request) -> tuple[dict[int, str], dict[str, str]]:
    """Officers' names by account id and cameras' names by id, as `request_json` shows them."""
    store = request.app[STORE]
    officers = {account.id: account.username for account in await store.list_accounts()}
    cameras = {camera.id: camera.name for camera in await store.list_cameras()}
    return officers, cameras


async def list_requests(request: web.Request) -> web.Response:
    """GET: residents see the requests for their cameras, officers their own, admins all; newest first."""
    identity = ensure_role(request, Role.RESIDENT, Role.OFFICER, Role.ADMIN)
    store = request.app[STORE]
    role = identity.account.role
    if role is Role.OFFICER:
        items = await store.list_access_requests(account_id=identity.account.id)
    elif role is Role.RESIDENT:
        mine = {camera.id for camera in await store.list_cameras(owner_id=identity.account.id)}
        items = [item for item in await store.list_access_requests() if item.camera_id in mine]
    else:
        items = await store.list_access_requests()
    names = await requests_names(request)
    return web.json_response({"requests": [request_json(item, *names) for item in items]})


async def _mine(request: web.Request) -> tuple[AccessRequest, int]:
    identity = ensure_role(request, Role.RESIDENT)
    store = request.app[STORE]
    try:
        item = await store.get_access_request(int(request.match_info["request_id"]))
    except (ValueError, NotFound):
        raise Missing("no such request", "request_unknown") from None
    camera = await store.get_camera(item.camera_id)
    if camera.owner_id != identity.account.id:
        raise Missing("no such request", "request_unknown")  # as an unknown one: asking reveals nothing
    return item, camera.owner_id


async def approve(request: web.Request) -> web.Response:
    """POST (the camera's owner): approve; opens a grant for the officer's agency and the duration asked."""
    item, owner = await _mine(request)
    answered, grant = await request.app[ACTIONS].approve_request(item, owner, who(request))
    names = await requests_names(request)
    granted = grant_json(grant, time.time(), request.app[REGISTRY].pilot)
    return web.json_response({"request": request_json(answered, *names), "grant": granted})


async def decline(request: web.Request) -> web.Response:
    """POST (the camera's owner): decline."""
    item, owner = await _mine(request)
    answered = await request.app[ACTIONS].decline_request(item, owner, who(request))
    names = await requests_names(request)
    return web.json_response({"request": request_json(answered, *names)})
