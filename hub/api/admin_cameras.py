"""The admin's camera list (`GET /api/admin/cameras`): every camera with its owner, status, agent, masks and
consent, from the store and this hub's streams and gates.

What only the hub an agent reached can know (whether the agent is connected, what it streams, which mask version it
confirmed applying) is given for the agents connected here. On a cluster the camera's ownership lease in the store
says which other hub holds its agent (`agent.hub`); what that agent confirmed is not known here, and the answer says
so (`masks.applied` null, `known_here` false) rather than guessing. On one hub this hub is every hub there is.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from hub.api.cameras import grant_json
from hub.auth.identity import ensure_role
from hub.consent.decision import CameraState
from hub.keys import REGISTRY, ROUTER, STORE, STREAMS
from hub.media.streams import CameraStream
from hub.store.base import Camera, Role


def consent_state(state: CameraState, now: float) -> str:
    """The camera's consent in one word: `none` (never opted in, or only in an earlier pilot), `live`,
    `scheduled`, `withdrawn` or `expired` (in the current pilot), or `no_pilot` (no pilot running)."""
    pilot, grant = state.pilot, state.grant
    if pilot is None or pilot.ended or now >= pilot.ends_at:
        return "no_pilot"
    if grant is None or grant.pilot_run != pilot.run:
        return "none"
    if grant.revoked_at is not None:
        return "withdrawn"
    if now >= grant.ends_at:
        return "expired"
    return "scheduled" if now < grant.starts_at or now < pilot.starts_at else "live"


def _status(stream: CameraStream) -> str:
    if stream.publisher is not None:
        return "streaming" if stream.publisher.receiving else "connecting"
    if stream.control is not None:
        return "paused" if stream.control.paused else "idle"
    return "offline"


async def _agent(request: web.Request, stream: CameraStream) -> dict[str, Any]:
    """Where the camera's agent is connected: `here`, `other_hub` (with its URL), or `none`."""
    if stream.control is not None or stream.publisher is not None:
        return {"connected": True, "where": "here", "hub": None}
    router = request.app[ROUTER]
    if router.single_hub:
        return {"connected": False, "where": "none", "hub": None}
    elsewhere = await router.owner_url(stream.camera_id)
    if elsewhere is not None:
        return {"connected": True, "where": "other_hub", "hub": elsewhere}
    return {"connected": False, "where": "none", "hub": None}


async def _camera(request: web.Request, camera: Camera, owners: dict[int, str], now: float) -> dict[str, Any]:
    registry, streams = request.app[REGISTRY], request.app[STREAMS]
    state = registry.gate(camera.id).state
    stream = streams.stream(camera.id)
    agent = await _agent(request, stream)
    here = agent["where"] == "here"
    version, masks = await request.app[STORE].get_camera_masks(camera.id)
    return {
        "id": camera.id,
        "name": camera.name,
        "owner": {"id": camera.owner_id, "username": owners.get(camera.owner_id)},
        "location": None if camera.lat is None else {"lat": camera.lat, "lon": camera.lon},
        "known_here": here or not agent["connected"],
        "status": _status(stream) if here else ("elsewhere" if agent["connected"] else "offline"),
        "agent": agent,
        "masks": {
            "count": len(masks),
            "version": version,
            # The version the agent confirmed applying (-1: not yet told since it connected); null: not known here.
            "confirmed": state.masks_applied if here else None,
            # Whether the gate lets its frames pass on the masks' account (as hub.consent.decision judges it).
            "applied": (state.masks_version == 0 or state.masks_applied >= state.masks_version) if here else None,
        },
        "consent": {"state": consent_state(state, now), "grant": grant_json(state.grant, now, registry.pilot)},
        "watchers_here": len(stream.viewers),
    }


async def admin_cameras(request: web.Request) -> web.Response:
    """GET (admin): every camera with its owner, status, agent, masks and consent; `single_hub` says whether this
    hub's knowledge is the whole picture."""
    ensure_role(request, Role.ADMIN)
    store = request.app[STORE]
    owners = {account.id: account.username for account in await store.list_accounts()}
    now = time.time()
    cameras = [await _camera(request, camera, owners, now) for camera in await store.list_cameras()]
    return web.json_response({"cameras": cameras, "single_hub": request.app[ROUTER].single_hub})
