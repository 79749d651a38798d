"""Rate limits on log-in, offers and the public audit routes (429 with Retry-After), and the random pause after a
failed authentication.

Counted in this hub's memory with the `limits` package's moving window: a flood is turned away before any
password hashing, SDP parsing or peer connection happens. Hubs of a cluster count separately, so a client
spreading its requests over N hubs gets N times the rate; each hub still protects itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass

import limits
from aiohttp import web
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from hub.config import LimitsConfig
from hub.errors import RateLimited

_RANDOM = random.SystemRandom()


@dataclass(frozen=True, slots=True)
class Rule:
    """One rate: its name (in the message and the counter's key) and how many per window."""

    name: str
    rate: limits.RateLimitItem


class Throttle:
    """The hub's rate limits, one moving window per (rule, key)."""

    def __init__(self, config: LimitsConfig) -> None:
        self._storage = MemoryStorage()
        self._limiter = MovingWindowRateLimiter(self._storage)
        self.login_per_source = Rule("log-ins from this address", limits.parse(config.login_per_source))
        self.login_per_account = Rule("log-ins to this account", limits.parse(config.login_per_account))
        self.offers_per_source = Rule("offers from this address", limits.parse(config.offers_per_source))
        self.offers_per_account = Rule("offers by this account", limits.parse(config.offers_per_account))
        self.public_per_source = Rule("public audit requests from this address", limits.parse(config.public_per_source))
        self._delay = config.failed_auth_delay_seconds
        self._turns: dict[str, asyncio.Lock] = {}
        self._waiting: Counter[str] = Counter()

    def take(self, *checks: tuple[Rule, str]) -> None:
        """Count one request against every (rule, key); raise RateLimited, counting nothing, if any is spent."""
        for rule, key in checks:
            if not self._limiter.test(rule.rate, rule.name, key):
                stats = self._limiter.get_window_stats(rule.rate, rule.name, key)
                wait = max(1, math.ceil(stats.reset_time - time.time()))
                raise RateLimited(f"too many {rule.name}: try again in {wait} s", wait)
        for rule, key in checks:
            self._limiter.hit(rule.rate, rule.name, key)

    @contextlib.asynccontextmanager
    async def turn(self, key: str) -> AsyncIterator[None]:
        """Wait for `key`'s turn: one password check at a time per client address.

        argon2 runs in the shared thread pool: without turns, one address's burst (its whole allowance at once)
        would queue there ahead of every other user's log-in. A key is forgotten when nobody holds or awaits it.
        """
        lock = self._turns.setdefault(key, asyncio.Lock())
        self._waiting[key] += 1
        try:
            async with lock:
                yield
        finally:
            self._waiting[key] -= 1
            if not self._waiting[key]:
                del self._waiting[key], self._turns[key]

    async def pause_after_failure(self) -> None:
        """Wait a random moment before answering a failed authentication."""
        low, high = self._delay
        await asyncio.sleep(_RANDOM.uniform(low, high))

    def close(self) -> None:
        """Stop the storage's expiry timer and forget every count."""
        self._storage.timer.cancel()
        self._storage.reset()


def source(request: web.Request) -> str:
    """The client's address as the rate limits count it (the peer of the TCP connection)."""
    return request.remote or "unknown"


# Refusals that answer a presented credential (not a missing one): each waits a random moment first.
FAILED_AUTHENTICATION = frozenset(
    {"bad_credentials", "device_token_invalid", "token_invalid", "enrolment_code_invalid"}
)
