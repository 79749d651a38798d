"""Cluster: one camera on hub A, N officers watching it split over hubs A, B and C, beside the same N on A alone.

The rig (`bench.cluster_rig`): one real redis-server, three hub processes on it (passthrough forwarding, every limit
the run would trip lifted, log-ins included, the hub-to-hub secret shared), and one synthetic camera agent (640x480,
15 fps, VP8) on hub A. Viewers are real aiortc WHEP viewers in worker processes (`bench.cluster_viewer`, at most
`--per-worker` viewers each); `--probes` of them decode every frame and read its capture stamp (latency and the
withdrawal's last frame), the others are tapped (their encoded frames counted, never decoded; see
`bench.fanout_viewer`), so the viewers do not take the machine the hubs run on.

Three phases in one run, each a cold start (the agent is asked to publish), a warm-up and a measured window of
`--seconds`, in which the CPU (user + system, all threads) of every hub, the agent, redis-server and the viewer
workers is read, as % of one core:

1. baseline: all N viewers on hub A (the baseline every ratio is taken against);
2. baseline for A's share: only the viewers the cluster phase puts on A (k of them), on A;
3. cluster: the N viewers split over A, B and C (k on A); B and C serve theirs through one relay each from A. After
   the window the resident withdraws consent through `--withdraw-on` (hub B by default) while every viewer watches:
   each viewer's last frame, relative to the start of the withdrawal call, and the frames captured after it.

Figures:
- hub CPU per viewer on each hub: the hub's CPU over the viewers it served; B's and C's include pulling the relay;
- the relay's cost on A: A's CPU in the cluster phase minus A's CPU with the same k viewers and no relay (phase 2),
  so what is left is what serving B and C costs A; divided by the number of relays, and in viewers: over A's cost
  per extra viewer (phases 1 and 2: (CPU(N) - CPU(k)) / (N - k));
- fps (lowest and mean) and glass-to-glass latency (capture stamp to decoded frame, p50 and p95, both clocks this
  machine's) at each hub's viewers; the relay's added latency is the p50 of B's and C's probes minus the p50 of A's
  probes in the same window (target: at most 20 ms), also shown against phase 1's p50;
- withdrawal to last frame across hubs: per hub, the newest capture stamp a probe got minus the withdrawal call's
  start, and frames captured at or after it (must be 0 on every hub).

A hub that answers a WHEP request for A's camera with 307 (a tree without the relay, or `cluster.whep_redirect`)
hands its viewers to A: each viewer's resource URL says which hub served it, and the run says so (the "cluster"
figures are then redirects, not relays). The viewers, the agent and Redis share the machine with the hubs: their CPU
is printed, and a window in which the machine was nearly saturated is flagged as measuring the rig.

    python -m bench.cluster [--viewers 30] [--probes 6] [--seconds 8] [--warmup 2] [--per-worker 8]
                            [--withdraw-on b] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from bench.child import Child
from bench.cluster_rig import CAMERA, NAMES, Rig, cluster_rig
from bench.fanout import HELLO_TIMEOUT, cpu_seconds, fmt, hub_metric, machine_busy_seconds, split
from bench.fanout_viewer import percentile
from bench.output import run_and_report
from porchlight_rtc.ice import enable_loopback
from tests.conftest import PASSWORDS
from tests.support.client import Api
from tests.support.procs import wait_until
from tests.support.redis_server import redis_available

SETTLE_TIMEOUT = 30.0
END_TIMEOUT = 10.0  # every viewer's `end` event and track end after the withdrawal
RESIDENT = "alice"
# A window in which the machine's cores were this busy measured the machine as much as the hubs.
RIG_LIMIT = 0.9

# Targets, printed beside the figures.
TARGET_RELAY_P50_MS = 20.0
TARGET_FRAMES_AFTER = 0


@dataclass(frozen=True)
class Settings:
    """What one run measures."""

    viewers: int
    probes: int
    seconds: float
    warmup: float
    per_worker: int
    first_frame_timeout: float
    withdraw_on: str
    appendonly: bool = False
    progress: bool = False


def say(settings: Settings, text: str) -> None:
    """A progress line on stderr (not with --json)."""
    if settings.progress:
        print(text, file=sys.stderr, flush=True)


async def start_worker(url: str, viewers: int, probes: int, log: Path, settings: Settings) -> Child:
    """A `bench.cluster_viewer` process for `viewers` viewers on the hub at `url`, `probes` of them decoding."""
    lifetime = HELLO_TIMEOUT + 3 * settings.first_frame_timeout + settings.warmup + settings.seconds + END_TIMEOUT + 120
    args = [
        "--hub", url, "--camera", CAMERA, "--viewers", str(viewers), "--probes", str(probes),
        "--first-frame-timeout", str(settings.first_frame_timeout), "--max-seconds", str(lifetime),
    ]  # fmt: skip
    return await Child.start("bench.cluster_viewer", args, log)


def placement(total: int, names: tuple[str, ...]) -> dict[str, int]:
    """`total` over the hubs of `names`, as evenly as possible (the first ones get the extra)."""
    return dict(zip(names, split(total, len(names)), strict=True))


@dataclass
class Withdrawal:
    """The resident's withdrawal call, made through one hub while every viewer watches."""

    hub: str
    t0: float
    status: int
    call_ms: float
    body: Any


class Cpu:
    """CPU seconds of a set of processes and of the whole machine, read at the start and end of a window."""

    def __init__(self, processes: dict[str, psutil.Process]) -> None:
        self.processes = processes
        self.began = time.monotonic()
        self.before = {name: cpu_seconds(proc) for name, proc in processes.items()}
        self.machine_before = machine_busy_seconds()

    def percent(self) -> dict[str, float]:
        """Each process's CPU since the start, as % of one core, and the machine's as `machine`."""
        wall = time.monotonic() - self.began
        after = {name: cpu_seconds(proc) for name, proc in self.processes.items()}
        figures = {name: round((after[name] - self.before[name]) / wall * 100, 2) for name in self.processes}
        figures["machine"] = round((machine_busy_seconds() - self.machine_before) / wall * 100, 2)
        return figures


async def phase(
    rig: Rig, name: str, viewers: dict[str, int], probes: dict[str, int], settings: Settings, logs: Path, withdraw: bool
) -> dict[str, Any]:
    """One phase: the viewers of `viewers` (per hub) watching, a measured window, then (with `withdraw`) the
    resident's withdrawal through `settings.withdraw_on`. Every worker is stopped on the way out."""
    workers: dict[str, list[Child]] = {hub: [] for hub in viewers}
    resident: Api | None = None
    try:
        for hub, count in viewers.items():
            parts = max(1, math.ceil(count / settings.per_worker))
            for index, (share, decoding) in enumerate(zip(split(count, parts), split(probes[hub], parts), strict=True)):
                log = logs / f"viewers-{name}-{hub}-{index}.log"
                workers[hub].append(await start_worker(rig.hubs[hub].url, share, decoding, log, settings))
        everyone = [worker for group in workers.values() for worker in group]
        await asyncio.gather(*(worker.expect("hello", HELLO_TIMEOUT) for worker in everyone))
        if withdraw:
            resident = await Api(rig.hubs[settings.withdraw_on].url).login(RESIDENT, PASSWORDS[RESIDENT])
        for worker in everyone:
            worker.send({"cmd": "open"})
        ready_timeout = 2 * settings.first_frame_timeout + 10
        readies = {
            hub: await asyncio.gather(*(worker.expect("ready", ready_timeout) for worker in group))
            for hub, group in workers.items()
        }
        await asyncio.sleep(settings.warmup)

        processes = {hub: psutil.Process(rig.hubs[hub].proc.proc.pid) for hub in rig.hubs}  # type: ignore[union-attr]
        processes["agent"] = psutil.Process(rig.agent.proc.pid)
        processes["redis"] = psutil.Process(rig.redis.pid)
        for index, worker in enumerate(everyone):
            processes[f"worker-{index}"] = psutil.Process(worker.proc.pid)
        gauges_before = {hub: await hub_metric(rig.hubs[hub], "porchlight_keyframe_requests_total") for hub in rig.hubs}
        began_wall = time.time()
        cpu = Cpu(processes)
        await asyncio.sleep(settings.seconds)
        used = cpu.percent()
        ended_wall = time.time()
        gauges = {
            hub: {
                "viewers_gauge": await hub_metric(rig.hubs[hub], "porchlight_viewers"),
                "peer_connections": await hub_metric(rig.hubs[hub], "porchlight_peer_connections"),
                "keyframe_requests": _delta(
                    gauges_before[hub], await hub_metric(rig.hubs[hub], "porchlight_keyframe_requests_total")
                ),
            }
            for hub in rig.hubs
        }
        reports = {
            hub: [
                row
                for rows in await asyncio.gather(
                    *(
                        worker.collect({"cmd": "report", "start": began_wall, "end": ended_wall}, "viewer", 30)
                        for worker in group
                    )
                )
                for row in rows
            ]
            for hub, group in workers.items()
        }
        withdrawal: Withdrawal | None = None
        endings: dict[str, list[dict[str, Any]]] = {}
        if resident is not None:
            say(settings, f"  {name}: withdrawing through hub {settings.withdraw_on.upper()}")
            t0 = time.time()
            began = time.perf_counter()
            status, body = await resident.call("DELETE", f"/api/cameras/{CAMERA}/grant")
            withdrawal = Withdrawal(settings.withdraw_on, t0, status, (time.perf_counter() - began) * 1000, body)
            command = {"cmd": "ended", "t0": t0, "timeout": END_TIMEOUT}
            for hub, group in workers.items():
                answers = await asyncio.gather(*(w.collect(command, "ending", END_TIMEOUT + 30) for w in group))
                endings[hub] = [row for rows in answers for row in rows]
    finally:
        if resident is not None:
            await resident.close()
        every = [worker for group in workers.values() for worker in group]
        await asyncio.gather(*(worker.stop() for worker in every), return_exceptions=True)

    # Which hub served each viewer (its WHEP resource's origin): a hub that redirects hands its viewers to another.
    served = Counter(origin for group in readies.values() for ready in group for origin in ready["served_by"])
    hubs = {
        hub: hub_figures(hub, rig.hubs[hub].url, readies[hub], reports[hub], used[hub], gauges[hub], served)
        for hub in viewers
    }
    for hub in rig.hubs:
        if hub not in hubs:  # a hub without viewers in this phase: its CPU all the same
            served_here = served[rig.hubs[hub].url]
            hubs[hub] = {"hub": hub, "viewers": 0, "served": served_here, "hub_cpu_pct": used[hub], **gauges[hub]}
    workers_pct = sum(value for key, value in used.items() if key.startswith("worker-"))
    ours = sum(value for key, value in used.items() if key != "machine")
    return {
        "phase": name,
        "hubs": hubs,
        "agent_cpu_pct": used["agent"],
        "redis_cpu_pct": used["redis"],
        "viewers_cpu_pct": round(workers_pct, 2),
        "machine_cpu_pct": used["machine"],
        # What the machine did besides this run's processes (other users of a shared machine).
        "others_cpu_pct": round(max(0.0, used["machine"] - ours), 2),
        "rig_limited": used["machine"] >= RIG_LIMIT * 100 * (psutil.cpu_count() or 1),
        "withdrawal": None if withdrawal is None else withdrawal_figures(withdrawal, endings),
    }


def _delta(before: float | None, after: float | None) -> int | None:
    return None if before is None or after is None else int(after - before)


def hub_figures(
    hub: str,
    url: str,
    readies: list[dict[str, Any]],
    rows: list[dict[str, Any]],
    cpu: float,
    gauges: dict[str, Any],
    served: Counter[str | None],
) -> dict[str, Any]:
    """One hub's figures in one phase: the viewers that asked it, who served them, its CPU per viewer it served
    (`served`: how many viewers of the phase each origin served, whichever hub they asked), and what they got."""
    origins = [origin for ready in readies for origin in ready["served_by"]]
    latency = [value for row in rows if row["decoding"] for value in row["latency_ms"]]
    firsts = [ms for ready in readies for ms in ready["first_frame_ms"]]
    count = len(rows)
    return {
        "hub": hub,
        "viewers": count,
        "served_here": sum(1 for origin in origins if origin == url),
        "handed_off": sum(1 for origin in origins if origin is not None and origin != url),
        "refused": sum(1 for origin in origins if origin is None),
        "served": served[url],  # every viewer this hub served, its own and those other hubs handed to it
        "hub_cpu_pct": cpu,
        "hub_cpu_per_viewer_pct": round(cpu / served[url], 3) if served[url] else None,
        "fps_min": round(min(row["fps"] for row in rows), 2) if rows else None,
        "fps_mean": round(statistics.fmean(row["fps"] for row in rows), 2) if rows else None,
        "probes": sum(1 for row in rows if row["decoding"]),
        "latency_ms": latency,
        "latency_p50_ms": round(statistics.median(latency), 1) if latency else None,
        "latency_p95_ms": _round(percentile(latency, 0.95)),
        "viewers_without_frame": sum(1 for ms in firsts if ms is None),
        "first_frame_p50_ms": _round(percentile([ms for ms in firsts if ms is not None], 0.5)),
        **gauges,
    }


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def withdrawal_figures(withdrawal: Withdrawal, endings: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """The withdrawal's answer and, per hub, what its viewers got relative to the call's start."""
    body = withdrawal.body if isinstance(withdrawal.body, dict) else {}
    per_hub = {}
    for hub, rows in endings.items():
        probes = [row for row in rows if row["decoding"]]
        tapped = [row for row in rows if not row["decoding"]]
        last = [row["last_capture_ms"] for row in probes if row["last_capture_ms"] is not None]
        arrivals = [row["last_arrival_ms"] for row in tapped if row["last_arrival_ms"] is not None]
        ends = [row["end_ms"] for row in rows if row["end_ms"] is not None]
        per_hub[hub] = {
            "viewers": len(rows),
            "probes": len(probes),
            "last_capture_p50_ms": _round(percentile(last, 0.5)),
            "last_capture_max_ms": _round(max(last)) if last else None,
            "frames_after": sum(row["frames_after"] for row in probes),
            "tapped_last_arrival_max_ms": _round(max(arrivals)) if arrivals else None,
            "tapped_frames_after_end": sum(row["frames_after"] for row in tapped),
            "end_p50_ms": _round(percentile(ends, 0.5)),
            "end_max_ms": _round(max(ends)) if ends else None,
            "without_end": sum(1 for row in rows if row["end_ms"] is None),
            "end_reasons": sorted({str(row["end_reason"]) for row in rows}),
        }
    return {
        "through": withdrawal.hub,
        "status": withdrawal.status,
        "call_ms": round(withdrawal.call_ms, 1),
        "confirmed": (body.get("gates") or {}).get("confirmed"),
        "views_ended": body.get("views_ended"),
        "gates": body.get("gates"),
        "frames_after": sum(row["frames_after"] for row in per_hub.values()),
        "hubs": per_hub,
    }


async def settle(rig: Rig, publishing_stops: int) -> None:
    """Wait until no hub has a viewer, A has no publisher and the agent logged its `publishing_stops`th stop."""

    async def idle() -> bool:
        for hub in rig.hubs.values():
            if await hub_metric(hub, "porchlight_viewers") != 0:
                return False
        return await hub_metric(rig.owner, "porchlight_publishers") == 0

    await wait_until(idle, SETTLE_TIMEOUT, "every hub to have no viewers and A no publisher", interval=0.2)
    await rig.agent.wait_log_count("publishing stopped", publishing_stops, timeout=SETTLE_TIMEOUT)


def derive(base: dict[str, Any], base_share: dict[str, Any], cluster: dict[str, Any], n: int) -> dict[str, Any]:
    """The figures across phases: per-viewer CPU against the baseline, the relay's cost on A, its added latency."""
    a_all, a_share, a_cluster = base["hubs"]["a"], base_share["hubs"]["a"], cluster["hubs"]["a"]
    k = a_share["viewers"]
    # A's cost per extra viewer, from the two baselines (the camera's intake cancels out).
    marginal = (a_all["hub_cpu_pct"] - a_share["hub_cpu_pct"]) / (n - k) if n > k else None
    others = [hub for hub in NAMES[1:] if cluster["hubs"][hub]["viewers"]]
    relays = [hub for hub in others if cluster["hubs"][hub]["served_here"]]
    redirected = [hub for hub in others if cluster["hubs"][hub]["handed_off"]]
    cost = round(a_cluster["hub_cpu_pct"] - a_share["hub_cpu_pct"], 2) if relays else None
    per_relay = round(cost / len(relays), 2) if cost is not None else None
    direct = a_cluster["latency_ms"]
    relayed = [value for hub in relays for value in cluster["hubs"][hub]["latency_ms"]]
    added = round(statistics.median(relayed) - statistics.median(direct), 1) if relayed and direct else None
    against_base = (
        round(statistics.median(relayed) - a_all["latency_p50_ms"], 1)
        if relayed and a_all["latency_p50_ms"] is not None
        else None
    )
    per_viewer = a_all["hub_cpu_per_viewer_pct"]
    total = sum(row["hub_cpu_pct"] for row in cluster["hubs"].values())
    return {
        "baseline_cpu_per_viewer_pct": per_viewer,
        "marginal_cpu_per_viewer_pct": None if marginal is None else round(marginal, 3),
        "cpu_per_viewer_ratio": {
            hub: (
                round(row["hub_cpu_per_viewer_pct"] / per_viewer, 2)
                if row["hub_cpu_per_viewer_pct"] is not None and per_viewer
                else None
            )
            for hub, row in cluster["hubs"].items()
        },
        "relays": relays,
        "redirected": redirected,
        "relay_cost_on_a_pct": cost,
        "relay_cost_per_relay_pct": per_relay,
        "relay_cost_in_viewers": (
            round(per_relay / marginal, 1) if per_relay is not None and marginal is not None and marginal > 0 else None
        ),
        "cluster_cpu_total_pct": round(total, 2),
        "cluster_cpu_ratio": round(total / a_all["hub_cpu_pct"], 2) if a_all["hub_cpu_pct"] > 0 else None,
        "relay_added_latency_p50_ms": added,
        "relay_added_latency_vs_baseline_p50_ms": against_base,
        "relay_latency_pass": None if added is None else added <= TARGET_RELAY_P50_MS,
    }


async def run(settings: Settings) -> dict[str, Any]:
    """The three phases on one rig, then the figures across them."""
    if not redis_available():
        raise SystemExit("redis-server is not installed (make system-deps installs it)")
    enable_loopback()
    started = time.monotonic()
    n = settings.viewers
    shares = placement(n, NAMES)
    probe_shares = {hub: min(count, shares[hub]) for hub, count in placement(settings.probes, NAMES).items()}
    k, k_probes = shares["a"], probe_shares["a"]
    with tempfile.TemporaryDirectory(prefix="porchlight-cluster-") as tmp:
        root = Path(tmp)
        say(settings, f"starting redis-server, hubs {', '.join(h.upper() for h in NAMES)} and the camera on A")
        try:
            async with cluster_rig(root, settings.appendonly) as rig:
                phases: list[dict[str, Any]] = []
                plan = [
                    ("baseline", {"a": n}, {"a": min(n, settings.probes)}, False),
                    ("baseline_share", {"a": k}, {"a": k_probes}, False),
                    ("cluster", shares, probe_shares, True),
                ]
                for step, (name, viewers, probes, withdraw) in enumerate(plan, start=1):
                    say(settings, f"phase {name}: " + ", ".join(f"{c} on {h.upper()}" for h, c in viewers.items()))
                    phases.append(await phase(rig, name, viewers, probes, settings, root, withdraw))
                    if not withdraw:
                        await settle(rig, step)
        except Exception:
            dump_logs(root)
            raise
    base, base_share, cluster = phases
    return {
        "viewers": n,
        "placement": shares,
        "probes": probe_shares,
        "seconds": settings.seconds,
        "redis_appendonly": settings.appendonly,
        "phases": {row["phase"]: _without_samples(row) for row in phases},
        "derived": derive(base, base_share, cluster, n),
        "withdrawal": cluster["withdrawal"],
        "rig_limited": [row["phase"] for row in phases if row["rig_limited"]],
        "cores": psutil.cpu_count(),
        "run_seconds": round(time.monotonic() - started, 1),
    }


def _without_samples(row: dict[str, Any]) -> dict[str, Any]:
    """A phase without its raw latency samples (the JSON stays small; the percentiles are kept)."""
    hubs = {hub: {k: v for k, v in figures.items() if k != "latency_ms"} for hub, figures in row["hubs"].items()}
    return {**{k: v for k, v in row.items() if k != "hubs"}, "hubs": hubs}


def dump_logs(root: Path, lines: int = 15) -> None:
    """The last lines of every process log of a failed run, on stderr (the directory is about to go)."""
    for path in sorted(root.rglob("*.log")):
        tail = path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
        print(f"--- {path.relative_to(root)} (last {len(tail)} lines)", file=sys.stderr)
        print("\n".join(tail), file=sys.stderr)


def report(result: dict[str, Any]) -> None:
    """The human-readable tables."""
    derived, phases = result["derived"], result["phases"]
    placed = ", ".join(f"{count} on {hub.upper()}" for hub, count in result["placement"].items())
    print(
        f"cluster: one 640x480 15 fps camera on hub A, {result['viewers']} viewers; cluster phase {placed}; "
        f"{result['seconds']:g} s windows; baseline: the same {result['viewers']} on A alone, same run"
    )
    print(
        "CPU: % of one core over the window (user + system, all threads); 'per viewer': the hub's CPU over the "
        "viewers it served (B's and C's include pulling the relay); latency: capture stamp to decoded frame"
    )
    print(
        f"{'phase':<15} {'hub':>3} {'asked':>5} {'served':>6} {'handed':>6} {'CPU %':>7} {'CPU/viewer':>10} "
        f"{'x base':>6} {'fps min':>7} {'fps mean':>8} {'probes':>6} {'lat p50':>7} {'lat p95':>7} {'no frame':>8}"
    )
    for name, row in phases.items():
        for hub, figures in row["hubs"].items():
            if not figures["viewers"] and name != "cluster":
                continue
            ratio = derived["cpu_per_viewer_ratio"].get(hub) if name == "cluster" else None
            print(
                f"{name:<15} {hub.upper():>3} {figures['viewers']:>5} {figures['served']:>6} "
                f"{figures.get('handed_off', 0):>6} {figures['hub_cpu_pct']:>7.1f} "
                f"{fmt(figures.get('hub_cpu_per_viewer_pct'), '.2f'):>10} {fmt(ratio, '.2f'):>6} "
                f"{fmt(figures.get('fps_min'), '.1f'):>7} {fmt(figures.get('fps_mean'), '.1f'):>8} "
                f"{figures.get('probes', 0):>6} {fmt(figures.get('latency_p50_ms'), '.0f'):>7} "
                f"{fmt(figures.get('latency_p95_ms'), '.0f'):>7} {figures.get('viewers_without_frame', 0):>8}"
            )
    print(
        "'asked': viewers that asked this hub; 'served': viewers it served (its own and any another hub handed it); "
        "'handed': its viewers it handed to another hub (307); CPU/viewer is over 'served'; 'x base': CPU/viewer over "
        "the baseline's (N on A): a hub serving fewer viewers shares its fixed cost (the camera's intake on A, the "
        "relay it pulls on B and C) among fewer"
    )
    print(
        f"\n{'phase':<15} {'agent %':>7} {'redis %':>7} {'viewers %':>9} {'machine %':>9} {'others %':>8}  "
        f"(machine: {result['cores']} cores = {result['cores'] * 100}%; others: processes not of this run)"
    )
    for name, row in phases.items():
        flag = "  RIG-LIMITED" if row["rig_limited"] else ""
        print(
            f"{name:<15} {row['agent_cpu_pct']:>7.1f} {row['redis_cpu_pct']:>7.1f} {row['viewers_cpu_pct']:>9.1f} "
            f"{row['machine_cpu_pct']:>9.1f} {row['others_cpu_pct']:>8.1f}{flag}"
        )

    print("\nrelay:")
    if derived["redirected"]:
        print(
            f"  hubs {', '.join(h.upper() for h in derived['redirected'])} answered 307 and handed their viewers to A"
            " (no relay in this tree, or cluster.whep_redirect): the cluster phase measured redirects, not relays"
        )
    a_share = phases["baseline_share"]["hubs"]["a"]
    a_cluster = phases["cluster"]["hubs"]["a"]
    print(
        f"  A's CPU per extra viewer (baselines: (CPU(N) - CPU(k)) / (N - k)): "
        f"{fmt(derived['marginal_cpu_per_viewer_pct'], '.2f')} % of a core"
    )
    print(
        f"  relay cost on A = A in the cluster phase ({a_cluster['hub_cpu_pct']:.1f}%, {a_cluster['served']} viewers"
        f" + {len(derived['relays'])} relays) - A with the same {a_share['viewers']} viewers alone"
        f" ({a_share['hub_cpu_pct']:.1f}%) = {fmt(derived['relay_cost_on_a_pct'], '.1f')} %; per relay "
        f"{fmt(derived['relay_cost_per_relay_pct'], '.1f')} % = {fmt(derived['relay_cost_in_viewers'], '.1f')} viewers"
    )
    print(
        f"  hubs' CPU in all: cluster {derived['cluster_cpu_total_pct']:.1f}% against "
        f"{phases['baseline']['hubs']['a']['hub_cpu_pct']:.1f}% for the same viewers on A alone "
        f"({fmt(derived['cluster_cpu_ratio'], '.2f')}x)"
    )
    added = derived["relay_added_latency_p50_ms"]
    verdict = "n/a" if added is None else "PASS" if derived["relay_latency_pass"] else "FAIL"
    print(
        f"  added latency p50 (B and C probes - A probes, same window): {fmt(added, '.1f')} ms "
        f"(vs the baseline's p50: {fmt(derived['relay_added_latency_vs_baseline_p50_ms'], '.1f')} ms)  "
        f"[{verdict}] target <= {TARGET_RELAY_P50_MS:.0f} ms"
    )

    withdrawal = result["withdrawal"]
    named = (withdrawal["gates"] or {}).get("hubs")
    print(
        f"\nwithdrawal through hub {withdrawal['through'].upper()} while every viewer watched: answered "
        f"{withdrawal['status']} in {withdrawal['call_ms']:.0f} ms, confirmed {withdrawal['confirmed']}, "
        f"views_ended {withdrawal['views_ended']} of {result['viewers']}, hubs named: "
        f"{', '.join(map(str, named)) if named else '-'}"
    )
    print(
        "  last capture: newest capture stamp a probe got minus the call's start (negative: captured before it); "
        "frames after: captured at or after it; end: the viewer's end event"
    )
    print(
        f"  {'hub':>3} {'viewers':>7} {'probes':>6} {'last p50':>8} {'last max':>8} {'after':>5} {'end p50':>7} "
        f"{'end max':>7} {'no end':>6} {'tapped last':>11} {'tapped after end':>16}  reasons"
    )
    for hub, row in withdrawal["hubs"].items():
        print(
            f"  {hub.upper():>3} {row['viewers']:>7} {row['probes']:>6} {fmt(row['last_capture_p50_ms'], '.0f'):>8} "
            f"{fmt(row['last_capture_max_ms'], '.0f'):>8} {row['frames_after']:>5} {fmt(row['end_p50_ms'], '.0f'):>7} "
            f"{fmt(row['end_max_ms'], '.0f'):>7} {row['without_end']:>6} "
            f"{fmt(row['tapped_last_arrival_max_ms'], '.0f'):>11} {row['tapped_frames_after_end']:>16}  "
            f"{', '.join(row['end_reasons'])}"
        )
    frames_ok = withdrawal["frames_after"] == TARGET_FRAMES_AFTER
    print("\ntargets:")
    print(f"  [{verdict:>4}] relay adds <= {TARGET_RELAY_P50_MS:.0f} ms at p50: {fmt(added, '.1f')} ms")
    print(
        f"  [{'PASS' if frames_ok else 'FAIL'}] 0 frames captured after the withdrawal on any hub: "
        f"{withdrawal['frames_after']}"
    )
    if result["rig_limited"]:
        print(
            f"  the rig was the limit in {', '.join(result['rig_limited'])}: the machine's cores were at least "
            f"{RIG_LIMIT:.0%} busy, so those figures measure the machine as much as the hubs"
        )
    print(f"({result['run_seconds']:.0f} s)")


def main() -> None:
    """Parse the arguments, run the three phases, print the tables or one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--viewers", type=int, default=30, help="N, split over hubs A, B and C in the cluster phase")
    parser.add_argument("--probes", type=int, default=6, help="viewers that decode (latency, stamps), split likewise")
    parser.add_argument("--seconds", type=float, default=8.0, help="measured window per phase")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds after every first frame, before a window")
    parser.add_argument("--per-worker", type=int, default=8, help="at most this many viewers per worker process")
    parser.add_argument("--first-frame-timeout", type=float, default=30.0, help="per viewer, seconds")
    parser.add_argument("--withdraw-on", choices=NAMES, default="b", help="the hub the resident withdraws through")
    parser.add_argument("--appendonly", action="store_true", help="run redis-server with an AOF fsynced on every write")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if args.viewers < len(NAMES):
        parser.error(f"--viewers must be at least {len(NAMES)} (one per hub)")
    if args.probes < 1 or args.per_worker < 1 or args.seconds <= 0 or args.warmup < 0:
        parser.error("--probes and --per-worker must be at least 1, --seconds positive, --warmup not negative")
    settings = Settings(
        args.viewers, args.probes, args.seconds, args.warmup, args.per_worker, args.first_frame_timeout,
        args.withdraw_on, args.appendonly, progress=not args.json,
    )  # fmt: skip
    with contextlib.suppress(BrokenPipeError):
        run_and_report(run(settings), args.json, report)


if __name__ == "__main__":
    main()
