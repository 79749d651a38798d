"""The owner's privacy masks and the still picture to draw them on (owners only: never a police view)."""

from __future__ import annotations

from aiohttp import web

from hub.api.body import json_body
from hub.audit.http import record
from hub.audit.record import Kind
from hub.auth.identity import ensure_owner, ensure_role
from hub.keys import REGISTRY, STORE, STREAMS
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
    video is held for every viewer until its agent confirms it masks with the new version."""
    camera = await _own_camera(request)
    masks = validate_masks((await json_body(request)).get("masks"))
    app = request.app
    version = await app[STORE].set_camera_masks(camera.id, masks)
    app[REGISTRY].require_masks(camera.id, version)  # holds the video now, and sends the agent the new masks
    answer = _state(request, camera.id, version, masks)  # pending: read before the agent can have confirmed
    fields = {"camera": camera.id, "owner": camera.owner_id, "version": version, "polygons": len(masks)}
    await record(request, Kind.MASKS_CHANGED, fields)
    return answer


async def get_snapshot(request: web.Request) -> web.Response:
    """GET: one still picture from the camera, for its owner only (not recorded as a look: no one else sees it)."""
    camera = await _own_camera(request)
    jpeg = await snapshot(request.app[STREAMS].stream(camera.id).control)
    return web.Response(body=jpeg, content_type="image/jpeg", headers={"Cache-Control": "no-store"})
