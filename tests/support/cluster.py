"""Two hub processes sharing one real redis-server, seeded with the demo accounts (tests and benchmarks)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from hub.audit.signing import load_or_create_signer
from hub.demo import Seeded, seed
from hub.store.redis import RedisStore
from tests.support.procs import Hub
from tests.support.redis_server import RedisServer
from tests.support.tcp_proxy import CuttableProxy


@dataclass
class TwoHubs:
    redis: RedisServer
    a: Hub
    b: Hub
    seeded: Seeded
    proxy: CuttableProxy  # hub A reaches Redis through it, so a test can cut A off alone


def hub_env(node: str, url: str, signing_key: Path) -> dict[str, str]:
    """The environment that puts a hub on Redis under the name `node`, signing the shared audit log with the one
    key every hub of it must have."""
    return {
        "PORCHLIGHT_STORE__KIND": "redis",
        "PORCHLIGHT_STORE__REDIS_URL": url,
        "PORCHLIGHT_CLUSTER__NODE_ID": node,
        "PORCHLIGHT_AUDIT__SIGNING_KEY_FILE": str(signing_key),
    }


@contextlib.asynccontextmanager
async def two_hubs(
    tmp: Path,
    *,
    appendonly: bool = True,
    a_via_proxy: bool = True,
    env: dict[str, str] | None = None,
    a_env: dict[str, str] | None = None,
    a_ready: bool = True,
) -> AsyncIterator[TwoHubs]:
    """Redis, the demo seed, hub A (through a cuttable proxy unless told not to) and hub B, both with `env` added
    to their environment (and A with `a_env` too; `a_ready` False: A is only waited for until it is up, not
    ready); everything stopped on the way out."""
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
        a_url = proxy.url if a_via_proxy else redis.url
        a = Hub(tmp / "a", env={**hub_env("hub-a", a_url, key), **(env or {}), **(a_env or {})})
        b = Hub(tmp / "b", env={**hub_env("hub-b", redis.url, key), **(env or {})})
        for hub in (a, b):
            hub.tmp.mkdir()
            hub.write_config()
        try:
            await a.start(ready=a_ready)
            await b.start()
            yield TwoHubs(redis, a, b, seeded, proxy)
        finally:
            await a.stop()
            await b.stop()
            await proxy.close()
