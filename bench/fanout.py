"""Fan-out: what N officers watching one camera cost the hub, in passthrough and in transcode forwarding.

For each mode a hub process runs with `media.forwarding` set to it, with one synthetic camera agent (640x480,
15 fps, VP8: the agent's defaults) and every hub limit the run would trip lifted (`hub_procs.EVERY_LIMIT_LIFTED`:
log-ins from one address, offers, peers per officer and in all). For each N, N real aiortc viewers run in worker
processes (`bench.fanout_viewer`, at most `--workers` of them, never this process), opened `--open-rate` a second.
Only `--probes` of them (2 by default, spread over the workers) decode every frame and read its capture stamp; the
others are tapped: after the real ICE and DTLS handshakes, their video's SRTP packets are taken from the socket,
unprotected and counted, never parsed or depacketized by aiortc (a frame at its marker packet; a tapped viewer that
saw no keyframe counts as 0 fps; like a decoder, it asks for a keyframe for each frame before the first). Through
aiortc's receive path 500 viewers would take more than a 2-core machine and measure the rig rather than the hub.
Once every viewer has its first frame (decoded, or a keyframe when tapped) and a warm-up has passed, a window of
`--seconds` is measured: the hub process's CPU (user + system, all its threads, no children) as % of one core, its
RSS at the end (MB = 2**20 bytes), each viewer's frame rate (fps min and p5 over every viewer, probes and tapped),
and the latency of every frame a probe decoded (receive wall time minus the capture stamp: both clocks are this
machine's). After the window one more viewer, which decodes, joins while the N are watching, gets its first frame
and leaves, `--joins` times a second apart; the median of their times from the WHEP request (offer and POST) to the
first decoded frame is the "first frame" figure.

Baseline, measured in the same run: transcode (decode once, encode per viewer), at the few N it can carry. The cost
of each extra viewer is the slope of a least-squares line through hub CPU % against N (also over only the N at
which every viewer kept up), printed with the ratio of transcode's slope to passthrough's. The viewers run on the
same machine as the hub and compete with it for the cores: the run reports the viewers', the agent's and the whole
machine's CPU (and the part of it that was not this run's), and says for each N when the rig ran out (the machine's
cores nearly all busy, or a viewer worker near a whole core) and what the hub turned away (refused offers, failed
handshakes, frames it did not forward, by reason, from its /metrics). PASS/FAIL lines for issue 18's targets: at
most 0.06 % of a core per extra passthrough viewer, and 500 viewers at 15 fps with the hub under one core.

    python -m bench.fanout [--counts 1,50,100,200,300,400,500] [--transcode-counts 1,2,4,8] [--seconds 8]
                           [--modes passthrough,transcode] [--open-rate 20] [--workers 4] [--probes 2] [--joins 3]
                           [--warmup 2] [--first-frame-timeout 30] [--logs DIR] [--json]
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import psutil

from bench import packet_floor
from bench.child import Child
from bench.fanout_viewer import percentile
from bench.hub_procs import EVERY_LIMIT_LIFTED
from tests.support.procs import Hub, Proc, running_agent, wait_until

CAMERA = "front-door"
MODES = ("passthrough", "transcode")
BASELINE = "transcode"
MB = 2**20
HELLO_TIMEOUT = 60.0
JOIN_GAP = 1.0  # between joiners: longer than the hub's keyframe request interval (0.5 s by default)
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

# Issue 18's targets for passthrough, printed as PASS/FAIL beside the figures (a checklist, not asserts).
TARGET_SLOPE = 0.06  # % of one core per extra viewer
TARGET_VIEWERS = 500
TARGET_FPS = 14.5  # "15 fps": every viewer, over the window
TARGET_VIEWERS_TEXT = f"{TARGET_VIEWERS} viewers at 15 fps with the hub under one core"
PASSTHROUGH_COUNTS = "1,50,100,200,300,400,500"
TRANSCODE_COUNTS = "1,2,4,8"  # what it carries on a 2-core machine: it is the baseline for the slope, no more
# Viewers opened a second. The hub's WHEP offers queue on its store; far faster and its consent lease lapses (see
# docs/benchmarks.md), which is the hub's join path, measured by bench.join_load, not its forwarding.
OPEN_RATE = 20.0
WORKERS = 4  # viewer worker processes at most
JOINS = 3  # joiners after each window
# A step measured the rig when the machine's cores were this busy, or one viewer worker this busy of one core.
RIG_MACHINE_BUSY = 0.9
RIG_WORKER_BUSY = 0.9


async def start_worker(
    url: str, viewers: int, probes: int, log_path: Path, first_frame_timeout: float, lifetime: float
) -> Child:
    """A `bench.fanout_viewer` process for `viewers` viewers of which `probes` decode; its stderr goes to `log_path`."""
    args = [
        "--hub", url, "--camera", CAMERA, "--viewers", str(viewers), "--probes", str(probes),
        "--first-frame-timeout", str(first_frame_timeout), "--max-seconds", str(lifetime),
    ]  # fmt: skip
    return await Child.start("bench.fanout_viewer", args, log_path)


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


def turned_away(counted: dict[str, int]) -> int:
    """Offers the hub refused and handshakes that failed on it, in counters from `grown`."""
    return sum(
        value
        for name, value in counted.items()
        if name.startswith(("porchlight_offer_refusals_total", "porchlight_handshake_failures_total"))
    )


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
    open_rate: float = OPEN_RATE  # viewers opened per second, over all workers
    logs: Path | None = None  # keep every process's log (and the hub's data) here rather than in a temporary dir


async def measure(hub: Hub, agent: Proc, n: int, mode: str, settings: Settings, logs: Path) -> dict[str, Any]:
    """One step: N viewers watching, a measured window, then a joiner. Every worker is stopped on the way out."""
    assert hub.proc is not None
    lifetime = HELLO_TIMEOUT + 3 * settings.first_frame_timeout + settings.warmup + settings.seconds + 120
    workers: list[Child] = []
    joiner: Child | None = None
    at_start = await hub_samples(hub)
    try:
        parts = min(n, settings.max_workers)
        # split() gives the lower indexes the extra one of both, so no worker gets more probes than viewers.
        for index, (count, decoding) in enumerate(
            zip(split(n, parts), split(min(settings.probes, n), parts), strict=True)
        ):
            log = logs / f"viewers-{mode}-{n}-{index}.log"
            workers.append(await start_worker(hub.url, count, decoding, log, settings.first_frame_timeout, lifetime))
        log = logs / f"joiner-{mode}-{n}.log"
        joiner = await start_worker(hub.url, 1, 1, log, settings.first_frame_timeout, lifetime)
        everyone = [*workers, joiner]
        await asyncio.gather(*(worker.expect("hello", HELLO_TIMEOUT) for worker in everyone))
        for worker in workers:
            worker.send({"cmd": "open", "rate": settings.open_rate / len(workers)})
        ready_timeout = n / settings.open_rate + 2 * settings.first_frame_timeout + 10
        readies = await asyncio.gather(*(worker.expect("ready", ready_timeout) for worker in workers))
        opened = await hub_samples(hub)
        await asyncio.sleep(settings.warmup)

        hub_ps = psutil.Process(hub.proc.proc.pid)
        agent_ps = psutil.Process(agent.proc.pid)
        worker_ps = [psutil.Process(worker.proc.pid) for worker in workers]
        keyframes_before = await hub_metric(hub, "porchlight_keyframe_requests_total")
        began_wall, began = time.time(), time.monotonic()
        hub_before, agent_before = cpu_seconds(hub_ps), cpu_seconds(agent_ps)
        workers_before, machine_before = list(map(cpu_seconds, worker_ps)), machine_busy_seconds()
        await asyncio.sleep(settings.seconds)
        hub_after, agent_after = cpu_seconds(hub_ps), cpu_seconds(agent_ps)
        workers_after, machine_after = list(map(cpu_seconds, worker_ps)), machine_busy_seconds()
        ended_wall, wall = time.time(), time.monotonic() - began
        if hub.proc.proc.returncode is not None or not hub_ps.is_running():
            raise RuntimeError(f"the hub exited during the measurement ({hub.proc.proc.returncode})")
        rss = hub_ps.memory_info().rss / MB
        keyframes_after = await hub_metric(hub, "porchlight_keyframe_requests_total")
        at_end = await hub_samples(hub)

        reports = await asyncio.gather(
            *(
                worker.collect({"cmd": "report", "start": began_wall, "end": ended_wall}, "viewer", 30)
                for worker in workers
            )
        )
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
    worker_pct = [(after - before) / wall * 100 for before, after in zip(workers_before, workers_after, strict=True)]
    opening, window = grown(at_start, opened, COUNTED), grown(opened, at_end, COUNTED)
    return {
        "mode": mode,
        "n": n,
        "hub_cpu_pct": round((hub_after - hub_before) / wall * 100, 2),
        "fps_min": round(min(row["fps"] for row in viewers), 2),
        "fps_p5": round(percentile([row["fps"] for row in viewers], 0.05) or 0.0, 2),
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
        # Video RTP packets a tapped viewer got a second, on average since it opened, and the gaps in them.
        "tapped_packets_per_s": (
            round(statistics.fmean(row["packets"] for row in tapped) / (wall + settings.warmup), 1) if tapped else None
        ),
        "tapped_lost": sum(row["lost"] for row in tapped),
        # The N viewers opened at once: decoding ones to their first decoded frame, tapped ones to a keyframe.
        "initial_first_frame_p50_ms": round(statistics.median(initial), 1) if initial else None,
        "initial_first_keyframe_p50_ms": round(statistics.median(initial_keyframe), 1) if initial_keyframe else None,
        "viewers_without_frame": sum(1 for ms, _ in firsts if ms is None),
        "unstamped_frames": sum(row["unstamped"] for row in viewers),
        "agent_cpu_pct": round((agent_after - agent_before) / wall * 100, 2),
        "viewers_cpu_pct": round(sum(worker_pct), 2),
        "viewer_workers": len(workers),
        "busiest_worker_cpu_pct": round(max(worker_pct), 2),
        # The machine's busy time that was not the hub, the agent or the viewer workers (other work on the machine,
        # the kernel's softirq time for the loopback traffic, this process).
        "others_cpu_pct": round(
            (machine_after - machine_before - hub_after + hub_before - agent_after + agent_before) / wall * 100
            - sum(worker_pct),
            2,
        ),
        "machine_cpu_pct": round((machine_after - machine_before) / wall * 100, 2),
        # What the hub counted while the N opened, and during the window: refusals, failed handshakes, frames it
        # did not forward (by reason), keyframe wants and requests. Says whether the hub turned viewers away.
        "hub_counted_opening": opening,
        "hub_counted_window": window,
        "hub_turned_away": turned_away(opening) + turned_away(window),
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


def rig_limit(row: dict[str, Any], cores: int) -> str | None:
    """Why this step measured the rig rather than the hub, or None: the machine's cores were nearly all busy (the
    hub, its viewers, the camera's agent and anything else running here compete for them), or a viewer worker
    process was near one core of its own (its viewers' packets wait in its event loop)."""
    reasons = []
    if row["machine_cpu_pct"] >= RIG_MACHINE_BUSY * cores * 100:
        reasons.append(
            f"the machine's {cores} cores were {row['machine_cpu_pct']:.0f}% busy, {row['others_cpu_pct']:.0f}% of it"
            " not this run's processes"
        )
    if row["busiest_worker_cpu_pct"] >= RIG_WORKER_BUSY * 100:
        reasons.append(f"a viewer worker took {row['busiest_worker_cpu_pct']:.0f}% of a core")
    return "; ".join(reasons) or None


def fitted_slope(rows: list[dict[str, Any]]) -> float | None:
    """Hub CPU % of a core per extra viewer: the least-squares slope through (N, hub CPU %), rounded."""
    fitted = slope((row["n"], row["hub_cpu_pct"]) for row in rows)
    return None if fitted is None else round(fitted, 4)


async def run(modes: list[str], counts: dict[str, list[int]], settings: Settings, progress: bool) -> dict[str, Any]:
    """Every mode at its N, then the per-viewer slopes, their ratio to the transcode baseline's, what limited each
    step (the hub turning viewers away, or the rig) and the targets."""
    runs: list[dict[str, Any]] = []
    for mode in modes:
        runs.extend(await run_mode(mode, counts[mode], settings, progress))
    cores = psutil.cpu_count() or 1
    for row in runs:
        row["rig_ran_out"] = rig_limit(row, cores)
    by_key = {(row["mode"], row["n"]): row for row in runs}
    ratio: dict[str, float | None] = {}
    for n in sorted({row["n"] for row in runs}):
        base, other = by_key.get((BASELINE, n)), by_key.get(("passthrough", n))
        if base is not None and other is not None:
            ratio[str(n)] = round(base["hub_cpu_pct"] / other["hub_cpu_pct"], 2) if other["hub_cpu_pct"] > 0 else None
    per_viewer: dict[str, float | None] = {}
    keeping_up: dict[str, float | None] = {}
    for mode in modes:
        rows = [row for row in runs if row["mode"] == mode]
        per_viewer[mode] = fitted_slope(rows)
        # Only the N at which every viewer kept up: a hub that cannot send every frame flattens the line.
        keeping_up[mode] = fitted_slope([row for row in rows if row["fps_min"] >= TARGET_FPS])
    fast, slow = per_viewer.get("passthrough"), per_viewer.get(BASELINE)
    widest = max((row["n"] for row in runs if row["mode"] == "passthrough"), default=1)
    floor_us = await asyncio.to_thread(packet_floor.measure, destinations=widest)
    rates = [
        row["tapped_packets_per_s"] for row in runs if row["mode"] == "passthrough" and row["tapped_packets_per_s"]
    ]
    # What an extra viewer cannot cost less than on this machine: its packets, each SRTP-protected and sent.
    floor_pct = round(floor_us * statistics.median(rates) / 1e6 * 100, 4) if rates else None
    kept = keeping_up.get("passthrough")
    result = {
        "runs": runs,
        "cpu_ratio": ratio,
        "per_viewer_cpu_pct": per_viewer,
        "per_viewer_cpu_pct_keeping_up": keeping_up,
        # How many times less each extra passthrough viewer costs than a transcoded one, both fitted in this run.
        "slope_ratio_transcode_to_passthrough": round(slow / fast, 1) if fast and slow is not None else None,
        "packet_floor_us": floor_us,
        "packet_floor_destinations": widest,
        "floor_per_viewer_cpu_pct": floor_pct,
        # Each extra passthrough viewer's cost as a multiple of that floor, both measured in this run.
        "per_viewer_over_floor": round(kept / floor_pct, 2) if kept is not None and floor_pct else None,
        "cores": cores,
    }
    result["targets"] = targets(result)
    return result


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 18's two targets for passthrough, each with `ok` (None when not measured) and what was measured."""
    rows = [row for row in result["runs"] if row["mode"] == "passthrough"]
    fitted = result["per_viewer_cpu_pct_keeping_up"].get("passthrough")
    kept = [row["n"] for row in rows if row["fps_min"] >= TARGET_FPS]
    slope_line = {
        "target": f"<= {TARGET_SLOPE} % of a core per extra viewer",
        "ok": None if fitted is None else fitted <= TARGET_SLOPE,
        "measured": f"{fmt(fitted, '.3f')} % (fitted over N={','.join(map(str, kept)) or '-'})",
    }
    big = max(rows, key=lambda row: row["n"], default=None)
    if big is None or big["n"] < TARGET_VIEWERS:
        viewers_line = {"target": TARGET_VIEWERS_TEXT, "ok": None, "measured": f"N={TARGET_VIEWERS} not measured"}
    else:
        ok = big["fps_min"] >= TARGET_FPS and big["hub_cpu_pct"] < 100 and big["viewers_without_frame"] == 0
        measured = (
            f"N={big['n']}: hub {big['hub_cpu_pct']:.1f}% of a core, fps min {big['fps_min']:.1f} "
            f"(p5 {big['fps_p5']:.1f}), {big['viewers_without_frame']} without a frame"
        )
        if not ok and big["rig_ran_out"]:
            measured += f"; the rig ran out ({big['rig_ran_out']}), not necessarily the hub"
        if big["hub_turned_away"]:
            measured += f"; the hub turned {big['hub_turned_away']} away"
        viewers_line = {"target": TARGET_VIEWERS_TEXT, "ok": ok, "measured": measured}
    return [slope_line, viewers_line]


def fmt(value: float | None, spec: str) -> str:
    """`value` formatted, or a dash when it was not measured."""
    return "-" if value is None else format(value, spec)


def print_report(result: dict[str, Any], modes: list[str], settings: Settings) -> None:
    """The human-readable tables, the limits met on the way, and PASS/FAIL for the targets."""
    print(
        f"fan-out of one 640x480 15 fps camera; {settings.seconds:g} s window after a {settings.warmup:g} s warm-up; "
        f"viewers opened {settings.open_rate:g} a second; first frame: median of {settings.joins} joiner(s) after "
        f"the window; baseline: transcode, in the same run; every hub limit the run would trip lifted (log-ins, "
        f"offers, peers)"
    )
    print(
        "'probes': viewers that decoded (latency comes from them); the others counted their video's SRTP packets "
        "below aiortc; fps min and p5 are over all N; a tapped viewer that saw no keyframe counts as 0 fps"
    )
    print(
        f"{'mode':<12} {'N':>4} {'probes':>6} {'hub CPU %':>9} {'hub RSS MB':>10} {'fps min':>7} {'fps p5':>6} "
        f"{'first frame ms':>14} {'lat p50 ms':>10} {'lat p95 ms':>10} {'no frame':>8} {'turned away':>11}"
    )
    for row in result["runs"]:
        print(
            f"{row['mode']:<12} {row['n']:>4} {row['probes']:>6} {row['hub_cpu_pct']:>9.1f} {row['hub_rss_mb']:>10.1f} "
            f"{row['fps_min']:>7.1f} {row['fps_p5']:>6.1f} {fmt(row['first_frame_ms'], '.0f'):>14} "
            f"{fmt(row['latency_p50_ms'], '.0f'):>10} {fmt(row['latency_p95_ms'], '.0f'):>10} "
            f"{row['viewers_without_frame'] + row['joins_without_frame']:>8} {row['hub_turned_away']:>11}"
        )
    print(
        "\nhub CPU per extra viewer (least-squares slope against N; 'keeping up': only N where fps min >= "
        f"{TARGET_FPS}):"
    )
    for mode, value in result["per_viewer_cpu_pct"].items():
        kept = result["per_viewer_cpu_pct_keeping_up"].get(mode)
        print(f"  {mode:<12} {fmt(value, '.3f')} % of a core   (keeping up: {fmt(kept, '.3f')} %)")
    print(f"  transcode / passthrough per extra viewer: {fmt(result['slope_ratio_transcode_to_passthrough'], '.1f')}x")
    print(
        f"  the floor, measured in this run (bench.packet_floor): {fmt(result['packet_floor_us'], '.2f')} us of CPU "
        f"per packet (SRTP protect + loopback send to {result['packet_floor_destinations']} sockets in turn, their "
        "delivery included), so "
        f"{fmt(result['floor_per_viewer_cpu_pct'], '.3f')} % of a core per viewer at the packets a viewer got; "
        f"passthrough per extra viewer: {fmt(result['per_viewer_over_floor'], '.2f')}x the floor"
    )
    for n, ratio in result["cpu_ratio"].items():
        print(f"  hub CPU at N={n}, transcode / passthrough: {fmt(ratio, '.1f')}x")
    print(
        f"\nthe rig (CPU % of one core over the window; the machine has {result['cores']} cores, shared with"
        " anything else running): 'machine' is every core's busy time; 'busiest worker' one viewer process;"
        " 'pkt/s': video packets a tapped viewer got a second; 'lost': gaps in their sequence numbers; PLIs: keyframe"
        " requests the hub sent the camera in the window"
    )
    print(
        f"{'mode':<12} {'N':>4} {'agent %':>7} {'viewers %':>9} {'workers':>7} {'busiest worker %':>16} "
        f"{'machine %':>9} {'per viewer %':>12} {'pkt/s':>6} {'lost':>5} {'min keys':>8} {'PLIs':>5}"
    )
    for row in result["runs"]:
        print(
            f"{row['mode']:<12} {row['n']:>4} {row['agent_cpu_pct']:>7.1f} {row['viewers_cpu_pct']:>9.1f} "
            f"{row['viewer_workers']:>7} {row['busiest_worker_cpu_pct']:>16.1f} {row['machine_cpu_pct']:>9.1f} "
            f"{row['viewers_cpu_pct'] / row['n']:>12.2f} {fmt(row['tapped_packets_per_s'], '.0f'):>6} "
            f"{row['tapped_lost']:>5} {fmt(row['tapped_keyframes_min'], 'd'):>8} "
            f"{fmt(row['keyframe_requests'], 'd'):>5}"
        )
    print("\nwhat limited each step:")
    for row in result["runs"]:
        notes = []
        if row["rig_ran_out"]:
            notes.append(f"the rig ran out: {row['rig_ran_out']} (the hub competed for the cores)")
        for phase in ("opening", "window"):
            dropped = {
                name: value
                for name, value in row[f"hub_counted_{phase}"].items()
                if not name.startswith(('porchlight_frames_total{reason="ok"}', "porchlight_keyframe"))
            }
            if dropped:
                notes.append(f"the hub counted while {phase}: " + ", ".join(f"{k} {v}" for k, v in dropped.items()))
        print(f"  {row['mode']} N={row['n']}: " + ("; ".join(notes) if notes else "nothing: hub and rig kept up"))
    print("\ntargets (passthrough):")
    for line in result["targets"]:
        verdict = "n/a " if line["ok"] is None else "PASS" if line["ok"] else "FAIL"
        print(f"  {verdict} {line['target']}: {line['measured']}")


def parse_list(text: str) -> list[str]:
    """A comma-separated list without empty items."""
    return [item.strip() for item in text.split(",") if item.strip()]


def parse_counts(text: str) -> list[int]:
    """Viewer counts: positive integers, comma-separated; ValueError otherwise."""
    counts = [int(item) for item in parse_list(text)]
    if not counts or min(counts) < 1:
        raise ValueError(text)
    return counts


def main() -> None:
    """Parse the arguments, run every mode at its N, print the tables or one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default=PASSTHROUGH_COUNTS, help="passthrough viewer counts N, comma-separated")
    parser.add_argument(
        "--transcode-counts", default=TRANSCODE_COUNTS, help="transcode (baseline) viewer counts, comma-separated"
    )
    parser.add_argument("--seconds", type=float, default=8.0, help="measured window per N")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds after every first frame, before the window")
    parser.add_argument("--modes", default=",".join(MODES), help="forwarding modes, comma-separated")
    parser.add_argument("--workers", type=int, default=WORKERS, help="at most this many viewer worker processes")
    parser.add_argument(
        "--probes", type=int, default=2, help="viewers per N that decode (latency); the others are tapped"
    )
    parser.add_argument("--joins", type=int, default=JOINS, help="joiners after each window, one at a time")
    parser.add_argument("--first-frame-timeout", type=float, default=30.0, help="per viewer, seconds")
    parser.add_argument(
        "--open-rate", type=float, default=OPEN_RATE, help="viewers opened per second, over all workers"
    )
    parser.add_argument("--logs", type=Path, default=None, help="keep every process's log in this directory")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    try:
        counts = {"passthrough": parse_counts(args.counts), "transcode": parse_counts(args.transcode_counts)}
    except ValueError:
        parser.error("--counts and --transcode-counts need positive integers")
    modes = parse_list(args.modes)
    if not modes or set(modes) - set(MODES):
        parser.error(f"--modes takes {', '.join(MODES)}")
    if args.seconds <= 0 or args.warmup < 0 or args.workers < 1 or args.joins < 1 or args.probes < 1:
        parser.error("--seconds must be positive, --warmup not negative, --workers, --joins and --probes at least 1")
    if args.open_rate <= 0:
        parser.error("--open-rate must be positive")
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
