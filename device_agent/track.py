"""The video track the agent publishes: frames from a source, paced at the configured rate.

Like Frigate's capture loop, the track checks its `enabled` flag and the owner's pause before every frame (and
again after each capture): once the agent is told to stop, or the owner pauses the camera, no further frame is
produced even while the WHIP session is still being torn down. There is no audio track (invariant 5).

Privacy masks are applied here, to the picture the source gave (after a synthetic source's capture stamp is
drawn, so the stamp cannot repaint a masked pixel) and before it becomes a VideoFrame for the encoder: masked
pixels never leave the home. Each frame reads the mask set in force once, so it is masked with one whole set.
"""

from __future__ import annotations

import asyncio
import fractions
import logging

import av
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from device_agent.masks import LiveMasks
from device_agent.pause import PauseState
from device_agent.sources import FrameSource, SourceError
from device_agent.stamp import Image

logger = logging.getLogger(__name__)

CLOCK_RATE = 90_000
TIME_BASE = fractions.Fraction(1, CLOCK_RATE)


class CameraTrack(MediaStreamTrack):
    """A video track reading `source` at `fps` frames per second, with 90 kHz timestamps, masked by `masks`."""

    kind = "video"

    def __init__(
        self, source: FrameSource, fps: int = 15, masks: LiveMasks | None = None, pause: PauseState | None = None
    ) -> None:
        super().__init__()
        if not 1 <= fps <= 60:
            raise ValueError("fps must be within 1..60")
        self.enabled = True
        self._source = source
        self._masks = masks if masks is not None else LiveMasks()
        self._pause = pause
        self._period = 1.0 / fps
        self._start: float | None = None
        self._next = 0.0
        self.frames = 0
        self.mask_version: int | None = None  # the mask version of the last frame produced
        self._raw: Image | None = None  # the last picture captured, unmasked, for the owner's snapshot
        self._captured = asyncio.Event()

    async def recv(self) -> av.VideoFrame:
        """The next frame; its pixels are captured (and stamped) just before it is returned."""
        self._ensure_enabled()
        pts = await self._pace()
        self._ensure_enabled()
        try:
            img = await self._source.read()
        except SourceError as exc:
            logger.error("camera source failed: %s", exc)
            self.stop()
            raise MediaStreamError(str(exc)) from exc
        # Disabled or paused while the read was in flight: that frame must not leave either.
        self._ensure_enabled()
        masks = self._masks.current  # read once: the whole frame is masked with this one set
        try:
            masked = masks.apply(img)
        except Exception as exc:
            # Fail closed: a frame that could not be masked is not sent, and the publication ends.
            logger.exception("could not apply the privacy masks")
            self.stop()
            raise MediaStreamError("masking failed") from exc
        frame = av.VideoFrame.from_ndarray(masked, format="bgr24")
        frame.pts = pts
        frame.time_base = TIME_BASE
        self.frames += 1
        self.mask_version = masks.version
        self._raw = img  # apply() never writes to it, and the frame holds its own copy of the pixels
        self._captured.set()
        self._masks.produced(masks)  # may confirm the set to the hub: this frame is produced, nothing awaits
        return frame

    async def still(self) -> Image:
        """The last picture captured, before masks (for the owner's snapshot); waits for the first one."""
        await self._captured.wait()
        assert self._raw is not None
        return self._raw

    def _ensure_enabled(self) -> None:
        if self.readyState != "live":
            raise MediaStreamError("track ended")
        if not self.enabled:
            self.stop()
            raise MediaStreamError("track disabled")
        if self._pause is not None and self._pause.paused:
            self.enabled = False
            self.stop()
            raise MediaStreamError("paused at the camera")

    async def _pace(self) -> int:
        """Wait for the next frame slot and return its pts."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._start is None:
            self._start = self._next = now
        delay = self._next - now
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -self._period:
            # Fell behind (slow source or encoder): resume from now rather than bursting to catch up.
            self._next = now
        pts = round((self._next - self._start) * CLOCK_RATE)
        self._next += self._period
        return pts
