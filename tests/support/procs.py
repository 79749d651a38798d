"""Real hub and agent processes for end-to-end tests, each ended by the fixture that started it."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
import re
import socket
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from hub.config import Config, load_config
from hub.demo import Seeded, seed
from hub.store.sqlite import SqliteStore
from tests.support.secrets import SECRETS

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 30.0


# Ports for the hubs and servers tests start: below Linux's ephemeral range (32768+), so no client socket can take
# one between our pick and the server's bind, and a range per pytest-xdist worker, so workers never pick alike.
PORTS_PER_WORKER = 2000
_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
_PORTS = itertools.cycle(
    random.sample(range(12000 + _WORKER * PORTS_PER_WORKER, 12000 + (_WORKER + 1) * PORTS_PER_WORKER), PORTS_PER_WORKER)
)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (from this worker's range)."""
    for port in _PORTS:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("unreachable: the port cycle never ends")


async def wait_until(predicate, timeout: float, what: str, interval: float = 0.05) -> None:
    """Poll `predicate` (sync or async) until true; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(interval)


@dataclass
class Proc:
    """A child process whose combined output goes to a log file."""

    name: str
    proc: asyncio.subprocess.Process
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def log_has(self, pattern: str) -> bool:
        return re.search(pattern, self.log()) is not None

    async def wait_log(self, pattern: str, timeout: float = 20.0) -> None:
        await wait_until(lambda: self.log_has(pattern), timeout, f"{self.name} to log {pattern!r}")

    async def wait_log_count(self, text: str, count: int, timeout: float = 20.0) -> None:
        await wait_until(lambda: self.log().count(text) >= count, timeout, f"{self.name} to log {text!r} {count}x")

    async def stop(self, sig: int = 15, timeout: float = 15.0) -> int:
        """Signal the process and wait; kill it if it does not finish in time. Returns the exit code."""
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(sig)
            try:
                await asyncio.wait_for(self.proc.wait(), timeout)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        assert self.proc.returncode is not None
        return self.proc.returncode


async def spawn(name: str, args: list[str], log_path: Path, env: dict[str, str] | None = None) -> Proc:
    """Start `python args...` with output to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, *args, stdout=out, stderr=out, cwd=ROOT, env={**os.environ, **(env or {})}
        )
    SECRETS.watch(log_path, alive=lambda: proc.returncode is None)  # scanned for secrets (issue 8)
    return Proc(name, proc, log_path)


@dataclass
class Hub:
    """A hub process on loopback with its own data directory."""

    tmp: Path
    port: int = field(default_factory=free_port)
    proc: Proc | None = None
    env: dict[str, str] = field(default_factory=dict)
    # Officers and admins log in with TOTP codes (tests of the pages and sessions); off for the media tests.
    mfa: bool = False
    # The address it listens on (another local address when a test puts a camera behind a lossy link).
    host: str = "127.0.0.1"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def config_path(self) -> Path:
        return self.tmp / "hub.toml"

    def write_config(self) -> None:
        self.config_path.write_text(
            f"""
log_level = "INFO"
[http]
host = "{self.host}"
port = {self.port}
[store]
data_dir = "{self.tmp / "data"}"
[media]
loopback = true
[consent]
poll_seconds = 0.1
[auth]
mfa_required = {"true" if self.mfa else "false"}
""",
            encoding="utf-8",
        )

    def config(self) -> Config:
        return load_config(self.config_path, env={})

    async def seed(self) -> Seeded:
        """Seed the demo accounts and cameras straight into the store (before or while the hub runs)."""
        config = self.config()
        store = await SqliteStore.open(
            config.store.sqlite_path, default_max_grant_seconds=config.consent.default_max_grant_seconds
        )
        try:
            seeded = await seed(store)
        finally:
            await store.close()
        for token in seeded.tokens.values():
            SECRETS.add(token, "device token")
        return seeded

    async def start(self, *, ready: bool = True) -> None:
        """Start the process and wait until it is ready (or, with `ready` False, only up: /healthz)."""
        self.proc = await spawn(
            "hub", ["-m", "hub", "--config", str(self.config_path), "serve"], self.tmp / "hub.log", self.env
        )
        path = "/readyz" if ready else "/healthz"
        await wait_until(lambda: self._answers(path), START_TIMEOUT, f"the hub to answer {path}")

    async def _answers(self, path: str) -> bool:
        assert self.proc is not None
        if self.proc.proc.returncode is not None:
            raise AssertionError(f"hub exited with {self.proc.proc.returncode}:\n{self.proc.log()}")
        try:
            async with aiohttp.ClientSession() as http, http.get(f"{self.url}{path}") as response:
                return response.status == 200
        except aiohttp.ClientError:
            return False

    async def stop(self) -> int:
        return await self.proc.stop() if self.proc is not None else 0

    async def metric(self, name: str) -> float:
        """One unlabelled sample from /metrics."""
        async with aiohttp.ClientSession() as http, http.get(f"{self.url}/metrics") as response:
            text = await response.text()
        match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
        assert match, f"metric {name} not found"
        return float(match.group(1))


@contextlib.asynccontextmanager
async def seeded_hub(tmp: Path, env: dict[str, str] | None = None, mfa: bool = False) -> AsyncIterator[Hub]:
    """A seeded hub process (demo accounts and cameras, running pilot, 'front-door' opted in; `hub.seeded` holds
    what the seed made), started, and stopped on exit."""
    instance = Hub(tmp, env=dict(env or {}), mfa=mfa)
    instance.write_config()
    instance.seeded = await instance.seed()  # type: ignore[attr-defined]
    await instance.start()
    try:
        yield instance
    finally:
        await instance.stop()


async def start_agent(hub: Hub, camera_id: str, token: str, tmp: Path, *extra: str) -> Proc:
    """A synthetic camera agent process for `camera_id` on loopback, publishing the hub's codec."""
    codec = hub.env.get("PORCHLIGHT_MEDIA__CODEC", "vp8")
    token_file = tmp / f"{camera_id}.token"
    SECRETS.add(token, "device token")
    token_file.write_text(token, encoding="utf-8")
    return await spawn(
        f"agent-{camera_id}",
        ["-m", "device_agent", "--hub", hub.url, "--camera", camera_id, "--token-file", str(token_file),
         "--loopback", "--max-backoff", "1", "--codec", codec, "--state-dir", str(tmp / f"agent-{camera_id}-state"),
         *extra],
        tmp / f"agent-{camera_id}.log",
    )  # fmt: skip


@contextlib.asynccontextmanager
async def running_agent(hub: Hub, camera_id: str, token: str, tmp: Path, *extra: str) -> AsyncIterator[Proc]:
    """An agent that has connected to the hub's control channel; stopped on exit."""
    agent = await start_agent(hub, camera_id, token, tmp, *extra)
    try:
        await agent.wait_log("hub says hello")
        yield agent
    finally:
        await agent.stop()
