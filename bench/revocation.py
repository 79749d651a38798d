"""Revocation: how soon after a resident withdraws consent the last frame an officer sees was captured.

Two setups, each with one synthetic camera agent process (640x480, 15 fps, VP8: the agent's defaults) reused for
every withdrawal:

- single hub: one hub on the embedded SQLite store; the agent, the officer's viewer and the resident's
  withdrawal all go through it;
- cross hub: two hubs (A and B) on one real redis-server; the agent and the officer's viewer are on hub A and
  the resident opts in and withdraws through hub B, so A learns of the withdrawal only through Redis.

Each withdrawal cycle: the resident (alice) opts "front-door" in for an hour; once the officer's hub admits the
officer, the officer (olivia) opens an aiortc WHEP viewer on the hub with the agent and waits until it has
decoded at least `FRAMES_BEFORE` stamped frames; t0 = time.time() is taken immediately before the DELETE is
sent; then the viewer's `end` event and the end of its track are awaited (bounded), and every frame it decoded
is read for the capture time stamped into its pixels. Per cycle:

- last_ms: the newest capture stamp the viewer got minus t0 (negative: the last frame shown was captured before
  the withdrawal call even began, which is the goal);
- frames_after: frames with a capture stamp at or after t0 (must be 0);
- the DELETE call's own duration, and (cross hub) whether its `gates.confirmed` was true.

Between cycles the agent's "publishing stopped" log and the hub's `porchlight_publishers` of 0 are awaited, so
every cycle starts cold (the agent is asked to publish again).

Baseline, measured in the same run: the frame interval seen at the viewer, the median gap between consecutive
capture stamps of the frames it decoded (~67 ms at 15 fps). Each p99 is also printed as a ratio of it: a
withdrawal "within one frame" has a p99 of at most 1.0 interval.

Phase: t0 is taken as soon as the viewer has decoded its FRAMES_BEFORE-th frame, so it falls a few
milliseconds after a frame's arrival, at the same point of the camera's frame clock every cycle; last_ms then
mostly reads as minus that frame's capture-to-viewer latency. `--dephase` waits a random 0..1 nominal frame
interval before t0 instead, sampling withdrawals at every phase (the worst case: just before a frame reaches
the hub's gate).

    python -m bench.revocation [--withdrawals 50] [--json] [--appendonly] [--dephase] [--seed 1]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import random
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.fanout_viewer import percentile
from bench.hub_procs import ONE_OFFICER_MANY_VIEWS
from bench.output import run_and_report
from porchlight_rtc.ice import enable_loopback
from tests.conftest import PASSWORDS
from tests.support.client import Api, Viewer
from tests.support.cluster import two_hubs
from tests.support.procs import Hub, Proc, running_agent, wait_until
from tests.support.redis_server import redis_available

CAMERA = "front-door"
FRAMES_BEFORE = 8  # stamped frames decoded before each withdrawal
GRANT = {"duration_seconds": 3600}
ADMIT_TIMEOUT = 10.0  # the officer's hub admits the officer after an opt-in (cross hub: through Redis)
FRAMES_TIMEOUT = 20.0  # cold start: the agent is asked to publish, opens its source, does its WHIP handshake
END_TIMEOUT = 10.0  # the viewer's `end` event, then its track ending
IDLE_TIMEOUT = 20.0  # the agent stops publishing and the hub counts no publisher
MAX_FAILED_FRACTION = 0.2  # a setup gives up once more of its cycles than this have failed
NOMINAL_INTERVAL = 1 / 15  # the agent's default frame rate: the range of --dephase's random wait

# Targets, printed beside the figures (a checklist, not asserts).
TARGET_FRAMES_AFTER = 0
TARGET_SINGLE_P99 = 67.0
TARGET_CROSS_P99 = 100.0


class CycleFailed(RuntimeError):
    """One withdrawal cycle could not be measured (an unexpected answer or a bounded wait ran out)."""


@dataclass(frozen=True)
class Options:
    withdrawals: int
    appendonly: bool = False
    dephase: bool = False
    seed: int = 1
    progress: bool = False


@dataclass
class Cycle:
    last_ms: float
    frames_after: int
    call_ms: float
    confirmed: bool
    end_reason: str | None
    gaps_ms: list[float]
    unstamped: int


@dataclass
class Setup:
    name: str
    cycles: list[Cycle] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


async def _admitted(officer: Api) -> bool:
    status, body = await officer.call("GET", "/api/cameras")
    return status == 200 and any(camera["id"] == CAMERA for camera in body["cameras"])


async def _idle(agent: Proc, hub: Hub) -> None:
    """Bounded: the agent has stopped every publication it started, and the hub counts no publisher."""

    def stopped() -> bool:
        log = agent.log()
        return log.count("publishing stopped") >= log.count("publishing started")

    async def no_publisher() -> bool:
        return await hub.metric("porchlight_publishers") == 0

    await wait_until(stopped, IDLE_TIMEOUT, "the agent to log 'publishing stopped'")
    await wait_until(no_publisher, IDLE_TIMEOUT, "porchlight_publishers to be 0")


async def _cycle(resident: Api, officer: Api, dephase: random.Random | None) -> Cycle:
    """One opt-in, view, withdrawal; the viewer is always closed."""
    status, body = await resident.call("POST", f"/api/cameras/{CAMERA}/grant", GRANT)
    if status != 201:
        raise CycleFailed(f"opt-in answered {status}: {body}")
    try:
        await wait_until(lambda: _admitted(officer), ADMIT_TIMEOUT, "the officer's hub to admit the officer")
    except AssertionError as exc:
        raise CycleFailed(str(exc)) from None
    viewer = Viewer(officer, CAMERA)
    try:
        status = await viewer.watch(case="BENCH-REVOKE", reason="revocation benchmark")
        if status != 201:
            raise CycleFailed(f"WHEP answered {status}: {viewer.error}")
        try:
            await viewer.wait_frames(FRAMES_BEFORE, timeout=FRAMES_TIMEOUT)
        except AssertionError as exc:
            raise CycleFailed(str(exc)) from None
        if dephase is not None:
            await asyncio.sleep(dephase.uniform(0, NOMINAL_INTERVAL))
        t0 = time.time()
        began = time.perf_counter()
        status, body = await resident.call("DELETE", f"/api/cameras/{CAMERA}/grant")
        call_ms = (time.perf_counter() - began) * 1000
        if status != 200:
            raise CycleFailed(f"withdrawal answered {status}: {body}")
        try:
            end = await viewer.wait_end(timeout=END_TIMEOUT)
            await asyncio.wait_for(viewer.track_ended.wait(), END_TIMEOUT)
        except TimeoutError:
            which = "track to end" if viewer.got_end.is_set() else "end event"
            # Still a safety check: count what got through before giving up on the cycle.
            late = sum(1 for s in viewer.stamped() if s >= t0 * 1000)
            raise CycleFailed(f"no {which} within {END_TIMEOUT:.0f}s ({late} frame(s) after t0)") from None
        stamps = viewer.stamped()
        return Cycle(
            last_ms=max(stamps) - t0 * 1000,
            frames_after=sum(1 for s in stamps if s >= t0 * 1000),
            call_ms=call_ms,
            confirmed=bool(body["gates"]["confirmed"]),
            end_reason=end.get("reason"),
            gaps_ms=[float(b - a) for a, b in itertools.pairwise(stamps) if b > a],
            unstamped=len(viewer.frames) - len(stamps),
        )
    finally:
        await viewer.close()


def _raise_if_cancelled() -> None:
    """Re-raise a cancellation (Ctrl-C) that a helper swallowed, so the run stops instead of going on.

    `Viewer.close` suppresses CancelledError while it reaps its tasks, and on Ctrl-C the hub and agent processes
    get the SIGINT too, so what follows a swallowed cancellation would fail on a dead hub and hide the interrupt.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def _measure(name: str, resident_url: str, viewer_hub: Hub, agent: Proc, options: Options) -> Setup:
    withdrawals, progress = options.withdrawals, options.progress
    dephase = random.Random(options.seed) if options.dephase else None
    setup = Setup(name)
    resident = Api(resident_url)
    officer = Api(viewer_hub.url)
    try:
        await resident.login("alice", PASSWORDS["alice"])
        await officer.login("olivia", PASSWORDS["olivia"])
        allowed = max(2, int(withdrawals * MAX_FAILED_FRACTION))
        while len(setup.cycles) < withdrawals:
            try:
                setup.cycles.append(await _cycle(resident, officer, dephase))
            except CycleFailed as exc:
                setup.failures.append(str(exc))
                if len(setup.failures) > allowed:
                    raise RuntimeError(f"{name}: {len(setup.failures)} cycles failed, last: {exc}") from None
            finally:
                _raise_if_cancelled()
            try:
                await _idle(agent, viewer_hub)
            finally:
                _raise_if_cancelled()
            if progress:
                print(f"\r{name}: {len(setup.cycles)}/{withdrawals}", end="", file=sys.stderr, flush=True)
        if progress:
            print(file=sys.stderr)
    finally:
        await resident.close()
        await officer.close()
    return setup


@contextlib.asynccontextmanager
async def _started(*hubs: Hub) -> AsyncIterator[None]:
    """Start the hubs in order; stop every one of them on the way out, whatever happened."""
    try:
        for hub in hubs:
            await hub.start()
        yield
    finally:
        for hub in reversed(hubs):
            await hub.stop()


async def single_hub(tmp: Path, options: Options) -> Setup:
    hub = Hub(tmp / "single", env=dict(ONE_OFFICER_MANY_VIEWS))
    hub.tmp.mkdir()
    hub.write_config()
    seeded = await hub.seed()
    async with _started(hub), running_agent(hub, CAMERA, seeded.tokens[CAMERA], hub.tmp) as agent:
        await _idle(agent, hub)
        return await _measure("single_hub", hub.url, hub, agent, options)


async def cross_hub(tmp: Path, options: Options) -> Setup:
    # Hub A straight to Redis: the tests' cuttable proxy would put this process on A's path to the store.
    async with two_hubs(tmp, appendonly=options.appendonly, a_via_proxy=False, env=ONE_OFFICER_MANY_VIEWS) as hubs:
        a, b = hubs.a, hubs.b
        async with running_agent(a, CAMERA, hubs.seeded.tokens[CAMERA], a.tmp) as agent:
            await _idle(agent, a)
            return await _measure("cross_hub", b.url, a, agent, options)


def _figures(setup: Setup, interval_ms: float) -> dict[str, Any]:
    last = [c.last_ms for c in setup.cycles]
    calls = [c.call_ms for c in setup.cycles]
    p99 = percentile(last, 0.99)
    return {
        "withdrawals": len(setup.cycles),
        "failed_cycles": len(setup.failures),
        "failures": setup.failures,
        "last_ms_p50": percentile(last, 0.5),
        "last_ms_p99": p99,
        "last_ms_max": max(last) if last else None,
        "last_ms_min": min(last) if last else None,
        "p99_intervals": p99 / interval_ms if p99 is not None and interval_ms else None,
        "frames_after_withdrawal": sum(c.frames_after for c in setup.cycles),
        "call_ms_p50": percentile(calls, 0.5),
        "call_ms_p99": percentile(calls, 0.99),
        "unconfirmed": sum(1 for c in setup.cycles if not c.confirmed),
        "end_reasons": sorted({str(c.end_reason) for c in setup.cycles}),
        "unstamped_frames": sum(c.unstamped for c in setup.cycles),
        "frame_interval_ms": statistics.median(g for c in setup.cycles for g in c.gaps_ms)
        if any(c.gaps_ms for c in setup.cycles)
        else None,
    }


async def run(options: Options) -> dict[str, Any]:
    if not redis_available():
        raise SystemExit("redis-server is not installed (make test installs it)")
    enable_loopback()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="porchlight-bench-") as tmp:
        single = await single_hub(Path(tmp), options)
        cross = await cross_hub(Path(tmp), options)
    gaps = [g for setup in (single, cross) for c in setup.cycles for g in c.gaps_ms]
    interval = statistics.median(gaps) if gaps else 0.0
    setups = {"single_hub": _figures(single, interval), "cross_hub": _figures(cross, interval)}
    return {
        "single_hub_p50_ms": setups["single_hub"]["last_ms_p50"],
        "single_hub_p99_ms": setups["single_hub"]["last_ms_p99"],
        "cross_hub_p50_ms": setups["cross_hub"]["last_ms_p50"],
        "cross_hub_p99_ms": setups["cross_hub"]["last_ms_p99"],
        "frames_after_withdrawal": sum(s["frames_after_withdrawal"] for s in setups.values()),
        "cross_hub_unconfirmed": setups["cross_hub"]["unconfirmed"],
        "frame_interval_ms": interval,
        "withdrawals": options.withdrawals,
        "redis_appendonly": options.appendonly,
        "dephase": options.dephase,
        "seconds": time.monotonic() - started,
        "setups": setups,
    }


def _ms(value: float | None, width: int = 8) -> str:
    return f"{value:>{width}.0f}" if value is not None else f"{'-':>{width}}"


def _check(ok: bool) -> str:
    return "[x]" if ok else "[ ]"


def report(result: dict[str, Any]) -> None:
    interval = result["frame_interval_ms"]
    print(
        f"revocation: withdrawal call start to the capture time of the last frame shown "
        f"({result['withdrawals']} withdrawals per setup; negative = captured before the call began)"
    )
    print(f"baseline: frame interval at the viewer (median gap between capture stamps) {interval:.1f} ms")
    header = (
        f"{'setup':<11} {'n':>3} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'p99/int':>8} "
        f"{'after':>6} {'call p50':>9} {'call p99':>9} {'unconf':>7} {'failed':>7}"
    )
    print(header)
    for name in ("single_hub", "cross_hub"):
        row = result["setups"][name]
        ratio = row["p99_intervals"]
        print(
            f"{name:<11} {row['withdrawals']:>3} {_ms(row['last_ms_p50'])} {_ms(row['last_ms_p99'])} "
            f"{_ms(row['last_ms_max'])} {ratio if ratio is not None else float('nan'):>8.2f} "
            f"{row['frames_after_withdrawal']:>6} {_ms(row['call_ms_p50'], 9)} {_ms(row['call_ms_p99'], 9)} "
            f"{row['unconfirmed']:>7} {row['failed_cycles']:>7}"
        )
    for name in ("single_hub", "cross_hub"):
        row = result["setups"][name]
        extras = f"end reasons {', '.join(row['end_reasons']) or '-'}; unstamped frames {row['unstamped_frames']}"
        print(f"  {name}: {extras}; frame interval {_ms(row['frame_interval_ms'], 0)} ms")
        for failure in row["failures"]:
            print(f"    failed cycle: {failure}")
    print(f"frames after withdrawal (total): {result['frames_after_withdrawal']}")
    print(f"cross-hub withdrawals not confirmed: {result['cross_hub_unconfirmed']}")
    single, cross = result["single_hub_p99_ms"], result["cross_hub_p99_ms"]
    print("targets:")
    print(f"  {_check(result['frames_after_withdrawal'] == TARGET_FRAMES_AFTER)} frames after withdrawal 0")
    print(f"  {_check(single is not None and single <= TARGET_SINGLE_P99)} single-hub p99 <= 67 ms")
    print(f"  {_check(cross is not None and cross <= TARGET_CROSS_P99)} cross-hub p99 <= 100 ms")
    print(f"({result['seconds']:.0f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--withdrawals", type=int, default=50, help="withdrawals per setup")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--appendonly", action="store_true", help="run redis-server with an AOF fsynced on every write")
    parser.add_argument(
        "--dephase", action="store_true", help="wait a random 0..1 frame interval before each withdrawal"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of --dephase's random waits")
    args = parser.parse_args()
    if args.withdrawals < 1:
        parser.error("--withdrawals must be at least 1")
    options = Options(args.withdrawals, args.appendonly, args.dephase, args.seed, progress=sys.stderr.isatty())
    run_and_report(run(options), args.json, report)


if __name__ == "__main__":
    main()
