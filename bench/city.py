"""City: one hub carrying a city's cameras, a hundred of them publishing, hundreds of officers' views churning.

One hub process (embedded SQLite store, passthrough forwarding, the default consent poll, every limit the run would
trip lifted: log-ins per account and address, offers, peers). Before it starts, `--cameras` cameras are written into
its store with their owners (residents, a few cameras each) and an open grant each. Everything else runs in other
processes:

- camera workers (`bench.city_cameras`, `--cameras-per-worker` light agents each): every camera holds the real control
  WebSocket; asked to publish, it sends over WHIP a stream encoded once before the run (640x480, 15 fps, VP8 or
  H264, `--codec`) and replayed in a loop; told to stop, it ends the session;
- viewer workers (`bench.city_viewers`): `--viewers` views spread over `--publishing` cameras by a Zipf law (the
  busiest camera has about a fifth of them, about half the cameras one or two), most tapped (RTP packets counted
  after SRTP, nothing decoded) and `--probes` decoding every frame and reading the loop index stamped in it, which
  with the camera's note of when it sent that frame gives its capture time.

The run: the hub alone (baseline: 0 cameras), then with every camera connected and idle (idle cost per camera:
the difference over the count), then the views ramp up and, after a warm-up, a window of `--seconds` is measured
while views churn (`--churn` per second: alternately a view of a publishing camera is replaced by a new view of
another publishing camera, and a camera's last view by a view of an idle camera, which the hub asks to publish, so
cameras start and stop) and `--withdrawals` owners withdraw consent from cameras that probes watch, spread over the
window. Figures (`--json` for one object):

- hub CPU (user + system, all threads, % of one core) and RSS over the window, and as ratios of the idle hub's;
- idle cost per connected camera: CPU and RSS with every camera connected minus with none, over the count;
- per-viewer cost: window CPU minus the idle-cameras CPU, over the views (it carries the publishers' ingest too);
- fps min and p5 over every view open for the whole window (tapped: frames from the first keyframe; probes:
  decoded frames); bitrate and packets per second per tapped view;
- glass-to-glass p50/p95: probe decode time minus the camera's send time of that frame (`capture_times`);
- first frame p50/p95, from the WHEP request, of views opened by churn: on a publishing camera and on demand;
- withdrawal: each withdrawn camera's newest frame a probe decoded, by capture time, minus the call's start (p99;
  target within one frame interval), and frames captured at or after the call's start (must be 0); tapped views
  read no capture time, so their last arrival and the frames arriving after the hub's `end` event are shown, not
  judged (a frame captured before the call may still be on its way);
- consent-lease renewals missed: the hub's `porchlight_lease_renewals_missed_total` (must be 0), and beside it
  what a lapse does: frames and requests refused `state_stale` (porchlight_frames_total, porchlight_denials_total),
  and the watcher's "does not answer" log lines by phase of the run;
- CPU microseconds per forwarded packet (hub window CPU over the packets its views received; also net of the
  idle-cameras CPU), and the rig's CPU: camera workers, viewer workers and the whole machine. A window in which the
  machine's cores were nearly all busy, or a worker had a whole core, measured the rig as much as the hub: the run
  says so.

`--sizes small,medium,full` runs the whole thing at a tenth, a third and all of the counts, each on a fresh hub,
and prints the table the README's sizing comes from.

    python -m bench.city [--cameras 1500] [--publishing 100] [--viewers 500] [--probes 8] [--churn 2]
                         [--withdrawals 5] [--seconds 20] [--warmup 3] [--codec vp8|h264] [--sizes ...] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import os
import random
import re
import resource
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import aiohttp
import psutil

from bench.child import Child
from bench.city_cameras import FPS, encode_stream
from bench.fanout import cpu_seconds, machine_busy_seconds
from bench.fanout_viewer import percentile
from bench.hub_procs import EVERY_LIMIT_LIFTED
from bench.output import run_and_report
from hub.auth.passwords import hash_password
from hub.auth.tokens import hash_token, new_token
from hub.store.base import Role
from hub.store.sqlite import SqliteStore
from tests.support.client import Api
from tests.support.procs import Hub, wait_until

MB = 2**20
KB = 1000
CAMERAS_PER_OWNER = 3
RESIDENT_PASSWORD = "city-resident-pass"
GRANT_SECONDS = 8 * 3600
HELLO_TIMEOUT = 120.0
RIG_LIMIT = 0.9  # the machine's cores (or one worker's core) this busy: the rig was a limit
HUB_WAIT_LIMIT = 10.0  # % of the window the hub waited for a CPU while ready: the machine held it back
QUIET_AFTER_STOP = 5.0  # a camera told to stop this recently is not taken as idle for an on-demand view
FRAME_INTERVAL_MS = 1000 / FPS
SIZES = {"small": 0.1, "medium": 1 / 3, "full": 1.0}
SETTINGS_ENV = {
    **EVERY_LIMIT_LIFTED,
    "PORCHLIGHT_MEDIA__FORWARDING": "passthrough",
    # tests.support.procs.Hub polls the store every 0.1 s for the tests' sake; a city runs on the default.
    "PORCHLIGHT_CONSENT__POLL_SECONDS": "0.25",
    "PORCHLIGHT_LOG_LEVEL": "WARNING",
}

# Targets (issue 18), printed as PASS/FAIL beside the figures; a checklist, never asserts.
TARGET_HUB_CPU_PCT = 150.0
TARGET_HUB_RSS_MB = 1024.0
TARGET_IDLE_CAMERA_KB = 30.0
TARGET_FPS_MIN = 14.0
TARGET_FIRST_PUBLISHING_MS = 400.0
TARGET_FIRST_ON_DEMAND_MS = 800.0
TARGET_WITHDRAWAL_MS = FRAME_INTERVAL_MS


@dataclass(frozen=True)
class Settings:
    """What one run measures."""

    cameras: int = 1500
    publishing: int = 100
    viewers: int = 500
    probes: int = 8
    churn: float = 2.0
    withdrawals: int = 5
    seconds: float = 20.0
    warmup: float = 3.0
    idle_seconds: float = 5.0
    ramp: float = 20.0  # views opened per second at the start (as bench.fanout opens its viewers)
    codec: str = "vp8"
    cameras_per_worker: int = 250
    views_per_worker: int = 100
    first_frame_timeout: float = 20.0
    loop_frames: int = 150
    seed: int = 1
    progress: bool = False

    def scaled(self, fraction: float) -> Settings:
        """The same run at `fraction` of the cameras, publishers and views (probes and withdrawals fit in)."""
        publishing = max(2, round(self.publishing * fraction))
        return replace(
            self,
            cameras=max(publishing + 2, round(self.cameras * fraction)),
            publishing=publishing,
            viewers=max(publishing, round(self.viewers * fraction)),
            withdrawals=min(self.withdrawals, publishing - 1),
        )


def say(settings: Settings, text: str) -> None:
    if settings.progress:
        print(f"[city {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


# -- the store, before the hub starts --------------------------------------------------------------------------


def camera_name(index: int) -> str:
    return f"city-{index:04d}"


def owner_name(index: int) -> str:
    return f"city-resident-{index // CAMERAS_PER_OWNER:04d}"


async def seed_city(hub: Hub, cameras: int) -> dict[str, str]:
    """The demo's seed (its pilot and officer), plus `cameras` cameras with owners and an 8-hour grant each, into
    the hub's store before it starts; the device tokens by camera. One password hash serves every owner."""
    await hub.seed()
    config = hub.config()
    store = await SqliteStore.open(
        config.store.sqlite_path, default_max_grant_seconds=config.consent.default_max_grant_seconds
    )
    tokens: dict[str, str] = {}
    try:
        password_hash = await asyncio.to_thread(hash_password, RESIDENT_PASSWORD)
        owners: dict[str, int] = {}
        now = time.time()
        for index in range(cameras):
            owner = owner_name(index)
            if owner not in owners:
                owners[owner] = (await store.add_account(owner, password_hash, Role.RESIDENT, None)).id
            camera, token = camera_name(index), new_token("pld_")
            # A grid of streets around the demo's cameras, about 100 m apart.
            location = (51.50 + (index // 40) * 0.001, -0.15 + (index % 40) * 0.0015)
            await store.add_camera(camera, owners[owner], f"City camera {index}", hash_token(token), location)
            await store.put_grant(camera, now, now + GRANT_SECONDS, None)
            tokens[camera] = token
    finally:
        await store.close()
    return tokens


# -- worker processes ------------------------------------------------------------------------------------------


# -- what the hub says -----------------------------------------------------------------------------------------


async def scrape(hub: Hub) -> str:
    """The hub's /metrics text."""
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http,
        http.get(f"{hub.url}/metrics") as response,
    ):
        return await response.text()


def sample_value(text: str, name: str, labels: str = "") -> float:
    """One sample (`labels` as written, e.g. 'reason="state_stale"'); 0 when absent."""
    selector = re.escape(name) + (r"\{" + re.escape(labels) + r"\}" if labels else "")
    match = re.search(rf"^{selector} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


SILENCE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),\d+ .*the store does not answer", re.MULTILINE)


def silences_by_phase(log: str, phases: dict[str, float]) -> dict[str, int]:
    """The consent watcher's "the store does not answer" lines (each a lease at risk of lapsing), by the phase of
    the run (`phases`: name to the Unix time it began, in order) their time stamp falls in."""
    counts = dict.fromkeys(phases, 0)
    for match in SILENCE.finditer(log):
        at = time.mktime(time.strptime(match.group(1), "%Y-%m-%d %H:%M:%S"))
        current = next(iter(phases))
        for name, began in phases.items():
            if at + 1 >= began:  # the log's time stamp is truncated to the second
                current = name
        counts[current] += 1
    return counts


def lease_lapses(text: str) -> float:
    """Frames and watch requests refused because this hub's consent lease had run out."""
    return sample_value(text, "porchlight_frames_total", 'reason="state_stale"') + sample_value(
        text, "porchlight_denials_total", 'reason="state_stale"'
    )


def runqueue_wait_seconds(pid: int) -> float:
    """Seconds the process's threads have spent runnable but waiting for a CPU (/proc/PID/task/*/schedstat's second
    field; threads that have exited are not counted): what a machine too busy for it took from it."""
    total = 0
    for stat in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            total += int(stat.read_text().split()[1])
    return total / 1e9


@dataclass
class CpuWindow:
    """CPU seconds of a set of processes and of the machine, from one moment to another."""

    processes: dict[str, list[psutil.Process]]
    began: float = 0.0
    before: dict[str, list[float]] = field(default_factory=dict)
    machine_before: float = 0.0

    waits_before: dict[str, list[float]] = field(default_factory=dict)

    def start(self) -> None:
        self.began = time.monotonic()
        self.before = {name: [cpu_seconds(p) for p in procs] for name, procs in self.processes.items()}
        self.waits_before = {
            name: [runqueue_wait_seconds(p.pid) for p in procs] for name, procs in self.processes.items()
        }
        self.machine_before = machine_busy_seconds()

    def stop(self) -> dict[str, Any]:
        """% of one core per group (sum), the busiest process of each group, the machine, and the seconds."""
        wall = time.monotonic() - self.began
        result: dict[str, Any] = {"seconds": wall}
        for name, procs in self.processes.items():
            used = [cpu_seconds(p) - before for p, before in zip(procs, self.before[name], strict=True)]
            result[name] = sum(used) / wall * 100
            result[f"{name}_max"] = max(used, default=0.0) / wall * 100
            result[f"{name}_cpu_s"] = sum(used)
            waited = [runqueue_wait_seconds(p.pid) - w for p, w in zip(procs, self.waits_before[name], strict=True)]
            result[f"{name}_wait"] = max(waited, default=0.0) / wall * 100
        result["machine"] = (machine_busy_seconds() - self.machine_before) / wall * 100
        return result


async def measure_idle(hub_ps: psutil.Process, seconds: float) -> tuple[float, float]:
    """The hub's CPU (% of one core) over `seconds` and its RSS (MB) at the end."""
    window = CpuWindow({"hub": [hub_ps]})
    window.start()
    await asyncio.sleep(seconds)
    cpu = window.stop()["hub"]
    return cpu, hub_ps.memory_info().rss / MB


# -- the views -------------------------------------------------------------------------------------------------


def zipf_counts(viewers: int, cameras: int) -> list[int]:
    """`viewers` views over `cameras` cameras, the k-th getting about 1/k of the busiest's share, each at least one."""
    weights = [1 / (k + 1) for k in range(cameras)]
    spare = viewers - cameras
    raw = [spare * w / sum(weights) for w in weights]
    counts = [1 + math.floor(r) for r in raw]
    for k in sorted(range(cameras), key=lambda k: raw[k] - math.floor(raw[k]), reverse=True)[: viewers - sum(counts)]:
        counts[k] += 1
    return counts


@dataclass
class ViewState:
    """One view as the orchestrator knows it."""

    id: str
    camera: str
    worker: int
    probe: bool
    kind: str  # "ramp", "publishing" or "on_demand": how it was opened
    sent_at: float = 0.0
    status: int | None = None
    reason: str | None = None
    first_frame_ms: float | None = None
    answered: asyncio.Event = field(default_factory=asyncio.Event)
    closing: bool = False
    ended_by: str | None = None  # "churn" or "withdrawal"


class City:
    """Views of the cameras, spread over viewer workers; the churn and the withdrawals."""

    def __init__(self, settings: Settings, cameras: list[str], workers: list[Child], rng: random.Random) -> None:
        self.settings = settings
        self.rng = rng
        self.workers = workers
        self.all_cameras = cameras
        self.views: dict[str, ViewState] = {}
        self.open: dict[str, set[str]] = defaultdict(set)  # camera -> ids of views open (not closing)
        self.stopped_at: dict[str, float] = {}
        self.withdrawn: set[str] = set()
        self.protected: set[str] = set()  # cameras whose views churn leaves alone (withdrawal targets)
        self._ids = itertools.count()
        self._load: dict[int, int] = defaultdict(int)  # open views per worker
        self.churned = {"publishing": 0, "on_demand": 0}

    def on_event(self, message: dict[str, Any]) -> None:
        view = self.views.get(str(message.get("id")))
        if view is None:
            return
        if message["type"] == "opened":
            view.status, view.reason, view.first_frame_ms = (
                message["status"],
                message["reason"],
                message["first_frame_ms"],
            )
            view.answered.set()

    def open_view(self, camera: str, kind: str, probe: bool = False) -> ViewState:
        worker = min(range(len(self.workers)), key=lambda w: self._load[w])
        view = ViewState(f"v{next(self._ids)}", camera, worker, probe, kind, sent_at=time.time())
        self.views[view.id] = view
        self.open[camera].add(view.id)
        self._load[worker] += 1
        self.workers[worker].send({"cmd": "open", "id": view.id, "camera": camera, "probe": probe})
        return view

    def close_view(self, view: ViewState, why: str) -> None:
        view.closing, view.ended_by = True, why
        self.open[view.camera].discard(view.id)
        if not self.open[view.camera]:
            self.stopped_at[view.camera] = time.time()
        self._load[view.worker] -= 1
        self.workers[view.worker].send({"cmd": "close", "id": view.id})

    def publishing(self) -> list[str]:
        return [c for c, ids in self.open.items() if ids and c not in self.withdrawn]

    def _churnable(self, camera: str) -> list[ViewState]:
        return [self.views[i] for i in self.open[camera] if not self.views[i].probe and self.views[i].status == 201]

    def churn_once(self, on_demand: bool) -> None:
        """Replace one view: on a publishing camera by one on another publishing camera, or (on demand) a camera's
        last view by a view of an idle camera."""
        now = time.time()
        cameras = [c for c in self.publishing() if c not in self.protected]
        if on_demand:
            lonely = [c for c in cameras if len(self.open[c]) == 1 and self._churnable(c)]
            idle = [
                c
                for c in self.all_cameras
                if not self.open[c]
                and c not in self.withdrawn
                and now - self.stopped_at.get(c, -1e9) > QUIET_AFTER_STOP
            ]
            crowded = [c for c in cameras if len(self.open[c]) >= 2 and self._churnable(c)]
            # A camera's last view, so that it stops; failing that, any view (one more camera publishes for now).
            leaving = lonely or crowded
            if leaving and idle:
                self.close_view(self.rng.choice(self._churnable(self.rng.choice(leaving))), "churn")
                self.open_view(self.rng.choice(idle), "on_demand")
                self.churned["on_demand"] += 1
                return
        crowded = [c for c in cameras if len(self.open[c]) >= 2 and self._churnable(c)]
        targets = [c for c in cameras if any(self.views[i].first_frame_ms is not None for i in self.open[c])]
        if crowded and targets:
            self.close_view(self.rng.choice(self._churnable(self.rng.choice(crowded))), "churn")
            self.open_view(self.rng.choice(targets), "publishing")
            self.churned["publishing"] += 1

    async def churn(self, until: float) -> None:
        """Churn at `settings.churn` per second until the monotonic time `until`."""
        if self.settings.churn <= 0:
            return
        period = 1 / self.settings.churn
        for step in itertools.count():
            due = time.monotonic() + period
            if due >= until:
                return
            await asyncio.sleep(due - time.monotonic())
            self.churn_once(on_demand=step % 2 == 1)


@dataclass
class Withdrawal:
    camera: str
    t0: float
    call_ms: float
    status: int
    views: list[str]


async def withdraw(hub: Hub, city: City, camera: str) -> Withdrawal:
    """The camera's owner logs in and withdraws consent; its views are then the hub's to end."""
    owner = Api(hub.url)
    try:
        await owner.login(owner_name(city.all_cameras.index(camera)), RESIDENT_PASSWORD)
        views = sorted(city.open[camera])
        city.withdrawn.add(camera)
        t0 = time.time()
        status, _ = await owner.call("DELETE", f"/api/cameras/{camera}/grant")
        call_ms = (time.time() - t0) * 1000
    finally:
        await owner.close()
    for view_id in views:
        view = city.views[view_id]
        view.ended_by = "withdrawal"
        city.open[camera].discard(view_id)
    return Withdrawal(camera, t0, call_ms, status, views)


# -- one run ---------------------------------------------------------------------------------------------------


def capture_times(samples: list[list[Any]], sends: list[list[Any]]) -> list[float | None]:
    """When the camera sent each frame a probe decoded (None: not found), from the probe's [loop index, RTP
    timestamp, Unix time] and the camera's [loop index, pts, Unix time] sends.

    The hub shifts a view's timestamps by one offset (its own, and the camera's session's), so the difference that
    most samples share with a send of the same loop index, no later than the sample, is that offset; each frame is
    then the send with its timestamp. Where no offset is shared by most samples (a hub that re-times frames), each
    frame falls back to the newest send of its index before it was decoded: right while the latency is shorter than
    the least time between two sends of one index (the loop restarts at each keyframe request), and never earlier
    than the true send (so a frame captured after a withdrawal is never taken for one before it).
    """
    by_index: dict[int, list[tuple[int, float]]] = defaultdict(list)
    for index, pts, at in sends:
        by_index[int(index)].append((int(pts), float(at)))
    offsets: Counter[int] = Counter()
    for index, timestamp, received in samples:
        if index is not None and timestamp is not None:
            offsets.update({(timestamp - pts) % 2**32 for pts, at in by_index.get(index, ()) if at <= received})
    shared = offsets.most_common(1)
    offset = shared[0][0] if shared and shared[0][1] * 2 > len(samples) else None
    times: list[float | None] = []
    for index, timestamp, received in samples:
        candidates = by_index.get(index, []) if index is not None else []
        if offset is not None and timestamp is not None:
            candidates = [(pts, at) for pts, at in candidates if (timestamp - pts) % 2**32 == offset]
        before = [at for _, at in candidates if at <= received]
        times.append(max(before) if before else None)
    return times


def _p(samples: list[float], fraction: float) -> float | None:
    value = percentile(samples, fraction)
    return None if value is None else round(value, 1)


async def run_size(settings: Settings) -> dict[str, Any]:
    """One size on a fresh hub: seed, baselines, views, the window; every process stopped on the way out."""
    rng = random.Random(settings.seed)
    with tempfile.TemporaryDirectory(prefix="porchlight-city-") as tmp:
        root = Path(tmp)
        hub = Hub(root)
        hub.env = {**SETTINGS_ENV, "PORCHLIGHT_MEDIA__CODEC": settings.codec}
        hub.write_config()
        began = time.monotonic()
        stream = root / "stream.bin"
        # Encoded while the store is seeded (the encoder mostly runs outside the GIL).
        encoding = asyncio.create_task(
            asyncio.to_thread(encode_stream, settings.codec, stream, settings.loop_frames)  # type: ignore[arg-type]
        )
        tokens = await seed_city(hub, settings.cameras)
        seed_seconds = time.monotonic() - began
        say(settings, f"seeded {settings.cameras} cameras in {seed_seconds:.1f}s")
        children: list[Child] = []
        try:
            phases = {"start": time.time()}
            await hub.start()
            assert hub.proc is not None
            hub_ps = psutil.Process(hub.proc.proc.pid)
            await encoding
            # Every worker starts now and waits: the viewers logged in and idle, the cameras not yet connected; the
            # hub alone is measured with them waiting (their start-up overlaps the warm-up).
            cameras = sorted(tokens)
            camera_workers: list[Child] = []
            for index in range(0, len(cameras), settings.cameras_per_worker):
                part = {c: tokens[c] for c in cameras[index : index + settings.cameras_per_worker]}
                path = root / f"cameras-{index}.json"
                path.write_text(json.dumps(part), encoding="utf-8")
                path.chmod(0o600)
                args = ["--hub", hub.url, "--cameras-file", str(path), "--stream", str(stream)]
                args += ["--codec", settings.codec]
                camera_workers.append(await Child.start("bench.city_cameras", args, root / f"cameras-{index}.log"))
            children.extend(camera_workers)
            viewer_workers: list[Child] = []
            city = City(settings, cameras, viewer_workers, rng)
            for index in range(max(1, math.ceil(settings.viewers / settings.views_per_worker))):
                args = ["--hub", hub.url, "--first-frame-timeout", str(settings.first_frame_timeout)]
                child = await Child.start("bench.city_viewers", args, root / f"viewers-{index}.log", city.on_event)
                viewer_workers.append(child)
            children.extend(viewer_workers)
            await asyncio.gather(
                asyncio.sleep(settings.warmup),
                *(w.expect("ready", HELLO_TIMEOUT) for w in camera_workers),
                *(w.expect("hello", HELLO_TIMEOUT) for w in viewer_workers),
            )
            idle0_cpu, idle0_rss = await measure_idle(hub_ps, settings.idle_seconds)
            say(settings, f"hub alone: {idle0_cpu:.1f}% cpu, {idle0_rss:.0f} MB")

            phases["connect"] = time.time()
            for worker in camera_workers:
                worker.send({"cmd": "connect"})
            await asyncio.gather(*(w.expect("hello", HELLO_TIMEOUT) for w in camera_workers))

            async def all_connected() -> bool:
                return sample_value(await scrape(hub), "porchlight_agents_connected") >= settings.cameras

            await wait_until(all_connected, HELLO_TIMEOUT, "every camera on its control channel", interval=0.5)
            await asyncio.sleep(settings.warmup)
            phases["idle"] = time.time()
            idle_cpu, idle_rss = await measure_idle(hub_ps, settings.idle_seconds)
            say(settings, f"{settings.cameras} idle cameras: {idle_cpu:.1f}% cpu, {idle_rss:.0f} MB")

            phases["ramp"] = time.time()
            # The plan: Zipf over the publishing cameras; probes on the busiest and on each withdrawal's camera.
            chosen = rng.sample(cameras, settings.publishing)
            counts = zipf_counts(settings.viewers, settings.publishing)
            targets = chosen[-settings.withdrawals :] if settings.withdrawals else []
            city.protected = set(targets)
            probe_cameras = [chosen[0], *targets]
            probe_cameras += [c for c in chosen[1:] if c not in probe_cameras][
                : max(0, settings.probes - len(probe_cameras))
            ]
            plan = [(camera, n) for camera, n in zip(chosen, counts, strict=True)]
            order = [(camera, i == 0 and camera in probe_cameras) for camera, n in plan for i in range(n)]
            for camera, probe in order:
                city.open_view(camera, "ramp", probe)
                await asyncio.sleep(1 / settings.ramp)
            ramp_timeout = settings.first_frame_timeout + 30
            await asyncio.wait_for(asyncio.gather(*(v.answered.wait() for v in city.views.values())), ramp_timeout)
            ramp = list(city.views.values())
            say(
                settings,
                f"{len(ramp)} views opened, {sum(1 for v in ramp if v.first_frame_ms is not None)} with frames",
            )
            await asyncio.sleep(settings.warmup)

            # The window: churn and withdrawals under load.
            metrics_before = await scrape(hub)
            window = CpuWindow({"hub": [hub_ps], "cameras": [psutil.Process(w.proc.pid) for w in camera_workers],
                                "viewers": [psutil.Process(w.proc.pid) for w in viewer_workers]})  # fmt: skip
            start_wall = phases["window"] = time.time()
            window.start()
            until = time.monotonic() + settings.seconds
            churn = asyncio.create_task(city.churn(until))
            withdrawals: list[Withdrawal] = []
            for index, camera in enumerate(targets):
                due = until - settings.seconds + settings.seconds * (index + 1) / (len(targets) + 1)
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                withdrawals.append(await withdraw(hub, city, camera))
            await asyncio.sleep(max(0.0, until - time.monotonic()))
            await churn
            cpu = window.stop()
            end_wall = time.time()
            rss = hub_ps.memory_info().rss / MB
            metrics_after = await scrape(hub)
            say(settings, f"window: hub {cpu['hub']:.1f}% cpu, {rss:.0f} MB; machine {cpu['machine']:.0f}%")

            # What the workers saw.
            await asyncio.wait_for(
                asyncio.gather(*(v.answered.wait() for v in city.views.values())), settings.first_frame_timeout + 30
            )
            reports = [
                row
                for rows in await asyncio.gather(
                    *(
                        w.collect({"cmd": "report", "start": start_wall, "end": end_wall}, "view", 60)
                        for w in viewer_workers
                    )
                )
                for row in rows
            ]
            endings: list[dict[str, Any]] = []
            for withdrawal in withdrawals:
                by_worker: dict[int, list[str]] = defaultdict(list)
                for view_id in withdrawal.views:
                    by_worker[city.views[view_id].worker].append(view_id)
                for number, ids in by_worker.items():
                    command = {"cmd": "ending", "ids": ids, "t0": withdrawal.t0, "timeout": 10}
                    endings.extend(await viewer_workers[number].collect(command, "ending", 60))
            probed = sorted({row["camera"] for row in reports if row["probe"]} | {w.camera for w in withdrawals})
            sends: dict[str, list[list[float]]] = {}
            for worker in camera_workers:
                command = {"cmd": "sends", "cameras": probed, "start": start_wall - 30, "end": end_wall + 30}
                for row in await worker.collect(command, "sends", 60):
                    sends[row["camera"]] = row["sends"]
            stats = []
            for worker in camera_workers:
                worker.send({"cmd": "stats"})
                stats.append(await worker.expect("stats", 30))
        except Exception:
            dump_logs(root)
            raise
        finally:
            await asyncio.gather(*(child.stop() for child in children), return_exceptions=True)
            hub_log = hub.proc.log() if hub.proc is not None else ""
            await hub.stop()
    return figures(
        settings, seed_seconds, (idle0_cpu, idle0_rss), (idle_cpu, idle_rss), cpu, rss, city, reports, endings,
        withdrawals, sends, stats, (metrics_before, metrics_after), hub_log, phases,
        (start_wall, end_wall),
    )  # fmt: skip


def figures(
    settings: Settings,
    seed_seconds: float,
    idle0: tuple[float, float],
    idle: tuple[float, float],
    cpu: dict[str, Any],
    rss: float,
    city: City,
    reports: list[dict[str, Any]],
    endings: list[dict[str, Any]],
    withdrawals: list[Withdrawal],
    sends: dict[str, list[list[float]]],
    stats: list[dict[str, Any]],
    metrics: tuple[str, str],
    hub_log: str,
    phases: dict[str, float],
    window: tuple[float, float],
) -> dict[str, Any]:
    """Everything the run measured, as one JSON-able object."""
    start, end = window
    seconds = end - start
    whole = [r for r in reports if r["opened_at"] is not None and r["opened_at"] < start and r["closed_at"] is None
             and city.views[r["id"]].ended_by is None and city.views[r["id"]].status == 201]  # fmt: skip
    fps = [r["frames"] / seconds for r in whole]
    tapped = [r for r in whole if not r["probe"]]
    latency: list[float] = []
    unstamped = 0
    for row in whole:
        if row["probe"]:
            captured = capture_times(row["samples"], sends.get(row["camera"], []))
            for (_, _, received), sent in zip(row["samples"], captured, strict=True):
                if sent is None:
                    unstamped += 1
                else:
                    latency.append((received - sent) * 1000)
    firsts: dict[str, list[float]] = {"publishing": [], "on_demand": []}
    no_frame: dict[str, int] = {"ramp": 0, "publishing": 0, "on_demand": 0}
    for view in city.views.values():
        if view.kind in firsts and view.first_frame_ms is not None:
            firsts[view.kind].append(view.first_frame_ms)
        if view.first_frame_ms is None and view.ended_by != "withdrawal":
            no_frame[view.kind] += 1
    refused = sorted({f"{v.status} {v.reason}" for v in city.views.values() if v.status != 201})
    # Withdrawals: capture times of what probes decoded around each call.
    last_ms: list[float] = []
    frames_after = 0
    tapped_after = 0
    tapped_last: list[float] = []
    for withdrawal in withdrawals:
        mine = [e for e in endings if e["camera"] == withdrawal.camera]
        captures = [
            sent
            for e in mine
            if e["probe"]
            for sent in capture_times(e["samples"], sends.get(withdrawal.camera, []))
            if sent is not None
        ]
        if captures:
            last_ms.append((max(captures) - withdrawal.t0) * 1000)
            frames_after += sum(1 for sent in captures if sent >= withdrawal.t0)
        for e in mine:
            if not e["probe"]:
                tapped_after += e["frames_after_end"]
                if e["last_packet_at"] is not None:
                    tapped_last.append((e["last_packet_at"] - withdrawal.t0) * 1000)
    packets = sum(r["packets"] for r in reports if not r["probe"])
    tapped_frames = sum(r["frames"] for r in reports if not r["probe"])
    probe_frames = sum(r["frames"] for r in reports if r["probe"])
    forwarded = packets + (probe_frames * packets / tapped_frames if tapped_frames else 0)
    hub_cpu_s = cpu["hub_cpu_s"]
    idle_cpu_s = idle[0] / 100 * cpu["seconds"]
    before, after = metrics
    cores = psutil.cpu_count() or 1
    # What held the run back besides the hub's own work, said in words (empty: nothing seen).
    limits = []
    others = cpu["machine"] - cpu["hub"] - cpu["cameras"] - cpu["viewers"]
    if cpu["machine"] >= RIG_LIMIT * cores * 100:
        limits.append(
            f"the machine's cores were {cpu['machine']:.0f} % of {cores * 100} % busy (hub {cpu['hub']:.0f} %, rig "
            f"{cpu['cameras'] + cpu['viewers']:.0f} %, other work on the machine {max(0.0, others):.0f} %)"
        )
    if max(cpu["cameras_max"], cpu["viewers_max"]) >= RIG_LIMIT * 100:
        limits.append("a camera or viewer worker used nearly a whole core: the rig's own limit")
    if cpu["hub_wait"] >= HUB_WAIT_LIMIT:
        limits.append(f"the hub waited for a CPU {cpu['hub_wait']:.0f} % of the window while ready to run")
    rig_limited = bool(limits)
    viewers = settings.viewers
    return {
        "settings": {k: v for k, v in vars(settings).items() if k != "progress"},
        "seed_seconds": round(seed_seconds, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "cores": cores,
        "hub_cpu_pct": round(cpu["hub"], 1),
        "hub_rss_mb": round(rss, 1),
        "idle_hub_cpu_pct": round(idle0[0], 2),
        "idle_hub_rss_mb": round(idle0[1], 1),
        "idle_cameras_cpu_pct": round(idle[0], 2),
        "idle_cameras_rss_mb": round(idle[1], 1),
        "hub_cpu_ratio_to_idle_hub": round(cpu["hub"] / idle0[0], 1) if idle0[0] > 0 else None,
        "hub_rss_ratio_to_idle_hub": round(rss / idle0[1], 2) if idle0[1] > 0 else None,
        "idle_camera_cpu_pct": round((idle[0] - idle0[0]) / settings.cameras, 5),
        "idle_camera_kb": round((idle[1] - idle0[1]) * MB / KB / settings.cameras, 1),
        "per_viewer_cpu_pct": round((cpu["hub"] - idle[0]) / viewers, 4) if viewers else None,
        "views_whole_window": len(whole),
        "fps_min": round(min(fps), 2) if fps else None,
        "fps_p5": _p(fps, 0.05),
        "fps_mean": round(statistics.fmean(fps), 2) if fps else None,
        "fps_min_probes": round(min((r["frames"] / seconds for r in whole if r["probe"]), default=0), 2),
        "views_below_target_fps": sum(1 for f in fps if f < TARGET_FPS_MIN),
        "glass_to_glass_p50_ms": _p(latency, 0.5),
        "glass_to_glass_p95_ms": _p(latency, 0.95),
        "latency_samples": len(latency),
        "unstamped_frames": unstamped,
        "first_frame_publishing_p50_ms": _p(firsts["publishing"], 0.5),
        "first_frame_publishing_p95_ms": _p(firsts["publishing"], 0.95),
        "first_frame_on_demand_p50_ms": _p(firsts["on_demand"], 0.5),
        "first_frame_on_demand_p95_ms": _p(firsts["on_demand"], 0.95),
        "first_frame_samples": {kind: len(values) for kind, values in firsts.items()},
        "views_without_first_frame": no_frame,
        "views_refused": refused,
        "churn": dict(city.churned),
        "withdrawals": [
            {"camera": w.camera, "status": w.status, "call_ms": round(w.call_ms, 1), "views": len(w.views)}
            for w in withdrawals
        ],
        "withdrawal_last_capture_p99_ms": _p(last_ms, 0.99),
        "withdrawal_last_capture_ms": [round(x, 1) for x in last_ms],
        "withdrawal_frames_after": frames_after,
        "withdrawal_tapped_frames_after_end": tapped_after,
        "withdrawal_tapped_last_packet_p99_ms": _p(tapped_last, 0.99),
        # The hub's own count of polls that did not renew the lease, over the whole run (must stay 0).
        "lease_renewals_missed": int(sample_value(after, "porchlight_lease_renewals_missed_total")),
        "lease_lapses": int(lease_lapses(after) - lease_lapses(before)),
        "lease_lapses_whole_run": int(lease_lapses(after)),
        "store_silences": silences_by_phase(hub_log, phases),
        "bitrate_kbps_per_view": round(statistics.fmean(r["bytes"] * 8 / seconds / 1000 for r in tapped), 1)
        if tapped
        else None,
        "packets_per_s_per_view": round(statistics.fmean(r["packets"] / seconds for r in tapped), 1)
        if tapped
        else None,
        "packets_forwarded": round(forwarded),
        "cpu_us_per_packet": round(hub_cpu_s / forwarded * 1e6, 1) if forwarded else None,
        "cpu_us_per_packet_net": round((hub_cpu_s - idle_cpu_s) / forwarded * 1e6, 1) if forwarded else None,
        "keyframe_requests": int(
            sample_value(after, "porchlight_keyframe_requests_total")
            - sample_value(before, "porchlight_keyframe_requests_total")
        ),
        "camera_publishes": sum(s["publishes"] for s in stats),
        "camera_stops": sum(s["stops"] for s in stats),
        "camera_publish_failures": sum(s["failures"] for s in stats),
        "cameras_connected_at_end": sum(s["connected"] for s in stats),
        "camera_channels_lost": sum(s["lost"] for s in stats),
        "rig_cameras_cpu_pct": round(cpu["cameras"], 1),
        "rig_viewers_cpu_pct": round(cpu["viewers"], 1),
        "rig_busiest_worker_pct": round(max(cpu["cameras_max"], cpu["viewers_max"]), 1),
        "machine_cpu_pct": round(cpu["machine"], 1),
        # % of the window the hub (summed over its threads), or the most-waiting worker, was ready to run and
        # waited for a CPU: the machine, not the work, holding it back.
        "hub_waiting_for_cpu_pct": round(cpu["hub_wait"], 1),
        "rig_worker_waiting_for_cpu_pct": round(max(cpu["cameras_wait"], cpu["viewers_wait"]), 1),
        "rig_limited": rig_limited,
        "limits_seen": limits,
    }


def dump_logs(root: Path, lines: int = 15) -> None:
    """The last lines of every process log of a failed run, on stderr (the directory is about to go)."""
    for path in sorted(root.glob("*.log")):
        tail = path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
        print(f"--- {path.name} (last {len(tail)} lines)", file=sys.stderr)
        print("\n".join(tail), file=sys.stderr)


async def run(settings: Settings, sizes: list[str]) -> dict[str, Any]:
    """Each size in turn (or only the given counts), each on its own hub."""
    if not sizes:
        return {"runs": [await run_size(settings)]}
    runs = []
    for size in sizes:
        say(settings, f"size {size}")
        row = await run_size(settings.scaled(SIZES[size]))
        row["size"] = size
        runs.append(row)
    return {"runs": runs}


# -- the report ------------------------------------------------------------------------------------------------


def fmt(value: Any, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def checklist(row: dict[str, Any]) -> list[str]:
    """The issue's targets against one run, PASS/FAIL each."""
    lines = []

    def check(ok: bool | None, text: str) -> None:
        lines.append(f"  {'n/a ' if ok is None else 'PASS' if ok else 'FAIL'} {text}")

    def at_most(value: float | None, target: float) -> bool | None:
        return None if value is None else value <= target

    check(at_most(row["hub_cpu_pct"], TARGET_HUB_CPU_PCT), f"hub <= 1.5 cores: {fmt(row['hub_cpu_pct'])} % of one")
    check(at_most(row["hub_rss_mb"], TARGET_HUB_RSS_MB), f"hub <= 1 GiB RSS: {fmt(row['hub_rss_mb'], '.0f')} MB")
    check(
        at_most(row["idle_camera_kb"], TARGET_IDLE_CAMERA_KB),
        f"idle camera <= 30 kB: {fmt(row['idle_camera_kb'])} kB, {fmt(row['idle_camera_cpu_pct'], '.4f')} % of a core",
    )
    fps = row["fps_min"]
    check(None if fps is None else fps >= TARGET_FPS_MIN, f"fps min >= 14 over every view: {fmt(fps)}")
    check(
        at_most(row["first_frame_publishing_p95_ms"], TARGET_FIRST_PUBLISHING_MS),
        f"first frame p95 <= 400 ms, publishing camera: {fmt(row['first_frame_publishing_p95_ms'], '.0f')} ms",
    )
    check(
        at_most(row["first_frame_on_demand_p95_ms"], TARGET_FIRST_ON_DEMAND_MS),
        f"first frame p95 <= 800 ms, on demand: {fmt(row['first_frame_on_demand_p95_ms'], '.0f')} ms",
    )
    p99 = row["withdrawal_last_capture_p99_ms"]
    after = row["withdrawal_frames_after"]
    check(
        None if p99 is None else p99 <= TARGET_WITHDRAWAL_MS and after == 0,
        f"withdrawal p99 within one frame ({TARGET_WITHDRAWAL_MS:.0f} ms) of the call, 0 frames after: "
        f"{fmt(p99, '.0f')} ms, {after} after",
    )
    missed = row["lease_renewals_missed"]
    check(
        missed == 0 and row["lease_lapses_whole_run"] == 0,
        f"no missed lease renewal: {missed} missed (porchlight_lease_renewals_missed_total), "
        f"{row['lease_lapses_whole_run']} stale refusals ({row['lease_lapses']} in the window), store silences by "
        f"phase {row['store_silences']}",
    )
    return lines


def report_one(row: dict[str, Any]) -> None:
    s = row["settings"]
    print(
        f"city: {s['cameras']} cameras connected, {s['publishing']} publishing, {s['viewers']} views ({s['probes']} "
        f"probes), churn {s['churn']}/s, {s['withdrawals']} withdrawals, {s['codec']} 640x480 {FPS} fps; "
        f"{s['seconds']:g} s window; load average at the end {row['load_average']} on {row['cores']} cores"
    )
    print(
        f"  hub: {row['hub_cpu_pct']:.1f} % of one core ({fmt(row['hub_cpu_ratio_to_idle_hub'])}x the idle hub's "
        f"{row['idle_hub_cpu_pct']:.1f} %), RSS {row['hub_rss_mb']:.0f} MB "
        f"({fmt(row['hub_rss_ratio_to_idle_hub'], '.2f')}x "
        f"the idle hub's {row['idle_hub_rss_mb']:.0f} MB)"
    )
    print(
        f"  idle cameras: {row['idle_cameras_cpu_pct']:.2f} % and {row['idle_cameras_rss_mb']:.0f} MB "
        "with all connected; "
        f"each {row['idle_camera_cpu_pct']:.4f} % of a core and {fmt(row['idle_camera_kb'])} kB"
    )
    print(
        f"  per view: {fmt(row['per_viewer_cpu_pct'], '.3f')} % of a core (window minus idle cameras, over the views; "
        f"includes the publishers' ingest); {fmt(row['bitrate_kbps_per_view'])} kbit/s, "
        f"{fmt(row['packets_per_s_per_view'])} packets/s; {fmt(row['cpu_us_per_packet'])} us of hub CPU per forwarded "
        f"packet ({fmt(row['cpu_us_per_packet_net'])} net of the idle cameras)"
    )
    print(
        f"  fps over {row['views_whole_window']} views open the whole window: min {fmt(row['fps_min'])}, p5 "
        f"{fmt(row['fps_p5'])}, mean {fmt(row['fps_mean'])} ({row['views_below_target_fps']} below {TARGET_FPS_MIN:g})"
    )
    print(
        f"  glass to glass: p50 {fmt(row['glass_to_glass_p50_ms'], '.0f')} ms, "
        f"p95 {fmt(row['glass_to_glass_p95_ms'], '.0f')} "
        f"ms ({row['latency_samples']} frames, {row['unstamped_frames']} unmatched)"
    )
    print(
        f"  first frame: publishing p50 {fmt(row['first_frame_publishing_p50_ms'], '.0f')} / p95 "
        f"{fmt(row['first_frame_publishing_p95_ms'], '.0f')} ms, on demand p50 "
        f"{fmt(row['first_frame_on_demand_p50_ms'], '.0f')} / p95 {fmt(row['first_frame_on_demand_p95_ms'], '.0f')} ms "
        f"({row['first_frame_samples']}); without a first frame: {row['views_without_first_frame']}"
        + (f"; refused: {row['views_refused']}" if row["views_refused"] else "")
    )
    print(
        f"  withdrawals: last capture minus the call's start {row['withdrawal_last_capture_ms']} ms, "
        f"{row['withdrawal_frames_after']} captured after; calls {[w['call_ms'] for w in row['withdrawals']]} ms; "
        f"tapped views (arrival times only, so frames captured before the call and still on their way count): last "
        f"frame p99 {fmt(row['withdrawal_tapped_last_packet_p99_ms'], '.0f')} ms after the call's start, "
        f"{row['withdrawal_tapped_frames_after_end']} frames after the hub's end event"
    )
    print(
        f"  churn: {row['churn']}; cameras published {row['camera_publishes']}x and stopped {row['camera_stops']}x "
        f"({row['camera_publish_failures']} failures); control channels lost or refused "
        f"{row['camera_channels_lost']}; keyframe requests {row['keyframe_requests']}"
    )
    print(
        f"  rig: camera workers {row['rig_cameras_cpu_pct']:.0f} %, viewer workers {row['rig_viewers_cpu_pct']:.0f} % "
        f"(busiest worker {row['rig_busiest_worker_pct']:.0f} %), machine {row['machine_cpu_pct']:.0f} % of "
        f"{row['cores'] * 100} %; waiting for a CPU while ready to run: the hub {row['hub_waiting_for_cpu_pct']:.0f} % "
        f"of the window, the most-waiting worker {row['rig_worker_waiting_for_cpu_pct']:.0f} %"
    )
    if row["rig_limited"]:
        print(
            "  NOTE: not only the hub was measured in this window: "
            + "; ".join(row["limits_seen"])
            + ". Low fps, late frames and lapsed leases here may be the machine's, not the hub's."
        )
    print("targets:")
    print("\n".join(checklist(row)))


def report(result: dict[str, Any]) -> None:
    """The human-readable report: each run, then the sizes table when there are several."""
    for row in result["runs"]:
        report_one(row)
        print()
    if len(result["runs"]) > 1:
        print(
            f"{'size':<7} {'cameras':>7} {'pub':>4} {'views':>5} {'hub %':>6} {'RSS MB':>6} {'idle kB/cam':>11} "
            f"{'%/view':>7} {'us/pkt':>6} {'fps min':>7} {'g2g p95':>7} {'1st pub p95':>11} {'1st dem p95':>11} "
            f"{'machine %':>9}"
        )
        for row in result["runs"]:
            s = row["settings"]
            print(
                f"{row.get('size', '-'):<7} {s['cameras']:>7} {s['publishing']:>4} {s['viewers']:>5} "
                f"{row['hub_cpu_pct']:>6.1f} {row['hub_rss_mb']:>6.0f} {fmt(row['idle_camera_kb']):>11} "
                f"{fmt(row['per_viewer_cpu_pct'], '.3f'):>7} {fmt(row['cpu_us_per_packet'], '.0f'):>6} "
                f"{fmt(row['fps_min']):>7} {fmt(row['glass_to_glass_p95_ms'], '.0f'):>7} "
                f"{fmt(row['first_frame_publishing_p95_ms'], '.0f'):>11} "
                f"{fmt(row['first_frame_on_demand_p95_ms'], '.0f'):>11} "
                f"{row['machine_cpu_pct']:>9.0f}"
            )


def raise_open_files(needed: int) -> None:
    """Let this process and its children (the hub, the workers) hold `needed` files each, up to the hard limit: a
    hub holds a socket per camera and per peer (a soft limit of 1024 is common)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    if hard != resource.RLIM_INFINITY and hard < needed:
        print(f"warning: open files are limited to {hard}; the hub may need {needed}", file=sys.stderr)


def main() -> None:
    """Parse the arguments, run, print the report or one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    defaults = Settings()
    for name in ("cameras", "publishing", "viewers", "probes", "withdrawals", "cameras_per_worker", "views_per_worker",
                 "loop_frames", "seed"):  # fmt: skip
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=getattr(defaults, name))
    for name in ("churn", "seconds", "warmup", "idle_seconds", "ramp", "first_frame_timeout"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=float, default=getattr(defaults, name))
    parser.add_argument("--codec", choices=("vp8", "h264"), default=defaults.codec)
    parser.add_argument("--sizes", default="", help=f"comma-separated, of {', '.join(SIZES)}: the table over sizes")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    if set(sizes) - set(SIZES):
        parser.error(f"--sizes takes {', '.join(SIZES)}")
    options = {k: v for k, v in vars(args).items() if k not in ("sizes", "json")}
    settings = Settings(**options, progress=not args.json)
    if not 1 <= settings.publishing < settings.cameras or settings.viewers < settings.publishing:
        parser.error("needs 1 <= --publishing < --cameras and --viewers >= --publishing")
    if not 0 <= settings.withdrawals < settings.publishing or settings.probes < settings.withdrawals + 1:
        parser.error("needs --withdrawals < --publishing and --probes > --withdrawals (each withdrawal is probed)")
    if settings.seconds <= 0 or settings.ramp <= 0 or settings.churn < 0:
        parser.error("--seconds and --ramp must be positive, --churn not negative")
    # Per camera its control socket; per view or publisher a few (ICE, the event stream); and room to spare.
    raise_open_files(4 * (settings.cameras + 3 * settings.viewers + 3 * settings.publishing) + 1024)
    run_and_report(run(settings, sizes), args.json, report)


if __name__ == "__main__":
    main()
