"""Finding the Redis primary through Sentinel (Redis's own failover), and where the configuration says Redis is.

With `store.redis_sentinels` and `store.redis_sentinel_master` set, the hub never holds the primary's address: each
new connection asks the sentinels (redis-py's `redis.asyncio.sentinel`) which node is the primary now. When the
primary dies, the calls in flight fail (`StoreUnavailable`, as for any lost connection), the consent lease closes
the gates if the silence lasts, and once the sentinels have promoted a replica the next connection reaches it: the
hub re-subscribes and reloads everything, as after any reconnect. A connection that finds its node demoted to a
replica (READONLY) is dropped and asks again.

The same password (from the URL, or `store.redis_password` / `redis_password_file`) opens Redis and the
sentinels: give the sentinels `requirepass` with it, and `sentinel auth-pass` so they can watch the nodes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import redis.asyncio as aredis
from redis.asyncio.sentinel import Sentinel

if TYPE_CHECKING:
    from hub.config import StoreConfig


@dataclass(frozen=True)
class RedisTarget:
    """Where Redis is: a URL (redis:// or rediss://, may carry a password), or the sentinels that know where the
    primary named `master` is (then `url` is unused). `password`: for Redis and the sentinels, when the URL does not
    carry one. The URL and the password are secrets: neither is in the repr."""

    url: str | None = field(default=None, repr=False)
    sentinels: tuple[tuple[str, int], ...] = ()
    master: str | None = None
    password: str | None = field(default=None, repr=False)


def redis_target(store: StoreConfig) -> RedisTarget:
    """Where the configuration says Redis is. ConfigError if it says neither a URL nor sentinels, or a secret's
    file cannot be read."""
    password = store.redis_password_value()
    if store.redis_sentinels:
        sentinels = tuple(_address(address) for address in store.redis_sentinels)
        return RedisTarget(sentinels=sentinels, master=store.redis_sentinel_master, password=password)
    return RedisTarget(url=store.redis_dsn(), password=password)


def _address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


class SentinelRedis(aredis.Redis):
    """A client of the primary that closes its sentinels' connections with its own."""

    # Not `sentinel`: Redis has a method of that name (the SENTINEL command).
    sentinel_manager: Sentinel | None = None

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        """Close the primary's connections, then the sentinels'."""
        try:
            await super().aclose(close_connection_pool)
        finally:
            if self.sentinel_manager is not None:
                await self.sentinel_manager.aclose()


def connect_via_sentinel(
    sentinels: tuple[tuple[str, int], ...], master: str, password: str | None, options: dict[str, Any]
) -> aredis.Redis:
    """A client of the primary named `master` as the sentinels know it now (not yet connected). `options` (timeouts,
    no retries, decoding) hold for the primary's connections; the sentinels get the same timeouts and no retries,
    and decode nothing (redis-py parses their answers itself)."""
    auth = {"password": password} if password is not None else {}
    sentinel_options = {key: value for key, value in options.items() if key != "decode_responses"}
    manager = Sentinel(  # type: ignore[no-untyped-call]
        list(sentinels), sentinel_kwargs={**sentinel_options, **auth}, **options, **auth
    )
    client = manager.master_for(master, redis_class=SentinelRedis)
    assert isinstance(client, SentinelRedis)
    client.sentinel_manager = manager
    return client
