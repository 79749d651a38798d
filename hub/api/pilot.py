"""The pilot window and the consent policy: everyone logged in reads them, admins set them."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from hub.api.cameras import gates_json
from hub.api.models import PilotWindow, PolicyBody, parse, who
from hub.auth.identity import ensure_identity, ensure_role
from hub.consent.decision import Pilot
from hub.keys import ACTIONS, STORE
from hub.store.base import Policy, Role
from hub.timefmt import iso


def pilot_json(pilot: Pilot | None, now: float) -> dict[str, Any]:
    """The pilot as the API shows it, with its state at `now`."""
    if pilot is None:
        return {"state": "none", "starts_at": None, "ends_at": None, "version": 0}
    over = pilot.ended or now >= pilot.ends_at
    state = "over" if over else "running" if pilot.starts_at <= now else "scheduled"
    return {
        "state": state,
        "starts_at": iso(pilot.starts_at),
        "ends_at": iso(pilot.ends_at),
        "version": pilot.version,
        # Pilots are numbered: consent given in one never carries into the next.
        "run": pilot.run,
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
    """PUT {"starts_at", "ends_at"} (admin): set or change the pilot. An end in the past ends it now; a window set
    after the pilot ended starts a new pilot, in which no camera is shared until its owner opts in again."""
    ensure_role(request, Role.ADMIN)
    body = await parse(request, PilotWindow)
    pilot, gates = await request.app[ACTIONS].set_pilot(body.starts_at, body.ends_at, who(request))
    return web.json_response({"pilot": pilot_json(pilot, time.time()), "gates": gates_json(gates)})


async def end_pilot(request: web.Request) -> web.Response:
    """POST (admin): end the pilot now. Every gate on this hub closes before anything is awaited; on a cluster
    the answer says by when every other hub's are."""
    ensure_role(request, Role.ADMIN)
    pilot, gates = await request.app[ACTIONS].end_pilot(who(request))
    return web.json_response({"pilot": pilot_json(pilot, time.time()), "gates": gates_json(gates)})


async def put_policy(request: web.Request) -> web.Response:
    """PUT {"max_grant_seconds"} (admin): cap every future opt-in's time box."""
    ensure_role(request, Role.ADMIN)
    body = await parse(request, PolicyBody)
    policy = await request.app[ACTIONS].set_policy(body.max_grant_seconds, who(request))
    return web.json_response({"policy": policy_json(policy)})
