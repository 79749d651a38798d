"""Slowing password guessing without ever locking the owner out (NIST SP 800-63B §5.2.2).

An account's failed log-ins are counted in the store (so every hub of a cluster sees the same count) within
`auth.throttle_window_seconds`. Once there are `auth.throttle_after_failures` of them, every further attempt on
that account waits before its password is even checked: `throttle_first_delay_seconds`, doubling with each
further failure, capped at `throttle_max_delay_seconds`. The wait comes first and is the same whether the password
then proves right or wrong, so it tells a guesser nothing; the right password is accepted after it and forgets the
failures. Nothing an attacker can do keeps the owner out: the most their failures cost the owner is one capped
wait. There is deliberately no lock (a lock is a denial of service anyone who knows a username can cause, and
here it would stand between a resident and withdrawing their consent).

The count is read before the wait and written after a failure: attempts running at once on one account each wait
the delay the count gave when they began. The hub's per-address limits (`hub.auth.throttle`) bound how many
run at once.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from hub.config import AuthConfig

Sleep = Callable[[float], Awaitable[None]]


class FailureCounter(Protocol):
    """What the delay needs of the store (`hub.store.base.AccountStore` has both)."""

    async def count_login_failures(self, account_id: int, now: float, window: float) -> int: ...
    async def record_login_failure(self, account_id: int, now: float, window: float) -> int: ...


@dataclass(frozen=True, slots=True)
class GuessingPolicy:
    """How failures on one account slow further attempts on it."""

    after_failures: int = 5
    window_seconds: float = 15 * 60
    first_delay: float = 0.5
    max_delay: float = 4.0

    @classmethod
    def from_config(cls, auth: AuthConfig) -> GuessingPolicy:
        """The policy `auth` configures."""
        return cls(
            auth.throttle_after_failures,
            auth.throttle_window_seconds,
            auth.throttle_first_delay_seconds,
            auth.throttle_max_delay_seconds,
        )

    def delay(self, failures: int) -> float:
        """Seconds an attempt waits when the account has `failures` recent failed log-ins: none below the
        threshold, then the first delay doubling per further failure, never more than the cap."""
        if failures < self.after_failures:
            return 0.0
        doublings = min(failures - self.after_failures, 30)  # 2**30 times any delay is far past every cap
        return min(self.max_delay, math.ldexp(self.first_delay, doublings))  # first_delay * 2**doublings


async def wait_before_checking(
    store: FailureCounter, policy: GuessingPolicy, account_id: int, now: float, sleep: Sleep = asyncio.sleep
) -> float:
    """Wait as long as the account's recent failures ask, before its password is checked; the seconds waited."""
    failures = await store.count_login_failures(account_id, now, policy.window_seconds)
    delay = policy.delay(failures)
    if delay > 0:
        await sleep(delay)
    return delay


async def count_failure(store: FailureCounter, policy: GuessingPolicy, account_id: int, now: float) -> int:
    """Count one failed log-in on the account; how many it now has within the window."""
    return await store.record_login_failure(account_id, now, policy.window_seconds)
