"""Asking by area: an officer draws a circle on the map and asks the owner of every camera inside it at once.

POST /api/requests/area {"lat", "lon", "radius_m", "case", "reason", "duration_seconds", "urgent"?} makes one
ordinary access request (hub/api/requests.py) per camera inside the circle that the officer may not watch now,
leaving out those the officer already asked and is waiting on. Each owner answers for their own camera as for
any request; nothing opens without that answer. Every request is on its owner's record before it is answered.

An officer learns which cameras lie inside a circle (they appear under "My requests"), so the circle has a
smallest and a widest radius and asking by area has a rate of its own per officer: locating cameras by drawing
many small circles is slow and every try is on the owners' records.
"""

from __future__ import annotations

import math
import time
from typing import Annotated, ClassVar

import limits
from aiohttp import web
from pydantic import Field

from hub.api.models import Body, FreeText, Seconds, parse
from hub.api.requests import request_json, requests_names
from hub.audit.events import request_fields
from hub.audit.http import record
from hub.audit.record import Kind
from hub.auth.identity import ensure_role
from hub.auth.throttle import Rule
from hub.consent.decision import Reason, decide
from hub.consent.registry import officer_state
from hub.errors import BadRequest
from hub.keys import CONFIG, LIVE, REGISTRY, STORE, THROTTLE
from hub.notify.setup import request_made
from hub.store.base import Camera, RequestState, Role

EARTH_RADIUS_M = 6_371_008.8  # the mean radius (IUGG)
MIN_RADIUS_M = 50.0
AREA_ASKS = Rule("asks by area by this officer", limits.parse("10/hour"))


class AreaAsk(Body):
    """POST /api/requests/area (officer): the circle, and what every request in it says."""

    lat: Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
    lon: Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
    radius_m: Annotated[float, Field(ge=MIN_RADIUS_M, allow_inf_nan=False)]
    case: FreeText
    reason: FreeText
    duration_seconds: Seconds
    urgent: bool = False
    REASONS: ClassVar[dict[str, str]] = {
        "lat": "bad_area",
        "lon": "bad_area",
        "radius_m": "bad_radius",
        "duration_seconds": "bad_duration",
    }


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """The great-circle distance between two WGS84 positions (haversine), in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def inside(cameras: list[Camera], lat: float, lon: float, radius_m: float) -> list[Camera]:
    """The cameras with a position within `radius_m` of (lat, lon), nearest first."""
    placed = [(distance_m(lat, lon, c.lat, c.lon), c) for c in cameras if c.lat is not None and c.lon is not None]
    return [camera for distance, camera in sorted(placed, key=lambda pair: pair[0]) if distance <= radius_m]


async def ask_area(request: web.Request) -> web.Response:
    """POST (officer): one access request per camera inside the circle that the officer may ask for; 201 with
    `requests` (possibly none) and `skipped` (how many inside were left out: already open to the officer, or
    already asked and waiting)."""
    identity = ensure_role(request, Role.OFFICER)
    app = request.app
    store, registry, now = app[STORE], app[REGISTRY], time.time()
    body = await parse(request, AreaAsk)
    widest = app[CONFIG].map.area_max_radius_m
    if body.radius_m > widest:
        raise BadRequest(f"radius_m: at most {widest:g} metres", "radius_too_large")
    policy = await store.get_policy()
    if body.duration_seconds > policy.max_grant_seconds:
        raise BadRequest(f"at most {policy.max_grant_seconds:g} seconds may be asked for", "duration_too_long")
    pilot = registry.pilot
    if pilot is None or pilot.ended or not pilot.starts_at <= now < pilot.ends_at:
        raise BadRequest("the pilot is not running", "no_pilot")
    app[THROTTLE].take((AREA_ASKS, str(identity.account.id)))

    officer = officer_state(identity.account, identity.session)
    waiting = {
        item.camera_id
        for item in await store.list_access_requests(account_id=identity.account.id)
        if item.state is RequestState.PENDING and item.expires_at > now
    }
    found = inside(await store.list_cameras(), body.lat, body.lon, body.radius_m)
    chosen = [
        camera
        for camera in found
        if camera.id not in waiting and decide(now, registry.gate(camera.id).state, officer) is not Reason.OK
    ]
    made = []
    expires_at = now + app[CONFIG].consent.request_ttl_seconds
    for camera in chosen:
        item = await store.add_access_request(
            camera.id, identity.account.id, body.case, body.reason, body.duration_seconds, body.urgent, now,
            expires_at,
        )  # fmt: skip
        # On the owner's record before the owner is told (and refused if it cannot be), as a single request.
        await record(
            request, Kind.ACCESS_REQUESTED, {**request_fields(item, camera.owner_id), "area": True}, required=True
        )
        app[LIVE].publish("requests", camera=item.camera_id, account=item.account_id)
        request_made(app, item, camera)  # the owner's browsers, e-mail and camera agent, in the background
        made.append(item)
    names = await requests_names(request)
    answer = {"requests": [request_json(item, *names) for item in made], "skipped": len(found) - len(chosen)}
    return web.json_response(answer, status=201)
