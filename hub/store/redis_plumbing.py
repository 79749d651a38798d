"""What the parts of the shared store (`hub.store.redis.RedisStore`) share.

The store is one class made of mixins, one per concern (`hub.store.redis_accounts`, `redis_sessions`,
`redis_cameras`, `redis_consent`, `redis_requests`). Their base, `RedisParts`, declares the attributes
`RedisStore` sets (the client, the keys, the scripts registered on the client) and holds the plumbing every part
uses: running a script, and reading records. Every method that talks to Redis wears `guard`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import cast

import redis.asyncio as aredis
from redis.commands.core import AsyncScript

from hub.store import redis_pubsub
from hub.store import redis_records as records
from hub.store import redis_scripts as lua
from hub.store import redis_scripts_auth as lua_auth
from hub.store.redis_client import guarded
from hub.store.redis_keys import RedisKeys

Fields = records.Fields

guard = guarded(redis_pubsub.REDIS_DOWN, lambda name, exc: f"redis did not answer ({name}): {exc}")
"""Connection errors and timeouts become `StoreUnavailable` (the scripts' own refusals are mapped per call)."""


class Scripts:
    """The Lua scripts, registered on one client (EVALSHA, loaded again after a Redis restart)."""

    def __init__(self, client: aredis.Redis) -> None:
        register = client.register_script
        self.add_agency = register(lua_auth.ADD_AGENCY)
        self.add_account = register(lua_auth.ADD_ACCOUNT)
        self.set_account_disabled = register(lua_auth.SET_ACCOUNT_DISABLED)
        self.set_password_hash = register(lua_auth.SET_PASSWORD_HASH)
        self.update_account = register(lua_auth.UPDATE_ACCOUNT)
        self.record_login_failure = register(lua_auth.RECORD_LOGIN_FAILURE)
        self.use_totp_step = register(lua_auth.USE_TOTP_STEP)
        self.add_session = register(lua_auth.ADD_SESSION)
        self.touch_session = register(lua_auth.TOUCH_SESSION)
        self.finish_mfa = register(lua_auth.FINISH_MFA)
        self.delete_session = register(lua_auth.DELETE_SESSION)
        self.delete_sessions_of = register(lua_auth.DELETE_SESSIONS_OF)
        self.purge_sessions = register(lua_auth.PURGE_SESSIONS)
        self.add_camera = register(lua.ADD_CAMERA)
        self.set_camera_location = register(lua.SET_CAMERA_LOCATION)
        self.set_device_token = register(lua.SET_DEVICE_TOKEN)
        self.set_camera_masks = register(lua.SET_CAMERA_MASKS)
        self.put_grant = register(lua.PUT_GRANT)
        self.revoke_grant = register(lua.REVOKE_GRANT)
        self.set_grant_audio = register(lua.SET_GRANT_AUDIO)
        self.add_access_request = register(lua.ADD_ACCESS_REQUEST)
        self.answer_access_request = register(lua.ANSWER_ACCESS_REQUEST)
        self.expire_access_requests = register(lua.EXPIRE_ACCESS_REQUESTS)
        self.set_pilot = register(lua.SET_PILOT)
        self.set_setting = register(lua.SET_SETTING)
        self.claim_camera = register(lua.CLAIM_CAMERA)
        self.release_camera = register(lua.RELEASE_CAMERA)


class RedisParts:
    """The base of `RedisStore`'s parts: the attributes `RedisStore` sets, and the plumbing on them."""

    # The client decodes every answer (decode_responses=True): the parts' casts narrow bytes | str to str.
    _r: aredis.Redis
    _keys: RedisKeys
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
