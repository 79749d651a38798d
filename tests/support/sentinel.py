"""Redis with a replica and three sentinels, as real processes on loopback: the set-up deploy/compose.yaml runs.

`SentinelSet.running(tmp)` starts a primary (append-only file, `appendfsync always`), a replica of it and three
sentinels (`redis-server <conf> --sentinel`: the same binary as Debian's redis-sentinel), all with one password;
`ready()` waits until the sentinels know the replica and each other (only then can they agree on a failover). A short
`down-after-milliseconds` keeps a failover to a few seconds. Every process it starts, it stops.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis.asyncio as aredis
from redis.exceptions import RedisError

from tests.support.procs import wait_until
from tests.support.redis_server import START_TIMEOUT, RedisProcess
from tests.support.secrets import SECRETS

MASTER = "porchlight"
# How long a silent primary takes to be judged down by a sentinel; the failover follows within about a second.
DOWN_AFTER_MS = 1500


@dataclass(kw_only=True)
class Node(RedisProcess):
    """One redis-server process (a data node or a sentinel) with its config file, data and log in `workdir`."""

    config: str = field(repr=False)  # holds the password
    sentinel: bool = False

    def start(self) -> None:
        """Write the config (a sentinel rewrites its own), start the process, wait until it answers PING."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        conf = self.workdir / ("sentinel.conf" if self.sentinel else "redis.conf")
        head = f"port {self.port}\nbind 127.0.0.1\ndir {self.workdir}\n"
        conf.write_text(head + self.config, encoding="utf-8")
        self._launch(["redis-server", str(conf), *(["--sentinel"] if self.sentinel else [])])
        SECRETS.watch(self.workdir / "redis.log", alive=lambda: self.proc is not None and self.proc.poll() is None)


def _data_config(password: str, replica_of: int | None = None) -> str:
    # As deploy/redis/redis.conf: every write fsynced to the append-only file before Redis answers it.
    lines = ["appendonly yes", "appendfsync always", 'save ""', f"requirepass {password}", f"masterauth {password}"]
    lines.append("repl-diskless-sync-delay 0")  # the replica syncs at once (Redis waits 5 s for others by default)
    if replica_of is not None:
        lines.append(f"replicaof 127.0.0.1 {replica_of}")
    return "\n".join(lines) + "\n"


def _sentinel_config(password: str, primary: int) -> str:
    return (
        f"sentinel monitor {MASTER} 127.0.0.1 {primary} 2\n"
        f"sentinel auth-pass {MASTER} {password}\n"
        f"sentinel down-after-milliseconds {MASTER} {DOWN_AFTER_MS}\n"
        f"sentinel failover-timeout {MASTER} 10000\n"
        f"sentinel parallel-syncs {MASTER} 1\n"
        f"requirepass {password}\n"
    )


@dataclass
class SentinelSet:
    """A primary, its replica and three sentinels watching them, sharing one password."""

    workdir: Path
    password: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)
    primary: Node = field(init=False)
    replica: Node = field(init=False)
    sentinels: list[Node] = field(init=False)

    def __post_init__(self) -> None:
        SECRETS.add(self.password, "redis password")
        self.primary = Node(workdir=self.workdir / "primary", config=_data_config(self.password))
        self.replica = Node(workdir=self.workdir / "replica", config=_data_config(self.password, self.primary.port))
        self.sentinels = [
            Node(
                workdir=self.workdir / f"sentinel-{n}",
                config=_sentinel_config(self.password, self.primary.port),
                sentinel=True,
            )
            for n in range(3)
        ]

    @classmethod
    @contextlib.asynccontextmanager
    async def running(cls, workdir: Path) -> AsyncIterator[SentinelSet]:
        """Start everything (wait for `ready()` before a failover); stop everything on the way out."""
        cluster = cls(workdir)
        try:
            await cluster.start()
            yield cluster
        finally:
            cluster.stop()

    @property
    def addresses(self) -> list[str]:
        """The sentinels as store.redis_sentinels takes them."""
        return [f"127.0.0.1:{node.port}" for node in self.sentinels]

    def hub_env(self, password_file: Path) -> dict[str, str]:
        """The environment that points a hub's store at this set through the sentinels (the password from a file),
        waiting for the replica on every consent-closing write."""
        password_file.write_text(self.password, encoding="utf-8")
        return {
            "PORCHLIGHT_STORE__KIND": "redis",
            "PORCHLIGHT_STORE__REDIS_SENTINELS": ",".join(self.addresses),
            "PORCHLIGHT_STORE__REDIS_SENTINEL_MASTER": MASTER,
            "PORCHLIGHT_STORE__REDIS_PASSWORD_FILE": str(password_file),
            "PORCHLIGHT_STORE__REDIS_WAIT_REPLICAS": "1",
        }

    async def start(self) -> None:
        self.primary.start()
        self.replica.start()
        await wait_until(self._replica_synced, START_TIMEOUT, "the replica to sync")
        for node in self.sentinels:
            node.start()

    async def ready(self) -> None:
        """Until the sentinels know the replica and each other (their hello messages go every 2 s): only then can
        they agree that the primary is down and promote the replica. They answer where the primary is before."""
        await wait_until(self._sentinels_ready, 20, "the sentinels to know the replica and each other", 0.2)

    def stop(self) -> None:
        for node in [*self.sentinels, self.replica, self.primary]:
            node.stop()

    async def ask(self, node: Node, *args: Any) -> Any:
        """One command to a node (None if it does not answer)."""
        client = aredis.Redis(host="127.0.0.1", port=node.port, password=self.password, socket_timeout=1.0)
        try:
            return await client.execute_command(*args)
        except (OSError, RedisError):
            return None
        finally:
            await client.aclose()

    async def role(self, node: Node) -> str | None:
        """ "master" or "slave" as the node says, None if it does not answer."""
        answer = await self.ask(node, "ROLE")
        return None if answer is None else str(answer[0], "utf-8") if isinstance(answer[0], bytes) else str(answer[0])

    async def primary_port(self) -> int | None:
        """The primary's port as the first sentinel that answers names it now."""
        for node in self.sentinels:
            answer = await self.ask(node, "SENTINEL GET-MASTER-ADDR-BY-NAME", MASTER)  # (host, port) parsed
            if answer:
                return int(answer[1])
        return None

    async def wait_promoted(self, timeout: float = 20.0) -> None:
        """Until the sentinels name the replica as primary and it answers as one."""

        async def promoted() -> bool:
            return await self.primary_port() == self.replica.port and await self.role(self.replica) == "master"

        await wait_until(promoted, timeout, "the sentinels to promote the replica", 0.1)

    async def _replica_synced(self) -> bool:
        info = await self.ask(self.replica, "INFO", "replication")  # parsed into a dict
        return info is not None and info.get("master_link_status") == "up"

    async def _sentinels_ready(self) -> bool:
        for node in self.sentinels:
            state = await self.ask(node, "SENTINEL MASTER", MASTER)  # parsed into a dict of numbers and flags
            if state is None or state.get("num-slaves") != 1 or state.get("num-other-sentinels") != 2:
                return False
        return True
