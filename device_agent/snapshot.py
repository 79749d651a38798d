"""Still pictures for the camera's owner to draw privacy masks on.

A snapshot is the raw picture, without masks: the owner looks at their own camera and their page draws the
masks over it. It goes only to the hub, over the control channel, as one JPEG scaled down to at most 640 px
wide and refused when over 512 KiB. Requests are answered one at a time, off the control worker, so a slow
source never delays a "stop".
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import cv2
import numpy as np

from device_agent import control
from device_agent.sources import SourceError, SourceSpec, open_source
from device_agent.stamp import Image

logger = logging.getLogger(__name__)

MAX_WIDTH = 640
JPEG_QUALITY = 80
MAX_BYTES = 512 * 1024
TIMEOUT = 7.0  # opening an RTSP source (5 s of its own) and one read; the hub gives up after 8 s

Capture = Callable[[], Awaitable[Image]]
Send = Callable[[str], Awaitable[None]]


class SnapshotError(Exception):
    """No picture could be made; the message is the short text the hub is sent."""


def encode_snapshot(image: Image) -> bytes:
    """`image` (BGR uint8) scaled down to at most MAX_WIDTH px wide, as JPEG; SnapshotError if too large."""
    height, width = image.shape[:2]
    if width > MAX_WIDTH:
        size = (MAX_WIDTH, max(1, round(height * MAX_WIDTH / width)))
        image = np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise SnapshotError("could not encode the picture")
    jpeg = encoded.tobytes()
    if len(jpeg) > MAX_BYTES:
        raise SnapshotError("picture too large")
    return jpeg


async def grab_still(spec: SourceSpec, width: int, height: int, name: str) -> Image:
    """One frame from the source opened for it alone, closed again at once (also on error or cancellation)."""
    source = await open_source(spec, width, height, name)
    try:
        return await source.read()
    finally:
        source.close()


class Snapshots:
    """Answers the hub's snapshot requests: `capture` takes the picture, `send` delivers the reply."""

    def __init__(self, camera_id: str, capture: Capture, send: Send) -> None:
        self._camera = camera_id
        self._capture = capture
        self._send = send
        self._task: asyncio.Task[None] | None = None

    async def request(self, request_id: str) -> None:
        """Start answering `request_id`; answer "busy" at once if another picture is still being taken."""
        if self._task is not None and not self._task.done():
            await self._send(control.snapshot_error_message(request_id, "busy"))
            return
        self._task = asyncio.create_task(self._answer(request_id), name="porchlight-agent-snapshot")

    async def _answer(self, request_id: str) -> None:
        try:
            async with asyncio.timeout(TIMEOUT):
                image = await self._capture()
            reply = control.snapshot_message(request_id, encode_snapshot(image))
            logger.info("camera %s: sending a snapshot to the hub", self._camera)
        except SnapshotError as exc:
            reply = control.snapshot_error_message(request_id, str(exc))
        except SourceError as exc:
            logger.warning("camera %s: no snapshot: %s", self._camera, exc)
            reply = control.snapshot_error_message(request_id, "camera source unavailable")
        except TimeoutError:
            logger.warning("camera %s: no snapshot within %.0f s", self._camera, TIMEOUT)
            reply = control.snapshot_error_message(request_id, "timed out")
        except Exception:
            # A background task: log with the traceback, and still answer, so the owner's page does not hang.
            logger.exception("camera %s: snapshot failed", self._camera)
            reply = control.snapshot_error_message(request_id, "internal error")
        await self._send(reply)

    async def close(self) -> None:
        """Abandon a picture still being taken (the control channel is going away); its source is closed."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait([task])
