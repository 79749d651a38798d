"""Helpers shared by the benchmarks (most by `bench.join_load` and `bench.soak`): a seeded hub with many officers,
every demo camera's agent, officers' API sessions that time their WHEP POST, light viewers, samples of the hub
process, and the limits lifted for a benchmark's one officer.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import psutil
from aiortc.mediastreams import MediaStreamError

from hub.auth.passwords import hash_password
from hub.demo import CAMERAS, Seeded
from hub.store.base import NotFound, Role
from hub.store.sqlite import SqliteStore
from tests.support.client import Api, Viewer
from tests.support.procs import Hub, Proc, running_agent

AGENCY = "metro-pd"
OFFICER_PASSWORD = "bench-officer-pass"
MB = 2**20
GRANT_SECONDS = 8 * 3600  # as the demo's own opt-in
# The hub's per-officer limits are for people; a benchmark's one officer opening a view per N (fanout) or per
# withdrawal (revocation) would meet them, and these benchmarks measure the media path, not the limits.
ONE_OFFICER_MANY_VIEWS = {
    "PORCHLIGHT_LIMITS__PEERS_PER_OFFICER": "1000",
    "PORCHLIGHT_LIMITS__OFFERS_PER_ACCOUNT": "100000/minute",
    "PORCHLIGHT_LIMITS__OFFERS_PER_SOURCE": "100000/minute",
}
# Every hub limit a benchmark of hundreds of viewers from one machine would trip: its one officer logs in once per
# viewer worker per step, all from 127.0.0.1 (10 log-ins a minute per account and 60 per address by default), and
# holds hundreds of peers at once (256 in all by default). A benchmark measures the media path, not the limits.
EVERY_LIMIT_LIFTED = {
    **ONE_OFFICER_MANY_VIEWS,
    "PORCHLIGHT_LIMITS__LOGIN_PER_SOURCE": "100000/minute",
    "PORCHLIGHT_LIMITS__LOGIN_PER_ACCOUNT": "100000/minute",
    "PORCHLIGHT_LIMITS__PEERS_PER_OFFICER": "100000",
    "PORCHLIGHT_LIMITS__PEERS_TOTAL": "100000",
}


def officer_name(index: int) -> str:
    """The username of the bench's `index`-th officer."""
    return f"bench-officer-{index:03d}"


async def seed_hub(hub: Hub, officers: int, opt_in: Iterable[str] = ()) -> Seeded:
    """The demo's seed, plus `officers` officer accounts of metro-pd (all with OFFICER_PASSWORD), plus an 8-hour
    opt-in (all agencies) for each camera of `opt_in`; into the hub's store, before it starts."""
    seeded = await hub.seed()
    config = hub.config()
    store = await SqliteStore.open(
        config.store.sqlite_path, default_max_grant_seconds=config.consent.default_max_grant_seconds
    )
    try:
        # One hash for every officer: verifying it costs the hub what verifying 50 different ones would.
        password_hash = await asyncio.to_thread(hash_password, OFFICER_PASSWORD)
        for index in range(officers):
            try:
                await store.find_account(officer_name(index))
            except NotFound:
                await store.add_account(officer_name(index), password_hash, Role.OFFICER, AGENCY)
        now = time.time()
        for camera in opt_in:
            await store.put_grant(camera, now, now + GRANT_SECONDS, None)
    finally:
        await store.close()
    return seeded


@contextlib.asynccontextmanager
async def all_agents(hub: Hub, seeded: Seeded, tmp: Path) -> AsyncIterator[dict[str, Proc]]:
    """A synthetic agent for every demo camera, each on the hub's control channel; all stopped on exit."""
    async with contextlib.AsyncExitStack() as stack:
        agents = {}
        for camera, _, _ in CAMERAS:
            agents[camera] = await stack.enter_async_context(running_agent(hub, camera, seeded.tokens[camera], tmp))
        yield agents


class TimedApi(Api):
    """An officer's API session that notes when its last WHEP offer POST started (aiohttp request tracing)."""

    def __init__(self, base: str, keep_alive: bool = True, source: str | None = None) -> None:
        # Not Api.__init__: the session must be built with the trace config (it cannot be added later).
        trace = aiohttp.TraceConfig()
        trace.on_request_start.append(self._request_started)
        self.base = base
        # Without keep-alive every request has its own connection, closed after it: no idle connection is left
        # open on the hub between requests (the soak compares the hub's open files before and after). `source`:
        # the local address to connect from (any of 127.0.0.0/8 reaches a hub on 127.0.0.1).
        connector = aiohttp.TCPConnector(force_close=not keep_alive, local_addr=(source, 0) if source else None)
        self.http = aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True), trace_configs=[trace], connector=connector
        )
        self.csrf = ""
        self.posted_at: float | None = None  # perf_counter() when the last POST /whep/... began
        self.token: str | None = None  # the session token, once logged in (for a Bearer client elsewhere)

    async def _request_started(self, session: Any, context: Any, params: aiohttp.TraceRequestStartParams) -> None:
        if params.method == "POST" and params.url.path.startswith("/whep/"):
            self.posted_at = time.perf_counter()

    async def try_login(self, username: str, password: str) -> tuple[int, float]:
        """POST /api/login; (HTTP status, seconds taken). Unlike `login`, a refusal is returned, not raised."""
        began = time.perf_counter()
        async with self.http.post(f"{self.base}/api/login", json={"username": username, "password": password}) as r:
            body = await r.json() if r.status == 200 else None
            elapsed = time.perf_counter() - began
        if body is not None:
            self.csrf, self.token = body["csrf_token"], body["token"]
        return r.status, elapsed


@dataclass
class LightViewer(Viewer):
    """A WHEP viewer that notes when its first decoded frame arrived and then only counts frames.

    aiortc decodes every frame anyway (in its receiver's thread); skipping the conversion to pixels and the stamp
    reading keeps many viewers from loading the bench's own event loop.
    """

    first_frame_at: float | None = None  # perf_counter()
    received: int = 0

    async def _read(self, track: Any) -> None:
        try:
            while True:
                await track.recv()
                if self.first_frame_at is None:
                    self.first_frame_at = time.perf_counter()
                self.received += 1
                self.new_frame.set()
        except MediaStreamError:
            pass
        finally:
            self.track_ended.set()

    async def first_frame(self, timeout: float) -> float:
        """Wait (bounded) for the first decoded frame; its perf_counter() time. TimeoutError if none came."""
        await asyncio.wait_for(self.new_frame.wait(), timeout)
        assert self.first_frame_at is not None
        return self.first_frame_at


async def scrape(hub: Hub) -> dict[str, float]:
    """Every unlabelled sample of the hub's /metrics, by name."""
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as http, http.get(f"{hub.url}/metrics") as response:
        text = await response.text()
    return {m.group(1): float(m.group(2)) for m in re.finditer(r"^([a-zA-Z_:][\w:]*) (\S+)$", text, re.MULTILINE)}


def hub_process(hub: Hub) -> psutil.Process:
    """The hub's own process (spawned directly, no shell in between)."""
    assert hub.proc is not None
    return psutil.Process(hub.proc.proc.pid)


@dataclass(frozen=True)
class Sample:
    """The hub process at one moment: seconds since the run began, RSS (MB), open fds, and its own gauges."""

    at: float
    rss_mb: float
    fds: int
    peers: float
    tasks: float
    viewers: float
    publishers: float


async def sample(hub: Hub, process: psutil.Process, since: float) -> Sample:
    """One Sample: RSS and fds from the OS (psutil), peer connections, tasks, viewers and publishers from /metrics."""
    metrics = await scrape(hub)
    return Sample(
        at=time.monotonic() - since,
        rss_mb=process.memory_info().rss / MB,
        fds=process.num_fds(),
        peers=metrics.get("porchlight_peer_connections", float("nan")),
        tasks=metrics.get("porchlight_asyncio_tasks", float("nan")),
        viewers=metrics.get("porchlight_viewers", float("nan")),
        publishers=metrics.get("porchlight_publishers", float("nan")),
    )
