"""The shared store: Redis, for many hubs (redis-py's asyncio client).

Same contract as the embedded store (`hub.store.sqlite`), same records, versions, errors and change marker.
The key layout is documented in `hub.store.redis_keys` and, for each part, beside that part's scripts.

- Every write that checks something or takes a version is one Lua script: it checks, writes, takes the next
  version from the shared counter and publishes the change on the change channel in one atomic step.
- Values are JSON, never pickle. Reads are plain commands (several records: one MULTI/EXEC pipeline).
- Every call has a timeout (`connect_timeout`, `socket_timeout`) and is never retried behind the caller's back
  (a retried script could apply twice); Redis down or slow raises `StoreUnavailable`.
- `subscribe()` follows the change channel; hubs also share a message bus (`publish_raw`/`subscribe_raw`)
  and camera ownership leases (`claim_camera`, `camera_owner`, `release_camera`).

`RedisStore`, here, holds the connection, the change feed, the message bus and the ownership leases; its other
methods come, one concern per module, from mixins on the base in `hub.store.redis_plumbing` (each with its own keys
and scripts): `hub.store.redis_accounts` (agencies, accounts, failed log-ins and TOTP), `hub.store.redis_sessions`,
`hub.store.redis_cameras`, `hub.store.redis_consent` (grants, the pilot, the policy) and
`hub.store.redis_requests` (access requests) and `hub.store.redis_enrolment` (one-time enrolment codes).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any

import redis.asyncio as aredis
from redis.exceptions import RedisError

from hub.store import checks, redis_pubsub
from hub.store.base import Store
from hub.store.redis_accounts import RedisAccounts
from hub.store.redis_cameras import RedisCameras
from hub.store.redis_client import connect, wait_for_replicas
from hub.store.redis_consent import RedisConsent
from hub.store.redis_enrolment import RedisEnrolment
from hub.store.redis_keys import DEFAULT_PREFIX, RedisKeys
from hub.store.redis_plumbing import Scripts, guard
from hub.store.redis_push import RedisPush
from hub.store.redis_requests import RedisRequests
from hub.store.redis_sentinel import RedisTarget
from hub.store.redis_session_ends import RedisSessionEnds
from hub.store.redis_sessions import RedisSessions
from hub.store.redis_view_bars import RedisViewBars

log = logging.getLogger(__name__)


class RedisStore(
    RedisAccounts,
    RedisSessions,
    RedisCameras,
    RedisConsent,
    RedisRequests,
    RedisEnrolment,
    RedisPush,
    RedisSessionEnds,
    RedisViewBars,
):
    """`hub.store.base.Store` on Redis. Open with `await RedisStore.open(url, ...)`."""

    def __init__(self, client: aredis.Redis, keys: RedisKeys, default_max_grant_seconds: float, timeout: float):
        self._r = client
        self._keys = keys
        self._default_max_grant_seconds = default_max_grant_seconds
        self._timeout = timeout
        self._scripts = Scripts(client)
        self._closed = False
        # How many replicas a consent-closing write waits for, and how long (`wait_for_replicas`); 0: none.
        self._wait_replicas = 0
        self._wait_timeout = 0.0

    @property
    def client(self) -> aredis.Redis:
        """The Redis client, for parts of the hub that keep state of their own beside the store's (hub.cluster):
        every call on it is bounded by the store's timeouts."""
        return self._r

    @property
    def keys(self) -> RedisKeys:
        """The store's keys (their prefix names one deployment), for the same parts."""
        return self._keys

    @classmethod
    async def open(
        cls,
        url: str | RedisTarget,
        *,
        default_max_grant_seconds: float,
        prefix: str = DEFAULT_PREFIX,
        connect_timeout: float = 1.0,
        socket_timeout: float = 1.0,
        wait_replicas: int = 0,
        wait_timeout: float = 0.5,
    ) -> RedisStore:
        """Connect to `url` (redis:// or rediss:// for TLS; may carry a password), or to the primary the sentinels
        of a `RedisTarget` name, and PING it.

        A wrong URL or a Redis that does not answer fails here (`StoreUnavailable`), at start-up.
        `default_max_grant_seconds` is the policy's cap until an admin sets one. `wait_replicas`/`wait_timeout`:
        what `wait_for_replicas` waits for (WAIT blocks its connection, so the timeout is below `socket_timeout`).
        """
        checks.check_positive("default_max_grant_seconds", default_max_grant_seconds)
        if wait_replicas and not 0 < wait_timeout < socket_timeout:
            raise ValueError("wait_timeout must be positive and shorter than socket_timeout")
        client = await connect(
            url, decode_responses=True, connect_timeout=connect_timeout, socket_timeout=socket_timeout
        )
        store = cls(client, RedisKeys(prefix), default_max_grant_seconds, socket_timeout)
        store._wait_replicas, store._wait_timeout = wait_replicas, wait_timeout
        return store

    async def close(self) -> None:
        """Close every connection. Closing twice is harmless."""
        if not self._closed:
            self._closed = True
            await self._r.aclose()

    @guard
    async def ping(self) -> None:
        """Ask Redis to answer; StoreUnavailable if it does not in time."""
        await self._r.ping()

    async def wait_for_replicas(self) -> bool | None:
        """Whether every write this store acknowledged so far has reached the configured number of replicas (Redis
        WAIT, at most the configured timeout); None when no replica is waited for.

        False (never an error) when they did not answer in time or Redis could not be asked: the write stands and
        every gate it closed stays closed; only a failover before the replicas catch up could lose it.
        """
        if not self._wait_replicas:
            return None
        # Key `<prefix>replication-probe`: a counter WAIT's own connection bumps (hub.store.redis_client).
        probe = f"{self._keys.prefix}replication-probe"
        try:
            acknowledged = await wait_for_replicas(self._r, probe, self._wait_replicas, self._wait_timeout)
        except RedisError as exc:
            log.warning("could not wait for replicas (%s): the write is not known to be replicated", type(exc).__name__)
            return False
        if acknowledged < self._wait_replicas:
            log.warning(
                "%d of %d replicas acknowledged within %.2f s: a failover now could lose the write",
                acknowledged,
                self._wait_replicas,
                self._wait_timeout,
            )
            return False
        return True

    @guard
    async def server_time(self) -> float:
        """Redis's clock (TIME), Unix seconds: the cluster's reference for how far each hub's clock strays."""
        seconds, micros = await self._r.time()
        return int(seconds) + int(micros) / 1e6

    @guard
    async def server_id(self) -> str | None:
        """Which Redis server answers: its `run_id` (INFO server), new with every start of a redis-server process.

        It changes when a failover promotes another server or Redis restarts: either may have lost writes the hubs
        already applied (hub.sync re-reads everything then, taking the store as the truth)."""
        info = await self._r.info("server")
        run_id = info.get("run_id")
        return None if run_id is None else str(run_id)

    # -- change feed ----------------------------------------------------------------------------------

    @guard
    async def change_marker(self) -> int:
        """The shared version counter: it grows with every consent-relevant write by any hub or the CLI."""
        value = await self._r.get(self._keys.version)
        return int(value or 0)

    async def subscribe(self) -> AsyncGenerator[dict[str, Any], None]:
        """Follow the change channel: yields {"kind", "id", "version"} for each change, as published.

        The first item is {"kind": "subscribed", "id": None, "version": <change marker>}, read once the
        subscription is active: reload everything then, and every later change arrives as a message. Pub/sub
        can lose messages, so when the connection drops (or Redis stops answering pings) this raises
        `StoreUnavailable`: subscribe again and reload. Close it with `contextlib.aclosing`.
        """

        async def hello() -> dict[str, Any]:
            return {"kind": "subscribed", "id": None, "version": await self.change_marker()}

        async for message in redis_pubsub.listen(self._r, self._keys.changes, self._timeout, hello):
            yield message

    @guard
    async def publish_raw(self, channel_suffix: str, message: dict[str, Any]) -> None:
        """Publish a JSON message to the other hubs on the bus topic `channel_suffix`."""
        await self._r.publish(self._keys.bus(channel_suffix), json.dumps(message))

    async def subscribe_raw(self, channel_suffix: str) -> AsyncGenerator[dict[str, Any], None]:
        """Follow the bus topic `channel_suffix`: first {"kind": "subscribed", "channel": channel_suffix} once
        the subscription is active (publish requests after it), then each message. Raises `StoreUnavailable`
        as `subscribe` does."""

        async def hello() -> dict[str, Any]:
            return {"kind": "subscribed", "channel": channel_suffix}

        async for message in redis_pubsub.listen(self._r, self._keys.bus(channel_suffix), self._timeout, hello):
            yield message

    # -- camera ownership -----------------------------------------------------------------------------

    @guard
    async def claim_camera(
        self, camera_id: str, node_id: str, url: str, ttl: float, internal_url: str | None = None
    ) -> bool:
        """Take the camera's ownership lease for `ttl` seconds, or renew it if this node holds it already.
        False if another node holds it. `internal_url`: how other hubs reach this one (relays; default `url`)."""
        checks.check_positive("ttl", ttl)
        lease = json.dumps({"node": node_id, "url": url, "internal": internal_url or url})
        ttl_ms = max(1, math.ceil(ttl * 1000))
        result = await self._run(self._scripts.claim_camera, [self._keys.owner(camera_id)], [node_id, lease, ttl_ms])
        return bool(result["claimed"])

    @guard
    async def camera_owner(self, camera_id: str) -> tuple[str, str] | None:
        """(node id, url) of the hub holding the camera's lease, or None if no lease is live."""
        value = await self._r.get(self._keys.owner(camera_id))
        if value is None:
            return None
        lease = json.loads(value)
        return str(lease["node"]), str(lease["url"])

    @guard
    async def release_camera(self, camera_id: str, node_id: str) -> None:
        """Give up the camera's lease, only if this node holds it."""
        await self._run(self._scripts.release_camera, [self._keys.owner(camera_id)], [node_id])

    @guard
    async def camera_peer(self, camera_id: str) -> tuple[str, str] | None:
        """(node id, internal url) of the hub holding the camera's lease (where relays go), or None."""
        value = await self._r.get(self._keys.owner(camera_id))
        if value is None:
            return None
        lease = json.loads(value)
        return str(lease["node"]), str(lease.get("internal") or lease["url"])

    # -- hubs carrying a camera (its owner and each relay holder) -------------------------------------

    @guard
    async def carry_camera(self, camera_id: str, node_id: str, ttl: float) -> None:
        """Note (or renew) that `node_id` carries the camera's video for `ttl` seconds more (it holds a relay)."""
        checks.check_positive("ttl", ttl)
        key = self._keys.carriers(camera_id)
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.zadd(key, {node_id: time.time() + ttl})
            pipe.expire(key, max(1, math.ceil(ttl * 4)))
            await pipe.execute()

    @guard
    async def drop_carrier(self, camera_id: str, node_id: str) -> None:
        """`node_id` no longer carries the camera."""
        await self._r.zrem(self._keys.carriers(camera_id), node_id)

    @guard
    async def camera_carriers(self, camera_id: str) -> list[str]:
        """The hubs whose lease on carrying the camera is live now (relay holders; the owner is in its own lease)."""
        nodes = await self._r.zrangebyscore(self._keys.carriers(camera_id), time.time(), "+inf")
        return [str(node) for node in nodes]


if TYPE_CHECKING:

    def _implements_store(store: RedisStore) -> Store:
        # mypy proves here that RedisStore satisfies the Store protocol.
        return store
