"""A camera publishing to this hub over WHIP: its peer connection and how its frames reach the viewers.

Passthrough: the receiver's encoded frames are tapped before decoding and offered to every viewer as they are.
Transcode: a feed task reads the decoded frames and offers them; each viewer's sender encodes its own copy.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable, Iterable
from typing import Any

from aiortc import MediaStreamTrack, RTCPeerConnection, RTCRtpReceiver
from aiortc.mediastreams import MediaStreamError
from av import VideoFrame

from hub.media.encoded import EncodedFrame, KeyframeRequester, tap_receiver

log = logging.getLogger(__name__)

Sinks = Callable[[], Iterable[Any]]


class Publisher:
    """One WHIP session: the hub's receiving peer connection for one camera."""

    def __init__(self, camera_id: str, pc: RTCPeerConnection) -> None:
        self.camera_id = camera_id
        self.resource_id = secrets.token_urlsafe(16)
        self.pc = pc
        self.keyframes: KeyframeRequester | None = None
        # The hash of the device token the session was opened with (None for a relay): a rotated token ends it.
        self.token_hash: str | None = None
        self._feed: asyncio.Task[None] | None = None
        self._closed = False
        self._last_frame = time.monotonic()  # the session's start counts as a frame: its handshake has a limit too

    def silent_for(self) -> float:
        """Seconds since the camera's last frame (or since the session began, before any)."""
        return time.monotonic() - self._last_frame

    def pass_through(self, receiver: RTCRtpReceiver, sinks: Sinks, keyframes: KeyframeRequester) -> None:
        """Forward the receiver's encoded frames without decoding them."""
        self.keyframes = keyframes

        def deliver(frame: EncodedFrame) -> None:
            self._last_frame = time.monotonic()
            for sink in sinks():
                sink.offer(frame)

        tap_receiver(receiver, deliver)

    def transcode(self, track: MediaStreamTrack, sinks: Sinks) -> None:
        """Read the camera's decoded frames and offer each one to every viewer."""
        self._feed = asyncio.create_task(self._run_feed(track, sinks), name=f"feed-{self.camera_id}")

    async def _run_feed(self, track: MediaStreamTrack, sinks: Sinks) -> None:
        try:
            while True:
                frame = await track.recv()
                self._last_frame = time.monotonic()
                if isinstance(frame, VideoFrame):
                    for sink in sinks():
                        sink.offer(frame)
        except MediaStreamError:
            log.info("camera %s: feed ended", self.camera_id)
        except Exception:
            log.exception("camera %s: feed failed", self.camera_id)

    async def stop(self) -> None:
        """Stop the feed and the keyframe requests (the caller closes the connection); safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self.keyframes is not None:
            self.keyframes.close()
        if self._feed is not None:
            self._feed.cancel()
            await asyncio.gather(self._feed, return_exceptions=True)
