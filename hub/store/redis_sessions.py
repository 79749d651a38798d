"""The shared store's sessions (log-ins; only a token's hash is kept).

Ending a session, or every session of an account, takes a version and announces it (if there was one to end);
recording one, touching it, finishing its second factor and purging expired ones do not (an expired session
already denies by its expiry time). A session's key also expires in Redis, a grace period after the session does.
A session written before `last_seen_at` and `mfa_pending` reads them as its created_at and false.

Keys: `SessionKeys` below; scripts: after it; records: `session_record` at the end.
"""

from __future__ import annotations

import functools
import json
import math

import redis.asyncio as aredis
from redis.commands.core import AsyncScript

from hub.store import checks
from hub.store import redis_records as records
from hub.store.base import Conflict, NotFound, Session
from hub.store.redis_plumbing import RedisParts, guard, script

# A session key outlives its expiry by this much, so `get_session` can still tell "expired" from "unknown".
SESSION_GRACE_SECONDS = 24 * 3600.0


class SessionKeys:
    """The sessions seam's keys. Mixed into `hub.store.redis_keys.RedisKeys`, which gives the prefix."""

    __slots__ = ()
    prefix: str

    def session(self, token_hash: str) -> str:
        """HASH: one log-in. Fields (JSON values): token_hash, account_id, created_at, expires_at, last_seen_at
        (the last request seen with it; only ever raised), mfa_pending (true/false: it may only enrol a second
        factor). Also given a Redis TTL of its remaining life plus `SESSION_GRACE_SECONDS`, so a session nobody
        purges still goes; until then `get_session` returns it, expired or not, like the embedded store."""
        return f"{self.prefix}session:{token_hash}"

    def sessions_of(self, account_id: int | str) -> str:
        """SET: the token hashes of one account's sessions, for `delete_sessions_of`. Kept with the sessions by
        the scripts that add, delete, purge and end them; its TTL is raised to the longest of its sessions' keys,
        so it never outlives them all. Like `sessions_by_expiry` it may hold hashes whose session key already
        expired through its TTL. Sessions written by a hub older than this index are not in it."""
        return f"{self.prefix}sessions-of:{account_id}"

    @property
    def sessions_by_expiry(self) -> str:
        """ZSET: token hash scored by expires_at, for `purge_sessions`. May hold hashes whose session key
        already expired through its TTL; a purge removes them."""
        return f"{self.prefix}sessions-by-expiry"


# -- scripts (conventions: `hub.store.redis_plumbing`) ----------------------------------------

# KEYS: account, session, sessions by expiry, the account's sessions.
# ARGV: token hash, expires_at (score), TTL in ms, field pairs.
ADD_SESSION = script("""
if redis.call('EXISTS', KEYS[1]) == 0 then
  return fail('account_not_found')
end
if redis.call('EXISTS', KEYS[2]) == 1 then
  return fail('session_exists')
end
hset_pairs(KEYS[2], 4)
redis.call('PEXPIRE', KEYS[2], ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
redis.call('SADD', KEYS[4], ARGV[1])
if redis.call('PTTL', KEYS[4]) < tonumber(ARGV[3]) then
  redis.call('PEXPIRE', KEYS[4], ARGV[3])
end
return ok({})
""")

# KEYS: session. ARGV: now (JSON). Raises last_seen_at to now (never lowers it); nothing for an unknown session.
TOUCH_SESSION = script("""
local seen = redis.call('HGET', KEYS[1], 'last_seen_at') or redis.call('HGET', KEYS[1], 'created_at')
if seen and tonumber(seen) < tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[1], 'last_seen_at', ARGV[1])
end
return ok({})
""")

# KEYS: session. Its second factor is enrolled: no longer pending. Answers the session record.
FINISH_MFA = script("""
if redis.call('EXISTS', KEYS[1]) == 0 then
  return fail('session_not_found')
end
redis.call('HSET', KEYS[1], 'mfa_pending', 'false')
return ok({record = redis.call('HGETALL', KEYS[1])})
""")

# KEYS: version, changes, session, sessions by expiry. ARGV: token hash, account sessions key stem.
DELETE_SESSION = script("""
local account_id = redis.call('HGET', KEYS[3], 'account_id')
redis.call('ZREM', KEYS[4], ARGV[1])
if account_id then
  redis.call('DEL', KEYS[3])
  redis.call('SREM', ARGV[2] .. account_id, ARGV[1])
  announce('session', tonumber(account_id), next_version())
end
return ok({})
""")

# KEYS: version, changes, account, the account's sessions, sessions by expiry. ARGV: account id, session key stem.
# Ends every session in the account's index whose record names the account (one change message if any).
DELETE_SESSIONS_OF = script("""
if redis.call('EXISTS', KEYS[3]) == 0 then
  return fail('account_not_found')
end
local ended = 0
for _, token_hash in ipairs(redis.call('SMEMBERS', KEYS[4])) do
  local owner = redis.call('HGET', ARGV[2] .. token_hash, 'account_id')
  if owner == ARGV[1] then
    ended = ended + redis.call('DEL', ARGV[2] .. token_hash)
  end
  if not owner or owner == ARGV[1] then
    redis.call('ZREM', KEYS[5], token_hash)
  end
end
redis.call('DEL', KEYS[4])
if ended > 0 then
  announce('session', tonumber(ARGV[1]), next_version())
end
return ok({ended = ended})
""")

# KEYS: sessions by expiry. ARGV: now (score), session key stem, account sessions key stem. Deletes sessions with
# expires_at <= now, and their entries in their accounts' indexes.
PURGE_SESSIONS = script("""
local gone = 0
for _, token_hash in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])) do
  local key = ARGV[2] .. token_hash
  local account_id = redis.call('HGET', key, 'account_id')
  if account_id then
    redis.call('SREM', ARGV[3] .. account_id, token_hash)
    gone = gone + redis.call('DEL', key)
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
return ok({purged = gone})
""")


class SessionScripts:
    """The scripts above, registered on one client (EVALSHA, loaded again after a Redis restart)."""

    def __init__(self, client: aredis.Redis) -> None:
        register = client.register_script
        self.add_session: AsyncScript = register(ADD_SESSION)
        self.touch_session: AsyncScript = register(TOUCH_SESSION)
        self.finish_mfa: AsyncScript = register(FINISH_MFA)
        self.delete_session: AsyncScript = register(DELETE_SESSION)
        self.delete_sessions_of: AsyncScript = register(DELETE_SESSIONS_OF)
        self.purge_sessions: AsyncScript = register(PURGE_SESSIONS)


class RedisSessions(RedisParts):
    """The sessions of `RedisStore`."""

    @functools.cached_property
    def _session_scripts(self) -> SessionScripts:
        return SessionScripts(self._r)

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
            self._session_scripts.add_session,
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
        await self._run(self._session_scripts.touch_session, [self._keys.session(token_hash)], [json.dumps(float(now))])

    @guard
    async def finish_mfa(self, token_hash: str) -> Session:
        """The session's second factor is enrolled: it becomes a full session; NotFound if unknown. The change
        marker stays: a pending session has no officer pass to reload."""
        result = await self._run(
            self._session_scripts.finish_mfa,
            [self._keys.session(token_hash)],
            [],
            {"session_not_found": NotFound("session not found")},
        )
        return session_record(records.decode_flat(result["record"]))

    @guard
    async def delete_sessions_of(self, account_id: int) -> int:
        """End every session of an account, expired or not (it was disabled, its second factor reset); how many
        there were. The change marker moves if there was any; NotFound for an unknown account."""
        keys = self._keys
        result = await self._run(
            self._session_scripts.delete_sessions_of,
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
        return session_record(fields)

    @guard
    async def delete_session(self, token_hash: str) -> None:
        """End a session (log-out, or an admin ending it). Idempotent: an unknown token is not an error."""
        keys = self._keys
        await self._run(
            self._session_scripts.delete_session,
            [*self._feed, keys.session(token_hash), keys.sessions_by_expiry],
            [token_hash, keys.sessions_of("")],
        )

    @guard
    async def purge_sessions(self, now: float) -> int:
        """Delete sessions expired at `now` (expires_at <= now, as the gate sees them); how many went."""
        checks.check_finite("now", now)
        keys = self._keys
        result = await self._run(
            self._session_scripts.purge_sessions,
            [keys.sessions_by_expiry],
            [repr(float(now)), keys.session(""), keys.sessions_of("")],
        )
        return int(result["purged"])


def session_record(fields: records.Fields) -> Session:
    created_at = float(fields["created_at"])
    last_seen_at = fields.get("last_seen_at")
    return Session(
        token_hash=str(fields["token_hash"]),
        account_id=int(fields["account_id"]),
        created_at=created_at,
        expires_at=float(fields["expires_at"]),
        last_seen_at=created_at if last_seen_at is None else float(last_seen_at),
        mfa_pending=bool(fields.get("mfa_pending", False)),
    )
