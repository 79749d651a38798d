"""Cameras and consent: list what I may see, opt one of mine in for a time box, withdraw."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from hub.api.body import json_body
from hub.api.models import AudioSwitch, OptIn, parse, who
from hub.auth.identity import ensure_identity, ensure_owner, ensure_role
from hub.cluster.base import Seen
from hub.consent.actions import Gates
from hub.consent.decision import Grant, Pilot, Reason, decide
from hub.consent.registry import officer_state
from hub.errors import BadRequest
from hub.keys import ACTIONS, CLUSTER, CONFIG, REGISTRY, STORE
from hub.store.base import Camera, Role
from hub.timefmt import iso


def grant_json(grant: Grant | None, now: float, pilot: Pilot | None) -> dict[str, Any] | None:
    """A grant as the API shows it, with whether it is live at `now` (in the current pilot: consent given in an
    earlier one never counts in this one)."""
    if grant is None:
        return None
    current = pilot is not None and not pilot.ended and grant.pilot_run == pilot.run
    live = current and grant.revoked_at is None and grant.starts_at <= now < grant.ends_at
    return {
        "starts_at": iso(grant.starts_at),
        "ends_at": iso(grant.ends_at),
        "agencies": sorted(grant.agencies) if grant.agencies is not None else None,
        "revoked_at": iso(grant.revoked_at),
        "live": live,
        "version": grant.version,
        # The pilot it was given in (`GET /api/pilot` says the current one's `run`).
        "pilot_run": grant.pilot_run,
        # Audio is shared only if the owner turned it on (its own consent; off by default).
        "audio": grant.audio,
    }


def _status(seen: Seen, camera_id: str, owner_view: bool) -> str:
    """As the hub holding the camera's agent says, whichever it is: `streaming` only once the camera's frames
    arrive (a WHIP session whose handshake is still under way, or failing, is `connecting`), `idle`, `offline`;
    `paused` (its owner paused it at the device: porchlight-agent pause, a button) to its owner only."""
    agent = seen.agents.get(camera_id)
    if agent is None:
        return "offline"
    return "idle" if agent[0] == "paused" and not owner_view else agent[0]


def _camera_json(request: web.Request, camera: Camera, now: float, owner_view: bool, seen: Seen) -> dict[str, Any]:
    """A camera as the API shows it. Its owner (and admins) also see who watches it right now, on every hub."""
    registry = request.app[REGISTRY]
    watching = seen.of(camera.id)
    grant = registry.gate(camera.id).state.grant
    answer: dict[str, Any] = {
        "id": camera.id,
        "name": camera.name,
        "grant": grant_json(grant, now, registry.pilot),
        "online": camera.id in seen.agents,
        "status": _status(seen, camera.id, owner_view),
        "location": None if camera.lat is None else {"lat": camera.lat, "lon": camera.lon},
        "watchers": len(watching),
    }
    if owner_view:
        answer["watching"] = [view.watching() for view in watching]
    return answer


async def list_cameras(request: web.Request) -> web.Response:
    """Residents see their own cameras, officers those their gate admits now (with `?all=1`, every other camera of
    the pilot by name only, to ask its owner for access), admins all."""
    identity = ensure_identity(request)
    store, registry = request.app[STORE], request.app[REGISTRY]
    now = time.time()
    seen = await request.app[CLUSTER].seen()
    role = identity.account.role
    if role is Role.RESIDENT:
        cameras = await store.list_cameras(owner_id=identity.account.id)
    elif role is Role.OFFICER:
        officer = officer_state(identity.account, identity.session)
        everyone = await store.list_cameras()
        admitted = {c.id for c in everyone if decide(now, registry.gate(c.id).state, officer) is Reason.OK}
        answer = [
            {**_camera_json(request, c, now, False, seen), "admitted": True} for c in everyone if c.id in admitted
        ]
        if request.query.get("all") == "1":
            # The others by name only: whether one is opted in (for another agency, say), where it is and its state
            # stay private. Any of them may be asked for; its owner answers.
            answer += [
                {"id": c.id, "name": c.name, "admitted": False, "askable": True}
                for c in everyone
                if c.id not in admitted
            ]
        # How many cameras one officer may watch at once (peer connections): the page's wall holds that many tiles.
        viewer_limit = request.app[CONFIG].limits.peers_per_officer
        return web.json_response({"cameras": answer, "viewer_limit": viewer_limit})
    else:
        cameras = await store.list_cameras()
    return web.json_response({"cameras": [_camera_json(request, camera, now, True, seen) for camera in cameras]})


async def _my_camera(request: web.Request) -> Camera:
    identity = ensure_role(request, Role.RESIDENT)
    camera = await request.app[STORE].get_camera(request.match_info["camera_id"])
    ensure_owner(identity, camera)
    return camera


async def opt_in(request: web.Request) -> web.Response:
    """POST {"duration_seconds": n | null, "agencies": [...] | null, "audio": false}: open a grant from now (owner
    only); `audio` true shares the camera's audio too.

    null duration means "until the pilot ends"; the box is capped by the admin maximum and the pilot's end.
    A new grant replaces the old one; it belongs to the running pilot and ends with it. With `"extend": true` the
    live grant is lengthened instead (409 `not_opted_in` without one, 400 `extend_changes_scope` if the agencies
    or audio differ, 409 `grant_changed` if the grant was withdrawn or changed while the extension was being
    written): it stays the same consent, so an officer the owner stopped stays barred.
    """
    camera = await _my_camera(request)
    body = await parse(request, OptIn)
    agencies = None if body.agencies is None else frozenset(body.agencies)
    actions = request.app[ACTIONS]
    grant = await actions.open_grant(
        camera.id, camera.owner_id, body.duration_seconds, agencies, who(request), audio=body.audio, extend=body.extend
    )
    return web.json_response({"grant": grant_json(grant, time.time(), request.app[REGISTRY].pilot)}, status=201)


async def set_audio(request: web.Request) -> web.Response:
    """PUT {"audio": true | false}: share the camera's audio on its live grant, or stop sharing it (owner only).

    The video goes on either way. Off returns once every gate of the camera is seen closed to audio, or says by
    when the hubs' leases guarantee it; on needs a live grant (409 `not_opted_in`).
    """
    camera = await _my_camera(request)
    body = await parse(request, AudioSwitch)
    grant, gates = await request.app[ACTIONS].set_audio(camera.id, camera.owner_id, body.audio, who(request))
    pilot = request.app[REGISTRY].pilot
    return web.json_response({"grant": grant_json(grant, time.time(), pilot), "gates": gates_json(gates)})


async def set_location(request: web.Request) -> web.Response:
    """PUT {"lat", "lon"} or {"lat": null} (owner): where the camera is, for the officers' map."""
    camera = await _my_camera(request)
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
    seen = await request.app[CLUSTER].seen()
    return web.json_response(_camera_json(request, camera, time.time(), True, seen))


async def withdraw(request: web.Request) -> web.Response:
    """DELETE: withdraw consent now. Returns once every gate of the camera is seen closed, or says by when the
    hubs' leases guarantee it."""
    camera = await _my_camera(request)
    grant, gates = await request.app[ACTIONS].withdraw(camera.id, who(request), camera.owner_id)
    pilot = request.app[REGISTRY].pilot
    # `views_ended`: the live views of the camera it ended, on every hub.
    answer = {"grant": grant_json(grant, time.time(), pilot), "gates": gates_json(gates)}
    return web.json_response({**answer, "views_ended": gates.views_ended or 0})


def gates_json(gates: Gates) -> dict[str, Any]:
    """What a closing action promises, as the API says it."""
    answer: dict[str, Any] = {"confirmed": gates.confirmed, "closed_by": iso(gates.closed_by)}
    if gates.hubs:
        answer["hubs"] = list(gates.hubs)  # every hub that carried the camera (owner and relays)
    if gates.replicated is not None:
        answer["replicated"] = gates.replicated  # the write reached store.redis_wait_replicas replicas in time
    return answer
