"""Following one Redis pub/sub channel, with a dead connection noticed in bounded time."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

import redis.asyncio as aredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from hub.store import redis_records
from hub.store.base import StoreUnavailable

# Redis down, refusing, still loading its data, or not answering within the socket timeout.
REDIS_DOWN = (RedisConnectionError, RedisTimeoutError)


async def listen(
    client: aredis.Redis, channel: str, timeout: float, hello: Callable[[], Awaitable[dict[str, Any]]]
) -> AsyncGenerator[dict[str, Any], None]:
    """Subscribe to `channel` on a connection of its own; yield `await hello()` once the subscription is
    confirmed, then each message (a JSON object; anything else is logged and skipped).

    A stopped Redis does not close the connection, so silence for `timeout` sends a PING, and no answer within
    another `timeout` raises `StoreUnavailable`, as a dropped connection does. Nothing is retried here: the
    caller subscribes again and reloads what it may have missed.
    """
    pubsub = client.pubsub()
    try:
        try:
            await pubsub.subscribe(channel)
            confirmation = await pubsub.get_message(timeout=timeout)
            if confirmation is None or confirmation["type"] != "subscribe":
                raise StoreUnavailable(f"redis did not confirm the subscription to {channel}")
            greeting = await hello()
        except REDIS_DOWN as exc:
            raise StoreUnavailable(f"redis did not answer (subscribe {channel}): {exc}") from exc
        yield greeting
        pinged = False
        while True:
            try:
                received = await pubsub.get_message(timeout=timeout)
                if received is None:
                    if pinged:
                        raise StoreUnavailable(f"redis did not answer a ping on {channel}")
                    await pubsub.ping()
                    pinged = True
                    continue
            except REDIS_DOWN as exc:
                raise StoreUnavailable(f"redis connection lost ({channel}): {exc}") from exc
            pinged = False  # any answer, a pong or a message, shows the connection alive
            if received["type"] == "message":
                decoded = redis_records.message(channel, received["data"])
                if decoded is not None:
                    yield decoded
    finally:
        with contextlib.suppress(*REDIS_DOWN):
            await pubsub.aclose()  # type: ignore[no-untyped-call]
