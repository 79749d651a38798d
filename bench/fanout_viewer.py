"""A worker process of `bench.fanout`: K real aiortc WHEP viewers of one camera, driven over stdin/stdout.

The viewers run here rather than in the benchmark's own process so that they do not share one event loop with
the measurement, and so that several workers can spread them over the machine's cores.

Only the first `--probes` viewers of a worker decode (every frame, reading its capture stamp: they give the
latency samples). The others are tapped: they do the real ICE and DTLS handshakes and keep ICE consent, but each
SRTP packet of their video is taken from the socket, unprotected and counted (`divert_rtp`), never parsed, queued
or depacketized by aiortc; a frame is counted at its marker packet, a key frame recognised from its first packet's
payload header. aiortc's receive path costs a few hundred microseconds per packet: 500 viewers through it would
take more than this 2-core machine and measure the rig instead of the hub. A tapped viewer counts frames only from
the first keyframe it sees (before that, a decoder could show nothing); one that has seen no keyframe at all
reports 0 fps. Like a decoding viewer, it asks for a keyframe (RTCP PLI) for every frame it gets before the first
keyframe: aiortc's decoder fails on such a frame and its receiver then sends a PLI.

Protocol: one JSON object per line. The worker logs in and prints `{"type": "hello"}`, then reads commands:

- `{"cmd": "open", "rate": r}`: open K viewers (each its own recvonly RTCPeerConnection), at once or `r` a second
  when given; print `{"type": "ready", "opened": k, "first_frame_ms": [...], "decoding": [...]}` once each
  decoding viewer has its first decoded frame and each tapped one its first keyframe, or `--first-frame-timeout`
  has passed (a viewer without one reports null); `decoding` says which viewers decode.
- `{"cmd": "report", "start": t0, "end": t1}`: print one `{"type": "viewer", ...}` line per viewer with the frames
  it received between the Unix times t0 and t1, then `{"type": "done"}`.
- `{"cmd": "close"}`: hang up and close the viewers, print `{"type": "closed"}`; `open` works again after it.
- `{"cmd": "stop"}`, end of input, SIGINT or SIGTERM: hang up and close every viewer, then exit.

Everything else the worker has to say goes to stderr. It also exits by itself after `--max-seconds`.

    python -m bench.fanout_viewer --hub URL --viewers K [--probes P] [--camera front-door] [--max-seconds 600]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pylibsrtp
from aiortc import MediaStreamTrack, RTCRtpReceiver, RTCRtpTransceiver
from aiortc.rtp import is_rtcp

from hub.media.encoded import EncodedFrame, release_on_marker, tap_receiver
from porchlight_rtc.ice import enable_loopback
from tests.conftest import PASSWORDS
from tests.support.client import Api, Viewer

OFFICER = "olivia"
CLOSE_TIMEOUT = 5.0
RTP_HEADER = 12
H264_IDR, H264_STAP_A, H264_FU_A = 5, 24, 28


def percentile(samples: list[float], fraction: float) -> float | None:
    """The nearest-rank percentile of `samples` (`fraction` in 0..1), or None when there are none."""
    if not samples:
        return None
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def emit(message: dict[str, Any]) -> None:
    """One protocol line on stdout."""
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def rtp_payload(packet: bytes) -> bytes:
    """An RTP packet's payload: after the fixed header, the CSRCs and a header extension (RFC 3550 5.1, 5.3.1)."""
    offset = RTP_HEADER + 4 * (packet[0] & 0x0F)
    if packet[0] & 0x10 and len(packet) >= offset + 4:
        offset += 4 + 4 * int.from_bytes(packet[offset + 2 : offset + 4], "big")
    end = len(packet) - (packet[-1] if packet[0] & 0x20 else 0)
    return packet[offset:end]


def starts_keyframe(codec_name: str, payload: bytes) -> bool:
    """Whether an RTP payload is the first packet of a key frame (VP8, RFC 7741 4.2 and RFC 6386 9.1) or carries
    the start of an IDR slice (H264, RFC 6184 5.7-5.8). Read from the packet, never depacketized."""
    if not payload:
        return False
    if codec_name == "VP8":
        start, index = payload[0] & 0x10 and payload[0] & 0x07 == 0, 1
        if payload[0] & 0x80 and len(payload) > 1:  # the extension byte: I (picture id), L, T, K
            extension, index = payload[1], 2
            if extension & 0x80 and len(payload) > index:
                index += 2 if payload[index] & 0x80 else 1
            index += (1 if extension & 0x40 else 0) + (1 if extension & 0x30 else 0)
        return bool(start) and len(payload) > index and payload[index] & 0x01 == 0
    if codec_name == "H264":
        kind = payload[0] & 0x1F
        if kind == H264_FU_A:
            return len(payload) > 1 and payload[1] & 0x80 != 0 and payload[1] & 0x1F == H264_IDR
        if kind == H264_STAP_A:
            index = 1
            while index + 2 < len(payload):
                size = int.from_bytes(payload[index : index + 2], "big")
                if payload[index + 2] & 0x1F == H264_IDR:
                    return True
                index += 2 + size
            return False
        return kind == H264_IDR
    return False


def divert_rtp(receiver: RTCRtpReceiver, on_rtp: Callable[[bytes], None]) -> None:
    """Take a viewer's RTP below aiortc: each SRTP datagram, as its socket delivers it, is unprotected with the
    DTLS transport's keys and handed to `on_rtp` (the plain RTP packet), never parsed by aiortc, queued, jittered or
    depacketized. STUN (ICE consent), DTLS and RTCP keep aiortc's path. Call once ICE has gathered (on "track").

    Counting packets this way costs the rig a few microseconds per packet instead of aiortc's whole receive path,
    so one machine can hold hundreds of viewers beside the hub (issue 18 allows such viewers for the bulk).
    """
    dtls = receiver.transport
    for protocol in dtls.transport._connection._protocols:
        original = protocol.datagram_received

        def received(data: bytes, addr: Any, original: Callable[[bytes, Any], None] = original) -> None:
            srtp = dtls._rx_srtp
            if srtp is not None and 127 < data[0] < 192 and not is_rtcp(data):
                try:
                    plain = srtp.unprotect(data)
                except pylibsrtp.Error:
                    return  # as aiortc: a packet that does not authenticate is dropped
                on_rtp(plain)
                return
            original(data, addr)

        protocol.datagram_received = received  # type: ignore[method-assign,assignment]


@dataclass
class Watcher:
    """One viewer of this worker: decoding (a probe) or tapped (encoded frames counted, never decoded)."""

    viewer: Viewer
    decoding: bool
    arrivals: list[float] = field(default_factory=list)  # Unix times of the tapped frames from the first keyframe
    keyframes: int = 0
    plis: int = 0  # keyframe requests sent for frames that came before the first keyframe
    packets: int = 0  # video RTP packets counted below aiortc (tapped viewers)
    lost: int = 0  # gaps in their sequence numbers
    first_keyframe: asyncio.Event = field(default_factory=asyncio.Event)
    receiver: RTCRtpReceiver | None = None
    _requests: set[asyncio.Task[None]] = field(default_factory=set)
    _codecs: dict[int, str] = field(default_factory=dict)  # payload type -> codec name, media codecs only
    _last_sequence: int | None = None
    _keyframe_started: bool = False

    def __post_init__(self) -> None:
        if not self.decoding:
            # Registered before `Viewer.watch` registers its own: both run inside setRemoteDescription, before
            # the receiver starts its decoder thread. The viewer's reader then waits on a track that stays empty.
            self.viewer.pc.on("track", self._tap)

    def _tap(self, track: MediaStreamTrack) -> None:
        if track.kind != "video":
            return
        receiver = next(t.receiver for t in self.viewer.pc.getTransceivers() if t.receiver.track is track)
        # Packets are counted below aiortc (divert_rtp); any that still reach the receiver (none once DTLS is up)
        # come out as encoded frames, never decoded.
        release_on_marker(receiver)
        tap_receiver(receiver, self._deliver)
        divert_rtp(receiver, self._count)
        self.receiver = receiver

    def _deliver(self, frame: EncodedFrame) -> None:
        # Called on the event loop by the receiver's RTP handler.
        self._frame(frame.keyframe, None)

    def _count(self, packet: bytes) -> None:
        # Called on the event loop by the socket's datagram handler, with one plain RTP packet.
        if not self._codecs:
            self._codecs = self._media_codecs()
        codec = self._codecs.get(packet[1] & 0x7F)
        if codec is None or len(packet) < RTP_HEADER:
            return  # a retransmission (RTX) or padding: not the camera's video as sent
        self.packets += 1
        sequence = int.from_bytes(packet[2:4], "big")
        if self._last_sequence is not None:
            gap = (sequence - self._last_sequence - 1) & 0xFFFF
            self.lost += gap if gap < 0x8000 else 0  # a late (reordered) packet is not a gap
        self._last_sequence = sequence
        if starts_keyframe(codec, rtp_payload(packet)):
            self._keyframe_started = True
        if packet[1] & 0x80:  # the marker: the frame's last packet
            self._frame(self._keyframe_started, int.from_bytes(packet[8:12], "big"))
            self._keyframe_started = False

    def _media_codecs(self) -> dict[int, str]:
        transceiver: RTCRtpTransceiver | None = next(
            (t for t in self.viewer.pc.getTransceivers() if t.receiver is self.receiver), None
        )
        codecs = transceiver._codecs if transceiver is not None else []
        return {
            codec.payloadType: codec.name.upper()
            for codec in codecs
            if codec.payloadType is not None and codec.name.lower() != "rtx"
        }

    def _frame(self, keyframe: bool, ssrc: int | None) -> None:
        if keyframe:
            self.keyframes += 1
            self.first_keyframe.set()
        if self.keyframes:
            self.arrivals.append(time.time())
        else:
            self._request_keyframe(ssrc)

    def _request_keyframe(self, ssrc: int | None) -> None:
        """What aiortc does when its decoder fails on a frame: one PLI to the sender."""
        receiver = self.receiver
        if receiver is None:
            return
        if ssrc is None:
            sources = receiver.getSynchronizationSources()
            if not sources:
                return
            ssrc = sources[0].source
        self.plis += 1
        task = asyncio.create_task(receiver._send_rtcp_pli(ssrc))
        self._requests.add(task)
        task.add_done_callback(self._requests.discard)

    def first(self) -> asyncio.Event:
        """Set once this viewer has a first frame: decoded (a probe) or a keyframe (tapped)."""
        return self.viewer.new_frame if self.decoding else self.first_keyframe


async def open_viewer(watcher: Watcher, index: int, timeout: float) -> float | None:
    """Start watching; ms from the WHEP request (offer, POST) to the first frame, None if none came.

    The first frame is the first decoded one for a decoding viewer, the first keyframe for a tapped one.
    """
    began = time.perf_counter()
    viewer = watcher.viewer
    try:
        status = await asyncio.wait_for(viewer.watch(case=f"BENCH-{index}", reason="benchmark"), timeout)
    except TimeoutError:
        print(f"viewer {index}: WHEP answered nothing within {timeout:.0f}s", file=sys.stderr)
        return None
    if status != 201:
        print(f"viewer {index}: WHEP answered {status}: {viewer.error}", file=sys.stderr)
        return None
    remaining = max(0.0, timeout - (time.perf_counter() - began))
    try:
        await asyncio.wait_for(watcher.first().wait(), remaining)
    except TimeoutError:
        what = "decoded frame" if watcher.decoding else "keyframe"
        state = f"connection {viewer.pc.connectionState}, {watcher.plis} frame(s) before any keyframe"
        print(f"viewer {index}: no {what} within {timeout:.0f}s ({state})", file=sys.stderr)
        return None
    return (time.perf_counter() - began) * 1000


def viewer_report(watcher: Watcher, first_ms: float | None, start: float, end: float) -> dict[str, Any]:
    """What one viewer received between the Unix times `start` and `end`.

    A decoding viewer's frames are the ones it decoded, each with its latency when it carried a capture stamp;
    a tapped viewer's are the encoded frames it received (no latency: nothing is decoded). A tapped viewer that
    has seen no keyframe since it opened did not get a usable stream: its fps is 0.
    """
    seconds = end - start
    if watcher.decoding:
        window = [frame for frame in watcher.viewer.frames if start <= frame.received_at < end]
        frames = len(window)
        latency = [frame.received_at * 1000 - frame.stamp_ms for frame in window if frame.stamp_ms is not None]
        unstamped = frames - len(latency)
        keyframes = plis = None
    else:
        frames = sum(1 for arrived in watcher.arrivals if start <= arrived < end)
        latency, unstamped, keyframes, plis = [], 0, watcher.keyframes, watcher.plis
    packets, lost = (None, None) if watcher.decoding else (watcher.packets, watcher.lost)
    usable = watcher.decoding or watcher.keyframes > 0
    return {
        "type": "viewer",
        "decoding": watcher.decoding,
        "frames": frames,
        "fps": frames / seconds if seconds > 0 and usable else 0.0,
        "keyframes": keyframes,
        "plis": plis,
        "packets": packets,  # since it opened (tapped viewers)
        "lost": lost,
        "unstamped": unstamped,
        "latency_p50_ms": statistics.median(latency) if latency else None,
        "latency_p95_ms": percentile(latency, 0.95),
        "first_frame_ms": first_ms,
        "latency_ms": [round(value, 1) for value in latency],
    }


async def read_commands(queue: asyncio.Queue[dict[str, Any]]) -> None:
    """Feed stdin's JSON lines into `queue`; end of input becomes a stop command."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        with contextlib.suppress(ValueError):
            await queue.put(json.loads(line))
    await queue.put({"cmd": "stop"})


def command_queue() -> tuple[asyncio.Queue[dict[str, Any]], asyncio.Task[None]]:
    """A worker's commands: stdin's JSON lines, with end of input, SIGINT and SIGTERM as a stop command; and the
    task reading them, for the caller to cancel on the way out."""
    commands: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, commands.put_nowait, {"cmd": "stop"})
    return commands, asyncio.create_task(read_commands(commands))


async def within(seconds: float, work: Awaitable[None]) -> None:
    """Run a worker's `work` until it ends or its own deadline, `seconds`, passes. A TimeoutError from inside the
    work is raised, with its traceback, rather than taken for the deadline (a worker once exited silently so)."""
    try:
        async with asyncio.timeout(seconds) as deadline:
            await work
    except TimeoutError:
        if not deadline.expired():
            raise


@contextlib.asynccontextmanager
async def commanded(hub: str) -> AsyncIterator[tuple[Api, asyncio.Queue[dict[str, Any]]]]:
    """Logged in on `hub` as the benchmark's officer, with stdin's commands in a queue (end of input, SIGINT and
    SIGTERM become a stop command); prints `{"type": "hello"}` once in. Closed and stopped on the way out."""
    enable_loopback()
    commands, reader = command_queue()
    api = Api(hub)
    try:
        await asyncio.wait_for(api.login(OFFICER, PASSWORDS[OFFICER]), 30)
        emit({"type": "hello"})
        yield api, commands
    finally:
        await api.close()
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader


async def open_all(
    api: Api, camera: str, count: int, probes: int, first_frame_timeout: float, rate: float | None = None
) -> tuple[list[Watcher], list[float | None]]:
    """`count` viewers of `camera` (the first `probes` decode) and each one's time to first frame: opened at once, or
    `rate` a second (one every 1/rate seconds, each timed from its own start)."""
    watchers = [Watcher(Viewer(api, camera), decoding=index < probes) for index in range(count)]

    async def paced(watcher: Watcher, index: int) -> float | None:
        if rate:
            await asyncio.sleep(index / rate)
        return await open_viewer(watcher, index, first_frame_timeout)

    first_ms = await asyncio.gather(*(paced(watcher, index) for index, watcher in enumerate(watchers)))
    return watchers, list(first_ms)


async def serve(hub: str, camera: str, count: int, probes: int, first_frame_timeout: float) -> None:
    """Log in, then answer commands until told to stop; viewers are always closed on the way out."""
    watchers: list[Watcher] = []
    first_ms: list[float | None] = []
    async with commanded(hub) as (api, commands):
        try:
            while (command := await commands.get()).get("cmd") != "stop":
                if command.get("cmd") == "open" and not watchers:
                    rate = float(command["rate"]) if command.get("rate") else None
                    watchers, first_ms = await open_all(api, camera, count, probes, first_frame_timeout, rate)
                    opened = sum(1 for watcher in watchers if watcher.viewer.status == 201)
                    decoding = [watcher.decoding for watcher in watchers]
                    emit({"type": "ready", "opened": opened, "first_frame_ms": first_ms, "decoding": decoding})
                elif command.get("cmd") == "report":
                    start, end = float(command["start"]), float(command["end"])
                    for watcher, first in zip(watchers, first_ms, strict=True):
                        emit(viewer_report(watcher, first, start, end))
                    emit({"type": "done"})
                elif command.get("cmd") == "close":
                    await close_viewers([watcher.viewer for watcher in watchers])
                    watchers, first_ms = [], []
                    emit({"type": "closed"})
        finally:
            await close_viewers([watcher.viewer for watcher in watchers])


async def close_viewers(viewers: list[Viewer]) -> None:
    """Hang up (bounded) and close every viewer."""

    async def close_one(viewer: Viewer) -> None:
        if viewer.location is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(viewer.hang_up(), CLOSE_TIMEOUT)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(viewer.close(), CLOSE_TIMEOUT)

    await asyncio.gather(*(close_one(viewer) for viewer in viewers))


def main() -> None:
    """Parse the arguments and serve until stopped or `--max-seconds` have passed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hub", required=True, help="the hub's base URL")
    parser.add_argument("--camera", default="front-door")
    parser.add_argument("--viewers", type=int, required=True, help="how many viewers this worker opens")
    parser.add_argument(
        "--probes", type=int, default=None, help="how many of them decode (default: all); the others are tapped"
    )
    parser.add_argument("--first-frame-timeout", type=float, default=30.0)
    parser.add_argument("--max-seconds", type=float, default=600.0, help="exit by then whatever happens")
    args = parser.parse_args()
    probes = args.viewers if args.probes is None else args.probes
    if not 0 <= probes <= args.viewers:
        parser.error("--probes must be between 0 and --viewers")

    async def bounded() -> None:
        await within(args.max_seconds, serve(args.hub, args.camera, args.viewers, probes, args.first_frame_timeout))

    asyncio.run(bounded())


if __name__ == "__main__":
    main()
