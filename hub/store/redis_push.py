"""The shared store's notification seam (`hub.store.push_base.PushStore`), written by the Lua scripts below so an
endpoint's record, its account's order and its owner never disagree. None of it takes a version or is announced on
the change channel: the consent gate depends on none of it.

Keys (all under the store's prefix, `pl:` by default):
- `push:<account id>`: HASH endpoint -> JSON {"p256dh", "auth", "created_at"}: the account's subscriptions.
- `push-order:<account id>`: ZSET of the account's endpoints scored by created_at (the oldest goes first when the
  account has `MAX_PUSH_PER_ACCOUNT`).
- `push-owners`: HASH endpoint -> account id: whose an endpoint is (a push service's 410 names only the endpoint).
- `email:<account id>`: STRING, the account's e-mail address for notifications (missing: none).
"""

from __future__ import annotations

import functools
import json

import redis.asyncio as aredis
from redis.commands.core import AsyncScript

from hub.store import checks
from hub.store.base import NotFound
from hub.store.push_base import MAX_PUSH_PER_ACCOUNT, PushSubscription
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


class PushScripts:
    """The three scripts, registered on one client."""

    def __init__(self, client: aredis.Redis) -> None:
        self.add: AsyncScript = client.register_script(ADD_PUSH_SUBSCRIPTION)
        self.delete: AsyncScript = client.register_script(DELETE_PUSH_SUBSCRIPTION)
        self.set_email: AsyncScript = client.register_script(SET_ACCOUNT_EMAIL)


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
