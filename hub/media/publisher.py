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

from hub.config import ForwardingMode, MediaConfig, VideoCodec
from hub.media import h264
from hub.media.encoded import EncodedFrame, KeyframeRequester, release_on_marker, tap_receiver
from hub.metrics import Metrics

log = logging.getLogger(__name__)

Sinks = Callable[[], Iterable[Any]]


class Publisher:
    """One WHIP session: the hub's receiving peer connection for one camera."""

    def __init__(self, camera_id: str, pc: RTCPeerConnection, codec: VideoCodec = VideoCodec.VP8) -> None:
        self.camera_id = camera_id
        self.resource_id = secrets.token_urlsafe(16)
        self.pc = pc
        self.codec = codec  # negotiated with this publisher (hub.media.codecs)
        # Called once, when the first frame arrives: until then the camera is connecting, not streaming.
        self.on_first_frame: Callable[[], None] = lambda: None
        # Called when the stream turns out to be one viewers cannot decode (with why); the session is then ended.
        self.on_unusable: Callable[[str], None] = lambda why: None
        self.receiving = False
        # Whether viewers can decode the stream: H264 is judged by its first keyframe (None until then).
        self._usable: bool | None = None if codec is VideoCodec.H264 else True
        self.keyframes: KeyframeRequester | None = None
        # The hash of the device token the session was opened with (None for a relay): a rotated token ends it.
        self.token_hash: str | None = None
        self._feed: asyncio.Task[None] | None = None
        self._closed = False
        # Since when silence counts: the last frame, or the moment the connection came up. None while the handshake
        # is under way, which the peer book's watchdog bounds (a slow ICE and DTLS start is not a silent camera).
        self._last_frame: float | None = None

    def connected(self) -> None:
        """The connection is up: from now on, a camera that sends nothing is silent."""
        if self._last_frame is None:
            self._last_frame = time.monotonic()

    def silent_for(self) -> float:
        """Seconds since the camera's last frame, or since its connection came up before any; 0 before that."""
        return 0.0 if self._last_frame is None else time.monotonic() - self._last_frame

    def forward(
        self, track: MediaStreamTrack, receiver: RTCRtpReceiver, media: MediaConfig, metrics: Metrics, sinks: Sinks
    ) -> None:
        """Forward the video `track` arriving on `receiver` to `sinks` as the hub forwards: passthrough (with
        keyframe requests to the camera) or transcode."""
        buffer = release_on_marker(receiver)
        if media.forwarding is ForwardingMode.PASSTHROUGH:
            keyframes = KeyframeRequester(
                receiver,
                buffer,
                media.keyframe_interval_seconds,
                metrics.keyframe_wanted,
                metrics.keyframe_requests.inc,
            )
            self.pass_through(receiver, sinks, keyframes)
        else:
            self.transcode(track, sinks)

    def pass_through(self, receiver: RTCRtpReceiver, sinks: Sinks, keyframes: KeyframeRequester) -> None:
        """Forward the receiver's encoded frames without decoding them."""
        self.keyframes = keyframes

        def deliver(frame: EncodedFrame) -> None:
            self._arrived()
            if frame.keyframe and self.codec is VideoCodec.H264:
                self._judge(frame)
            if self._usable:
                for sink in sinks():
                    try:
                        sink.offer(frame)
                    except Exception:
                        # Raised into aiortc's receiver, it would close the camera's connection for every viewer.
                        log.exception("camera %s: a viewer could not take a frame", self.camera_id)

        tap_receiver(receiver, deliver)

    def _arrived(self) -> None:
        self._last_frame = time.monotonic()
        if not self.receiving:
            self.receiving = True
            self.on_first_frame()

    def _judge(self, frame: EncodedFrame) -> None:
        """Whether an H264 stream may reach browsers, by the SPS and PPS of each keyframe that carries them
        (hub.media.h264): a stream can change its parameters at any keyframe. Once unusable, it stays so."""
        found = h264.parameters(bytes(frame.packet))
        if found is None or self._usable is False:
            return  # nothing to judge by (a keyframe without parameter sets), or ended already
        self._usable = found.browser_decodable()
        if not self._usable:
            self.on_unusable(
                f"its H264 stream is {found.name()}, which browsers cannot decode: send Constrained Baseline"
            )

    def transcode(self, track: MediaStreamTrack, sinks: Sinks) -> None:
        """Read the camera's decoded frames and offer each one to every viewer."""
        self._feed = asyncio.create_task(self._run_feed(track, sinks), name=f"feed-{self.camera_id}")

    async def _run_feed(self, track: MediaStreamTrack, sinks: Sinks) -> None:
        try:
            while True:
                frame = await track.recv()
                self._arrived()
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
