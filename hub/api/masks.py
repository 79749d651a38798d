"""The owner's privacy masks and the still picture to draw them on (owners only: never a police view)."""

from __future__ import annotations

from aiohttp import web

from hub.api.models import MasksBody, parse, who
from hub.auth.identity import ensure_owner, ensure_role
from hub.keys import ACTIONS, CLUSTER, REGISTRY, STORE
from hub.media.masks import validate_masks
from hub.store.base import Camera, Role


async def _own_camera(request: web.Request) -> Camera:
    identity = ensure_role(request, Role.RESIDENT)
    camera = await request.app[STORE].get_camera(request.match_info["camera_id"])
    ensure_owner(identity, camera)
    return camera


async def _state(request: web.Request, camera_id: str, version: int, masks: list[dict[str, object]]) -> web.Response:
    # What the camera's agent confirmed, on whichever hub it is connected (else what this hub's gate last heard).
    applied = await request.app[CLUSTER].masks_applied(camera_id)
    if applied is None:
        applied = request.app[REGISTRY].gate(camera_id).state.masks_applied
    return web.json_response({"version": version, "masks": masks, "applied": applied >= version})


async def get_masks(request: web.Request) -> web.Response:
    """GET: the camera's masks, their version, and whether its agent applies them yet."""
    camera = await _own_camera(request)
    version, masks = await request.app[STORE].get_camera_masks(camera.id)
    return await _state(request, camera.id, version, masks)


async def put_masks(request: web.Request) -> web.Response:
    """PUT {"masks": [{"points": [[x, y], ...], "style": "black" | "blur"}]}: replace the masks. The camera's
    video is held for every viewer from before the write until its agent confirms it masks with the new version."""
    camera = await _own_camera(request)
    masks = validate_masks((await parse(request, MasksBody)).masks)
    version = await request.app[ACTIONS].set_masks(camera.id, camera.owner_id, masks, who(request))
    return await _state(request, camera.id, version, masks)


async def get_snapshot(request: web.Request) -> web.Response:
    """GET: one still picture from the camera, for its owner only (not recorded as a look: no one else sees it);
    asked of the hub its agent is connected to, whichever it is."""
    camera = await _own_camera(request)
    jpeg = await request.app[CLUSTER].snapshot(camera.id)
    return web.Response(body=jpeg, content_type="image/jpeg", headers={"Cache-Control": "no-store"})
