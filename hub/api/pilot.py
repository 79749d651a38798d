"""The pilot window and the consent policy: everyone logged in reads them, admins set them.

The longest opt-in (`max_grant_seconds`) is never longer than the pilot: `PUT /api/policy` refuses a longer one
(400 naming the field), and a pilot window set shorter than the current maximum lowers the maximum to the window's
length (on the record as a policy change by the same admin; the answer says so). Ending the pilot leaves the
maximum alone: nobody can opt in to a pilot that is over, and the next window is checked when it is set.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from hub.api.cameras import gates_json
from hub.api.models import PilotWindow, PolicyBody, parse, who
from hub.auth.identity import ensure_identity, ensure_role
from hub.consent.decision import Pilot
from hub.errors import BadRequest
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


def pilot_length(pilot: Pilot | None, now: float) -> float | None:
    """How long the pilot lasts, start to end, if it is scheduled or running at `now` (None: none, or over)."""
    if pilot is None or pilot.ended or pilot.ends_at <= now:
        return None
    return pilot.ends_at - pilot.starts_at


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
    after the pilot ended starts a new pilot, in which no camera is shared until its owner opts in again. A window
    shorter than the longest opt-in lowers that to the window's length (`policy_lowered`); the answer carries the
    policy either way."""
    ensure_role(request, Role.ADMIN)
    body = await parse(request, PilotWindow)
    actions = request.app[ACTIONS]
    pilot, gates = await actions.set_pilot(body.starts_at, body.ends_at, who(request))
    answer: dict[str, Any] = {"pilot": pilot_json(pilot, time.time()), "gates": gates_json(gates)}
    policy = await request.app[STORE].get_policy()
    length = pilot_length(pilot, time.time())
    if length is not None and policy.max_grant_seconds > length:
        # The longest opt-in never outlasts the pilot: a shorter window brings the maximum down with it.
        policy = await actions.set_policy(length, who(request))
        answer["policy_lowered"] = True
    answer["policy"] = policy_json(policy)
    return web.json_response(answer)


async def end_pilot(request: web.Request) -> web.Response:
    """POST (admin): end the pilot now. Every gate on this hub closes before anything is awaited; on a cluster
    the answer says by when every other hub's are."""
    ensure_role(request, Role.ADMIN)
    pilot, gates = await request.app[ACTIONS].end_pilot(who(request))
    return web.json_response({"pilot": pilot_json(pilot, time.time()), "gates": gates_json(gates)})


async def put_policy(request: web.Request) -> web.Response:
    """PUT {"max_grant_seconds"} (admin): cap every future opt-in's time box; never longer than the pilot (a 400
    naming the field otherwise; without a pilot, or once it is over, any length: the next window is checked when
    it is set)."""
    ensure_role(request, Role.ADMIN)
    body = await parse(request, PolicyBody)
    length = pilot_length(await request.app[STORE].get_pilot(), time.time())
    if length is not None and body.max_grant_seconds > length:
        message = f"max_grant_seconds: at most the pilot's length ({length:.0f} seconds)"
        raise BadRequest(message, PolicyBody.REASONS["max_grant_seconds"])
    policy = await request.app[ACTIONS].set_policy(body.max_grant_seconds, who(request))
    return web.json_response({"policy": policy_json(policy)})
