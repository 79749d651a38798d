"""The store's sessions seam: log-ins, kept by the hash of their token.

Deleting a session, or every session of an account, moves the change marker (an officer's pass depends on its
session); a request's last-seen time and finishing the second factor do not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Session:
    """A log-in. Only the token's hash is stored."""

    token_hash: str
    account_id: int
    created_at: float
    expires_at: float
    # The last request seen with it (for the idle timeout); the store writes it at most every so often.
    last_seen_at: float = 0.0
    # A log-in that still has to enrol its second factor: it may do nothing else.
    mfa_pending: bool = False


class SessionStore(Protocol):
    """Log-in sessions. Implementations make each method atomic."""

    async def add_session(
        self, token_hash: str, account_id: int, now: float, expires_at: float, mfa_pending: bool = False
    ) -> Session:
        """A new session; its `last_seen_at` is `now`."""
        ...

    async def touch_session(self, token_hash: str, now: float) -> None:
        """Record a request seen with the session at `now` (nothing if it is unknown)."""
        ...

    async def finish_mfa(self, token_hash: str) -> Session:
        """The session's second factor is now enrolled: it is a full session (NotFound if unknown)."""
        ...

    async def delete_sessions_of(self, account_id: int) -> int:
        """End every session of an account (disabled, MFA reset); how many there were."""
        ...

    async def get_session(self, token_hash: str) -> Session:
        """The session, expired or not; NotFound if unknown."""
        ...

    async def delete_session(self, token_hash: str) -> None: ...
    async def purge_sessions(self, now: float) -> int: ...
