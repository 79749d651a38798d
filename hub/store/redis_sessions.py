"""The shared store's sessions (log-ins; only a token's hash is kept).

Ending a session, or every session of an account, takes a version and announces it (if there was one to end);
recording one, touching it, finishing its second factor and purging expired ones do not (an expired session
already denies by its expiry time). A session's key also expires in Redis, a grace period after the session does.
"""

from __future__ import annotations

import json
import math

from hub.store import checks
from hub.store import redis_records as records
from hub.store.base import Conflict, NotFound, Session
from hub.store.redis_keys import SESSION_GRACE_SECONDS
from hub.store.redis_plumbing import RedisParts, guard


class RedisSessions(RedisParts):
    """The sessions of `RedisStore`."""

    # -- sessions -------------------------------------------------------------------------------------

    @guard
    async def add_session(
        self, token_hash: str, account_id: int, now: float, expires_at: float, mfa_pending: bool = False
    ) -> Session:
        """Record a log-in, last seen `now` (`mfa_pending`: it may only enrol a second factor); NotFound for an
        unknown account, Conflict for a token hash already in use.

        The key also expires in Redis, `SESSION_GRACE_SECONDS` after `expires_at` (measured from `now`)."""
        checks.check_finite("now", now)
        checks.check_finite("expires_at", expires_at)
        ttl_ms = math.ceil((max(expires_at - now, 0.0) + SESSION_GRACE_SECONDS) * 1000)
        keys = self._keys
        fields = records.pairs(
            token_hash=token_hash,
            account_id=account_id,
            created_at=now,
            expires_at=expires_at,
            last_seen_at=now,
            mfa_pending=bool(mfa_pending),
        )
        await self._run(
            self._scripts.add_session,
            [keys.account(account_id), keys.session(token_hash), keys.sessions_by_expiry, keys.sessions_of(account_id)],
            [token_hash, repr(float(expires_at)), ttl_ms, *fields],
            {
                "account_not_found": NotFound(f"account {account_id} not found"),
                "session_exists": Conflict("session token already in use"),
            },
        )
        return Session(token_hash, account_id, now, expires_at, now, bool(mfa_pending))

    @guard
    async def touch_session(self, token_hash: str, now: float) -> None:
        """Record a request seen with the session at `now`; it never moves back (a late request from another hub
        leaves a later time). Nothing if the session is unknown. The caller decides how often to call it."""
        checks.check_finite("now", now)
        await self._run(self._scripts.touch_session, [self._keys.session(token_hash)], [json.dumps(float(now))])

    @guard
    async def finish_mfa(self, token_hash: str) -> Session:
        """The session's second factor is enrolled: it becomes a full session; NotFound if unknown. The change
        marker stays: a pending session has no officer pass to reload."""
        result = await self._run(
            self._scripts.finish_mfa,
            [self._keys.session(token_hash)],
            [],
            {"session_not_found": NotFound("session not found")},
        )
        return records.session(records.decode_flat(result["record"]))

    @guard
    async def delete_sessions_of(self, account_id: int) -> int:
        """End every session of an account, expired or not (it was disabled, its second factor reset); how many
        there were. The change marker moves if there was any; NotFound for an unknown account."""
        keys = self._keys
        result = await self._run(
            self._scripts.delete_sessions_of,
            [*self._feed, keys.account(account_id), keys.sessions_of(account_id), keys.sessions_by_expiry],
            [account_id, keys.session("")],
            {"account_not_found": NotFound(f"account {account_id} not found")},
        )
        return int(result["ended"])

    @guard
    async def get_session(self, token_hash: str) -> Session:
        """The session, expired or not; NotFound if unknown."""
        fields = await self._hash(self._keys.session(token_hash))
        if fields is None:
            raise NotFound("session not found")
        return records.session(fields)

    @guard
    async def delete_session(self, token_hash: str) -> None:
        """End a session (log-out, or an admin ending it). Idempotent: an unknown token is not an error."""
        keys = self._keys
        await self._run(
            self._scripts.delete_session,
            [*self._feed, keys.session(token_hash), keys.sessions_by_expiry],
            [token_hash, keys.sessions_of("")],
        )

    @guard
    async def purge_sessions(self, now: float) -> int:
        """Delete sessions expired at `now` (expires_at <= now, as the gate sees them); how many went."""
        checks.check_finite("now", now)
        keys = self._keys
        result = await self._run(
            self._scripts.purge_sessions,
            [keys.sessions_by_expiry],
            [repr(float(now)), keys.session(""), keys.sessions_of("")],
        )
        return int(result["purged"])
