"""What both Redis stores (the main one and the audit log's) share: how they connect (to one address, or to the
primary Sentinel names: `RedisTarget`), how errors become `StoreUnavailable` without swallowing a cancellation, and
how a write is waited for until replicas have it (`wait_for_replicas`)."""

from __future__ import annotations

import asyncio
import functools
import math
from collections.abc import Callable, Coroutine
from typing import Any, Concatenate, ParamSpec, TypeVar

import redis.asyncio as aredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from hub.store import checks
from hub.store.base import StoreUnavailable
from hub.store.redis_sentinel import RedisTarget, connect_via_sentinel

_P = ParamSpec("_P")
_T = TypeVar("_T")
_S = TypeVar("_S")

Method = Callable[Concatenate[_S, _P], Coroutine[Any, Any, _T]]


def guarded(
    errors: tuple[type[Exception], ...], describe: Callable[[str, Exception], str]
) -> Callable[[Method[_S, _P, _T]], Method[_S, _P, _T]]:
    """A decorator turning `errors` into `StoreUnavailable(describe(method name, error))`."""

    def decorate(method: Method[_S, _P, _T]) -> Method[_S, _P, _T]:
        @functools.wraps(method)
        async def call(self: _S, /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
            task = asyncio.current_task()
            cancels = task.cancelling() if task is not None else 0
            try:
                result = await method(self, *args, **kwargs)
            except errors as exc:
                raise StoreUnavailable(describe(method.__name__, exc)) from exc
            if task is not None and task.cancelling() > cancels:
                # Python 3.11's asyncio.wait_for (redis-py awaits each socket write through it) returns normally
                # when cancelled just as its inner future completes (fixed in 3.12). Do not let the caller carry
                # on: the write is whole or absent either way, as with any cancellation once a command is sent.
                raise asyncio.CancelledError
            return result

        return call

    return decorate


async def connect(
    target: str | RedisTarget, *, decode_responses: bool, connect_timeout: float, socket_timeout: float
) -> aredis.Redis:
    """A client for `target` (a URL or a `RedisTarget`) that has answered a PING.

    A wrong URL or password, or a Redis that does not answer, fails here, at start-up, with StoreUnavailable
    (naming the error's class only: a connection error's text carries the server's address). Every call is
    bounded by the timeouts and never retried behind the caller's back (a retried script could apply twice).
    Through Sentinel, each new connection asks the sentinels where the primary is, so a failover is followed as a
    reconnect is: the calls in flight fail (`StoreUnavailable`), the next ones reach the new primary.
    """
    checks.check_positive("connect_timeout", connect_timeout)
    checks.check_positive("socket_timeout", socket_timeout)
    if isinstance(target, str):
        target = RedisTarget(url=target)
    options: dict[str, Any] = {
        "decode_responses": decode_responses,
        "socket_connect_timeout": connect_timeout,
        "socket_timeout": socket_timeout,
        "retry": Retry(NoBackoff(), 0),
    }
    if target.sentinels:
        assert target.master is not None, "a sentinel target names its primary"
        client = connect_via_sentinel(target.sentinels, target.master, target.password, options)
    else:
        assert target.url is not None, "a direct target has a URL"
        if target.password is not None:
            options["password"] = target.password  # the URL's own password, if it has one, wins
        client = aredis.Redis.from_url(target.url, **options)
    try:
        await client.ping()
    except RedisError as exc:
        await client.aclose()
        raise StoreUnavailable(f"redis did not answer at start-up: {type(exc).__name__}") from exc
    except BaseException:
        await client.aclose()
        raise
    return client


async def wait_for_replicas(client: aredis.Redis, probe_key: str, replicas: int, timeout: float) -> int:
    """How many replicas have every write this primary acknowledged so far, waiting up to `timeout` seconds for
    `replicas` of them (Redis WAIT).

    WAIT counts the writes of its own connection only, and the writes to wait for went through other pooled
    connections; so this connection first writes `probe_key` (a counter, nothing reads it) and waits for that:
    the replication stream is one ordered stream, so a replica that has the probe has everything before it.
    Raises what the client raises (the caller's guard turns it into StoreUnavailable).
    """
    async with client.pipeline(transaction=False) as pipe:
        pipe.incr(probe_key)
        pipe.wait(replicas, max(1, math.ceil(timeout * 1000)))
        _, acknowledged = await pipe.execute()
    return int(acknowledged)
