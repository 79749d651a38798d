"""Privacy masks: polygons the owner draws, sent to the camera's agent, which blacks out or blurs them before
encoding, so masked pixels never leave the home.

The hub holds a camera's video (every viewer's gate says `masks_pending`) from the moment the owner sets a new
version until the agent confirms it applies that version to every frame it sends; a passthrough viewer then
resumes only at a keyframe asked for after that, so no frame captured before the change is shown.

Also the owner's still picture to draw on: asked of the agent over the same channel, given to the owner only.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import math
import secrets
from typing import Any

from aiohttp import web

from hub.errors import BadRequest, CameraOffline
from hub.keys import STORE, STREAMS
from hub.media.streams import ControlLink

log = logging.getLogger(__name__)

MAX_POLYGONS = 32
MAX_POINTS = 64
STYLES = ("black", "blur")
SNAPSHOT_TIMEOUT = 8.0
MAX_SNAPSHOT_BYTES = 512 * 1024


def validate_masks(value: object) -> list[dict[str, Any]]:
    """The masks as the API accepts them (400 otherwise): polygons of 3 to 64 points in coordinates relative to
    the frame (0..1), each blacked out or blurred."""
    if not isinstance(value, list) or len(value) > MAX_POLYGONS:
        raise BadRequest(f"masks must be a list of at most {MAX_POLYGONS} polygons", "bad_masks")
    masks = []
    for polygon in value:
        if not isinstance(polygon, dict) or polygon.get("style", "black") not in STYLES:
            raise BadRequest("each mask is {points, style: black|blur}", "bad_masks")
        points = polygon.get("points")
        if not isinstance(points, list) or not 3 <= len(points) <= MAX_POINTS:
            raise BadRequest(f"a mask has 3 to {MAX_POINTS} points", "bad_masks")
        masks.append({"points": [_point(p) for p in points], "style": polygon.get("style", "black")})
    return masks


def _point(value: object) -> list[float]:
    if (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(c, int | float) and not isinstance(c, bool) and math.isfinite(c) for c in value)
        and all(0 <= c <= 1 for c in value)
    ):
        return [float(value[0]), float(value[1])]
    raise BadRequest("a point is [x, y] relative to the frame, each from 0 to 1", "bad_masks")


async def push_masks(app: web.Application, camera_id: str) -> None:
    """Send the camera's current masks to its agent, if it is connected to this hub."""
    link = app[STREAMS].stream(camera_id).control
    if link is None:
        return
    version, masks = await app[STORE].get_camera_masks(camera_id)
    await link.send({"type": "masks", "version": version, "masks": masks})


async def snapshot(link: ControlLink | None) -> bytes:
    """One still JPEG from the camera's agent (CameraOffline if it is not connected or does not answer)."""
    if link is None:
        raise CameraOffline("the camera is not connected", "camera_offline")
    request_id = secrets.token_urlsafe(8)
    answer: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
    link.snapshots[request_id] = answer
    try:
        await link.send({"type": "snapshot", "id": request_id})
        reply = await asyncio.wait_for(answer, SNAPSHOT_TIMEOUT)
    except TimeoutError:
        raise CameraOffline("the camera did not send a picture in time", "snapshot_failed") from None
    finally:
        link.snapshots.pop(request_id, None)
    try:
        jpeg = base64.b64decode(str(reply.get("jpeg", "")), validate=True)
    except (binascii.Error, ValueError):
        jpeg = b""
    if not jpeg.startswith(b"\xff\xd8") or len(jpeg) > MAX_SNAPSHOT_BYTES:
        log.info("camera %s: no usable picture (%s)", link.camera_id, str(reply.get("error", "bad JPEG"))[:80])
        raise CameraOffline("the camera could not take a picture", "snapshot_failed")
    return jpeg
