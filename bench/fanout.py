"""Fan-out: what N officers watching one camera cost the hub, in passthrough and in transcode forwarding.

For each mode a hub process runs with `media.forwarding` set to it, with one synthetic camera agent (640x480,
15 fps, VP8: the agent's defaults). For each N, N real aiortc viewers run in worker processes
(`bench.fanout_viewer`, at most `--workers` of them, never this process). Only `--probes` of them (2 by default,
spread over the workers) decode every frame and read its capture stamp; the others are tapped: their receiver's
encoded frames are counted as they arrive, from the first keyframe on, and never decoded (a tapped viewer that
saw no keyframe counts as 0 fps; like a decoder, it asks for a keyframe for each frame before the first).
Decoding in every viewer would take most of a 2-core machine at N=32 and
measure the rig rather than the hub. Once every viewer has its first frame (decoded, or a keyframe when tapped)
and a warm-up has passed, a window of `--seconds` is measured: the hub process's CPU (user + system, all its
threads, no children) as % of one core, its RSS at the end (MB = 2**20 bytes), each viewer's frame rate (fps min
is the lowest over every viewer, probes and tapped), and the latency of every frame a probe decoded (receive wall
time minus the capture stamp: both clocks are this machine's). After the window one more viewer, which decodes,
joins while the N are watching, gets its first frame and leaves, `--joins` times a second apart; the median of
their times from the WHEP request (offer and POST) to the first decoded frame is the "first frame" figure.

Baseline, measured in the same run: transcode (decode once, encode per viewer). The ratio printed at each N is
transcode CPU / passthrough CPU; the cost of each extra viewer is the slope of a least-squares line through hub
CPU % against N (also fitted over only the N at which every viewer kept up). The viewers run on the same
machine as the hub, so they still compete with it for the cores: that is reported (viewers' and the whole
machine's CPU), not corrected for.

    python -m bench.fanout [--counts 1,2,4,8,16,32] [--seconds 8] [--modes passthrough,transcode] [--json]
                           [--probes 2] [--warmup 2] [--joins 3] [--workers 4] [--first-frame-timeout 30]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil

from bench.fanout_viewer import percentile
from bench.hub_procs import EVERY_LIMIT_LIFTED
from tests.support.procs import ROOT, Hub, Proc, running_agent, wait_until

CAMERA = "front-door"
MODES = ("passthrough", "transcode")
BASELINE = "transcode"
MB = 2**20
HELLO_TIMEOUT = 60.0
LINE_LIMIT = 2**24  # a viewer's line carries every latency sample of the window
JOIN_GAP = 1.0  # between joiners: longer than the hub's keyframe request interval (0.5 s by default)
STOP_TIMEOUT = 10.0
SETTLE_TIMEOUT = 30.0

# The hub's counters that say where viewers or frames went (porchlight_frames_total counts forwarded ones too).
COUNTED = (
    "porchlight_offer_refusals_total",
    "porchlight_refusals_total",
    "porchlight_handshake_failures_total",
    "porchlight_frames_total",
    "porchlight_keyframes_wanted_total",
    "porchlight_keyframe_requests_total",
    "porchlight_denials_total",
)

# Targets, printed beside the figures (a checklist, not asserts).
TARGET_RATIO_N = 8
TARGET_RATIO = 8.0
TARGET_SLOPE = 0.5
TARGET_FPS = 14.5
TARGET_FPS_UP_TO = 32
TARGET_LATENCY_P50 = 150.0
TARGET_JOINER = 400.0


@dataclass
class Worker:
    """A `bench.fanout_viewer` process: JSON commands on its stdin, JSON lines from its stdout."""

    proc: asyncio.subprocess.Process
    lines: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    reader: asyncio.Task[None] | None = None

    @classmethod
    async def start(
        cls, url: str, viewers: int, probes: int, log_path: Path, first_frame_timeout: float, lifetime: float
    ) -> Worker:
        """Start a worker for `viewers` viewers of which `probes` decode; its stderr goes to `log_path`."""
        with log_path.open("ab") as log:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bench.fanout_viewer", "--hub", url, "--camera", CAMERA,
                "--viewers", str(viewers), "--probes", str(probes), "--first-frame-timeout", str(first_frame_timeout),
                "--max-seconds", str(lifetime),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=log, cwd=ROOT, limit=LINE_LIMIT,
            )  # fmt: skip
        worker = cls(proc)
        worker.reader = asyncio.create_task(worker._read())
        return worker

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            with contextlib.suppress(ValueError):
                await self.lines.put(json.loads(line))
        await self.lines.put({"type": "exited"})

    def send(self, command: dict[str, Any]) -> None:
        """Write one command line (ignored when the worker is gone)."""
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.write((json.dumps(command) + "\n").encode())

    async def expect(self, kind: str, timeout: float) -> dict[str, Any]:
        """The next line, which must be of type `kind`, within `timeout` seconds."""
        try:
            message = await asyncio.wait_for(self.lines.get(), timeout)
        except TimeoutError:
            raise RuntimeError(f"viewer worker {self.proc.pid}: no {kind!r} within {timeout:.0f}s") from None
        if message.get("type") != kind:
            raise RuntimeError(f"viewer worker {self.proc.pid}: wanted {kind!r}, got {message.get('type')!r}")
        return message

    async def report(self, start: float, end: float, timeout: float) -> list[dict[str, Any]]:
        """Per-viewer figures for the window [start, end)."""
        self.send({"cmd": "report", "start": start, "end": end})
        rows = []
        while (message := await self.expect_any(timeout))["type"] == "viewer":
            rows.append(message)
        if message["type"] != "done":
            raise RuntimeError(f"viewer worker {self.proc.pid}: report ended with {message['type']!r}")
        return rows

    async def expect_any(self, timeout: float) -> dict[str, Any]:
        """The next line, whatever its type, within `timeout` seconds."""
        try:
            return await asyncio.wait_for(self.lines.get(), timeout)
        except TimeoutError:
            raise RuntimeError(f"viewer worker {self.proc.pid}: silent for {timeout:.0f}s") from None

    async def stop(self) -> None:
        """Ask it to hang up and exit; terminate, then kill, if it does not in time."""
        self.send({"cmd": "stop"})
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        for ending in (None, self.proc.terminate, self.proc.kill):
            if ending is not None and self.proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    ending()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.proc.wait(), STOP_TIMEOUT)
            if self.proc.returncode is not None:
                break
        if self.reader is not None:
            self.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.reader


def cpu_seconds(proc: psutil.Process) -> float:
    """User + system CPU seconds of one process (all threads, no children); fails if it has exited."""
    try:
        times = proc.cpu_times()
    except psutil.NoSuchProcess:
        raise RuntimeError(f"process {proc.pid} exited during the measurement") from None
    return float(times.user + times.system)


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent not idle since boot."""
    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


def split(total: int, parts: int) -> list[int]:
    """`total` viewers over `parts` workers, as evenly as possible."""
    return [total // parts + (1 if index < total % parts else 0) for index in range(parts)]


def slope(points: Iterable[tuple[float, float]]) -> float | None:
    """Least-squares slope of y against x; None with fewer than two distinct x."""
    pairs = list(points)
    xs = [x for x, _ in pairs]
    if len(set(xs)) < 2:
        return None
    mean_x = statistics.fmean(xs)
    mean_y = statistics.fmean(y for _, y in pairs)
    return sum((x - mean_x) * (y - mean_y) for x, y in pairs) / sum((x - mean_x) ** 2 for x in xs)


async def hub_metric(hub: Hub, name: str) -> float | None:
    """A hub metric, or None when the hub does not answer."""
    try:
        return await asyncio.wait_for(hub.metric(name), 5)
    except (aiohttp.ClientError, TimeoutError, AssertionError):
        return None


async def hub_samples(hub: Hub) -> dict[str, float]:
    """Every sample of the hub's /metrics, labelled ones included, by its full name (`name{labels}`); empty when
    the hub does not answer."""
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http,
            http.get(f"{hub.url}/metrics") as response,
        ):
            text = await response.text()
    except (aiohttp.ClientError, TimeoutError):
        return {}
    return {m[1]: float(m[2]) for m in re.finditer(r"^([a-zA-Z_:][^ ]*) (\S+)$", text, re.MULTILINE)}


def grown(before: dict[str, float], after: dict[str, float], prefixes: tuple[str, ...]) -> dict[str, int]:
    """The counters among `prefixes` that grew between two scrapes, by how much."""
    return {
        name: int(value - before.get(name, 0.0))
        for name, value in sorted(after.items())
        if name.startswith(prefixes) and not name.endswith("_created") and value > before.get(name, 0.0)
    }


async def settle(hub: Hub, agent: Proc, stops: int) -> None:
    """Wait until the hub has no viewers and no publisher and the agent logged its `stops`th stop."""

    async def idle() -> bool:
        return await hub_metric(hub, "porchlight_viewers") == 0 and await hub_metric(hub, "porchlight_publishers") == 0

    await wait_until(idle, SETTLE_TIMEOUT, "the hub to have no viewers and no publisher", interval=0.2)
    await agent.wait_log_count("publishing stopped", stops, timeout=SETTLE_TIMEOUT)


@dataclass
class Settings:
    """What one run measures."""

    seconds: float
    warmup: float
    max_workers: int
    first_frame_timeout: float
    joins: int
    probes: int
    open_rate: float = 50.0  # viewers opened per second, over all workers
    logs: Path | None = None  # keep every process's log (and the hub's data) here rather than in a temporary dir


async def measure(hub: Hub, agent: Proc, n: int, mode: str, settings: Settings, logs: Path) -> dict[str, Any]:
    """One step: N viewers watching, a measured window, then a joiner. Every worker is stopped on the way out."""
    assert hub.proc is not None
    lifetime = HELLO_TIMEOUT + 3 * settings.first_frame_timeout + settings.warmup + settings.seconds + 120
    workers: list[Worker] = []
    joiner: Worker | None = None
    at_start = await hub_samples(hub)
    try:
        parts = min(n, settings.max_workers)
        # split() gives the lower indexes the extra one of both, so no worker gets more probes than viewers.
        for index, (count, decoding) in enumerate(
            zip(split(n, parts), split(min(settings.probes, n), parts), strict=True)
        ):
            log = logs / f"viewers-{mode}-{n}-{index}.log"
            workers.append(await Worker.start(hub.url, count, decoding, log, settings.first_frame_timeout, lifetime))
        log = logs / f"joiner-{mode}-{n}.log"
        joiner = await Worker.start(hub.url, 1, 1, log, settings.first_frame_timeout, lifetime)
        everyone = [*workers, joiner]
        await asyncio.gather(*(worker.expect("hello", HELLO_TIMEOUT) for worker in everyone))
        for worker in workers:
            worker.send({"cmd": "open", "rate": settings.open_rate / len(workers)})
        ready_timeout = 2 * settings.first_frame_timeout + 10
        readies = await asyncio.gather(*(worker.expect("ready", ready_timeout) for worker in workers))
        opened = await hub_samples(hub)
        await asyncio.sleep(settings.warmup)

        hub_ps = psutil.Process(hub.proc.proc.pid)
        agent_ps = psutil.Process(agent.proc.pid)
        worker_ps = [psutil.Process(worker.proc.pid) for worker in workers]
        keyframes_before = await hub_metric(hub, "porchlight_keyframe_requests_total")
        began_wall, began = time.time(), time.monotonic()
        hub_before, agent_before = cpu_seconds(hub_ps), cpu_seconds(agent_ps)
        workers_before, machine_before = sum(map(cpu_seconds, worker_ps)), machine_busy_seconds()
        await asyncio.sleep(settings.seconds)
        hub_after, agent_after = cpu_seconds(hub_ps), cpu_seconds(agent_ps)
        workers_after, machine_after = sum(map(cpu_seconds, worker_ps)), machine_busy_seconds()
        ended_wall, wall = time.time(), time.monotonic() - began
        if hub.proc.proc.returncode is not None or not hub_ps.is_running():
            raise RuntimeError(f"the hub exited during the measurement ({hub.proc.proc.returncode})")
        rss = hub_ps.memory_info().rss / MB
        keyframes_after = await hub_metric(hub, "porchlight_keyframe_requests_total")
        at_end = await hub_samples(hub)

        reports = await asyncio.gather(*(worker.report(began_wall, ended_wall, 30) for worker in workers))
        joins: list[float | None] = []
        for index in range(settings.joins):
            if index:
                await asyncio.sleep(JOIN_GAP)
            joiner.send({"cmd": "open"})
            joins.append((await joiner.expect("ready", ready_timeout))["first_frame_ms"][0])
            joiner.send({"cmd": "close"})
            await joiner.expect("closed", 30)
    finally:
        others = [joiner] if joiner is not None else []
        await asyncio.gather(*(worker.stop() for worker in [*workers, *others]), return_exceptions=True)

    viewers = [row for rows in reports for row in rows]
    probes = [row for row in viewers if row["decoding"]]
    tapped = [row for row in viewers if not row["decoding"]]
    latency = [value for row in probes for value in row["latency_ms"]]
    firsts = [pair for ready in readies for pair in zip(ready["first_frame_ms"], ready["decoding"], strict=True)]
    initial = [ms for ms, decoding in firsts if decoding and ms is not None]
    initial_keyframe = [ms for ms, decoding in firsts if not decoding and ms is not None]
    joined = [ms for ms in joins if ms is not None]
    return {
        "mode": mode,
        "n": n,
        "hub_cpu_pct": round((hub_after - hub_before) / wall * 100, 2),
        "fps_min": round(min(row["fps"] for row in viewers), 2),
        "latency_p50_ms": round(statistics.median(latency), 1) if latency else None,
        "latency_p95_ms": round(p95, 1) if (p95 := percentile(latency, 0.95)) is not None else None,
        "first_frame_ms": round(statistics.median(joined), 1) if joined else None,
        "hub_rss_mb": round(rss, 1),
        # Beyond the figures asked for: where the rest of the machine's CPU went, and what went missing.
        "first_frame_max_ms": round(max(joined), 1) if joined else None,
        "joins_without_frame": len(joins) - len(joined),
        "fps_mean": round(statistics.fmean(row["fps"] for row in viewers), 2),
        # Which viewers decoded: `probes` of the N (the others were tapped), and the lowest fps of each kind.
        "probes": len(probes),
        "fps_min_probes": round(min(row["fps"] for row in probes), 2) if probes else None,
        "fps_min_tapped": round(min(row["fps"] for row in tapped), 2) if tapped else None,
        "tapped_keyframes_min": min(row["keyframes"] for row in tapped) if tapped else None,
        "tapped_without_keyframe": sum(1 for row in tapped if not row["keyframes"]),
        "tapped_plis": sum(row["plis"] for row in tapped),  # since they opened: frames before their first keyframe
        # The N viewers opened at once: decoding ones to their first decoded frame, tapped ones to a keyframe.
        "initial_first_frame_p50_ms": round(statistics.median(initial), 1) if initial else None,
        "initial_first_keyframe_p50_ms": round(statistics.median(initial_keyframe), 1) if initial_keyframe else None,
        "viewers_without_frame": sum(1 for ms, _ in firsts if ms is None),
        "unstamped_frames": sum(row["unstamped"] for row in viewers),
        "agent_cpu_pct": round((agent_after - agent_before) / wall * 100, 2),
        "viewers_cpu_pct": round((workers_after - workers_before) / wall * 100, 2),
        "machine_cpu_pct": round((machine_after - machine_before) / wall * 100, 2),
        # What the hub counted while the N opened, and during the window: refusals, failed handshakes, frames it
        # did not forward (by reason), keyframe wants and requests. Says whether the hub turned viewers away.
        "hub_counted_opening": grown(at_start, opened, COUNTED),
        "hub_counted_window": grown(opened, at_end, COUNTED),
        "keyframe_requests": (
            None if keyframes_before is None or keyframes_after is None else int(keyframes_after - keyframes_before)
        ),
    }


async def run_mode(mode: str, counts: list[int], settings: Settings, progress: bool) -> list[dict[str, Any]]:
    """A hub in `mode` with one camera agent, measured at each N in `counts`; both processes stopped after."""
    results = []
    with contextlib.ExitStack() as stack:
        if settings.logs is None:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="porchlight-fanout-")))
        else:
            root = settings.logs / mode
            root.mkdir(parents=True, exist_ok=True)
        hub = Hub(root)
        hub.env = {"PORCHLIGHT_MEDIA__FORWARDING": mode, **EVERY_LIMIT_LIFTED}
        hub.write_config()
        seeded = await hub.seed()
        try:
            await hub.start()
            async with running_agent(hub, CAMERA, seeded.tokens[CAMERA], root) as agent:
                for step, n in enumerate(counts, start=1):
                    try:
                        row = await measure(hub, agent, n, mode, settings, root)
                        await settle(hub, agent, step)
                    except Exception:
                        dump_logs(root)
                        raise
                    results.append(row)
                    if progress:
                        print(f"  {mode} N={n}: hub {row['hub_cpu_pct']:.1f}% cpu", file=sys.stderr, flush=True)
        finally:
            await hub.stop()
    return results


def dump_logs(root: Path, lines: int = 15) -> None:
    """The last lines of every process log of a failed run, on stderr (the directory is about to go)."""
    for path in sorted(root.glob("*.log")):
        tail = path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
        print(f"--- {path.name} (last {len(tail)} lines)", file=sys.stderr)
        print("\n".join(tail), file=sys.stderr)


async def run(modes: list[str], counts: list[int], settings: Settings, progress: bool) -> dict[str, Any]:
    """Every mode at every N, then the ratios against the transcode baseline and the per-viewer slopes."""
    runs: list[dict[str, Any]] = []
    for mode in modes:
        runs.extend(await run_mode(mode, counts, settings, progress))
    by_key = {(row["mode"], row["n"]): row for row in runs}
    ratio: dict[str, float | None] = {}
    for n in counts:
        base, other = by_key.get((BASELINE, n)), by_key.get(("passthrough", n))
        if base is not None and other is not None:
            ratio[str(n)] = round(base["hub_cpu_pct"] / other["hub_cpu_pct"], 2) if other["hub_cpu_pct"] > 0 else None
    per_viewer: dict[str, float | None] = {}
    keeping_up: dict[str, float | None] = {}
    for mode in modes:
        rows = [row for row in runs if row["mode"] == mode]
        fitted = slope((row["n"], row["hub_cpu_pct"]) for row in rows)
        per_viewer[mode] = None if fitted is None else round(fitted, 3)
        fitted = slope((row["n"], row["hub_cpu_pct"]) for row in rows if row["fps_min"] >= TARGET_FPS)
        keeping_up[mode] = None if fitted is None else round(fitted, 3)
    return {
        "runs": runs,
        "cpu_ratio": ratio,
        "per_viewer_cpu_pct": per_viewer,
        # The same fit over only the N at which every viewer kept up (a saturated hub flattens the line).
        "per_viewer_cpu_pct_keeping_up": keeping_up,
    }


def fmt(value: float | None, spec: str) -> str:
    """`value` formatted, or a dash when it was not measured."""
    return "-" if value is None else format(value, spec)


def checklist(result: dict[str, Any], modes: list[str]) -> list[str]:
    """The targets beside what was measured, one line each."""
    lines = []

    def check(ok: bool | None, text: str) -> None:
        lines.append(f"  [{'n/a' if ok is None else ' ok' if ok else 'MISS'}] {text}")

    ratio = result["cpu_ratio"].get(str(TARGET_RATIO_N))
    check(
        None if ratio is None else ratio >= TARGET_RATIO,
        f"N={TARGET_RATIO_N}: passthrough hub CPU <= 1/{TARGET_RATIO:.0f} of transcode: ratio {fmt(ratio, '.1f')}x",
    )
    per_viewer = result["per_viewer_cpu_pct"].get("passthrough")
    check(
        None if per_viewer is None else per_viewer <= TARGET_SLOPE,
        f"passthrough: each extra viewer <= {TARGET_SLOPE} % of a core: {fmt(per_viewer, '.2f')} %",
    )
    for mode in modes:
        rows = [row for row in result["runs"] if row["mode"] == mode]
        capped = [row for row in rows if row["n"] <= TARGET_FPS_UP_TO]
        if capped:
            worst = min(capped, key=lambda row: row["fps_min"])
            check(
                worst["fps_min"] >= TARGET_FPS,
                f"{mode}: fps min >= {TARGET_FPS} up to N={TARGET_FPS_UP_TO}: "
                f"lowest {worst['fps_min']:.1f} (N={worst['n']})",
            )
        for key, target, label in (
            ("latency_p50_ms", TARGET_LATENCY_P50, "latency p50"),
            ("first_frame_ms", TARGET_JOINER, "joiner first frame"),
        ):
            missing = [row["n"] for row in rows if row[key] is None]
            if missing:
                check(False, f"{mode}: {label} not measured at N={','.join(map(str, missing))}")
                continue
            if rows:
                worst = max(rows, key=lambda row: row[key])
                check(
                    worst[key] <= target, f"{mode}: {label} <= {target:.0f} ms: worst {worst[key]:.0f} (N={worst['n']})"
                )
    return lines


def print_report(result: dict[str, Any], modes: list[str], settings: Settings) -> None:
    """The human-readable tables."""
    print(
        f"fan-out of one 640x480 15 fps camera; {settings.seconds:g} s window after a {settings.warmup:g} s warm-up; "
        f"first frame: median of {settings.joins} joiner(s) after the window; baseline: transcode"
    )
    print(
        "'probes': viewers that decoded (latency comes from them); the others only counted encoded frames; "
        "fps min is over all N; a tapped viewer that saw no keyframe counts as 0 fps"
    )
    header = (
        f"{'mode':<12} {'N':>3} {'probes':>6} {'hub CPU %':>9} {'fps min':>7} {'lat p50 ms':>10} {'lat p95 ms':>10} "
        f"{'first frame ms':>14} {'hub RSS MB':>10}"
    )
    print(header)
    for row in result["runs"]:
        print(
            f"{row['mode']:<12} {row['n']:>3} {row['probes']:>6} {row['hub_cpu_pct']:>9.1f} {row['fps_min']:>7.1f} "
            f"{fmt(row['latency_p50_ms'], '.0f'):>10} {fmt(row['latency_p95_ms'], '.0f'):>10} "
            f"{fmt(row['first_frame_ms'], '.0f'):>14} {row['hub_rss_mb']:>10.1f}"
        )
    if result["cpu_ratio"]:
        print("\nhub CPU, transcode / passthrough:")
        for n, ratio in result["cpu_ratio"].items():
            print(f"  N={n:>2}: {fmt(ratio, '.1f')}x")
    print(f"\nhub CPU per extra viewer (least-squares slope against N; then only over N with fps min >= {TARGET_FPS}):")
    for mode, value in result["per_viewer_cpu_pct"].items():
        kept = result["per_viewer_cpu_pct_keeping_up"].get(mode)
        print(f"  {mode:<12} {fmt(value, '.2f')} % of a core   (keeping up: {fmt(kept, '.2f')} %)")
    print(
        f"\nwhere the rest went (CPU % of one core over the window; the machine has {psutil.cpu_count()} cores);"
        " 'N viewers 1st ms' is the median over the probes among the N viewers opened at once (the camera"
        " starting cold), 'tapped 1st key ms' the same for the tapped ones, to their first keyframe;"
        " 'min keys': fewest keyframes a tapped viewer saw since it opened, 'tap PLIs' the keyframe requests they"
        " sent for frames before their first (as a decoder would);"
        " PLIs: keyframe requests the hub sent the camera during the window"
    )
    print(
        f"{'mode':<12} {'N':>3} {'agent %':>7} {'viewers %':>9} {'machine %':>9} {'fps mean':>8} "
        f"{'fps min probes':>14} {'fps min tapped':>14} {'min keys':>8} {'tap PLIs':>8} "
        f"{'N viewers 1st ms':>16} {'tapped 1st key ms':>17} {'joiner max ms':>13} {'no frame':>8} "
        f"{'unstamped':>9} {'PLIs':>5}"
    )
    for row in result["runs"]:
        print(
            f"{row['mode']:<12} {row['n']:>3} {row['agent_cpu_pct']:>7.1f} {row['viewers_cpu_pct']:>9.1f} "
            f"{row['machine_cpu_pct']:>9.1f} {row['fps_mean']:>8.1f} "
            f"{fmt(row['fps_min_probes'], '.1f'):>14} {fmt(row['fps_min_tapped'], '.1f'):>14} "
            f"{fmt(row['tapped_keyframes_min'], 'd'):>8} {row['tapped_plis']:>8} "
            f"{fmt(row['initial_first_frame_p50_ms'], '.0f'):>16} "
            f"{fmt(row['initial_first_keyframe_p50_ms'], '.0f'):>17} {fmt(row['first_frame_max_ms'], '.0f'):>13} "
            f"{row['viewers_without_frame'] + row['joins_without_frame']:>8} {row['unstamped_frames']:>9} "
            f"{fmt(row['keyframe_requests'], 'd'):>5}"
        )
    print("\ntargets:")
    print("\n".join(checklist(result, modes)))


def parse_list(text: str) -> list[str]:
    """A comma-separated list without empty items."""
    return [item.strip() for item in text.split(",") if item.strip()]


def main() -> None:
    """Parse the arguments, run every mode at every N, print the tables or one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="1,2,4,8,16,32", help="viewer counts N, comma-separated")
    parser.add_argument("--seconds", type=float, default=8.0, help="measured window per N")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds after every first frame, before the window")
    parser.add_argument("--modes", default=",".join(MODES), help="forwarding modes, comma-separated")
    parser.add_argument("--workers", type=int, default=4, help="at most this many viewer worker processes")
    parser.add_argument(
        "--probes", type=int, default=2, help="viewers per N that decode (latency); the others are tapped"
    )
    parser.add_argument("--joins", type=int, default=3, help="joiners after each window, one at a time")
    parser.add_argument("--first-frame-timeout", type=float, default=30.0, help="per viewer, seconds")
    parser.add_argument("--open-rate", type=float, default=50.0, help="viewers opened per second, over all workers")
    parser.add_argument("--logs", type=Path, default=None, help="keep every process's log in this directory")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    counts = [int(item) for item in parse_list(args.counts)]
    modes = parse_list(args.modes)
    if not counts or min(counts) < 1:
        parser.error("--counts needs positive integers")
    if not modes or set(modes) - set(MODES):
        parser.error(f"--modes takes {', '.join(MODES)}")
    if args.seconds <= 0 or args.warmup < 0 or args.workers < 1 or args.joins < 1 or args.probes < 1:
        parser.error("--seconds must be positive, --warmup not negative, --workers, --joins and --probes at least 1")
    settings = Settings(
        seconds=args.seconds,
        warmup=args.warmup,
        max_workers=args.workers,
        first_frame_timeout=args.first_frame_timeout,
        joins=args.joins,
        probes=args.probes,
        open_rate=args.open_rate,
        logs=args.logs,
    )
    try:
        result = asyncio.run(run(modes, counts, settings, progress=not args.json))
    except KeyboardInterrupt:
        print("interrupted: every process this run started has been stopped", file=sys.stderr)
        raise SystemExit(130) from None
    if args.json:
        json.dump(result, sys.stdout)
        print()
        return
    print_report(result, modes, settings)


if __name__ == "__main__":
    main()
