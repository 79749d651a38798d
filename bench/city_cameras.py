"""A worker process of `bench.city`: many light camera agents in one process, driven over stdin/stdout.

Each camera holds the real control WebSocket (`hub/media/control.py`'s protocol, as `device_agent` speaks it) with
its own device token, answers `masks` with `masks_applied` (the hub forwards nothing of a camera until its agent
has confirmed its owner's masks) and reports its `state`. Asked to `publish`, it opens a WHIP session with aiortc
(`device_agent.whip.WhipPublisher`) and sends a stream encoded once, before the run, by `encode_stream`: 640x480 at
15 fps, VP8 or H264, one keyframe then delta frames, replayed from the start in a loop. Its track returns `av.Packet`s,
which aiortc packetizes without encoding, with fresh timestamps; a keyframe request from the hub (RTCP PLI) makes
it restart from the keyframe. Told to `stop`, it ends the WHIP session. An idle camera holds only its WebSocket.

Capture stamps: the pictures are encoded before the run, so they cannot carry the wall time they are sent at. Each
carries its index in the loop instead (`device_agent.stamp`'s blocks, read by a decoding viewer), and each camera
notes the Unix time it handed every frame to aiortc (its "capture" time: no frame of it exists before) with the
frame's timestamp. The benchmark joins a probe's decoded frames (index, RTP timestamp, time) with these sends:
the hub forwards timestamps shifted by one offset per view, which the most common difference names; a frame's
send is then the one with its timestamp (see `bench.city.capture_times`).

Protocol: one JSON object per line. The worker loads the stream, prints `{"type": "ready"}` and waits for
`{"cmd": "connect"}` (so that it can start while the benchmark measures the hub without cameras); then it connects
every camera of its `--cameras-file` (a JSON object, camera id to device token) and prints `{"type": "hello",
"connected": n}` once every one has been greeted by the hub, then reads commands:

- `{"cmd": "sends", "cameras": [...], "start": t0, "end": t1}`: one `{"type": "sends", "camera": id, "sends":
  [[index, pts, unix_time], ...]}` line per camera (its sends within [t0, t1); pts in 90 kHz ticks from the
  publication's start), then `{"type": "done"}`;
- `{"cmd": "stats"}`: `{"type": "stats", "publishes": n, "stops": n, "publishing": n, "connected": n,
  "failures": n, "lost": n}` (WHIP sessions opened and ended so far, open now, cameras on their control channel,
  WHIP offers that failed, control channels lost or refused and tried again);
- `{"cmd": "stop"}`, end of input, SIGINT or SIGTERM: end every WHIP session, close every WebSocket, exit.

    python -m bench.city_cameras --hub URL --cameras-file FILE --stream FILE [--codec vp8|h264] [--max-seconds 900]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import struct
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, cast

import aiohttp
import av
import numpy as np
from aiortc import MediaStreamTrack, RTCConfiguration
from aiortc.mediastreams import MediaStreamError
from av.video.codeccontext import VideoCodecContext

from bench.fanout_viewer import command_queue, emit
from device_agent import control
from device_agent.endpoints import control_url
from device_agent.sources import SyntheticSource
from device_agent.stamp import stamp_frame
from device_agent.whip import Codec, WhipError, WhipPublisher
from porchlight_rtc.ice import enable_loopback

log = logging.getLogger(__name__)

WIDTH, HEIGHT, FPS = 640, 480, 15
LOOP_FRAMES = 150  # 10 s at 15 fps: one keyframe, then delta frames
BITRATE = 500_000  # aiortc's own encoder's starting bitrate, as the real agent sends
NOISE = 12  # +- grey levels of grain: enough that the encoder spends about BITRATE
TIME_BASE = Fraction(1, 90000)
TICKS_PER_FRAME = 90000 // FPS
SEND_LOG_SECONDS = 120.0  # each camera's sends are kept this long (the benchmark asks for its window after it)
HEARTBEAT = 10.0  # as device_agent's control channel
CONNECTS_AT_ONCE = 50  # WebSocket handshakes in flight per worker
CONNECT_TIMEOUT = aiohttp.ClientTimeout(total=None, connect=30, sock_connect=30)
_HEADER = struct.Struct("!IB")  # frame length, keyframe flag


def _pictures(count: int) -> Iterator[np.ndarray]:
    """The synthetic agent's moving test pattern, each picture stamped with its index in the loop."""
    source = SyntheticSource(WIDTH, HEIGHT, "city")
    noise = np.random.default_rng(1)
    loop = asyncio.new_event_loop()
    try:
        for index in range(count):
            image = loop.run_until_complete(source.read())
            # Grain below the stamp, as a real camera's sensor has: without it the pattern compresses to a
            # fraction of a real camera's bitrate (and of its packets per frame).
            grain = noise.integers(-NOISE, NOISE + 1, size=image[HEIGHT // 4 :].shape, dtype=np.int16)
            image[HEIGHT // 4 :] = np.clip(image[HEIGHT // 4 :] + grain, 0, 255).astype(np.uint8)
            stamp_frame(image, index)  # over the source's wall-time stamp: the index is what a probe reads
            yield image
    finally:
        loop.close()


def encode_stream(codec: Codec, path: Path, frames: int = LOOP_FRAMES) -> None:
    """Encode `frames` pictures once (a keyframe, then delta frames only) and write them to `path`."""
    name = {"vp8": "libvpx", "h264": "libx264"}[codec]
    context = cast(VideoCodecContext, av.CodecContext.create(name, "w"))
    context.width, context.height, context.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    context.time_base = Fraction(1, FPS)
    context.framerate = Fraction(FPS, 1)
    context.bit_rate = BITRATE
    context.gop_size = frames + 1  # one keyframe per loop; the hub asks for more by PLI, which restarts the loop
    if codec == "vp8":
        context.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    else:
        # As aiortc's own H264 encoder: Constrained Baseline, no B-frames, parameter sets before each IDR.
        context.options = {"profile": "baseline", "level": "31", "tune": "zerolatency", "preset": "veryfast"}
    packets: list[av.Packet] = []
    for index, image in enumerate(_pictures(frames)):
        frame = av.VideoFrame.from_ndarray(image, format="bgr24").reformat(format="yuv420p")
        frame.pts = index
        packets.extend(context.encode(frame))
    packets.extend(context.encode(None))
    if len(packets) != frames or not packets[0].is_keyframe:
        raise RuntimeError(f"{name} gave {len(packets)} packets for {frames} frames")
    with path.open("wb") as out:
        for packet in packets:
            data = bytes(packet)
            out.write(_HEADER.pack(len(data), int(packet.is_keyframe)) + data)


def load_stream(path: Path) -> list[bytes]:
    """The encoded frames `encode_stream` wrote, in order."""
    blob = path.read_bytes()
    frames, offset = [], 0
    while offset < len(blob):
        length, _ = _HEADER.unpack_from(blob, offset)
        offset += _HEADER.size
        frames.append(blob[offset : offset + length])
        offset += length
    return frames


class ReplayTrack(MediaStreamTrack):
    """A video track that replays pre-encoded frames at 15 fps (aiortc sends `av.Packet`s without encoding)."""

    kind = "video"

    def __init__(self, frames: list[bytes], sends: deque[tuple[int, int, float]]) -> None:
        super().__init__()
        self._frames = frames
        self._sends = sends
        self._index = 0
        self._count = 0
        self._start: float | None = None
        self._restart = False

    def request_keyframe(self) -> None:
        """The hub asked for a keyframe: the next frame is the loop's first (its keyframe)."""
        self._restart = True

    async def recv(self) -> av.Packet:
        """The next encoded frame, paced at 15 fps; its send time is noted against its loop index."""
        if self.readyState != "live":
            raise MediaStreamError("track ended")
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        due = self._start + self._count / FPS
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -1 / FPS:
            self._start = loop.time() - self._count / FPS  # fell behind: resume from now, no burst
        if self.readyState != "live":
            raise MediaStreamError("track ended")
        if self._restart:
            self._index, self._restart = 0, False
        packet = av.Packet(self._frames[self._index])
        packet.pts = self._count * TICKS_PER_FRAME
        packet.time_base = TIME_BASE
        self._sends.append((self._index, packet.pts, time.time()))
        self._index = (self._index + 1) % len(self._frames)
        self._count += 1
        return packet


@dataclass
class Totals:
    """What the worker's cameras did so far."""

    publishes: int = 0
    stops: int = 0
    failures: int = 0
    lost: int = 0  # control channels that ended under a camera, or could not open (each is tried again)


@dataclass
class LightCamera:
    """One camera: its control WebSocket, and a WHIP session while the hub asks for video."""

    camera_id: str
    token: str
    hub: str
    codec: Codec
    frames: list[bytes]
    session: aiohttp.ClientSession
    totals: Totals
    greeted: asyncio.Event = field(default_factory=asyncio.Event)
    sends: deque[tuple[int, int, float]] = field(default_factory=lambda: deque(maxlen=int(SEND_LOG_SECONDS * FPS)))
    publisher: WhipPublisher | None = None
    track: ReplayTrack | None = None
    ws: aiohttp.ClientWebSocketResponse | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # FIFO: messages are obeyed in order
    _jobs: set[asyncio.Task[None]] = field(default_factory=set)

    async def run(self, connecting: asyncio.Semaphore) -> None:
        """Hold the control channel until cancelled (reconnecting after a loss), publishing when asked."""
        headers = {"Authorization": f"Bearer {self.token}"}
        while True:
            try:
                async with connecting:
                    ws = await self.session.ws_connect(
                        control_url(self.hub, self.camera_id), headers=headers, heartbeat=HEARTBEAT
                    )
                async with ws:
                    self.ws = ws
                    await ws.send_str(control.state_message(False))
                    async for message in ws:
                        if message.type is aiohttp.WSMsgType.TEXT:
                            self._obey(str(message.data))
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                log.warning("camera %s: control channel: %s", self.camera_id, type(exc).__name__)
            finally:
                self.ws = None
                await self._stop_publishing()
            self.totals.lost += 1
            await asyncio.sleep(1.0)

    def _obey(self, text: str) -> None:
        try:
            message = control.parse_message(text)
        except control.MalformedMessage:
            return
        match message:
            case control.Hello():
                self.greeted.set()
            case control.Publish():
                self._job(self._start_publishing())
            case control.Stop():
                self._job(self._stop_publishing())
            case control.Masks(version=version):
                # Nothing of this camera leaves unmasked: a replayed stream has no pixels to mask, so confirm.
                self._job(self._send(control.masks_applied_message(version)))
            case control.Snapshot(id=request_id):
                self._job(self._send(control.snapshot_error_message(request_id, "no snapshots in the benchmark")))

    def _job(self, job: Any) -> None:
        task = asyncio.create_task(self._in_order(job))
        self._jobs.add(task)
        task.add_done_callback(self._jobs.discard)

    async def _in_order(self, job: Any) -> None:
        async with self._lock:
            await job

    async def _send(self, text: str) -> None:
        ws = self.ws
        if ws is not None and not ws.closed:
            with contextlib.suppress(aiohttp.ClientError, ConnectionError):
                await ws.send_str(text)

    async def _start_publishing(self) -> None:
        if self.publisher is not None:
            return
        track = ReplayTrack(self.frames, self.sends)
        publisher = WhipPublisher(
            self.hub, self.camera_id, self.token, RTCConfiguration(iceServers=[]), self.codec, session=self.session
        )
        try:
            await publisher.start(track)
        except (WhipError, aiohttp.ClientError, TimeoutError, OSError) as exc:
            track.stop()
            self.totals.failures += 1
            log.warning("camera %s: cannot publish: %s", self.camera_id, exc)
            return
        # aiortc's sender only forces a keyframe out of its encoder; this track has none, so it takes the request.
        # (RTCP reaches the sender only after DTLS, which starts once the answer is set: nothing is missed.)
        pc = publisher._pc
        assert pc is not None
        for sender in pc.getSenders():
            sender._send_keyframe = track.request_keyframe  # type: ignore[method-assign]
        self.publisher, self.track = publisher, track
        self.totals.publishes += 1
        await self._send(control.state_message(True))

    async def _stop_publishing(self) -> None:
        publisher, track = self.publisher, self.track
        if publisher is None or track is None:
            return
        self.publisher = self.track = None
        track.stop()  # not one more frame, even while the DELETE is in flight
        await publisher.stop()
        self.totals.stops += 1
        await self._send(control.state_message(False))

    async def close(self) -> None:
        """End the WHIP session (if any) and every pending job."""
        for job in list(self._jobs):
            job.cancel()
        await asyncio.gather(*self._jobs, return_exceptions=True)
        await self._stop_publishing()

    def sends_between(self, start: float, end: float) -> list[list[float]]:
        """[loop index, pts (90 kHz), unix_time] of every frame sent in [start, end)."""
        return [[index, pts, round(at, 4)] for index, pts, at in self.sends if start <= at < end]


async def serve(hub: str, tokens: dict[str, str], frames: list[bytes], codec: Codec) -> None:
    """Connect every camera, then answer commands until told to stop; everything is closed on the way out."""
    enable_loopback()
    commands, reader = command_queue()
    totals = Totals()
    emit({"type": "ready"})
    while (command := await commands.get()).get("cmd") not in ("connect", "stop"):
        pass
    if command.get("cmd") == "stop":
        reader.cancel()
        return
    # One connection per WebSocket, however many: aiohttp's default pool would hold the 101st back.
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=CONNECT_TIMEOUT) as session:
        cameras = [LightCamera(cid, token, hub, codec, frames, session, totals) for cid, token in tokens.items()]
        connecting = asyncio.Semaphore(CONNECTS_AT_ONCE)
        runs = [asyncio.create_task(camera.run(connecting)) for camera in cameras]
        try:
            await asyncio.gather(*(camera.greeted.wait() for camera in cameras))
            emit({"type": "hello", "connected": len(cameras)})
            by_id = {camera.camera_id: camera for camera in cameras}
            while (command := await commands.get()).get("cmd") != "stop":
                if command.get("cmd") == "sends":
                    start, end = float(command["start"]), float(command["end"])
                    for camera_id in command.get("cameras", []):
                        if camera_id in by_id:
                            emit(
                                {
                                    "type": "sends",
                                    "camera": camera_id,
                                    "sends": by_id[camera_id].sends_between(start, end),
                                }
                            )
                    emit({"type": "done"})
                elif command.get("cmd") == "stats":
                    emit(
                        {
                            "type": "stats",
                            "publishes": totals.publishes,
                            "stops": totals.stops,
                            "failures": totals.failures,
                            "lost": totals.lost,
                            "publishing": sum(1 for camera in cameras if camera.publisher is not None),
                            "connected": sum(1 for camera in cameras if camera.ws is not None),
                        }
                    )
        finally:
            for run in runs:
                run.cancel()
            await asyncio.gather(*runs, return_exceptions=True)
            await asyncio.gather(*(camera.close() for camera in cameras), return_exceptions=True)
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader


def main() -> None:
    """Parse the arguments and serve until stopped or `--max-seconds` have passed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hub", required=True, help="the hub's base URL")
    parser.add_argument("--cameras-file", type=Path, required=True, help="JSON object: camera id to device token")
    parser.add_argument("--stream", type=Path, required=True, help="the frames encode_stream wrote")
    parser.add_argument("--codec", choices=("vp8", "h264"), default="vp8")
    parser.add_argument("--max-seconds", type=float, default=900.0, help="exit by then whatever happens")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    tokens = json.loads(args.cameras_file.read_text(encoding="utf-8"))
    frames = load_stream(args.stream)

    async def bounded() -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(serve(args.hub, tokens, frames, args.codec), args.max_seconds)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(bounded())


if __name__ == "__main__":
    main()
