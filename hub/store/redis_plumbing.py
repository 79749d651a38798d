"""What the parts of the shared store (`hub.store.redis.RedisStore`) share.

The store is one class made of mixins, one per seam (`hub.store.redis_accounts`, `redis_enrolment`,
`redis_sessions`, `redis_cameras`, `redis_consent`, `redis_requests`, ...). Each part's module holds everything
of its seam: its keys (a keys class mixed into `hub.store.redis_keys.RedisKeys`), its Lua scripts (registered on
the client the first time the part uses them), its methods and its record decoders; adding a write touches that
module alone. Their base, `RedisParts`, declares the attributes `RedisStore` sets (the client, the keys) and holds
the plumbing every part uses: writing scripts (`script`), running them, and reading records. Every method that
talks to Redis wears `guard`.

Script conventions. Redis runs a script as one step: nothing else reads or writes in between, so a check, its
write, the next version and the change message on the channel happen together or not at all (a caller cancelled
mid-call leaves either the whole write or none of it).
- Record fields arrive as name/value pairs at the end of ARGV, the values already JSON encoded in Python; a
  script copies them into the hash and never re-encodes a number (cjson keeps only 14 significant digits).
- A script answers with JSON: {"ok": {...}} or {"error": "<code>"}. Python turns the code into NotFound,
  Conflict or ValueError with the same message the embedded store gives (`RedisParts._run`).
- `next_version()` takes the next value of the shared counter and `announce()` publishes the change message
  {"kind", "id", "version"} on the change channel, in the same script as the write.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, cast

import redis.asyncio as aredis
from redis.commands.core import AsyncScript

from hub.store import redis_pubsub
from hub.store import redis_records as records
from hub.store.redis_client import guarded

if TYPE_CHECKING:
    from hub.store.redis_keys import RedisKeys

Fields = records.Fields

guard = guarded(redis_pubsub.REDIS_DOWN, lambda name, exc: f"redis did not answer ({name}): {exc}")
"""Connection errors and timeouts become `StoreUnavailable` (the scripts' own refusals are mapped per call)."""


# Every script starts with these helpers. Scripts that take a version pass the version counter and the change
# channel as KEYS[1] and KEYS[2]; the others never call `next_version` or `announce`.
_PRELUDE = """
local function fail(code)
  return cjson.encode({error = code})
end
local function ok(value)
  return cjson.encode({ok = value})
end
local function next_version()
  return redis.call('INCR', KEYS[1])
end
local function announce(kind, id, version)
  redis.call('PUBLISH', KEYS[2], cjson.encode({kind = kind, id = id, version = version}))
end
local function hset_pairs(key, first)
  if #ARGV >= first then
    redis.call('HSET', key, unpack(ARGV, first))
  end
end
"""


def script(body: str) -> str:
    """A script: the helpers above, then `body`."""
    return _PRELUDE + body


# KEYS: owner lease. ARGV: node id, lease JSON {"node", "url"}, TTL in ms. Takes a free lease or renews ours.
CLAIM_CAMERA = script("""
local current = redis.call('GET', KEYS[1])
if current and cjson.decode(current).node ~= ARGV[1] then
  return ok({claimed = false})
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return ok({claimed = true})
""")

# KEYS: owner lease. ARGV: node id. Deletes the lease only if this node holds it.
RELEASE_CAMERA = script("""
local current = redis.call('GET', KEYS[1])
if current and cjson.decode(current).node == ARGV[1] then
  redis.call('DEL', KEYS[1])
end
return ok({})
""")


class Scripts:
    """The store's own scripts (camera ownership leases, `RedisStore.claim_camera`), registered on one client
    (EVALSHA, loaded again after a Redis restart). Each part registers its own."""

    def __init__(self, client: aredis.Redis) -> None:
        self.claim_camera: AsyncScript = client.register_script(CLAIM_CAMERA)
        self.release_camera: AsyncScript = client.register_script(RELEASE_CAMERA)


class RedisParts:
    """The base of `RedisStore`'s parts: the attributes `RedisStore` sets, and the plumbing on them."""

    # The client decodes every answer (decode_responses=True): the parts' casts narrow bytes | str to str.
    _r: aredis.Redis
    _keys: RedisKeys
    # The store's own scripts; each part registers its own (a cached property on the part).
    _scripts: Scripts
    # The policy's cap until an admin sets one.
    _default_max_grant_seconds: float

    async def _run(
        self,
        script: AsyncScript,
        keys: Sequence[str],
        args: Iterable[str | int | float],
        errors: Mapping[str, Exception] | None = None,
    ) -> Fields:
        """Run a script; its {"ok": ...} payload, or raise the exception `errors` names for its error code."""
        reply = json.loads(await script(keys=keys, args=list(args)))
        if "error" in reply:
            error = (errors or {}).get(reply["error"])
            if error is None:
                raise RuntimeError(f"store script failed: {reply['error']}")
            raise error
        ok: Fields = reply["ok"]
        return ok

    @property
    def _feed(self) -> list[str]:
        """The first two keys of every script that takes a version: the counter and the change channel."""
        return [self._keys.version, self._keys.changes]

    async def _hash(self, key: str) -> Fields | None:
        raw = cast(dict[str, str], await self._r.hgetall(key))
        return records.decode(raw) if raw else None

    async def _hashes(self, keys: Sequence[str]) -> list[Fields]:
        """Several records in one MULTI/EXEC (a consistent snapshot); missing ones are left out."""
        if not keys:
            return []
        async with self._r.pipeline(transaction=True) as pipe:
            for key in keys:
                pipe.hgetall(key)
            raws = cast(list[dict[str, str]], await pipe.execute())
        return [records.decode(raw) for raw in raws if raw]
