"""What both Redis stores (the main one and the audit log's) share: how they connect, and how errors become
`StoreUnavailable` without swallowing a cancellation."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any, Concatenate, ParamSpec, TypeVar

import redis.asyncio as aredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from hub.store import checks
from hub.store.base import StoreUnavailable

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


async def connect(url: str, *, decode_responses: bool, connect_timeout: float, socket_timeout: float) -> aredis.Redis:
    """A client for `url` (redis:// or rediss://; may carry a password) that has answered a PING.

    A wrong URL or password, or a Redis that does not answer, fails here, at start-up, with StoreUnavailable
    (naming the error's class only: a connection error's text carries the server's address). Every call is
    bounded by the timeouts and never retried behind the caller's back (a retried script could apply twice).
    """
    checks.check_positive("connect_timeout", connect_timeout)
    checks.check_positive("socket_timeout", socket_timeout)
    client = aredis.Redis.from_url(
        url,
        decode_responses=decode_responses,
        socket_connect_timeout=connect_timeout,
        socket_timeout=socket_timeout,
        retry=Retry(NoBackoff(), 0),
    )
    try:
        await client.ping()
    except RedisError as exc:
        await client.aclose()
        raise StoreUnavailable(f"redis did not answer at start-up: {type(exc).__name__}") from exc
    except BaseException:
        await client.aclose()
        raise
    return client
