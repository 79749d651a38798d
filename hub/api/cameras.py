"""Cameras and consent: list what I may see, opt one of mine in for a time box, withdraw."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from hub.api.body import json_body
from hub.audit.events import grant_fields, withdrawal_fields
from hub.audit.http import record
from hub.audit.record import Kind
from hub.auth.identity import Identity, ensure_identity, ensure_owner, ensure_role
from hub.consent.decision import Grant, Reason, decide, grant_end
from hub.consent.registry import officer_state
from hub.errors import BadRequest
from hub.keys import REGISTRY, ROUTER, STORE, STREAMS
from hub.store.base import Camera, Role
from hub.timefmt import iso


def grant_json(grant: Grant | None, now: float) -> dict[str, Any] | None:
    """A grant as the API shows it, with whether it is live at `now`."""
    if grant is None:
        return None
    live = grant.revoked_at is None and grant.starts_at <= now < grant.ends_at
    return {
        "starts_at": iso(grant.starts_at),
        "ends_at": iso(grant.ends_at),
        "agencies": sorted(grant.agencies) if grant.agencies is not None else None,
        "revoked_at": iso(grant.revoked_at),
        "live": live,
        "version": grant.version,
    }


def _camera_json(request: web.Request, camera: Camera, now: float, owner_view: bool) -> dict[str, Any]:
    """A camera as the API shows it. Its owner (and admins) also see who watches it on this hub right now."""
    registry, streams = request.app[REGISTRY], request.app[STREAMS]
    stream = streams.stream(camera.id)
    online = stream.control is not None or stream.publisher is not None
    grant = registry.gate(camera.id).state.grant
    answer: dict[str, Any] = {
        "id": camera.id,
        "name": camera.name,
        "grant": grant_json(grant, now),
        "online": online,
        "status": "streaming" if stream.publisher is not None else "idle" if online else "offline",
        "location": None if camera.lat is None else {"lat": camera.lat, "lon": camera.lon},
        "watchers": len(stream.viewers),
    }
    if owner_view:
        answer["watching"] = [viewer.watching() for viewer in stream.viewers.values()]
    return answer


async def list_cameras(request: web.Request) -> web.Response:
    """Residents see their own cameras, officers those their gate admits now (with `?all=1`, every camera of the
    pilot, each marked `admitted` or not, to ask its owner for access), admins all."""
    identity = ensure_identity(request)
    store, registry = request.app[STORE], request.app[REGISTRY]
    now = time.time()
    role = identity.account.role
    if role is Role.RESIDENT:
        cameras = await store.list_cameras(owner_id=identity.account.id)
    elif role is Role.OFFICER:
        officer = officer_state(identity.account, identity.session)
        everyone = await store.list_cameras()
        admitted = {c.id for c in everyone if decide(now, registry.gate(c.id).state, officer) is Reason.OK}
        answer = [{**_camera_json(request, c, now, False), "admitted": True} for c in everyone if c.id in admitted]
        if request.query.get("all") == "1":
            # The others only by name, to ask their owners: where they are and their state stay private.
            answer += [
                {"id": c.id, "name": c.name, "admitted": False, "askable": askable(request, c.id, now)}
                for c in everyone
                if c.id not in admitted
            ]
        return web.json_response({"cameras": answer})
    else:
        cameras = await store.list_cameras()
    return web.json_response({"cameras": [_camera_json(request, camera, now, True) for camera in cameras]})


def askable(request: web.Request, camera_id: str, now: float) -> bool:
    """Whether an officer may ask the owner for access: only while the camera is not opted in at all."""
    grant = request.app[REGISTRY].gate(camera_id).state.grant
    return grant is None or grant.revoked_at is not None or not grant.starts_at <= now < grant.ends_at


async def _my_camera(request: web.Request) -> tuple[Identity, Camera]:
    identity = ensure_role(request, Role.RESIDENT)
    camera = await request.app[STORE].get_camera(request.match_info["camera_id"])
    ensure_owner(identity, camera)
    return identity, camera


def _agencies(value: object) -> frozenset[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(a, str) and a for a in value):
        raise BadRequest("agencies must be a list of agency ids, or null for all", "bad_agencies")
    return frozenset(value)


async def opt_in(request: web.Request) -> web.Response:
    """POST {"duration_seconds": n | null, "agencies": [...] | null}: open a grant from now (owner only).

    null duration means "until the pilot ends"; the box is capped by the admin maximum and the pilot's end.
    A new grant replaces the old one.
    """
    _, camera = await _my_camera(request)
    body = await json_body(request)
    duration = body.get("duration_seconds")
    if duration is not None and (isinstance(duration, bool) or not isinstance(duration, int | float)):
        raise BadRequest("duration_seconds must be a number of seconds or null", "bad_duration")
    agencies = _agencies(body.get("agencies"))
    store, registry = request.app[STORE], request.app[REGISTRY]
    if agencies:
        known = {agency.id for agency in await store.list_agencies()}
        if unknown := sorted(agencies - known):
            raise BadRequest(f"unknown agencies: {', '.join(unknown)}", "bad_agencies")
    now = time.time()
    pilot = await store.get_pilot()
    if pilot is None or not pilot.starts_at <= now < pilot.ends_at:
        raise BadRequest("the pilot is not running, so there is nothing to opt in to", "no_pilot")
    policy = await store.get_policy()
    try:
        ends_at = grant_end(now, duration, policy.max_grant_seconds, pilot)
    except ValueError as exc:
        raise BadRequest(str(exc), "bad_duration") from exc
    grant = await store.put_grant(camera.id, now, ends_at, agencies)
    registry.apply_grant(grant, camera.id, settle=True)
    # A narrower agency list may shut out viewers who were watching under the old grant.
    await request.app[STREAMS].sweep()
    await record(request, Kind.CONSENT_GRANTED, grant_fields(grant, camera.owner_id))
    return web.json_response({"grant": grant_json(grant, time.time())}, status=201)


async def set_location(request: web.Request) -> web.Response:
    """PUT {"lat", "lon"} or {"lat": null} (owner): where the camera is, for the officers' map."""
    _, camera = await _my_camera(request)
    body = await json_body(request)
    lat, lon = body.get("lat"), body.get("lon")
    location: tuple[float, float] | None = None
    if lat is not None:
        numbers = [v for v in (lat, lon) if isinstance(v, int | float) and not isinstance(v, bool)]
        if len(numbers) != 2:
            raise BadRequest("lat and lon must be numbers (or lat null to clear)", "bad_location")
        location = (float(numbers[0]), float(numbers[1]))
    try:
        camera = await request.app[STORE].set_camera_location(camera.id, location)
    except ValueError as exc:
        raise BadRequest(str(exc), "bad_location") from exc
    return web.json_response(_camera_json(request, camera, time.time(), owner_view=True))


async def withdraw(request: web.Request) -> web.Response:
    """DELETE: withdraw consent now. Returns only after every gate of the camera on this hub is closed."""
    _, camera = await _my_camera(request)
    now = time.time()
    registry, streams = request.app[REGISTRY], request.app[STREAMS]
    router = request.app[ROUTER]
    # Close in memory first; the closure holds even if the store write below fails.
    registry.close_camera(camera.id, now)
    token = router.expect_closure(camera.id)
    try:
        grant = await request.app[STORE].revoke_grant(camera.id, now)
        registry.apply_grant(grant, camera.id, settle=True)
    finally:
        await streams.end_camera(camera.id, Reason.WITHDRAWN.value, now)
    # The hub that streams the camera (maybe another) confirms its gates closed, or its lease bounds when.
    if grant is not None:
        await record(request, Kind.CONSENT_WITHDRAWN, withdrawal_fields(grant, camera.owner_id))
    closure = await router.await_closure(token, grant.version if grant else 0, now)
    gates = {"confirmed": closure.confirmed, "closed_by": iso(closure.closed_by) if closure.closed_by else iso(now)}
    return web.json_response({"grant": grant_json(grant, time.time()), "gates": gates})
