"""A worker process of `bench.city`: many WHEP views of many cameras, opened and closed on command (churn).

It logs in as the benchmark's officer (`bench.fanout_viewer.commanded`). Most views are tapped at the packet: after
ICE, DTLS and SRTP, each RTP packet of the video is counted below aiortc (`bench.fanout_viewer.divert_rtp`: packets,
payload bytes, a frame at each marker bit, a keyframe at its first packet) and dropped, never parsed, depacketized
or decoded by aiortc, so hundreds of views fit on the rig. Like
a decoder, a tapped view asks for a keyframe (RTCP PLI) for each frame it gets before its first keyframe, and counts
frames only from that keyframe on. A few views are probes (`ProbeViewer`): they decode every frame, read the
loop index stamped in its pixels (see `bench.city_cameras`) and note its RTP timestamp, from which the benchmark
gets each frame's capture time.

Protocol: one JSON object per line. After log-in the worker prints `{"type": "hello"}`, then reads commands:

- `{"cmd": "open", "id": v, "camera": c, "probe": bool}`: open view `v` of camera `c`; prints `{"type": "opened",
  "id": v, "status": http, "reason": ..., "first_frame_ms": ms | null}` once it has its first frame (a keyframe when
  tapped, a decoded frame for a probe) or `--first-frame-timeout` passed; ms count from the WHEP request.
- `{"cmd": "close", "id": v}`: hang up and close the view; prints `{"type": "closed", "id": v}`.
- `{"cmd": "report", "start": t0, "end": t1}`: one `{"type": "view", ...}` line per view this worker opened (see
  `view_report`) for the Unix times [t0, t1), then `{"type": "done"}`.
- `{"cmd": "ending", "ids": [...], "t0": t, "timeout": s}`: wait (at most s) for each view's `end` event from the
  hub, then one `{"type": "ending", ...}` line each (see `ending_report`), then `{"type": "done"}`.
- `{"cmd": "stop"}`, end of input, SIGINT or SIGTERM: hang up and close every view, then exit.

    python -m bench.city_viewers --hub URL [--first-frame-timeout 20] [--max-seconds 900]
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import math
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from aiortc import MediaStreamTrack, RTCRtpReceiver
from aiortc.mediastreams import MediaStreamError

from bench.fanout_viewer import (
    RTP_HEADER,
    close_viewers,
    commanded,
    divert_rtp,
    emit,
    rtp_payload,
    starts_keyframe,
    within,
)
from device_agent.stamp import read_stamp
from hub.media.encoded import release_on_marker, tap_receiver
from tests.support.client import Api, Frame, Viewer


@dataclass
class PacketTap:
    """Counts a receiver's video RTP packets below aiortc (`bench.fanout_viewer.divert_rtp`: unprotected, never
    parsed, queued or depacketized by aiortc)."""

    receiver: RTCRtpReceiver
    codecs: dict[int, str]  # payload type -> codec name (VP8, H264), media codecs only (not RTX)
    packets: int = 0
    payload_bytes: int = 0
    keyframes: int = 0
    plis: int = 0
    # At each frame's end (marker bit), from the first keyframe on: its Unix time and the totals so far.
    frame_ends: list[float] = field(default_factory=list)
    packets_at: list[int] = field(default_factory=list)
    bytes_at: list[int] = field(default_factory=list)
    last_packet_at: float | None = None
    first_keyframe: asyncio.Event = field(default_factory=asyncio.Event)
    _in_keyframe: bool = False
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def count(self, packet: bytes) -> None:
        """One plain RTP packet, on the event loop as its datagram arrives."""
        codec = self.codecs.get(packet[1] & 0x7F) if len(packet) >= RTP_HEADER else None
        if codec is None:
            return  # retransmissions (RTX), padding and unknown payload types
        now = time.time()
        payload = rtp_payload(packet)
        self.packets += 1
        self.payload_bytes += len(payload)
        self.last_packet_at = now
        if starts_keyframe(codec, payload):
            self._in_keyframe = True
        if not packet[1] & 0x80:  # the marker bit: the frame's last packet
            return
        if self._in_keyframe:
            self.keyframes += 1
            self.first_keyframe.set()
            self._in_keyframe = False
        if self.keyframes:
            self.frame_ends.append(now)
            self.packets_at.append(self.packets)
            self.bytes_at.append(self.payload_bytes)
        else:
            self.plis += 1  # a decoder would fail on this frame and ask for a keyframe
            task = asyncio.create_task(self.receiver._send_rtcp_pli(int.from_bytes(packet[8:12], "big")))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def window(self, start: float, end: float) -> tuple[int, int, int]:
        """Frames, packets and payload bytes whose frames ended in [start, end)."""
        low, high = bisect.bisect_left(self.frame_ends, start), bisect.bisect_left(self.frame_ends, end)
        if high <= low:
            return 0, 0, 0
        base_packets = self.packets_at[low - 1] if low else 0
        base_bytes = self.bytes_at[low - 1] if low else 0
        return high - low, self.packets_at[high - 1] - base_packets, self.bytes_at[high - 1] - base_bytes


@dataclass
class ProbeViewer(Viewer):
    """A decoding viewer that also keeps each decoded frame's RTP timestamp (aiortc's frame pts), beside
    `Viewer.frames`."""

    timestamps: list[int | None] = field(default_factory=list)

    async def _read(self, track: Any) -> None:
        try:
            while True:
                frame = await track.recv()
                image = frame.to_ndarray(format="bgr24")
                self.timestamps.append(frame.pts)
                self.frames.append(Frame(time.time(), read_stamp(image)))
                self.new_frame.set()
        except MediaStreamError:
            pass
        finally:
            self.track_ended.set()

    def samples(self, since: float, until: float = math.inf) -> list[list[Any]]:
        """[loop index (None if unreadable), RTP timestamp, Unix time] of the frames decoded in [since, until)."""
        return [
            [frame.stamp_ms, timestamp, round(frame.received_at, 4)]
            for frame, timestamp in zip(self.frames, self.timestamps, strict=True)
            if since <= frame.received_at < until
        ]


@dataclass
class View:
    """One view: a WHEP viewer, tapped or decoding (a probe)."""

    id: str
    camera: str
    probe: bool
    viewer: Viewer
    tap: PacketTap | None = None
    first_frame_ms: float | None = None
    opened_at: float | None = None
    closed_at: float | None = None
    end_at: float | None = None  # when the hub's `end` event arrived
    _end_task: asyncio.Task[None] | None = None

    def attach_tap(self) -> None:
        """Tap the video receiver before it starts (registered before `Viewer.watch` registers its reader)."""

        def on_track(track: MediaStreamTrack) -> None:
            if track.kind != "video":
                return
            transceiver = next(t for t in self.viewer.pc.getTransceivers() if t.receiver.track is track)
            receiver = transceiver.receiver
            codecs = {
                codec.payloadType: codec.name.upper()
                for codec in transceiver._codecs  # the negotiated ones (no public getter)
                if codec.payloadType is not None and codec.name.lower() != "rtx"
            }
            self.tap = PacketTap(receiver, codecs)
            # As bench.fanout_viewer's tapped viewers: whatever reaches aiortc's receiver before the diversion is in
            # place leaves it as an encoded frame, never decoded.
            release_on_marker(receiver)
            tap_receiver(receiver, lambda frame: None)
            divert_rtp(receiver, self.tap.count)

        self.viewer.pc.on("track", on_track)

    def first(self) -> asyncio.Event | None:
        """Set at the first frame (decoded for a probe, a keyframe when tapped); None before the track arrived."""
        if self.probe:
            return self.viewer.new_frame
        return self.tap.first_keyframe if self.tap is not None else None

    def follow_end(self) -> None:
        """Note when the hub's `end` event arrives."""

        async def noted() -> None:
            await self.viewer.got_end.wait()
            self.end_at = time.time()

        self._end_task = asyncio.create_task(noted())

    async def close(self) -> None:
        """Hang up and close (bounded), whatever state it is in."""
        if self._end_task is not None:
            self._end_task.cancel()
        if self.closed_at is None:
            self.closed_at = time.time()
        await close_viewers([self.viewer])


async def open_view(view: View, timeout: float) -> dict[str, Any]:
    """Open `view`; the `opened` line (first frame ms from the WHEP request, None if none came in time)."""
    began = time.perf_counter()
    view.opened_at = time.time()
    if not view.probe:
        view.attach_tap()
    try:
        status = await asyncio.wait_for(view.viewer.watch(case=f"CITY-{view.id}", reason="benchmark"), timeout)
    except (TimeoutError, OSError) as exc:
        return {"type": "opened", "id": view.id, "status": None, "reason": type(exc).__name__, "first_frame_ms": None}
    if status != 201:
        reason = (view.viewer.error or {}).get("reason")
        return {"type": "opened", "id": view.id, "status": status, "reason": reason, "first_frame_ms": None}
    view.follow_end()

    async def first() -> None:
        # The track (and with it the tap) arrives while the answer is set, before `watch` returns.
        event = view.first()
        if event is None:
            raise TimeoutError("no video track in the answer")
        await event.wait()

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(first(), max(0.0, timeout - (time.perf_counter() - began)))
        view.first_frame_ms = round((time.perf_counter() - began) * 1000, 1)
    if view.first_frame_ms is None:
        print(f"view {view.id} of {view.camera}: no first frame within {timeout:.0f}s", file=sys.stderr)
    return {"type": "opened", "id": view.id, "status": 201, "reason": None, "first_frame_ms": view.first_frame_ms}


def view_report(view: View, start: float, end: float) -> dict[str, Any]:
    """What one view received in [start, end): frames, packets and payload bytes (tapped; a probe counts decoded
    frames only), and a probe's decoded frames as [loop index, Unix time] (index null when unreadable)."""
    row: dict[str, Any] = {
        "type": "view",
        "id": view.id,
        "camera": view.camera,
        "probe": view.probe,
        "opened_at": view.opened_at,
        "closed_at": view.closed_at,
        "end_at": view.end_at,
        "first_frame_ms": view.first_frame_ms,
    }
    if view.probe:
        assert isinstance(view.viewer, ProbeViewer)
        row["samples"] = view.viewer.samples(start, end)
        row.update(frames=len(row["samples"]), packets=None, bytes=None, keyframes=None, plis=None)
    else:
        tap = view.tap
        frames, packets, payload = tap.window(start, end) if tap is not None else (0, 0, 0)
        row.update(frames=frames, packets=packets, bytes=payload)
        row.update(keyframes=tap.keyframes if tap else 0, plis=tap.plis if tap else 0)
    return row


def ending_report(view: View, t0: float) -> dict[str, Any]:
    """A view around a withdrawal that began at the Unix time t0: a probe's decoded frames from a second before
    (the benchmark reads their capture times), a tapped view's last packet and packets after its `end` event."""
    row: dict[str, Any] = {
        "type": "ending",
        "id": view.id,
        "camera": view.camera,
        "probe": view.probe,
        "end_at": view.end_at,
        "end_reason": view.viewer.events[-1].get("reason") if view.viewer.got_end.is_set() else None,
    }
    if view.probe:
        assert isinstance(view.viewer, ProbeViewer)
        row["samples"] = view.viewer.samples(t0 - 1)
    else:
        tap = view.tap
        row["last_packet_at"] = tap.last_packet_at if tap is not None else None
        row["frames_after_end"] = (
            0
            if tap is None or view.end_at is None
            else len(tap.frame_ends) - bisect.bisect_right(tap.frame_ends, view.end_at)
        )
    return row


async def serve(hub: str, first_frame_timeout: float) -> None:
    """Log in, then answer commands until told to stop; every view is closed on the way out."""
    views: dict[str, View] = {}
    jobs: set[asyncio.Task[None]] = set()

    def spawn(job: Any) -> None:
        task = asyncio.create_task(job)
        jobs.add(task)
        task.add_done_callback(jobs.discard)

    async def opening(view: View) -> None:
        emit(await open_view(view, first_frame_timeout))

    async def closing(view: View) -> None:
        await view.close()
        emit({"type": "closed", "id": view.id})

    api: Api
    async with commanded(hub) as (api, commands):
        try:
            while (command := await commands.get()).get("cmd") != "stop":
                kind = command.get("cmd")
                if kind == "open":
                    camera = str(command["camera"])
                    probe = bool(command.get("probe"))
                    viewer = ProbeViewer(api, camera) if probe else Viewer(api, camera)
                    view = View(str(command["id"]), camera, probe, viewer)
                    views[view.id] = view
                    spawn(opening(view))
                elif kind == "close" and str(command.get("id")) in views:
                    spawn(closing(views[str(command["id"])]))
                elif kind == "report":
                    start, end = float(command["start"]), float(command["end"])
                    for view in views.values():
                        emit(view_report(view, start, end))
                    emit({"type": "done"})
                elif kind == "ending":
                    chosen = [views[i] for i in map(str, command.get("ids", [])) if i in views]
                    waits = [asyncio.wait_for(view.viewer.got_end.wait(), float(command["timeout"])) for view in chosen]
                    await asyncio.gather(*waits, return_exceptions=True)
                    await asyncio.sleep(0)  # let each view note its end time
                    for view in chosen:
                        emit(ending_report(view, float(command["t0"])))
                    emit({"type": "done"})
        finally:
            for job in list(jobs):
                job.cancel()
            await asyncio.gather(*jobs, return_exceptions=True)
            await asyncio.gather(*(view.close() for view in views.values()), return_exceptions=True)


def main() -> None:
    """Parse the arguments and serve until stopped or `--max-seconds` have passed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hub", required=True, help="the hub's base URL")
    parser.add_argument("--first-frame-timeout", type=float, default=20.0)
    parser.add_argument("--max-seconds", type=float, default=900.0, help="exit by then whatever happens")
    args = parser.parse_args()

    async def bounded() -> None:
        await within(args.max_seconds, serve(args.hub, args.first_frame_timeout))

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(bounded())


if __name__ == "__main__":
    main()
