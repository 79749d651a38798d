"""The shared store's notification seam (`hub.store.push_base.PushStore`), written by the Lua scripts below so an
endpoint's record, its account's order and its owner never disagree. None of it takes a version or is announced on
the change channel: the consent gate depends on none of it.

Keys (all under the store's prefix, `pl:` by default):
- `push:<account id>`: HASH endpoint -> JSON {"p256dh", "auth", "created_at"}: the account's subscriptions.
- `push-order:<account id>`: ZSET of the account's endpoints scored by created_at (the oldest goes first when the
  account has `MAX_PUSH_PER_ACCOUNT`).
- `push-owners`: HASH endpoint -> account id: whose an endpoint is (a push service's 410 names only the endpoint).
- `email:<account id>`: STRING, the account's e-mail address for notifications (missing: none).
- `answer-token:<sha256 hex>`: HASH, one notification's answer token: request (id), account (id), endpoint,
  expires_at (a number, as repr wrote it), spent_at ("" until spent). Redis forgets it
  `ANSWER_TOKEN_KEEP_SECONDS` after its request's expiry (a TTL from the `now` it was kept at).
- `answer-tokens:<request id>`: SET of the request's token hashes (spending one spends them all); forgotten with
  them.
"""

from __future__ import annotations

import functools
import json
import math

import redis.asyncio as aredis
from redis.commands.core import AsyncScript

from hub.store import checks
from hub.store.base import NotFound
from hub.store.push_base import (
    ANSWER_TOKEN_KEEP_SECONDS,
    MAX_PUSH_PER_ACCOUNT,
    AnswerCheck,
    AnswerToken,
    PushSubscription,
)
from hub.store.redis_plumbing import RedisParts, guard

# KEYS: the account, push-owners, then the stems "push:" and "push-order:". ARGV: account id, endpoint, record
# (JSON), created_at (number), the cap. Answers {"ok": {}}.
ADD_PUSH_SUBSCRIPTION = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  return cjson.encode({error = 'account_unknown'})
end
local previous = redis.call('HGET', KEYS[2], ARGV[2])
if previous then
  redis.call('HDEL', KEYS[3] .. previous, ARGV[2])
  redis.call('ZREM', KEYS[4] .. previous, ARGV[2])
end
local records, order = KEYS[3] .. ARGV[1], KEYS[4] .. ARGV[1]
while redis.call('ZCARD', order) >= tonumber(ARGV[5]) do
  local oldest = redis.call('ZRANGE', order, 0, 0)[1]
  redis.call('ZREM', order, oldest)
  redis.call('HDEL', records, oldest)
  redis.call('HDEL', KEYS[2], oldest)
end
redis.call('HSET', records, ARGV[2], ARGV[3])
redis.call('ZADD', order, ARGV[4], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[1])
return cjson.encode({ok = {}})
"""

# KEYS: push-owners, then the stems "push:" and "push-order:". ARGV: endpoint, the account id it must belong to
# ("" for any). Answers {"ok": {"deleted": bool}}.
DELETE_PUSH_SUBSCRIPTION = """
local owner = redis.call('HGET', KEYS[1], ARGV[1])
if not owner or (ARGV[2] ~= '' and owner ~= ARGV[2]) then
  return cjson.encode({ok = {deleted = false}})
end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2] .. owner, ARGV[1])
redis.call('ZREM', KEYS[3] .. owner, ARGV[1])
return cjson.encode({ok = {deleted = true}})
"""

# KEYS: the account, its e-mail key. ARGV: the address ("" clears it). Answers {"ok": {}}.
SET_ACCOUNT_EMAIL = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  return cjson.encode({error = 'account_unknown'})
end
if ARGV[1] == '' then
  redis.call('DEL', KEYS[2])
else
  redis.call('SET', KEYS[2], ARGV[1])
end
return cjson.encode({ok = {}})
"""

# KEYS: the account, the request, the token, the request's token set. ARGV: request id, account id, endpoint,
# expires_at (number), how long Redis keeps them (milliseconds from the caller's `now`). Answers {"ok": {}}.
ADD_ANSWER_TOKEN = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  return cjson.encode({error = 'account_unknown'})
end
if redis.call('EXISTS', KEYS[2]) == 0 then
  return cjson.encode({error = 'request_unknown'})
end
redis.call('HSET', KEYS[3], 'request', ARGV[1], 'account', ARGV[2], 'endpoint', ARGV[3], 'expires_at', ARGV[4],
  'spent_at', '')
redis.call('PEXPIRE', KEYS[3], ARGV[5])
redis.call('SADD', KEYS[4], KEYS[3])
redis.call('PEXPIRE', KEYS[4], ARGV[5])
return cjson.encode({ok = {}})
"""

# Spends every unspent token named in a request's token set at `now`; how many.
_SPEND_ALL = """
local function spend_all(set, now)
  local spent = 0
  for _, key in ipairs(redis.call('SMEMBERS', set)) do
    if redis.call('HGET', key, 'spent_at') == '' then
      redis.call('HSET', key, 'spent_at', now)
      spent = spent + 1
    end
  end
  return spent
end
"""


def _spending(body: str) -> str:
    """A script that may call `spend_all`."""
    return _SPEND_ALL + body


# KEYS: the token, the request's token set, push-owners. ARGV: request id, now (number). Answers {"ok": {"check",
# "token"}}: the check (`AnswerCheck`'s value) and the token's fields (absent when unknown). Only "ok" spends, and
# then every token of the request, in this one step.
SPEND_ANSWER_TOKEN = _spending("""
local flat = redis.call('HGETALL', KEYS[1])
if #flat == 0 then
  return cjson.encode({ok = {check = 'unknown'}})
end
local token = {}
for i = 1, #flat, 2 do
  token[flat[i]] = flat[i + 1]
end
local check = 'ok'
if token.request ~= ARGV[1] then
  check = 'other_request'
elseif token.spent_at ~= '' then
  check = 'used'
elseif tonumber(ARGV[2]) >= tonumber(token.expires_at) then
  check = 'expired'
elseif redis.call('HGET', KEYS[3], token.endpoint) ~= token.account then
  check = 'unsubscribed'
end
if check == 'ok' then
  spend_all(KEYS[2], ARGV[2])
end
return cjson.encode({ok = {check = check, token = token}})
""")

# KEYS: the request's token set. ARGV: now (number). Answers {"ok": {"spent": n}}.
SPEND_ANSWER_TOKENS = _spending("""
return cjson.encode({ok = {spent = spend_all(KEYS[1], ARGV[1])}})
""")


class PushScripts:
    """The seam's scripts, registered on one client."""

    def __init__(self, client: aredis.Redis) -> None:
        self.add: AsyncScript = client.register_script(ADD_PUSH_SUBSCRIPTION)
        self.delete: AsyncScript = client.register_script(DELETE_PUSH_SUBSCRIPTION)
        self.set_email: AsyncScript = client.register_script(SET_ACCOUNT_EMAIL)
        self.add_token: AsyncScript = client.register_script(ADD_ANSWER_TOKEN)
        self.spend_token: AsyncScript = client.register_script(SPEND_ANSWER_TOKEN)
        self.spend_tokens: AsyncScript = client.register_script(SPEND_ANSWER_TOKENS)


class RedisPush(RedisParts):
    """Push subscriptions and e-mail addresses of `RedisStore`."""

    @functools.cached_property
    def _push_scripts(self) -> PushScripts:
        return PushScripts(self._r)

    @property
    def _push_keys(self) -> tuple[str, str, str]:
        prefix = self._keys.prefix
        return f"{prefix}push-owners", f"{prefix}push:", f"{prefix}push-order:"

    @guard
    async def add_push_subscription(
        self, account_id: int, endpoint: str, p256dh: str, auth: str, now: float
    ) -> PushSubscription:
        """Keep a browser's subscription for the account (see `PushStore`)."""
        if not endpoint or not p256dh or not auth:
            raise ValueError("a push subscription needs an endpoint and both keys")
        checks.check_finite("now", now)
        record = json.dumps({"p256dh": p256dh, "auth": auth, "created_at": now})
        keys = [self._keys.account(account_id), *self._push_keys]
        args: list[str | int] = [str(account_id), endpoint, record, repr(now), MAX_PUSH_PER_ACCOUNT]
        errors = {"account_unknown": NotFound(f"account {account_id} not found")}
        await self._run(self._push_scripts.add, keys, args, errors)
        return PushSubscription(account_id, endpoint, p256dh, auth, now)

    @guard
    async def list_push_subscriptions(self, account_id: int) -> list[PushSubscription]:
        """The account's subscriptions, oldest first."""
        _, records, order = self._push_keys
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.zrange(f"{order}{account_id}", 0, -1)
            pipe.hgetall(f"{records}{account_id}")
            endpoints, raw = await pipe.execute()
        found = []
        for endpoint in endpoints:
            if endpoint in raw:
                item = json.loads(raw[endpoint])
                found.append(
                    PushSubscription(account_id, endpoint, item["p256dh"], item["auth"], float(item["created_at"]))
                )
        return found

    @guard
    async def delete_push_subscription(self, endpoint: str, account_id: int | None = None) -> bool:
        """Forget the subscription with this endpoint (only if it is `account_id`'s, when given)."""
        args = [endpoint, "" if account_id is None else str(account_id)]
        result = await self._run(self._push_scripts.delete, list(self._push_keys), args)
        return bool(result["deleted"])

    @guard
    async def set_account_email(self, account_id: int, email: str | None) -> None:
        """Set or (None) clear the account's e-mail address for notifications."""
        keys = [self._keys.account(account_id), f"{self._keys.prefix}email:{account_id}"]
        errors = {"account_unknown": NotFound(f"account {account_id} not found")}
        await self._run(self._push_scripts.set_email, keys, [email or ""], errors)

    @guard
    async def get_account_email(self, account_id: int) -> str | None:
        """The account's e-mail address for notifications, if it set one."""
        value = await self._r.get(f"{self._keys.prefix}email:{account_id}")
        return str(value) if value else None

    def _answer_token_keys(self, token_hash: str, request_id: int) -> tuple[str, str]:
        prefix = self._keys.prefix
        return f"{prefix}answer-token:{token_hash}", f"{prefix}answer-tokens:{request_id}"

    @guard
    async def add_answer_token(
        self, token_hash: str, request_id: int, account_id: int, endpoint: str, expires_at: float, now: float
    ) -> None:
        """Keep an answer token's hash (see `PushStore`)."""
        if not token_hash or not endpoint:
            raise ValueError("an answer token needs its hash and the endpoint it was sent to")
        checks.check_finite("expires_at", expires_at)
        checks.check_finite("now", now)
        token, tokens = self._answer_token_keys(token_hash, request_id)
        keys = [self._keys.account(account_id), self._keys.access_request(request_id), token, tokens]
        # Timed from the caller's `now`, as every time in the store is (Redis's own clock only counts it down).
        keep_ms = max(1, math.ceil((expires_at + ANSWER_TOKEN_KEEP_SECONDS - now) * 1000))
        args: list[str | int] = [str(request_id), str(account_id), endpoint, repr(expires_at), keep_ms]
        errors = {
            "account_unknown": NotFound(f"account {account_id} not found"),
            "request_unknown": NotFound(f"access request {request_id} not found"),
        }
        await self._run(self._push_scripts.add_token, keys, args, errors)

    @guard
    async def spend_answer_token(
        self, token_hash: str, request_id: int, now: float
    ) -> tuple[AnswerCheck, AnswerToken | None]:
        """Spend the token and every other of its request, in one script (see `PushStore`)."""
        checks.check_finite("now", now)
        token_key, tokens = self._answer_token_keys(token_hash, request_id)
        keys = [token_key, tokens, self._push_keys[0]]
        result = await self._run(self._push_scripts.spend_token, keys, [str(request_id), repr(now)])
        check = AnswerCheck(result["check"])
        found = result.get("token")
        if not found:
            return check, None
        spent = found["spent_at"]
        token = AnswerToken(
            int(found["request"]),
            int(found["account"]),
            str(found["endpoint"]),
            float(found["expires_at"]),
            float(spent) if spent else None,
        )
        return check, token

    @guard
    async def spend_answer_tokens(self, request_id: int, now: float) -> int:
        """Spend every unspent token of the request."""
        checks.check_finite("now", now)
        _, tokens = self._answer_token_keys("", request_id)
        result = await self._run(self._push_scripts.spend_tokens, [tokens], [repr(now)])
        return int(result["spent"])
