"""The owner's privacy masks and the still picture to draw them on (owners only: never a police view)."""

from __future__ import annotations

from aiohttp import web

from hub.api.models import MasksBody, parse, who
from hub.auth.identity import ensure_owner, ensure_role
from hub.keys import ACTIONS, REGISTRY, STORE, STREAMS
from hub.media.masks import snapshot, validate_masks
from hub.store.base import Camera, Role


async def _own_camera(request: web.Request) -> Camera:
    identity = ensure_role(request, Role.RESIDENT)
    camera = await request.app[STORE].get_camera(request.match_info["camera_id"])
    ensure_owner(identity, camera)
    return camera


def _state(request: web.Request, camera_id: str, version: int, masks: list[dict[str, object]]) -> web.Response:
    applied = request.app[REGISTRY].gate(camera_id).state.masks_applied
    return web.json_response({"version": version, "masks": masks, "applied": applied >= version})


async def get_masks(request: web.Request) -> web.Response:
    """GET: the camera's masks, their version, and whether its agent applies them yet."""
    camera = await _own_camera(request)
    version, masks = await request.app[STORE].get_camera_masks(camera.id)
    return _state(request, camera.id, version, masks)


async def put_masks(request: web.Request) -> web.Response:
    """PUT {"masks": [{"points": [[x, y], ...], "style": "black" | "blur"}]}: replace the masks. The camera's
    video is held for every viewer from before the write until its agent confirms it masks with the new version."""
    camera = await _own_camera(request)
    masks = validate_masks((await parse(request, MasksBody)).masks)
    version = await request.app[ACTIONS].set_masks(camera.id, camera.owner_id, masks, who(request))
    return _state(request, camera.id, version, masks)


async def get_snapshot(request: web.Request) -> web.Response:
    """GET: one still picture from the camera, for its owner only (not recorded as a look: no one else sees it)."""
    camera = await _own_camera(request)
    jpeg = await snapshot(request.app[STREAMS].stream(camera.id).control)
    return web.Response(body=jpeg, content_type="image/jpeg", headers={"Cache-Control": "no-store"})
