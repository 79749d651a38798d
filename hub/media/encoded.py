"""Passthrough plumbing: take a camera's encoded frames before aiortc decodes them, and ask it for keyframes.

This leans on aiortc internals, named in `REQUIRED_INTERNALS` and checked by `check_internals()` at start-up
and in the tests, so that an aiortc upgrade that moves them fails loudly instead of forwarding nothing:
- `RTCRtpReceiver._RTCRtpReceiver__decoder_queue`: the receiver hands each complete encoded frame to it as
  `put((codec, JitterFrame))`, and its decoder thread `get()`s from it until it reads None;
- `RTCRtpReceiver._send_rtcp_pli(ssrc)`: sends a picture loss indication to the camera;
- `RTCRtpSender._send_keyframe()`: what a sender calls when its viewer sends PLI or FIR;
- `RTCRtpReceiver._RTCRtpReceiver__jitter_buffer` and `JitterBuffer`'s slots (`_packets`, `_origin`,
  `_capacity`, `remove`) and the `_data` the receiver attaches to each packet: aiortc's buffer holds a
  finished frame until the next frame's first packet arrives (a whole frame interval); `MarkerJitterBuffer`
  releases it on the RTP marker bit instead.
A track that returns `av.Packet`s is sent without encoding (aiortc's `pack` path), which is public behaviour.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av
from aiortc import RTCRtpReceiver, RTCRtpSender
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtp import RtpPacket
from aiortc.utils import uint16_add

from hub.media.packetizer import Packetizer, RtpFrame

log = logging.getLogger(__name__)

VIDEO_TIME_BASE = Fraction(1, 90000)
DECODER_QUEUE = "_RTCRtpReceiver__decoder_queue"
JITTER_BUFFER = "_RTCRtpReceiver__jitter_buffer"
_BUFFER = JitterBuffer(capacity=16, is_video=True)
REQUIRED_INTERNALS = {
    "RTCRtpReceiver.__decoder_queue (set in __init__)": (RTCRtpReceiver, DECODER_QUEUE),
    "RTCRtpReceiver.__jitter_buffer (set in __init__)": (RTCRtpReceiver, JITTER_BUFFER),
    "JitterBuffer._packets": (_BUFFER, "_packets"),
    "JitterBuffer._origin": (_BUFFER, "_origin"),
    "JitterBuffer._capacity": (_BUFFER, "_capacity"),
    "JitterBuffer.remove": (_BUFFER, "remove"),
    "RTCRtpReceiver._send_rtcp_pli": (RTCRtpReceiver, "_send_rtcp_pli"),
    "RTCRtpSender._send_keyframe": (RTCRtpSender, "_send_keyframe"),
    "JitterFrame.data": (JitterFrame(b"", 0), "data"),
    "JitterFrame.timestamp": (JitterFrame(b"", 0), "timestamp"),
}


class AiortcInternalsChanged(RuntimeError):
    """The pinned aiortc no longer has an internal that passthrough forwarding relies on."""


def check_internals() -> None:
    """Raise AiortcInternalsChanged naming every internal that is missing."""
    receiver = RTCRtpReceiver("video", _FakeTransport())  # type: ignore[arg-type]
    missing = []
    for name, (owner, attribute) in REQUIRED_INTERNALS.items():
        target = receiver if owner is RTCRtpReceiver and attribute in (DECODER_QUEUE, JITTER_BUFFER) else owner
        if not hasattr(target, attribute):
            missing.append(name)
    if missing:
        raise AiortcInternalsChanged(
            "passthrough forwarding relies on aiortc internals that are gone: " + ", ".join(missing)
        )


class _FakeTransport:
    # RTCRtpReceiver's constructor only checks the transport's state.
    state = "new"


@dataclass(slots=True, eq=False)
class EncodedFrame:
    """One complete encoded video frame as the camera sent it, cut into RTP payloads when a viewer first takes it
    (then shared by every viewer of the camera)."""

    packet: av.Packet[Any]
    keyframe: bool
    arrived_at: float  # time.monotonic()
    packetizer: Packetizer | None = None  # the camera's; None for a frame that no RTP writer sends
    _rtp: RtpFrame | None = None

    def rtp(self) -> RtpFrame:
        """The frame's RTP payloads, cut on the first call."""
        if self._rtp is None:
            assert self.packetizer is not None, "a frame sent by an RTP writer comes with its camera's packetizer"
            self._rtp = self.packetizer.pack(self.packet)
        return self._rtp


def is_keyframe(codec_name: str, data: bytes) -> bool:
    """Whether an encoded frame can be decoded on its own (VP8 key frame, or H264 with an IDR slice)."""
    name = codec_name.upper()
    if name == "VP8":
        # RFC 6386 9.1: the frame tag's lowest bit is 0 for a key frame, and a start code follows.
        return len(data) >= 6 and data[0] & 0x01 == 0 and data[3:6] == b"\x9d\x01\x2a"
    if name == "H264":
        return any(nal_type == 5 for nal_type in _h264_nal_types(data))
    return False


def _h264_nal_types(data: bytes) -> list[int]:
    # aiortc's depacketizer emits Annex B: NAL units after 00 00 01 / 00 00 00 01 start codes.
    types = []
    index = data.find(b"\x00\x00\x01")
    while index != -1 and index + 3 < len(data):
        types.append(data[index + 3] & 0x1F)
        index = data.find(b"\x00\x00\x01", index + 3)
    return types


class DecoderQueueTap:
    """Stands in for a receiver's decoder queue: each complete encoded frame (video) or packet (audio) goes to
    `on_frame(codec, frame)`, and nothing is decoded.

    `put` is called on the event loop by aiortc's RTP handler; the idle decoder thread blocks in `get` until the
    receiver stops and puts None.
    """

    def __init__(self, on_frame: Callable[[Any, JitterFrame], None]) -> None:
        self._on_frame = on_frame
        self._idle: queue.Queue[None] = queue.Queue()

    def put(self, item: tuple[Any, JitterFrame] | None) -> None:
        if item is None:
            self._idle.put(None)
            return
        self._on_frame(*item)

    def get(self, *args: Any, **kwargs: Any) -> None:
        return self._idle.get()


class MarkerJitterBuffer(JitterBuffer):
    """aiortc's video jitter buffer, but a frame whose packets are all in, up to the marker bit, leaves at once.

    aiortc's own buffer releases a frame only when a packet of the next frame arrives, which adds a whole
    frame interval (67 ms at 15 fps) to every hop. Incomplete frames still take aiortc's path.
    """

    def __init__(self) -> None:
        super().__init__(capacity=512, is_video=True)
        # The SSRC of the camera's video itself: only media packets (retransmissions unwrapped) reach the buffer, so
        # this is never the RTX stream's, which a browser may send (padding) before its first frame.
        self.media_ssrc: int | None = None

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        self.media_ssrc = packet.ssrc
        pli_flag, frame = super().add(packet)
        if frame is None and packet.marker:
            frame = self._complete_frame(packet)
        return pli_flag, frame

    def _complete_frame(self, last: RtpPacket) -> JitterFrame | None:
        if self._origin is None:
            return None
        count = uint16_add(last.sequence_number, -self._origin) + 1
        if count > self._capacity:
            return None
        packets = []
        for offset in range(count):
            packet = self._packets[(self._origin + offset) % self._capacity]
            if packet is None or packet.timestamp != last.timestamp:
                return None  # a gap, or the frame's start is missing: wait as aiortc would
            packets.append(packet)
        self.remove(count)
        return JitterFrame(data=b"".join(p._data for p in packets), timestamp=last.timestamp)  # type: ignore[attr-defined]


def release_on_marker(receiver: RTCRtpReceiver) -> MarkerJitterBuffer:
    """Give a video receiver the marker-releasing jitter buffer; call before the receiver starts."""
    if not hasattr(receiver, JITTER_BUFFER):
        raise AiortcInternalsChanged(f"RTCRtpReceiver has no {JITTER_BUFFER}")
    buffer = MarkerJitterBuffer()
    setattr(receiver, JITTER_BUFFER, buffer)
    return buffer


def tap_receiver(receiver: RTCRtpReceiver, deliver: Callable[[EncodedFrame], None]) -> None:
    """Route the receiver's encoded frames to `deliver`; call before the receiver starts (in on "track")."""
    if not hasattr(receiver, DECODER_QUEUE):
        raise AiortcInternalsChanged(f"RTCRtpReceiver has no {DECODER_QUEUE}")

    packetizers: dict[str, Packetizer] = {}  # one per codec the camera sends, numbering that codec's frames

    def on_frame(codec: Any, frame: JitterFrame) -> None:
        packet = av.Packet(frame.data)
        packet.pts = frame.timestamp
        packet.time_base = VIDEO_TIME_BASE
        packetizer = packetizers.get(codec.mimeType)
        if packetizer is None:
            packetizer = packetizers[codec.mimeType] = Packetizer(codec)
        deliver(EncodedFrame(packet, is_keyframe(codec.name, frame.data), time.monotonic(), packetizer))

    setattr(receiver, DECODER_QUEUE, DecoderQueueTap(on_frame))


class KeyframeRequester:
    """Asks the camera for a keyframe (RTCP PLI), at most once per `interval`: many joiners, one request.

    A request made while one is rate-limited is deferred to the end of the interval, so a viewer who starts
    waiting after the last request still gets a fresh keyframe. The PLI names the video's own SSRC, as `buffer`
    (the receiver's jitter buffer) last saw it: a browser ignores a PLI naming its retransmission stream.
    """

    def __init__(
        self,
        receiver: RTCRtpReceiver,
        buffer: MarkerJitterBuffer,
        interval: float,
        on_wanted: Callable[[str], None] | None = None,
        on_sent: Callable[[], None] | None = None,
    ) -> None:
        self._receiver = receiver
        self._buffer = buffer
        self._interval = interval
        self._on_wanted = on_wanted
        self._on_sent = on_sent
        self.last_sent = -float("inf")
        self._deferred: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def request(self, cause: str) -> None:
        """Ask for a keyframe now, or as soon as the rate limit allows; `cause` is counted (join, behind, ...)."""
        if self._on_wanted is not None:
            self._on_wanted(cause)
        now = time.monotonic()
        wait = self.last_sent + self._interval - now
        if wait <= 0:
            self._send(now)
        elif self._deferred is None:
            self._deferred = asyncio.get_running_loop().call_later(wait, self._send_deferred)

    def _send_deferred(self) -> None:
        self._deferred = None
        self._send(time.monotonic())

    def _send(self, now: float) -> None:
        ssrc = self._buffer.media_ssrc
        if ssrc is None:
            return  # no video received yet: the camera's first frame is a keyframe anyway
        self.last_sent = now
        task = asyncio.create_task(self._receiver._send_rtcp_pli(ssrc))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if self._on_sent is not None:
            self._on_sent()

    def close(self) -> None:
        """Cancel a deferred request."""
        if self._deferred is not None:
            self._deferred.cancel()
            self._deferred = None


def relay_keyframe_requests(sender: RTCRtpSender, request: Callable[[str], None]) -> None:
    """Make a viewer's PLI/FIR reach the camera (through the rate-limited requester)."""
    if not hasattr(sender, "_send_keyframe"):
        raise AiortcInternalsChanged("RTCRtpSender has no _send_keyframe")
    sender._send_keyframe = lambda: request("viewer")  # type: ignore[method-assign]
