"""Soak: viewers join and leave a hub for `--minutes`; does the hub's memory or its open files, peer connections or
tasks climb?

A hub process on loopback (embedded SQLite store, default `[limits]`), seeded like the demo plus `--officers`
officers of metro-pd, with all three demo cameras opted in and a synthetic agent process for each. Every
`--period` seconds 1 to 3 viewers (real aiortc peers in this process, each a random officer of the pool, each on a
random camera) join, wait for their first decoded frame, watch 2 to 5 s and leave: most hang up with DELETE, the
`--abrupt` fraction only close their peer connection (no DELETE: the hub must notice and clean up by itself).
Every `--vanish-every` seconds one more viewer runs in its own process, which is killed (SIGKILL) after its first
frame: no DELETE, no DTLS close, nothing; the hub learns of it only when ICE consent checks fail (about 30 s).
Cameras start and stop publishing as their viewers come and go.

Every `--sample-every` seconds the hub process is sampled: RSS and open file descriptors from the OS (psutil),
peer connections, asyncio tasks and viewers from its /metrics. Printed per quantity: the idle hub before any
viewer; the first and last samples under load after a warm-up (`--warmup`, a fraction of the run); the idle hub
after the load, once every session has ended and 20 s more (idle keep-alive connections closed); the slope per
hour of a least-squares line through the samples after the warm-up, its standard error, the slope as % per hour
of the line's value at the start of that window, and the slopes of the window's first and second halves alone.

Verdict: "flat within noise" when the line's rise over the window is within 2 standard errors of zero, or smaller
than twice the samples' scatter around the line (the number of viewers connected at the moment of a sample moves
fds, peers and tasks up and down far more than a leak of a few objects would); otherwise "rising" or "falling",
and "rising, slowing down" when the second half's slope is at most half the first half's (a high-water mark
settling, as the allocator's does, rather than a leak's steady pace).
The baseline is the same run's own idle hub and its own sample noise.

    python -m bench.soak [--minutes 10] [--period 3] [--sample-every 5] [--officers 8] [--abrupt 0.3]
                         [--vanish-every 60] [--warmup 0.1] [--seed 1] [--json] [--save FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import random
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench.hub_procs import (
    OFFICER_PASSWORD,
    LightViewer,
    Sample,
    TimedApi,
    all_agents,
    hub_process,
    officer_name,
    sample,
    scrape,
    seed_hub,
)
from bench.output import run_and_report
from hub.demo import CAMERAS, OPTED_IN
from porchlight_rtc.ice import enable_loopback
from tests.support.client import Api
from tests.support.procs import ROOT, Hub, wait_until

FIRST_FRAME_TIMEOUT = 30.0
WATCH_SECONDS = (2.0, 5.0)
JOINS_PER_CYCLE = (1, 3)
READY_TIMEOUT = 60.0  # a vanishing viewer's process: start, offer, first frame
WORKER_MAX_SECONDS = 300.0  # a vanishing viewer's process ends by itself after this, whatever happens
SETTLE_TIMEOUT = 90.0  # after the load: ICE consent (~30 s) ends the killed viewers' sessions, then all is idle
IDLE_PAUSE = 20.0  # then the idle hub is sampled this long after (longer than aiohttp's client keep-alive)
QUANTITIES = ("rss_mb", "fds", "peers", "tasks")
LABELS = {"rss_mb": "RSS MB", "fds": "open fds", "peers": "peer conns", "tasks": "asyncio tasks"}


@dataclass(frozen=True)
class Options:
    minutes: float
    period: float = 3.0
    sample_every: float = 5.0
    officers: int = 8
    abrupt: float = 0.3
    vanish_every: float = 60.0
    warmup: float = 0.1
    seed: int = 1


@dataclass
class Tally:
    """What the viewers did: joins that reached a first frame, how each left, and every failure by reason."""

    joins: int = 0
    ok: int = 0
    deleted: int = 0
    abrupt: int = 0
    killed: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    peak_viewers: int = 0
    _open: int = 0

    def opened(self) -> None:
        self._open += 1
        self.peak_viewers = max(self.peak_viewers, self._open)

    def closed(self) -> None:
        self._open -= 1


# Viewers ------------------------------------------------------------------------------------------------------


async def visit(api: TimedApi, camera: str, watch: float, delete: bool, tally: Tally) -> None:
    """One viewer: join, first frame, watch, leave (DELETE, or only close the connection); failures counted."""
    viewer = LightViewer(api, camera)
    tally.joins += 1
    tally.opened()
    try:
        status = await viewer.watch(case="BENCH-SOAK", reason="soak benchmark")
        if status != 201:
            tally.failures[f"join: HTTP {status} {(viewer.error or {}).get('reason', '')}".strip()] += 1
            return
        try:
            await viewer.first_frame(FIRST_FRAME_TIMEOUT)
        except TimeoutError:
            tally.failures[f"join: no frame in {FIRST_FRAME_TIMEOUT:.0f} s"] += 1
            return
        await asyncio.sleep(watch)  # watching is the workload here
        if delete:
            status = await viewer.hang_up()
            if status != 200:
                tally.failures[f"leave: DELETE answered {status}"] += 1
                return
            tally.deleted += 1
        else:
            tally.abrupt += 1
        tally.ok += 1
    except Exception as exc:  # a connection reset under load is a failure to count, not the end of the soak
        tally.failures[f"{exc.__class__.__name__}"] += 1
    finally:
        await viewer.close()
        tally.closed()


async def vanish(hub: Hub, api: TimedApi, camera: str, watch: float, tally: Tally) -> None:
    """One viewer in its own process, killed outright after its first frame and `watch` seconds."""
    tally.joins += 1
    with (hub.tmp / "vanishing-viewers.log").open("ab") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.soak", "--vanish-worker",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=log, cwd=ROOT,
        )  # fmt: skip
    try:
        assert proc.stdin is not None and proc.stdout is not None
        # The session token goes over a pipe, never on a command line.
        proc.stdin.write(json.dumps({"hub": hub.url, "camera": camera, "token": api.token}).encode() + b"\n")
        await proc.stdin.drain()
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), READY_TIMEOUT)
        except TimeoutError:
            line = b""
        if line.strip() != b"ready":
            tally.failures[f"vanishing viewer: {line.decode(errors='replace').strip() or 'no first frame'}"] += 1
            return
        await asyncio.sleep(watch)
        tally.killed += 1
        tally.ok += 1
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGKILL)
        await proc.wait()


class _BearerApi(Api):
    """A session that shows its officer's token (`Authorization: Bearer`), as a plain WHEP player does."""

    def __init__(self, base: str, token: str) -> None:
        # Not Api.__init__: every request of this client (offer, events) carries the header.
        self.base = base
        self.http = aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"})
        self.csrf = ""


async def vanish_worker() -> None:
    """The process of one vanishing viewer: reads {hub, camera, token} on stdin, prints "ready" after its first
    frame, then waits to be killed (ending by itself after WORKER_MAX_SECONDS)."""
    enable_loopback()
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    job = json.loads(line)
    api = _BearerApi(job["hub"], job["token"])
    viewer = LightViewer(api, job["camera"])
    try:
        status = await viewer.watch(case="BENCH-SOAK", reason="soak benchmark (vanishing)")
        if status != 201:
            print(f"HTTP {status} {(viewer.error or {}).get('reason', '')}", flush=True)
            return
        try:
            await viewer.first_frame(FIRST_FRAME_TIMEOUT)
        except TimeoutError:
            print(f"no frame in {FIRST_FRAME_TIMEOUT:.0f} s", flush=True)
            return
        print("ready", flush=True)
        await asyncio.sleep(WORKER_MAX_SECONDS)  # the parent kills this process long before
    finally:
        await viewer.close()
        await api.close()


# The run ------------------------------------------------------------------------------------------------------


async def _sampler(hub: Hub, began: float, every: float, samples: list[Sample], stop: asyncio.Event) -> None:
    process = hub_process(hub)
    while not stop.is_set():
        samples.append(await sample(hub, process, began))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)


async def _load(hub: Hub, apis: list[TimedApi], vanisher: TimedApi, options: Options, tally: Tally) -> None:
    """Cycles of joins and leaves for the run's duration; returns once every viewer it started has left."""
    rng = random.Random(options.seed)
    cameras = [camera for camera, _, _ in CAMERAS]
    duration = options.minutes * 60
    began = time.monotonic()
    next_vanish = min(options.vanish_every / 2, duration / 3) if options.vanish_every > 0 else math.inf
    visits: set[asyncio.Task[None]] = set()
    while (now := time.monotonic() - began) < duration:
        for _ in range(rng.randint(*JOINS_PER_CYCLE)):
            delete = rng.random() >= options.abrupt
            job = visit(rng.choice(apis), rng.choice(cameras), rng.uniform(*WATCH_SECONDS), delete, tally)
            task = asyncio.create_task(job)
            visits.add(task)
            task.add_done_callback(visits.discard)
        if now >= next_vanish:
            next_vanish += options.vanish_every
            task = asyncio.create_task(vanish(hub, vanisher, rng.choice(cameras), rng.uniform(*WATCH_SECONDS), tally))
            visits.add(task)
            task.add_done_callback(visits.discard)
        await asyncio.sleep(options.period)  # the pace of the cycles
    await asyncio.gather(*visits)


async def _settled(hub: Hub) -> bool:
    """No viewer session and no peer connection left on the hub."""
    metrics = await scrape(hub)
    return all(metrics.get(name) == 0 for name in ("porchlight_viewers", "porchlight_peer_connections"))


async def measure(hub: Hub, options: Options) -> dict[str, Any]:
    """Log the officers in, sample the idle hub, run the load while sampling, wait for the hub to settle."""
    apis = [TimedApi(hub.url, keep_alive=False) for _ in range(options.officers + 1)]
    tally = Tally()
    samples: list[Sample] = []
    try:
        for index, api in enumerate(apis):
            status, _ = await api.try_login(officer_name(index), OFFICER_PASSWORD)
            if status != 200:
                raise RuntimeError(f"{officer_name(index)} could not log in: HTTP {status}")
        began = time.monotonic()
        process = hub_process(hub)
        idle_start = await sample(hub, process, began)
        stop = asyncio.Event()
        sampler = asyncio.create_task(_sampler(hub, began, options.sample_every, samples, stop))
        try:
            # The last officer is the vanishing viewers' own: their sessions linger on the hub until ICE notices.
            await _load(hub, apis[:-1], apis[-1], options, tally)
        finally:
            stop.set()
            await sampler
        load_seconds = time.monotonic() - began
        settle_began = time.monotonic()
        try:
            await wait_until(lambda: _settled(hub), SETTLE_TIMEOUT, "the hub to end every session", interval=0.5)
            settled = True
        except AssertionError:
            settled = False
        settle_seconds = time.monotonic() - settle_began
        # The agents' idle keep-alive connections from their last WHIP requests close after aiohttp's 15 s.
        await asyncio.sleep(IDLE_PAUSE)
        idle_end = await sample(hub, process, began)
    finally:
        for api in apis:
            await api.close()
    return {
        "minutes": options.minutes,
        "options": asdict(options),
        "load_seconds": load_seconds,
        "joins": tally.joins,
        "joins_ok": tally.ok,
        "left_with_delete": tally.deleted,
        "left_abruptly": tally.abrupt,
        "killed": tally.killed,
        "failures": dict(tally.failures),
        "peak_viewers_open": tally.peak_viewers,
        "settled": settled,
        "settle_seconds": settle_seconds,
        "idle_start": asdict(idle_start),
        "idle_end": asdict(idle_end),
        "samples": [asdict(s) for s in samples],
        "trends": trends(samples, options.warmup * load_seconds),
    }


async def run(options: Options) -> dict[str, Any]:
    enable_loopback()
    started = time.monotonic()
    others = [camera for camera, _, _ in CAMERAS if camera != OPTED_IN]
    with tempfile.TemporaryDirectory(prefix="porchlight-bench-") as tmp:
        hub = Hub(Path(tmp))
        hub.write_config()
        # One officer more than the pool: the vanishing viewers' own.
        seeded = await seed_hub(hub, options.officers + 1, opt_in=others)
        await hub.start()
        try:
            async with all_agents(hub, seeded, Path(tmp)):
                result = await measure(hub, options)
        finally:
            await hub.stop()
    result["seconds"] = time.monotonic() - started
    return result


# Figures ------------------------------------------------------------------------------------------------------


def fit(points: list[tuple[float, float]]) -> tuple[float, float, float, float]:
    """Least squares y = a + b x: (a, b, the standard error of b, the residuals' standard deviation)."""
    n = len(points)
    xs, ys = [x for x, _ in points], [y for _, y in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in points) / sxx
    intercept = my - slope * mx
    ssr = sum((y - intercept - slope * x) ** 2 for x, y in points)
    scatter = math.sqrt(ssr / (n - 2))
    return intercept, slope, scatter / math.sqrt(sxx), scatter


def trends(samples: list[Sample], warmup_seconds: float) -> dict[str, Any]:
    """Per quantity: slope per hour and its verdict, over the samples after the warm-up."""
    window = [s for s in samples if s.at >= warmup_seconds]
    result: dict[str, Any] = {"fit_samples": len(window), "warmup_seconds": warmup_seconds}
    if len(window) < 6:
        return result
    start, end = window[0].at, window[-1].at
    span_hours = (end - start) / 3600
    half = len(window) // 2
    for name in QUANTITIES:
        points = [((s.at - start) / 3600, float(getattr(s, name))) for s in window]
        intercept, slope, error, scatter = fit(points)
        rise = slope * span_hours
        flat = abs(slope) <= 2 * error or abs(rise) <= 2 * scatter
        early, late = fit(points[:half])[1], fit(points[half:])[1]
        if flat:
            verdict = "flat within noise"
        elif slope > 0:
            # A high-water mark settling (the allocator's, a bounded cache's) slows down; a leak keeps its pace.
            verdict = "rising, slowing down" if late <= early / 2 else "rising"
        else:
            verdict = "falling"
        result[name] = {
            "slope_per_hour": slope,
            "slope_error_per_hour": error,
            "percent_per_hour": 100 * slope / intercept if intercept else None,
            "rise_over_window": rise,
            "scatter": scatter,
            "first_half_mean": statistics.fmean(y for _, y in points[:half]),
            "second_half_mean": statistics.fmean(y for _, y in points[half:]),
            "first_half_slope_per_hour": early,
            "second_half_slope_per_hour": late,
            "verdict": verdict,
        }
    return result


def _value(value: float, name: str) -> str:
    return f"{value:.1f}" if name == "rss_mb" else f"{value:.0f}"


def report(result: dict[str, Any]) -> None:
    options = result["options"]
    print(
        f"soak: {result['load_seconds'] / 60:.1f} min of load on one hub, 3 cameras, {options['officers']} officers; "
        f"every {options['period']:g} s {JOINS_PER_CYCLE[0]}-{JOINS_PER_CYCLE[1]} viewers join, watch "
        f"{WATCH_SECONDS[0]:g}-{WATCH_SECONDS[1]:g} s and leave ({options['abrupt']:.0%} without DELETE); "
        f"a viewer process killed outright every {options['vanish_every']:g} s"
    )
    failures = sum(result["failures"].values())
    print(
        f"joins: {result['joins_ok']} ok of {result['joins']} (left: {result['left_with_delete']} DELETE, "
        f"{result['left_abruptly']} closed without DELETE, {result['killed']} killed); failures: {failures}; "
        f"at most {result['peak_viewers_open']} viewers at once in this process"
    )
    for reason, count in sorted(result["failures"].items()):
        print(f"  failed {count}x: {reason}")
    settled = "yes" if result["settled"] else "NO"
    print(f"every session ended after the load: {settled} ({result['settle_seconds']:.0f} s after it)")
    trend = result["trends"]
    samples = result["samples"]
    print(
        f"samples every {options['sample_every']:g} s: {len(samples)}; slopes fitted over {trend['fit_samples']} "
        f"after a {trend['warmup_seconds']:.0f} s warm-up (baseline: the same run's idle hub and its sample noise)"
    )
    print(
        f"{'hub':<14} {'idle start':>10} {'load start':>10} {'load end':>9} {'idle end':>9} {'slope/h':>9} "
        f"{'SE/h':>7} {'%/h':>7} {'1st half/h':>10} {'2nd half/h':>10}  verdict"
    )
    window = [s for s in samples if s["at"] >= trend["warmup_seconds"]] or samples
    for name in QUANTITIES:
        row = trend.get(name)
        first, last = (window[0][name], window[-1][name]) if window else (math.nan, math.nan)
        cells = (
            f"{LABELS[name]:<14} {_value(result['idle_start'][name], name):>10} {_value(first, name):>10} "
            f"{_value(last, name):>9} {_value(result['idle_end'][name], name):>9}"
        )
        if row is None:
            print(f"{cells}  (too few samples to fit)")
            continue
        percent = row["percent_per_hour"]
        print(
            f"{cells} {row['slope_per_hour']:>+9.1f} {row['slope_error_per_hour']:>7.1f} "
            f"{percent if percent is not None else math.nan:>+7.1f} {row['first_half_slope_per_hour']:>+10.1f} "
            f"{row['second_half_slope_per_hour']:>+10.1f}  {row['verdict']}"
        )
    print(f"({result['seconds']:.0f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long the load runs (fractions allowed)")
    parser.add_argument("--period", type=float, default=3.0, help="seconds between cycles of joins")
    parser.add_argument("--sample-every", type=float, default=5.0, help="seconds between samples of the hub")
    parser.add_argument("--officers", type=int, default=8, help="officers the viewers are drawn from")
    parser.add_argument("--abrupt", type=float, default=0.3, help="fraction of viewers that leave without DELETE")
    parser.add_argument("--vanish-every", type=float, default=60.0, help="seconds between killed viewers (0: none)")
    parser.add_argument("--warmup", type=float, default=0.1, help="fraction of the run left out of the fits")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--save", type=Path, help="also write the whole result (every sample) to this JSON file")
    parser.add_argument("--vanish-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.vanish_worker:
        asyncio.run(asyncio.wait_for(vanish_worker(), WORKER_MAX_SECONDS + READY_TIMEOUT))
        return
    if args.minutes <= 0 or args.period <= 0 or args.sample_every <= 0 or args.officers < 1:
        parser.error("--minutes, --period, --sample-every and --officers must be positive")
    if not 0 <= args.abrupt <= 1 or not 0 <= args.warmup < 1:
        parser.error("--abrupt must be in 0..1 and --warmup in 0..1 (exclusive)")
    options = Options(
        args.minutes, args.period, args.sample_every, args.officers, args.abrupt, args.vanish_every, args.warmup,
        args.seed,
    )  # fmt: skip
    result = run_and_report(run(options), args.json, report)
    if args.save is not None:
        args.save.write_text(json.dumps(result), encoding="utf-8")


if __name__ == "__main__":
    main()
