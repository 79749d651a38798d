"""Join load: many officers log in at once, then many viewers join at once, on one hub with its default limits.

A hub process on loopback (embedded SQLite store, the hub's default `[limits]`), seeded like the demo (its three
cameras, each with a synthetic agent process; only the demo's opt-in, "front-door", unless `--all-cameras` opts
the other two in as well) plus `--officers` officer accounts of metro-pd. Steps:

1. `--officers` officers log in at once (each its own HTTP client, so its own connection): successes, and p50
   and p95 of the log-in call's duration.
2. Every camera the officers may watch gets one "keeper" viewer (olivia) so it is publishing; then `--viewers`
   viewers, each a different logged-in officer, join at once, spread round-robin over those cameras: successes,
   and p50 and p95 of the time from the start of the offer POST to the first decoded frame. Viewers are real
   aiortc peers in this process; after its first frame a viewer only counts frames (aiortc still decodes them).

Baseline, measured in the same run (the median of `--baseline-runs` tries, each alone): one officer logging in,
and one viewer joining a camera that is already publishing (offer POST to first decoded frame). The ratios are
the load step's p50 and p95 over that baseline.

By default every request comes from 127.0.0.1, as from officers behind one NAT: all log-ins count against one
address's `login_per_source` (60/minute by default; olivia's, the baseline's and the load step's together must
fit, or the excess is refused with 429, counted and named in the output), and the hub checks one address's
passwords one at a time (`Throttle.turn`), so the load step's log-ins are served one after another by design.
`--sources N` spreads the officers (their log-ins and later their offers) over N loopback addresses
(127.0.0.1, 127.0.0.2, ...), as officers on their own connections.

    python -m bench.join_load [--officers 50] [--viewers 20] [--baseline-runs 3] [--all-cameras] [--sources 1]
                              [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import statistics
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.fanout_viewer import percentile
from bench.hub_procs import OFFICER_PASSWORD, LightViewer, TimedApi, all_agents, officer_name, seed_hub
from bench.output import run_and_report
from hub.demo import CAMERAS, OPTED_IN
from porchlight_rtc.ice import enable_loopback
from tests.conftest import PASSWORDS
from tests.support.procs import Hub

KEEPER = "olivia"
FIRST_FRAME_TIMEOUT = 30.0
JOIN_GAP = 1.0  # before each join alone and the load step: longer than the hub's keyframe request interval (0.5 s)
DEFAULT_LOGIN_PER_SOURCE = 60  # the hub's default `limits.login_per_source`, per minute


@dataclass(frozen=True)
class Options:
    officers: int
    viewers: int
    baseline_runs: int
    all_cameras: bool
    sources: int = 1


@dataclass
class Attempt:
    """One log-in or one join: its duration in seconds when it succeeded, else why it failed."""

    seconds: float | None
    failure: str | None = None


async def _login(api: TimedApi, username: str, password: str) -> Attempt:
    try:
        status, seconds = await api.try_login(username, password)
    except Exception as exc:  # a connection refused or reset under load is a failure to count, not a crash
        return Attempt(None, exc.__class__.__name__)
    return Attempt(seconds) if status == 200 else Attempt(None, f"HTTP {status}")


async def _join(viewer: LightViewer, api: TimedApi) -> Attempt:
    """Offer, then wait (bounded) for the first decoded frame; the time from the offer POST to that frame."""
    try:
        status = await viewer.watch(case="BENCH-JOIN", reason="join load benchmark")
    except Exception as exc:
        return Attempt(None, exc.__class__.__name__)
    if status != 201:
        reason = (viewer.error or {}).get("reason", "")
        return Attempt(None, f"HTTP {status} {reason}".strip())
    try:
        first = await viewer.first_frame(FIRST_FRAME_TIMEOUT)
    except TimeoutError:
        return Attempt(None, f"no frame in {FIRST_FRAME_TIMEOUT:.0f} s")
    assert api.posted_at is not None
    return Attempt(first - api.posted_at)


async def _leave(viewer: LightViewer) -> None:
    """Hang up (when the session was made) and close the peer connection."""
    with contextlib.suppress(Exception):
        if viewer.location is not None:
            await viewer.hang_up()
    await viewer.close()


def _figures(attempts: list[Attempt], baseline: list[Attempt]) -> dict[str, Any]:
    times = [a.seconds * 1000 for a in attempts if a.seconds is not None]
    alone = [a.seconds * 1000 for a in baseline if a.seconds is not None]
    base = statistics.median(alone) if alone else None
    p50, p95 = percentile(times, 0.5), percentile(times, 0.95)
    return {
        "ok": len(times),
        "of": len(attempts),
        "p50_ms": p50,
        "p95_ms": p95,
        "baseline_ms": base,
        "baseline_samples_ms": alone,
        "p50_ratio": p50 / base if p50 is not None and base else None,
        "p95_ratio": p95 / base if p95 is not None and base else None,
        "failures": dict(Counter(a.failure for a in attempts + baseline if a.failure is not None)),
    }


async def _cameras(api: TimedApi) -> list[str]:
    """The cameras an officer may watch now, in the demo's order."""
    status, body = await api.call("GET", "/api/cameras")
    if status != 200:
        raise RuntimeError(f"GET /api/cameras answered {status}")
    admitted = {camera["id"] for camera in body["cameras"]}
    return [camera for camera, _, _ in CAMERAS if camera in admitted]


async def measure(hub: Hub, options: Options) -> dict[str, Any]:
    """Both steps and their baselines on a running hub whose agents are connected."""
    keeper = TimedApi(hub.url)
    apis: list[TimedApi] = []
    viewers: list[LightViewer] = []
    try:
        # The keeper's log-in also warms the hub's log-in path (its first argon2 verification).
        if (await _login(keeper, KEEPER, PASSWORDS[KEEPER])).seconds is None:
            raise RuntimeError(f"{KEEPER} could not log in")
        cameras = await _cameras(keeper)
        if not cameras:
            raise RuntimeError("no camera is opted in")

        login_alone = []
        for index in range(options.baseline_runs):
            api = TimedApi(hub.url)
            try:
                login_alone.append(await _login(api, officer_name(index % options.officers), OFFICER_PASSWORD))
            finally:
                await api.close()
        apis = [TimedApi(hub.url, source=source_address(index % options.sources)) for index in range(options.officers)]
        logins = await asyncio.gather(
            *(_login(api, officer_name(index), OFFICER_PASSWORD) for index, api in enumerate(apis))
        )
        logged_in = [api for api, attempt in zip(apis, logins, strict=True) if attempt.seconds is not None]
        if not logged_in:
            raise RuntimeError("no officer could log in")

        # Keepers: every camera publishing before anyone is timed.
        for camera in cameras:
            kept = LightViewer(keeper, camera)
            viewers.append(kept)
            if (await _join(kept, keeper)).seconds is None:
                raise RuntimeError(f"the keeper could not watch {camera}")

        join_alone = []
        for index in range(options.baseline_runs):
            # A new viewer waits for a keyframe; the hub asks a camera for one at most every 0.5 s, so a join
            # right after another one's would wait for the previous request's slot.
            await asyncio.sleep(JOIN_GAP)
            api = logged_in[index % len(logged_in)]
            alone = LightViewer(api, cameras[index % len(cameras)])
            try:
                join_alone.append(await _join(alone, api))
            finally:
                await _leave(alone)
        officers = [logged_in[index % len(logged_in)] for index in range(options.viewers)]
        joiners = [(LightViewer(api, cameras[index % len(cameras)]), api) for index, api in enumerate(officers)]
        viewers.extend(viewer for viewer, _ in joiners)
        await asyncio.sleep(JOIN_GAP)
        joins = await asyncio.gather(*(_join(viewer, api) for viewer, api in joiners))
    finally:
        await asyncio.gather(*(_leave(viewer) for viewer in viewers))
        for api in [keeper, *apis]:
            await api.close()
    return {
        "officers": options.officers,
        "viewers": options.viewers,
        "cameras": cameras,
        "baseline_runs": options.baseline_runs,
        "sources": options.sources,
        # 127.0.0.1 also serves the keeper's and the baseline's log-ins.
        "logins_from_one_address": 1 + options.baseline_runs + math.ceil(options.officers / options.sources),
        "login": _figures(list(logins), login_alone),
        "first_frame": _figures(list(joins), join_alone),
    }


async def run(options: Options) -> dict[str, Any]:
    enable_loopback()
    started = time.monotonic()
    extra = [camera for camera, _, _ in CAMERAS if camera != OPTED_IN] if options.all_cameras else []
    with tempfile.TemporaryDirectory(prefix="porchlight-bench-") as tmp:
        hub = Hub(Path(tmp))
        hub.write_config()
        seeded = await seed_hub(hub, options.officers, opt_in=extra)
        await hub.start()
        try:
            async with all_agents(hub, seeded, Path(tmp)):
                result = await measure(hub, options)
        finally:
            await hub.stop()
    result["seconds"] = time.monotonic() - started
    return result


def source_address(index: int) -> str:
    """The `index`-th loopback address the officers connect from (127.0.0.1 first)."""
    return f"127.0.{index // 250}.{index % 250 + 1}"


def _addresses(count: int) -> str:
    return "one address (127.0.0.1)" if count == 1 else f"{count} loopback addresses"


def _num(value: float | None, spec: str, width: int) -> str:
    return f"{value:>{width}{spec}}" if value is not None else f"{'-':>{width}}"


def report(result: dict[str, Any]) -> None:
    cameras = ", ".join(result["cameras"])
    print(
        f"join load: {result['officers']} officers log in at once, from {_addresses(result['sources'])}, then "
        f"{result['viewers']} viewers join at once over {len(result['cameras'])} camera(s) ({cameras}), each already "
        "publishing"
    )
    login, frame = result["login"], result["first_frame"]
    print(
        f"baseline (same run, median of {result['baseline_runs']}, each alone): log-in "
        f"{_num(login['baseline_ms'], '.0f', 0)} ms; time to first frame {_num(frame['baseline_ms'], '.0f', 0)} ms"
    )
    print(f"{'step':<12} {'ok':>7} {'p50 ms':>8} {'p95 ms':>8} {'p50/base':>9} {'p95/base':>9}")
    for name, row in (("log-in", login), ("first frame", frame)):
        print(
            f"{name:<12} {row['ok']:>3}/{row['of']:<3} {_num(row['p50_ms'], '.0f', 8)} {_num(row['p95_ms'], '.0f', 8)} "
            f"{_num(row['p50_ratio'], '.2f', 9)} {_num(row['p95_ratio'], '.2f', 9)}"
        )
    for name, row in (("log-in", login), ("first frame", frame)):
        for failure, count in sorted(row["failures"].items()):
            print(f"  {name} failed {count}x: {failure}")
    total = result["logins_from_one_address"]
    if total > DEFAULT_LOGIN_PER_SOURCE:
        print(
            f"note: {total} log-ins from one address in this run; the hub's default login_per_source allows "
            f"{DEFAULT_LOGIN_PER_SOURCE} a minute"
        )
    print(f"({result['seconds']:.0f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--officers", type=int, default=50, help="officers logging in at once")
    parser.add_argument("--viewers", type=int, default=20, help="viewers joining at once")
    parser.add_argument("--baseline-runs", type=int, default=3, help="log-ins and joins alone, for the baseline")
    parser.add_argument("--all-cameras", action="store_true", help="opt in every demo camera, not only front-door")
    parser.add_argument(
        "--sources", type=int, default=1, help="loopback addresses the officers connect from (default: 127.0.0.1)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if min(args.officers, args.viewers, args.baseline_runs, args.sources) < 1:
        parser.error("--officers, --viewers, --baseline-runs and --sources must be at least 1")
    options = Options(args.officers, args.viewers, args.baseline_runs, args.all_cameras, args.sources)
    run_and_report(run(options), args.json, report)


if __name__ == "__main__":
    main()
