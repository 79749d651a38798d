"""A worker process of `bench.cluster`: K real aiortc WHEP viewers of one camera on one hub, driven over stdin/stdout.

The same viewers as `bench.fanout_viewer`'s (the first `--probes` decode every frame and read its capture stamp, the
others are tapped: their encoded frames are counted, never decoded), with what the cluster benchmark needs besides:
which hub answered each viewer's WHEP request (its resource URL's origin: a hub that redirects with 307 hands the
viewer to the owning hub, one that relays keeps it), and how each viewer ended after a withdrawal.

Protocol: one JSON object per line. The worker logs in on its hub and prints `{"type": "hello"}`, then reads
commands:

- `{"cmd": "open"}`: open K viewers at once; print `{"type": "ready", "opened": k, "first_frame_ms": [...],
  "decoding": [...], "served_by": [...]}` once each has its first frame (decoded, or a keyframe when tapped) or
  `--first-frame-timeout` has passed; `served_by` is the origin of each viewer's WHEP resource (null if refused).
- `{"cmd": "report", "start": t0, "end": t1}`: one `{"type": "viewer", ...}` line per viewer (as
  `bench.fanout_viewer` prints them) for the Unix times [t0, t1), then `{"type": "done"}`.
- `{"cmd": "ended", "t0": t0, "timeout": s}`: wait (at most `s` seconds) until every viewer has had its `end`
  event and its track has ended, then print one `{"type": "ending", ...}` line per viewer about what it got
  relative to the Unix time t0 (the withdrawal's start; see `ending_report`), then `{"type": "done"}`.
- `{"cmd": "stop"}`, end of input, SIGINT or SIGTERM: hang up and close every viewer, then exit.

    python -m bench.cluster_viewer --hub URL --viewers K [--probes P] [--camera front-door] [--max-seconds 600]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from yarl import URL

from bench.fanout_viewer import Watcher, close_viewers, commanded, emit, open_all, viewer_report, within
from tests.support.client import Viewer


@dataclass
class Ending:
    """When one viewer learnt that its view ended: the Unix times of its `end` event and of its track's end."""

    end_event_at: float | None = None
    track_ended_at: float | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def follow(self, viewer: Viewer) -> None:
        """Note the two times as they happen (from now on)."""

        async def end_event() -> None:
            await viewer.got_end.wait()
            self.end_event_at = time.time()

        async def track_end() -> None:
            await viewer.track_ended.wait()
            self.track_ended_at = time.time()

        self.tasks = [asyncio.create_task(end_event()), asyncio.create_task(track_end())]

    async def wait(self, timeout: float) -> None:
        """Both times noted, or `timeout` seconds passed."""
        await asyncio.wait(self.tasks, timeout=timeout)

    def cancel(self) -> None:
        for task in self.tasks:
            task.cancel()


def origin(location: str | None) -> str | None:
    """The scheme, host and port of a resource URL."""
    return None if location is None else str(URL(location).origin())


def ending_report(watcher: Watcher, ending: Ending, t0: float) -> dict[str, Any]:
    """What one viewer got around a withdrawal that began at the Unix time `t0`, in ms relative to it.

    A probe gives capture times (its decoded frames' stamps): `last_capture_ms` is the newest one minus t0 (negative:
    captured before the withdrawal began) and `frames_after` counts frames captured at or after t0 (must be 0). A
    tapped viewer reads no stamp: `last_arrival_ms` is when its last encoded frame arrived, minus t0 (an upper bound
    on its capture time plus the path's latency), and `frames_after` counts frames that arrived after its `end`
    event. Both give `end_ms` (the `end` event's arrival) and the reason the hub gave.
    """
    viewer = watcher.viewer
    end_reason = viewer.events[-1].get("reason") if viewer.got_end.is_set() and viewer.events else None
    end_at = ending.end_event_at
    row: dict[str, Any] = {
        "type": "ending",
        "decoding": watcher.decoding,
        "end_reason": end_reason,
        "end_ms": None if end_at is None else round((end_at - t0) * 1000, 1),
        "track_ended": ending.track_ended_at is not None,
    }
    if watcher.decoding:
        stamps = viewer.stamped()
        row["last_capture_ms"] = round(max(stamps) - t0 * 1000, 1) if stamps else None
        row["frames_after"] = sum(1 for stamp in stamps if stamp >= t0 * 1000)
    else:
        arrivals = watcher.arrivals
        row["last_arrival_ms"] = round((max(arrivals) - t0) * 1000, 1) if arrivals else None
        row["frames_after"] = sum(1 for at in arrivals if end_at is not None and at > end_at)
    return row


async def serve(hub: str, camera: str, count: int, probes: int, first_frame_timeout: float) -> None:
    """Log in, then answer commands until told to stop; viewers are always closed on the way out."""
    watchers: list[Watcher] = []
    endings: list[Ending] = []
    first_ms: list[float | None] = []
    async with commanded(hub) as (api, commands):
        try:
            while (command := await commands.get()).get("cmd") != "stop":
                if command.get("cmd") == "open" and not watchers:
                    watchers, first_ms = await open_all(api, camera, count, probes, first_frame_timeout)
                    endings = [Ending() for _ in watchers]
                    for watcher, ending in zip(watchers, endings, strict=True):
                        ending.follow(watcher.viewer)
                    emit(
                        {
                            "type": "ready",
                            "opened": sum(1 for watcher in watchers if watcher.viewer.status == 201),
                            "first_frame_ms": first_ms,
                            "decoding": [watcher.decoding for watcher in watchers],
                            "served_by": [origin(watcher.viewer.location) for watcher in watchers],
                        }
                    )
                elif command.get("cmd") == "report":
                    start, end = float(command["start"]), float(command["end"])
                    for watcher, first in zip(watchers, first_ms, strict=True):
                        emit(viewer_report(watcher, first, start, end))
                    emit({"type": "done"})
                elif command.get("cmd") == "ended":
                    t0, timeout = float(command["t0"]), float(command["timeout"])
                    await asyncio.gather(*(ending.wait(timeout) for ending in endings))
                    for watcher, ending in zip(watchers, endings, strict=True):
                        emit(ending_report(watcher, ending, t0))
                    emit({"type": "done"})
        finally:
            for ending in endings:
                ending.cancel()
            await close_viewers([watcher.viewer for watcher in watchers])


def main() -> None:
    """Parse the arguments and serve until stopped or `--max-seconds` have passed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hub", required=True, help="the base URL of the hub the viewers ask")
    parser.add_argument("--camera", default="front-door")
    parser.add_argument("--viewers", type=int, required=True, help="how many viewers this worker opens")
    parser.add_argument("--probes", type=int, default=0, help="how many of them decode; the others are tapped")
    parser.add_argument("--first-frame-timeout", type=float, default=30.0)
    parser.add_argument("--max-seconds", type=float, default=600.0, help="exit by then whatever happens")
    args = parser.parse_args()
    if not 0 <= args.probes <= args.viewers:
        parser.error("--probes must be between 0 and --viewers")

    async def bounded() -> None:
        await within(
            args.max_seconds, serve(args.hub, args.camera, args.viewers, args.probes, args.first_frame_timeout)
        )

    try:
        asyncio.run(bounded())
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
