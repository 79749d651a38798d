"""The pilot window and the consent policy: everyone logged in reads them, admins set them."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from hub.api.body import json_body
from hub.audit.events import pilot_fields, policy_fields
from hub.audit.http import record
from hub.audit.record import Kind
from hub.auth.identity import ensure_identity, ensure_role
from hub.consent.decision import Pilot
from hub.errors import BadRequest
from hub.keys import LIVE, REGISTRY, STORE, STREAMS
from hub.store.base import Policy, Role
from hub.timefmt import iso, parse_time


def pilot_json(pilot: Pilot | None, now: float) -> dict[str, Any]:
    """The pilot as the API shows it, with its state at `now`."""
    if pilot is None:
        return {"state": "none", "starts_at": None, "ends_at": None, "version": 0}
    state = "running" if pilot.starts_at <= now < pilot.ends_at else "over" if now >= pilot.ends_at else "scheduled"
    return {
        "state": state,
        "starts_at": iso(pilot.starts_at),
        "ends_at": iso(pilot.ends_at),
        "version": pilot.version,
    }


def policy_json(policy: Policy) -> dict[str, Any]:
    return {"max_grant_seconds": policy.max_grant_seconds, "version": policy.version}


async def get_pilot(request: web.Request) -> web.Response:
    """GET: the pilot and the policy."""
    ensure_identity(request)
    store = request.app[STORE]
    return web.json_response(
        {
            "pilot": pilot_json(await store.get_pilot(), time.time()),
            "policy": policy_json(await store.get_policy()),
        }
    )


async def put_pilot(request: web.Request) -> web.Response:
    """PUT {"starts_at", "ends_at"} (admin): set or extend the pilot. An end in the past ends it now."""
    ensure_role(request, Role.ADMIN)
    body = await json_body(request)
    try:
        starts_at = parse_time(body.get("starts_at"))
        ends_at = parse_time(body.get("ends_at"))
    except ValueError as exc:
        raise BadRequest(str(exc), "bad_time") from exc
    if ends_at <= starts_at:
        raise BadRequest("the pilot must end after it starts", "bad_window")
    return await _set_pilot(request, starts_at, ends_at)


async def end_pilot(request: web.Request) -> web.Response:
    """POST (admin): end the pilot now. Returns once every gate on this hub is closed."""
    ensure_role(request, Role.ADMIN)
    pilot = await request.app[STORE].get_pilot()
    now = time.time()
    if pilot is None:
        raise BadRequest("there is no pilot to end", "no_pilot")
    return await _set_pilot(request, min(pilot.starts_at, now), now)


async def _set_pilot(request: web.Request, starts_at: float, ends_at: float) -> web.Response:
    app = request.app
    registry, streams = app[REGISTRY], app[STREAMS]
    now = time.time()
    current = registry.pilot
    shrinking = current is None or ends_at < current.ends_at or starts_at > current.starts_at
    if shrinking:
        # Close in memory first; the closure holds even if the store write below fails.
        registry.close_pilot(ends_at if starts_at <= now else now)
    try:
        pilot = await app[STORE].set_pilot(starts_at, ends_at)
        registry.apply_pilot(pilot, settle=True)
    finally:
        if shrinking:
            await streams.sweep(now)
    await record(request, Kind.PILOT_CHANGED, pilot_fields(pilot))
    return web.json_response({"pilot": pilot_json(pilot, time.time())})


async def put_policy(request: web.Request) -> web.Response:
    """PUT {"max_grant_seconds"} (admin): cap every future opt-in's time box."""
    ensure_role(request, Role.ADMIN)
    body = await json_body(request)
    value = body.get("max_grant_seconds")
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise BadRequest("max_grant_seconds must be a positive number", "bad_policy")
    policy = await request.app[STORE].set_policy(float(value))
    request.app[LIVE].publish("cameras", public=True)  # the opt-in chooser's cap changed
    await record(request, Kind.POLICY_CHANGED, policy_fields(policy))
    return web.json_response({"policy": policy_json(policy)})
