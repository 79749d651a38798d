"""The admin's camera list (`GET /api/admin/cameras`): every camera with its owner, status, agent, masks and
consent, from the store, this hub's gates and the cluster's state (`hub.cluster`).

What the hub an agent reached knows (whether the agent is connected, what it streams, which mask version it
confirmed applying) and who watches on every hub come from the cluster's state, whichever hub holds them; the
camera's ownership lease names the hub holding its agent (`agent.hub`). On one hub this hub is every hub there is.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from hub.api.cameras import grant_json
from hub.auth.identity import ensure_role
from hub.cluster.base import Seen
from hub.consent.decision import CameraState
from hub.keys import CLUSTER, REGISTRY, ROUTER, STORE
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


async def _agent(request: web.Request, seen: Seen, camera_id: str) -> dict[str, Any]:
    """Where the camera's agent is connected: `here`, `other_hub` (with its URL, and `node`: that hub's name, as
    the page names it, when the cluster's state has it), or `none`."""
    held = seen.agents.get(camera_id)
    if held is not None and held[1] == request.app[CLUSTER].node:
        return {"connected": True, "where": "here", "hub": None}
    router = request.app[ROUTER]
    if router.single_hub:
        return {"connected": False, "where": "none", "hub": None}
    elsewhere = await router.owner_url(camera_id)
    if elsewhere is not None or held is not None:
        name = held[1] if held else None
        return {"connected": True, "where": "other_hub", "hub": elsewhere or name, "node": name}
    return {"connected": False, "where": "none", "hub": None}


async def _camera(
    request: web.Request, camera: Camera, owners: dict[int, str], now: float, seen: Seen
) -> dict[str, Any]:
    registry = request.app[REGISTRY]
    state = registry.gate(camera.id).state
    agent = await _agent(request, seen, camera.id)
    held = seen.agents.get(camera.id)
    # The version the agent confirmed, on whichever hub it is; none while no agent is connected.
    confirmed = await request.app[CLUSTER].masks_applied(camera.id) if agent["connected"] else None
    version, masks = await request.app[STORE].get_camera_masks(camera.id)
    return {
        "id": camera.id,
        "name": camera.name,
        "owner": {"id": camera.owner_id, "username": owners.get(camera.owner_id)},
        "location": None if camera.lat is None else {"lat": camera.lat, "lon": camera.lon},
        "status": held[0] if held is not None else ("elsewhere" if agent["connected"] else "offline"),
        "agent": agent,
        "masks": {
            "count": len(masks),
            "version": version,
            # The version the agent confirmed applying (-1: not yet told since it connected); null: not connected.
            "confirmed": confirmed,
            # Whether the gates let its frames pass on the masks' account (as hub.consent.decision judges it).
            "applied": None if confirmed is None else state.masks_version == 0 or confirmed >= state.masks_version,
        },
        "consent": {"state": consent_state(state, now), "grant": grant_json(state.grant, now, registry.pilot)},
        # Who watches it now, on every hub.
        "watchers": len(seen.of(camera.id)),
    }


async def admin_cameras(request: web.Request) -> web.Response:
    """GET (admin): every camera with its owner, status, agent, masks and consent; `single_hub` says whether this
    hub's knowledge is the whole picture."""
    ensure_role(request, Role.ADMIN)
    store = request.app[STORE]
    owners = {account.id: account.username for account in await store.list_accounts()}
    now, seen = time.time(), await request.app[CLUSTER].seen()
    cameras = [await _camera(request, camera, owners, now, seen) for camera in await store.list_cameras()]
    return web.json_response({"cameras": cameras, "single_hub": request.app[ROUTER].single_hub})
