"""Hub processes sharing one real redis-server, seeded with the demo accounts (tests and benchmarks): two (`two_hubs`)
or any number (`many_hubs`), with one audit signing key and one hub-to-hub secret for all."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from hub.audit.signing import load_or_create_signer
from hub.demo import Seeded, seed
from hub.routing.peer_auth import load_or_create_secret
from hub.store.redis import RedisStore
from tests.support.procs import Hub
from tests.support.redis_server import RedisServer
from tests.support.tcp_proxy import CuttableProxy

PEER_SECRET_FILE = "peer-secret.key"


@dataclass
class Hubs:
    redis: RedisServer
    hubs: list[Hub]
    seeded: Seeded
    proxy: CuttableProxy  # hub A reaches Redis through it, so a test can cut A off alone

    @property
    def a(self) -> Hub:
        return self.hubs[0]

    @property
    def b(self) -> Hub:
        return self.hubs[1]

    @property
    def c(self) -> Hub:
        return self.hubs[2]


TwoHubs = Hubs


def hub_env(node: str, url: str, signing_key: Path, peer_secret: Path | None = None) -> dict[str, str]:
    """The environment that puts a hub on Redis under the name `node`, signing the shared audit log with the one
    key every hub of it must have, and signing relay requests with the one hub-to-hub secret (by default beside
    the signing key: hubs given one key share one secret)."""
    return {
        "PORCHLIGHT_STORE__KIND": "redis",
        "PORCHLIGHT_STORE__REDIS_URL": url,
        "PORCHLIGHT_CLUSTER__NODE_ID": node,
        "PORCHLIGHT_AUDIT__SIGNING_KEY_FILE": str(signing_key),
        "PORCHLIGHT_CLUSTER__PEER_SECRET_FILE": str(peer_secret or signing_key.parent / PEER_SECRET_FILE),
    }


@contextlib.asynccontextmanager
async def many_hubs(
    tmp: Path,
    count: int = 3,
    *,
    appendonly: bool = True,
    a_via_proxy: bool = True,
    env: dict[str, str] | None = None,
    a_env: dict[str, str] | None = None,
    a_ready: bool = True,
) -> AsyncIterator[Hubs]:
    """Redis, the demo seed and `count` hubs named hub-a, hub-b, ... (A through a cuttable proxy unless told
    not to), each with `env` added to its environment (and A with `a_env` too; `a_ready` False: A is only waited
    for until it is up, not ready); everything stopped on the way out."""
    with RedisServer.running(tmp / "redis", appendonly=appendonly) as redis:
        store = await RedisStore.open(redis.url, default_max_grant_seconds=7 * 86400)
        try:
            seeded = await seed(store)
        finally:
            await store.close()
        proxy = CuttableProxy(redis.port)
        await proxy.start()
        key = tmp / "audit-signer.key"
        load_or_create_signer(key, "porchlight.localhost/audit")
        load_or_create_secret(tmp / PEER_SECRET_FILE)
        hubs = []
        for index in range(count):
            name = chr(ord("a") + index)
            url = proxy.url if index == 0 and a_via_proxy else redis.url
            extra = {**(env or {}), **((a_env or {}) if index == 0 else {})}
            hub = Hub(tmp / name, env={**hub_env(f"hub-{name}", url, key), **extra})
            hub.tmp.mkdir()
            hub.write_config()
            hubs.append(hub)
        try:
            for index, hub in enumerate(hubs):
                await hub.start(ready=a_ready or index > 0)
            yield Hubs(redis, hubs, seeded, proxy)
        finally:
            for hub in hubs:
                await hub.stop()
            await proxy.close()


@contextlib.asynccontextmanager
async def two_hubs(
    tmp: Path,
    *,
    appendonly: bool = True,
    a_via_proxy: bool = True,
    env: dict[str, str] | None = None,
    a_env: dict[str, str] | None = None,
    a_ready: bool = True,
) -> AsyncIterator[Hubs]:
    """`many_hubs` with hub A and hub B."""
    async with many_hubs(
        tmp, 2, appendonly=appendonly, a_via_proxy=a_via_proxy, env=env, a_env=a_env, a_ready=a_ready
    ) as hubs:
        yield hubs
