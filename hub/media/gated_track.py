"""A viewer's outgoing track: the camera's frames, each checked by the consent gate.

Transcode: the decisive check is in `recv`, the moment aiortc's sender takes the frame to encode; no await
between the decision and the hand-off. Its queue is bounded: a slow viewer loses frames, never grows memory.
Passthrough: the frame is decided as it arrives from the camera and, if admitted, its packets (cut once per
camera) are written to the viewer's socket in the same step (hub/media/rtp_writer.py): the decision is taken at
the moment its first packet is sent, and a frame goes out whole or not at all.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import av
from aiortc import MediaStreamTrack, RTCRtpSender
from aiortc.mediastreams import MediaStreamError
from av import VideoFrame

from hub.consent.decision import Reason
from hub.consent.gate import CameraGate, OfficerPass
from hub.media.encoded import EncodedFrame, KeyframeRequester, relay_keyframe_requests
from hub.media.rtp_writer import RtpWriter

Item = TypeVar("Item", VideoFrame, EncodedFrame)


class GatedTrack(MediaStreamTrack, Generic[Item]):
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
        self._capacity = capacity  # frames a transcode viewer may have queued
        self._ready = asyncio.Event()
        self._on_denied = on_denied
        self._count = count
        self.frames_sent = 0  # for the view's audit record

    def offer(self, item: Item) -> None:
        """A frame from the camera (the feed calls this; never blocks)."""
        raise NotImplementedError

    def send_with(self, sender: RTCRtpSender) -> None:
        """Make this the video `sender` sends (before the offer is applied)."""
        sender.replaceTrack(self)

    def stop(self) -> None:
        """End the track and wake a waiting `recv` so the sender finishes."""
        super().stop()
        self._ready.set()

    def _decide(self) -> Reason:
        """The gate's decision on a frame now, counted; a refusal that cannot recover ends the view."""
        reason = self._gate.admit(time.time(), self._officer)
        self._count(reason)
        if reason.terminal:
            self._on_denied(reason)
        return reason


class DecodedTrack(GatedTrack[VideoFrame]):
    """Transcode mode: decoded frames, queued (a slow viewer loses the oldest) and encoded again by this viewer's
    sender, which takes them through `recv`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._frames: deque[VideoFrame] = deque(maxlen=self._capacity)

    def offer(self, item: VideoFrame) -> None:
        if self.readyState == "live":
            self._frames.append(item)
            self._ready.set()

    def stop(self) -> None:
        super().stop()
        self._frames.clear()

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
            item = self._frames.popleft()
            reason = self._decide()
            if reason is Reason.OK:
                self.frames_sent += 1
                return item
            if reason.terminal:
                self._frames.clear()


class EncodedTrack(GatedTrack[EncodedFrame]):
    """Passthrough mode: the camera's encoded frames, written to the viewer's connection without decoding.

    A viewer that joins, resumes after its gate reopened, or falls behind receives nothing until a keyframe;
    after a closed gate, only a keyframe the hub asked for after the gate reopened will do, so no picture
    captured while the gate was closed is shown. aiortc's sender for the track sends its RTCP but no RTP: its
    `recv` is never given a frame.
    """

    # Per-instance state, set on first assignment; a new track waits for its first keyframe.
    _keyframes: KeyframeRequester | None = None
    _needs_keyframe = True
    # After a closure: a keyframe counts only if requested after this (monotonic) time and arrived later.
    _fresh_after: float | None = None
    _writer: RtpWriter | None = None

    def send_with(self, sender: RTCRtpSender) -> None:
        """Make this the video of `sender`, whose packets this track writes itself, and whose viewer's keyframe
        requests (PLI, FIR) reach the camera (before the offer is applied)."""
        self._writer = RtpWriter(sender)
        relay_keyframe_requests(sender, self.request_keyframe)
        sender.replaceTrack(self)

    def set_keyframes(self, keyframes: KeyframeRequester | None) -> None:
        """A new publisher (with its own requester) took over the camera: wait for its first keyframe."""
        self._keyframes = keyframes
        self._wait_for_keyframe(closed=False)

    def offer(self, item: EncodedFrame) -> None:
        if self.readyState != "live":
            return
        if self._decide() is not Reason.OK:
            self._wait_for_keyframe(closed=True)
            return
        if self._needs_keyframe:
            if not (item.keyframe and self._is_fresh(item)):
                self.request_keyframe("resume" if self._fresh_after is not None else "join")
                return
            self._needs_keyframe = False
            self._fresh_after = None
        # Nothing is awaited from the decision above to the socket.
        writer = self._writer
        if writer is not None and writer.write(item.rtp()):
            self.frames_sent += 1
            return
        # Not connected yet, or falling behind: a gap in the middle of a picture would show garbage.
        self._wait_for_keyframe(closed=False)
        if writer is not None and writer.behind:
            self.request_keyframe("behind")

    async def recv(self) -> av.Packet[Any]:
        """Never returns a frame (they are written by `offer`); raises MediaStreamError once the track ends."""
        while self.readyState == "live":
            self._ready.clear()
            await self._ready.wait()
        raise MediaStreamError

    def _is_fresh(self, item: EncodedFrame) -> bool:
        if self._fresh_after is None:
            return True
        asked = self._keyframes.last_sent if self._keyframes is not None else -float("inf")
        return asked >= self._fresh_after and item.arrived_at > asked

    def request_keyframe(self, cause: str) -> None:
        """Ask the camera for a keyframe (rate-limited per camera); also what this viewer's PLI/FIR does."""
        if self._keyframes is not None:
            self._keyframes.request(cause)

    def _wait_for_keyframe(self, closed: bool) -> None:
        self._needs_keyframe = True
        if closed:
            # Moves forward while the gate stays closed: ends up at the last moment it was seen closed.
            self._fresh_after = time.monotonic()
