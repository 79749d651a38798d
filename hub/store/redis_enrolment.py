"""The shared store's one-time enrolment codes: one hash per account (`EnrolmentKeys.enrolment_code`), written and used
up by the two Lua scripts below, so of two hubs racing with one code exactly one uses it. Only a code's hash is
kept. Log-in bookkeeping: no version is taken and nothing is announced on the change channel."""

from __future__ import annotations

import functools
import json
import math

import redis.asyncio as aredis
from redis.commands.core import AsyncScript

from hub.store import checks
from hub.store.base import EnrolmentCheck, NotFound
from hub.store.redis_plumbing import RedisParts, guard

# An enrolment code's key outlives its validity by this much, so a late try is told "expired" rather than "none".
ENROLMENT_CODE_GRACE_SECONDS = 24 * 3600.0


class EnrolmentKeys:
    """The enrolment seam's keys. Mixed into `hub.store.redis_keys.RedisKeys`, which gives the prefix."""

    __slots__ = ()
    prefix: str

    def enrolment_code(self, account_id: int) -> str:
        """HASH: one account's one-time enrolment code (hub.store.redis_enrolment). Fields (JSON values):
        code_hash (of the code bound to the account; the code itself is never stored), issued_at, expires_at,
        used_at (null until used up). Replaced whole by a new code, only ever changed otherwise by the script that
        uses it up (used_at, once). Expires `ENROLMENT_CODE_GRACE_SECONDS` after `expires_at`: missing then, like a
        code never issued."""
        return f"{self.prefix}enrolment-code:{account_id}"


# KEYS: the account, its enrolment code. ARGV: code_hash, issued_at, expires_at (JSON), now (number), ttl in ms.
# Answers {"ok": {"replaced": bool}}: whether the code it replaced could still have been used at `now`.
SET_ENROLMENT_CODE = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  return cjson.encode({error = 'account_unknown'})
end
local old = redis.call('HMGET', KEYS[2], 'expires_at', 'used_at')
local replaced = old[1] ~= false and old[2] == 'null' and tonumber(ARGV[4]) < tonumber(old[1])
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], 'code_hash', ARGV[1], 'issued_at', ARGV[2], 'expires_at', ARGV[3], 'used_at', 'null')
redis.call('PEXPIRE', KEYS[2], ARGV[5])
return cjson.encode({ok = {replaced = replaced}})
"""

# KEYS: the account's enrolment code. ARGV: code_hash (JSON), now (number), "1" to use it up, now (JSON).
# Answers {"ok": {"check": "ok" | "none" | "wrong" | "used" | "expired"}}.
CHECK_ENROLMENT_CODE = """
local found = redis.call('HMGET', KEYS[1], 'code_hash', 'expires_at', 'used_at')
local check = 'ok'
if found[1] == false then
  check = 'none'
elseif found[1] ~= ARGV[1] then
  check = 'wrong'
elseif found[3] ~= 'null' then
  check = 'used'
elseif tonumber(ARGV[2]) >= tonumber(found[2]) then
  check = 'expired'
elseif ARGV[3] == '1' then
  redis.call('HSET', KEYS[1], 'used_at', ARGV[4])
end
return cjson.encode({ok = {check = check}})
"""


class EnrolmentScripts:
    """The two scripts, registered on one client."""

    def __init__(self, client: aredis.Redis) -> None:
        self.set_code: AsyncScript = client.register_script(SET_ENROLMENT_CODE)
        self.check_code: AsyncScript = client.register_script(CHECK_ENROLMENT_CODE)


class RedisEnrolment(RedisParts):
    """Enrolment codes of `RedisStore`."""

    @functools.cached_property
    def _enrolment_scripts(self) -> EnrolmentScripts:
        return EnrolmentScripts(self._r)

    @guard
    async def set_enrolment_code(self, account_id: int, code_hash: str, now: float, expires_at: float) -> bool:
        """Keep the hash of the account's new code until `expires_at`, replacing any earlier one; True if that one
        could still have been used at `now`. NotFound for an unknown account, ValueError for bad times or hash."""
        _check_code(code_hash, now)
        checks.check_finite("expires_at", expires_at)
        ttl_ms = max(1, math.ceil((expires_at - now + ENROLMENT_CODE_GRACE_SECONDS) * 1000))
        keys = [self._keys.account(account_id), self._keys.enrolment_code(account_id)]
        args: list[str | int] = [json.dumps(code_hash), json.dumps(now), json.dumps(expires_at), repr(now), ttl_ms]
        errors = {"account_unknown": NotFound(f"account {account_id} not found")}
        result = await self._run(self._enrolment_scripts.set_code, keys, args, errors)
        return bool(result["replaced"])

    @guard
    async def check_enrolment_code(self, account_id: int, code_hash: str, now: float, spend: bool) -> EnrolmentCheck:
        """What the presented code (its hash) is at `now`; with `spend`, an `OK` code is used up in the same
        script."""
        _check_code(code_hash, now)
        keys = [self._keys.enrolment_code(account_id)]
        args = [json.dumps(code_hash), repr(now), "1" if spend else "0", json.dumps(now)]
        result = await self._run(self._enrolment_scripts.check_code, keys, args)
        return EnrolmentCheck(result["check"])


def _check_code(code_hash: str, now: float) -> None:
    if not code_hash:
        raise ValueError("an enrolment code hash must not be empty")
    checks.check_finite("now", now)
