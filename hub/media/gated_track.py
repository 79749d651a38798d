"""A viewer's outgoing track: frames from the camera's feed, each checked by the consent gate.

The decisive check is in `recv`, the moment aiortc's sender takes the frame to encode and send: no await
between the decision and the hand-off. The queue is bounded; a slow viewer loses its oldest frames.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError
from av import VideoFrame

from hub.consent.decision import Reason
from hub.consent.gate import CameraGate, OfficerPass


class GatedTrack(MediaStreamTrack):
    """Video for one viewer of one camera, admitted frame by frame."""

    kind = "video"

    def __init__(
        self,
        gate: CameraGate,
        officer: OfficerPass,
        capacity: int,
        on_denied: Callable[[Reason], None],
        count: Callable[[Reason], None],
    ) -> None:
        super().__init__()
        self._gate = gate
        self._officer = officer
        self._frames: deque[VideoFrame] = deque(maxlen=capacity)
        self._ready = asyncio.Event()
        self._on_denied = on_denied
        self._count = count

    def offer(self, frame: VideoFrame) -> None:
        """Queue a frame from the camera (the feed calls this; never blocks, drops the oldest when full)."""
        if self.readyState != "live":
            return
        self._frames.append(frame)
        self._ready.set()

    def stop(self) -> None:
        """End the track and wake a waiting `recv` so the sender finishes."""
        super().stop()
        self._frames.clear()
        self._ready.set()

    async def recv(self) -> VideoFrame:
        """The next admitted frame; raises MediaStreamError once the track has ended."""
        while True:
            while not self._frames:
                if self.readyState != "live":
                    raise MediaStreamError
                self._ready.clear()
                await self._ready.wait()
            if self.readyState != "live":
                raise MediaStreamError
            frame = self._frames.popleft()
            reason = self._gate.admit(time.time(), self._officer)
            self._count(reason)
            if reason is Reason.OK:
                return frame
            if reason.terminal:
                self._frames.clear()
                self._on_denied(reason)
