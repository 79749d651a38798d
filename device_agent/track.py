"""The video track the agent publishes: frames from a source, paced at the configured rate.

Like Frigate's capture loop, the track checks its `enabled` flag before every frame: once the agent is told to
stop, no further frame is produced even while the WHIP session is still being torn down. There is no audio
track (invariant 5).
"""

from __future__ import annotations

import asyncio
import fractions
import logging

import av
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from device_agent.sources import FrameSource, SourceError

logger = logging.getLogger(__name__)

CLOCK_RATE = 90_000
TIME_BASE = fractions.Fraction(1, CLOCK_RATE)


class CameraTrack(MediaStreamTrack):
    """A video track reading `source` at `fps` frames per second, with 90 kHz timestamps."""

    kind = "video"

    def __init__(self, source: FrameSource, fps: int = 15) -> None:
        super().__init__()
        if not 1 <= fps <= 60:
            raise ValueError("fps must be within 1..60")
        self.enabled = True
        self._source = source
        self._period = 1.0 / fps
        self._start: float | None = None
        self._next = 0.0
        self.frames = 0

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
        # Disabled while the read was in flight: that frame must not leave either.
        self._ensure_enabled()
        frame = av.VideoFrame.from_ndarray(img, format="bgr24")
        frame.pts = pts
        frame.time_base = TIME_BASE
        self.frames += 1
        return frame

    def _ensure_enabled(self) -> None:
        if self.readyState != "live":
            raise MediaStreamError("track ended")
        if not self.enabled:
            self.stop()
            raise MediaStreamError("track disabled")

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
