"""A worker process of `bench.fanout`: K real aiortc WHEP viewers of one camera, driven over stdin/stdout.

The viewers run here rather than in the benchmark's own process so that decoding them does not share one event
loop with the measurement, and so that several workers can spread the decoding over the machine's cores.

Protocol: one JSON object per line. The worker logs in and prints `{"type": "hello"}`, then reads commands:

- `{"cmd": "open"}`: open K viewers at once (each its own recvonly RTCPeerConnection, decoding every frame and
  reading its capture stamp); print `{"type": "ready", "opened": k, "first_frame_ms": [...]}` once each has its
  first decoded frame or `--first-frame-timeout` has passed (a viewer without one reports null).
- `{"cmd": "report", "start": t0, "end": t1}`: print one `{"type": "viewer", ...}` line per viewer with the frames
  it received between the Unix times t0 and t1, then `{"type": "done"}`.
- `{"cmd": "close"}`: hang up and close the viewers, print `{"type": "closed"}`; `open` works again after it.
- `{"cmd": "stop"}`, end of input, SIGINT or SIGTERM: hang up and close every viewer, then exit.

Everything else the worker has to say goes to stderr. It also exits by itself after `--max-seconds`.

    python -m bench.fanout_viewer --hub URL --viewers K [--camera front-door] [--max-seconds 600]
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
from typing import Any

from porchlight_rtc.ice import enable_loopback
from tests.conftest import PASSWORDS
from tests.support.client import Api, Viewer

OFFICER = "olivia"
CLOSE_TIMEOUT = 5.0


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


async def open_viewer(viewer: Viewer, index: int, timeout: float) -> float | None:
    """Start watching; ms from the WHEP request (offer, POST) to the first decoded frame, None if none came."""
    began = time.perf_counter()
    status = await asyncio.wait_for(viewer.watch(case=f"BENCH-{index}", reason="benchmark"), timeout)
    if status != 201:
        print(f"viewer {index}: WHEP answered {status}: {viewer.error}", file=sys.stderr)
        return None
    remaining = max(0.0, timeout - (time.perf_counter() - began))
    try:
        await asyncio.wait_for(viewer.new_frame.wait(), remaining)
    except TimeoutError:
        print(f"viewer {index}: no frame within {timeout:.0f}s", file=sys.stderr)
        return None
    return (time.perf_counter() - began) * 1000


def viewer_report(viewer: Viewer, first_ms: float | None, start: float, end: float) -> dict[str, Any]:
    """What one viewer received between the Unix times `start` and `end`."""
    window = [frame for frame in viewer.frames if start <= frame.received_at < end]
    latency = [frame.received_at * 1000 - frame.stamp_ms for frame in window if frame.stamp_ms is not None]
    seconds = end - start
    return {
        "type": "viewer",
        "frames": len(window),
        "fps": len(window) / seconds if seconds > 0 else 0.0,
        "unstamped": len(window) - len(latency),
        "latency_p50_ms": statistics.median(latency) if latency else None,
        "latency_p95_ms": percentile(latency, 0.95),
        "first_frame_ms": first_ms,
        "latency_ms": [round(value, 1) for value in latency],
    }


async def read_commands(queue: asyncio.Queue[dict[str, Any]]) -> None:
    """Feed stdin's JSON lines into `queue`; end of input becomes a stop command."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        with contextlib.suppress(ValueError):
            await queue.put(json.loads(line))
    await queue.put({"cmd": "stop"})


async def serve(hub: str, camera: str, count: int, first_frame_timeout: float) -> None:
    """Log in, then answer commands until told to stop; viewers are always closed on the way out."""
    enable_loopback()
    commands: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, commands.put_nowait, {"cmd": "stop"})
    reader = asyncio.create_task(read_commands(commands))
    api = Api(hub)
    viewers: list[Viewer] = []
    first_ms: list[float | None] = []
    try:
        await asyncio.wait_for(api.login(OFFICER, PASSWORDS[OFFICER]), 30)
        emit({"type": "hello"})
        while (command := await commands.get()).get("cmd") != "stop":
            if command.get("cmd") == "open" and not viewers:
                viewers = [Viewer(api, camera) for _ in range(count)]
                first_ms = list(
                    await asyncio.gather(*(open_viewer(v, i, first_frame_timeout) for i, v in enumerate(viewers)))
                )
                opened = sum(1 for viewer in viewers if viewer.status == 201)
                emit({"type": "ready", "opened": opened, "first_frame_ms": first_ms})
            elif command.get("cmd") == "report":
                start, end = float(command["start"]), float(command["end"])
                for viewer, first in zip(viewers, first_ms, strict=True):
                    emit(viewer_report(viewer, first, start, end))
                emit({"type": "done"})
            elif command.get("cmd") == "close":
                await close_viewers(viewers)
                viewers, first_ms = [], []
                emit({"type": "closed"})
    finally:
        await close_viewers(viewers)
        await api.close()
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader


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
    parser.add_argument("--first-frame-timeout", type=float, default=30.0)
    parser.add_argument("--max-seconds", type=float, default=600.0, help="exit by then whatever happens")
    args = parser.parse_args()

    async def bounded() -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                serve(args.hub, args.camera, args.viewers, args.first_frame_timeout), args.max_seconds
            )

    asyncio.run(bounded())


if __name__ == "__main__":
    main()
