"""The shared store: Redis, for many hubs (redis-py's asyncio client).

Same contract as the embedded store (`hub.store.sqlite`), same records, versions, errors and change marker.
The key layout is documented in `hub.store.redis_keys`, the scripts in `hub.store.redis_scripts`.

- Every write that checks something or takes a version is one Lua script: it checks, writes, takes the next
  version from the shared counter and publishes the change on the change channel in one atomic step.
- Values are JSON, never pickle. Reads are plain commands (several records: one MULTI/EXEC pipeline).
- Every call has a timeout (`connect_timeout`, `socket_timeout`) and is never retried behind the caller's back
  (a retried script could apply twice); Redis down or slow raises `StoreUnavailable`.
- `subscribe()` follows the change channel; hubs also share a message bus (`publish_raw`/`subscribe_raw`)
  and camera ownership leases (`claim_camera`, `camera_owner`, `release_camera`).
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import AsyncGenerator, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import redis.asyncio as aredis
from redis.commands.core import AsyncScript

from hub.consent.decision import Grant, Pilot
from hub.store import checks, redis_pubsub
from hub.store import redis_records as records
from hub.store import redis_scripts as lua
from hub.store.base import (
    AccessRequest,
    Account,
    Agency,
    Camera,
    Conflict,
    NotFound,
    Policy,
    RequestState,
    Role,
    Session,
    Store,
)
from hub.store.redis_client import connect, guarded
from hub.store.redis_keys import DEFAULT_PREFIX, LOGIN_FAILURE_GRACE_SECONDS, SESSION_GRACE_SECONDS, RedisKeys

_Fields = records.Fields
_DOWN = redis_pubsub.REDIS_DOWN


_guarded = guarded(_DOWN, lambda name, exc: f"redis did not answer ({name}): {exc}")
"""Connection errors and timeouts become `StoreUnavailable` (the scripts' own refusals are mapped per call)."""


class _Scripts:
    """The Lua scripts, registered on one client (EVALSHA, loaded again after a Redis restart)."""

    def __init__(self, client: aredis.Redis) -> None:
        register = client.register_script
        self.add_agency = register(lua.ADD_AGENCY)
        self.add_account = register(lua.ADD_ACCOUNT)
        self.set_account_disabled = register(lua.SET_ACCOUNT_DISABLED)
        self.set_password_hash = register(lua.SET_PASSWORD_HASH)
        self.update_account = register(lua.UPDATE_ACCOUNT)
        self.record_login_failure = register(lua.RECORD_LOGIN_FAILURE)
        self.use_totp_step = register(lua.USE_TOTP_STEP)
        self.add_session = register(lua.ADD_SESSION)
        self.touch_session = register(lua.TOUCH_SESSION)
        self.finish_mfa = register(lua.FINISH_MFA)
        self.delete_session = register(lua.DELETE_SESSION)
        self.delete_sessions_of = register(lua.DELETE_SESSIONS_OF)
        self.purge_sessions = register(lua.PURGE_SESSIONS)
        self.add_camera = register(lua.ADD_CAMERA)
        self.set_camera_location = register(lua.SET_CAMERA_LOCATION)
        self.set_device_token = register(lua.SET_DEVICE_TOKEN)
        self.put_grant = register(lua.PUT_GRANT)
        self.revoke_grant = register(lua.REVOKE_GRANT)
        self.add_access_request = register(lua.ADD_ACCESS_REQUEST)
        self.answer_access_request = register(lua.ANSWER_ACCESS_REQUEST)
        self.expire_access_requests = register(lua.EXPIRE_ACCESS_REQUESTS)
        self.set_setting = register(lua.SET_SETTING)
        self.claim_camera = register(lua.CLAIM_CAMERA)
        self.release_camera = register(lua.RELEASE_CAMERA)


class RedisStore:
    """`hub.store.base.Store` on Redis. Open with `await RedisStore.open(url, ...)`."""

    def __init__(self, client: aredis.Redis, keys: RedisKeys, default_max_grant_seconds: float, timeout: float):
        # The client decodes every answer (decode_responses=True): the casts below narrow bytes | str to str.
        self._r = client
        self._keys = keys
        self._default_max_grant_seconds = default_max_grant_seconds
        self._timeout = timeout
        self._scripts = _Scripts(client)
        self._closed = False

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        default_max_grant_seconds: float,
        prefix: str = DEFAULT_PREFIX,
        connect_timeout: float = 1.0,
        socket_timeout: float = 1.0,
    ) -> RedisStore:
        """Connect to `url` (redis:// or rediss:// for TLS; may carry a password) and PING it.

        A wrong URL or a Redis that does not answer fails here (`StoreUnavailable`), at start-up.
        `default_max_grant_seconds` is the policy's cap until an admin sets one.
        """
        checks.check_positive("default_max_grant_seconds", default_max_grant_seconds)
        client = await connect(
            url, decode_responses=True, connect_timeout=connect_timeout, socket_timeout=socket_timeout
        )
        store = cls(client, RedisKeys(prefix), default_max_grant_seconds, socket_timeout)
        return store

    async def close(self) -> None:
        """Close every connection. Closing twice is harmless."""
        if not self._closed:
            self._closed = True
            await self._r.aclose()

    @_guarded
    async def ping(self) -> None:
        """Ask Redis to answer; StoreUnavailable if it does not in time."""
        await self._r.ping()

    # -- plumbing -------------------------------------------------------------------------------------

    async def _run(
        self,
        script: AsyncScript,
        keys: Sequence[str],
        args: Iterable[str | int | float],
        errors: Mapping[str, Exception] | None = None,
    ) -> _Fields:
        """Run a script; its {"ok": ...} payload, or raise the exception `errors` names for its error code."""
        reply = json.loads(await script(keys=keys, args=list(args)))
        if "error" in reply:
            error = (errors or {}).get(reply["error"])
            if error is None:
                raise RuntimeError(f"store script failed: {reply['error']}")
            raise error
        ok: _Fields = reply["ok"]
        return ok

    @property
    def _feed(self) -> list[str]:
        """The first two keys of every script that takes a version: the counter and the change channel."""
        return [self._keys.version, self._keys.changes]

    async def _hash(self, key: str) -> _Fields | None:
        raw = cast(dict[str, str], await self._r.hgetall(key))
        return records.decode(raw) if raw else None

    async def _hashes(self, keys: Sequence[str]) -> list[_Fields]:
        """Several records in one MULTI/EXEC (a consistent snapshot); missing ones are left out."""
        if not keys:
            return []
        async with self._r.pipeline(transaction=True) as pipe:
            for key in keys:
                pipe.hgetall(key)
            raws = cast(list[dict[str, str]], await pipe.execute())
        return [records.decode(raw) for raw in raws if raw]

    async def _update_account(self, account_id: int, fields: Sequence[str], forget: Sequence[str] = ()) -> Account:
        """Set `fields` (name/JSON pairs) on an account and delete the `forget` keys with it; NotFound if unknown."""
        result = await self._run(
            self._scripts.update_account,
            [self._keys.account(account_id), *forget],
            fields,
            {"account_not_found": NotFound(f"account {account_id} not found")},
        )
        return records.account(records.decode_flat(result["record"]))

    # -- change feed ----------------------------------------------------------------------------------

    @_guarded
    async def change_marker(self) -> int:
        """The shared version counter: it grows with every consent-relevant write by any hub or the CLI."""
        value = await self._r.get(self._keys.version)
        return int(value or 0)

    async def subscribe(self) -> AsyncGenerator[dict[str, Any], None]:
        """Follow the change channel: yields {"kind", "id", "version"} for each change, as published.

        The first item is {"kind": "subscribed", "id": None, "version": <change marker>}, read once the
        subscription is active: reload everything then, and every later change arrives as a message. Pub/sub
        can lose messages, so when the connection drops (or Redis stops answering pings) this raises
        `StoreUnavailable`: subscribe again and reload. Close it with `contextlib.aclosing`.
        """

        async def hello() -> dict[str, Any]:
            return {"kind": "subscribed", "id": None, "version": await self.change_marker()}

        async for message in redis_pubsub.listen(self._r, self._keys.changes, self._timeout, hello):
            yield message

    @_guarded
    async def publish_raw(self, channel_suffix: str, message: dict[str, Any]) -> None:
        """Publish a JSON message to the other hubs on the bus topic `channel_suffix`."""
        await self._r.publish(self._keys.bus(channel_suffix), json.dumps(message))

    async def subscribe_raw(self, channel_suffix: str) -> AsyncGenerator[dict[str, Any], None]:
        """Follow the bus topic `channel_suffix`: first {"kind": "subscribed", "channel": channel_suffix} once
        the subscription is active (publish requests after it), then each message. Raises `StoreUnavailable`
        as `subscribe` does."""

        async def hello() -> dict[str, Any]:
            return {"kind": "subscribed", "channel": channel_suffix}

        async for message in redis_pubsub.listen(self._r, self._keys.bus(channel_suffix), self._timeout, hello):
            yield message

    # -- agencies and accounts ------------------------------------------------------------------------

    @_guarded
    async def add_agency(self, agency_id: str, name: str) -> Agency:
        """Add an agency; Conflict if the id is taken."""
        record = json.dumps({"id": agency_id, "name": name})
        errors = {"agency_exists": Conflict(f"agency {agency_id!r} already exists")}
        await self._run(self._scripts.add_agency, [self._keys.agencies], [agency_id, record], errors)
        return Agency(agency_id, name)

    @_guarded
    async def list_agencies(self) -> list[Agency]:
        """Every agency, by id."""
        values = cast(list[str], await self._r.hvals(self._keys.agencies))
        agencies = [json.loads(value) for value in values]
        return sorted((Agency(str(a["id"]), str(a["name"])) for a in agencies), key=lambda a: a.id)

    @_guarded
    async def add_account(self, username: str, password_hash: str, role: Role, agency_id: str | None) -> Account:
        """Add an account. Officers need an existing agency; residents and admins have none (ValueError)."""
        role = Role(role)
        checks.check_account_agency(role, agency_id)
        created_at = time.time()
        keys = self._keys
        errors: dict[str, Exception] = {
            "unknown_agency": ValueError(f"an officer account needs an existing agency; {agency_id!r} is unknown"),
            "username_taken": Conflict(f"username {username!r} is taken"),
        }
        fields = records.pairs(
            username=username,
            password_hash=password_hash,
            role=role.value,
            agency_id=agency_id,
            disabled=False,
            created_at=created_at,
            locked=False,
            mfa_enrolled=False,
            totp_secret=None,
            totp_last_step=-1,
        )
        result = await self._run(
            self._scripts.add_account,
            [keys.account_by_username, keys.agencies, keys.account_seq, keys.accounts],
            [username, "1" if role is Role.OFFICER else "0", agency_id or "", keys.account(""), *fields],
            errors,
        )
        return Account(int(result["id"]), username, role, agency_id, False, created_at)

    @_guarded
    async def get_account(self, account_id: int) -> Account:
        """The account; NotFound if unknown."""
        fields = await self._hash(self._keys.account(account_id))
        if fields is None:
            raise NotFound(f"account {account_id} not found")
        return records.account(fields)

    @_guarded
    async def find_account(self, username: str) -> tuple[Account, str]:
        """The account and its password hash; NotFound if no such username."""
        account_id = cast(str | None, await self._r.hget(self._keys.account_by_username, username))
        fields = None if account_id is None else await self._hash(self._keys.account(account_id))
        # Accounts are never deleted and usernames never change, so the index and the record agree.
        if fields is None or fields["username"] != username:
            raise NotFound("no account with that username")
        return records.account(fields), str(fields["password_hash"])

    @_guarded
    async def list_accounts(self) -> list[Account]:
        """Every account, by id."""
        ids = cast(list[str], await self._r.zrange(self._keys.accounts, 0, -1))
        return [records.account(fields) for fields in await self._hashes([self._keys.account(i) for i in ids])]

    @_guarded
    async def set_account_disabled(self, account_id: int, disabled: bool) -> Account:
        """Disable or enable an account (the change marker moves if the flag changed); NotFound if unknown."""
        result = await self._run(
            self._scripts.set_account_disabled,
            [*self._feed, self._keys.account(account_id)],
            [account_id, json.dumps(bool(disabled))],
            {"account_not_found": NotFound(f"account {account_id} not found")},
        )
        return records.account(records.decode_flat(result["record"]))

    @_guarded
    async def set_password_hash(self, account_id: int, password_hash: str) -> None:
        """Replace an account's password hash; NotFound if unknown."""
        await self._run(
            self._scripts.set_password_hash,
            [self._keys.account(account_id)],
            [json.dumps(password_hash)],
            {"account_not_found": NotFound(f"account {account_id} not found")},
        )

    # -- log-in lock-out and the second factor ----------------------------------------------------------

    @_guarded
    async def record_login_failure(self, account_id: int, now: float, window: float) -> int:
        """Count a failed log-in at `now`; how many the account had in (now - window, now], this one included.
        Older failures are dropped on the way. NotFound for an unknown account."""
        checks.check_finite("now", now)
        checks.check_positive("window", window)
        ttl_ms = math.ceil((window + LOGIN_FAILURE_GRACE_SECONDS) * 1000)
        result = await self._run(
            self._scripts.record_login_failure,
            [self._keys.account(account_id), self._keys.login_failures(account_id)],
            [repr(float(now)), repr(float(now - window)), uuid.uuid4().hex, ttl_ms],
            {"account_not_found": NotFound(f"account {account_id} not found")},
        )
        return int(result["failures"])

    @_guarded
    async def clear_login_failures(self, account_id: int) -> None:
        """Forget an account's failed log-ins (it logged in); NotFound if unknown."""
        await self._update_account(account_id, [], [self._keys.login_failures(account_id)])

    @_guarded
    async def set_account_locked(self, account_id: int, locked: bool) -> Account:
        """Lock or unlock an account; unlocking also forgets its failed log-ins. NotFound if unknown."""
        forget = [] if locked else [self._keys.login_failures(account_id)]
        return await self._update_account(account_id, records.pairs(locked=bool(locked)), forget)

    @_guarded
    async def set_totp(self, account_id: int, secret: str | None, enrolled: bool) -> Account:
        """Keep a TOTP secret (None removes it), confirmed (`enrolled`) or still being enrolled, and forget the
        last code step used. ValueError for an empty secret or one enrolled without a secret; NotFound if
        unknown."""
        checks.check_totp(secret, enrolled)
        fields = records.pairs(totp_secret=secret, mfa_enrolled=bool(enrolled), totp_last_step=-1)
        return await self._update_account(account_id, fields)

    @_guarded
    async def get_totp(self, account_id: int) -> tuple[str | None, int]:
        """The TOTP secret (None if none) and the last time step whose code was accepted (-1 if none)."""
        names = ["id", "totp_secret", "totp_last_step"]
        values = cast(list[str | None], await self._r.hmget(self._keys.account(account_id), names))
        if values[0] is None:
            raise NotFound(f"account {account_id} not found")
        fields = records.decode({name: value for name, value in zip(names, values, strict=True) if value is not None})
        return records.totp(fields)

    @_guarded
    async def use_totp_step(self, account_id: int, step: int) -> bool:
        """Accept a code's time step: True only if the account has a secret and `step` is later than every step
        accepted before (one script, so of two hubs racing with one code exactly one wins). NotFound if unknown,
        ValueError unless `step` is a non-negative integer."""
        checks.check_time_step(step)
        result = await self._run(
            self._scripts.use_totp_step,
            [self._keys.account(account_id)],
            [str(step)],
            {"account_not_found": NotFound(f"account {account_id} not found")},
        )
        return bool(result["accepted"])

    # -- sessions -------------------------------------------------------------------------------------

    @_guarded
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

    @_guarded
    async def touch_session(self, token_hash: str, now: float) -> None:
        """Record a request seen with the session at `now`; it never moves back (a late request from another hub
        leaves a later time). Nothing if the session is unknown. The caller decides how often to call it."""
        checks.check_finite("now", now)
        await self._run(self._scripts.touch_session, [self._keys.session(token_hash)], [json.dumps(float(now))])

    @_guarded
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

    @_guarded
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

    @_guarded
    async def get_session(self, token_hash: str) -> Session:
        """The session, expired or not; NotFound if unknown."""
        fields = await self._hash(self._keys.session(token_hash))
        if fields is None:
            raise NotFound("session not found")
        return records.session(fields)

    @_guarded
    async def delete_session(self, token_hash: str) -> None:
        """End a session (log-out, or an admin ending it). Idempotent: an unknown token is not an error."""
        keys = self._keys
        await self._run(
            self._scripts.delete_session,
            [*self._feed, keys.session(token_hash), keys.sessions_by_expiry],
            [token_hash, keys.sessions_of("")],
        )

    @_guarded
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

    # -- cameras --------------------------------------------------------------------------------------

    @_guarded
    async def add_camera(
        self, camera_id: str, owner_id: int, name: str, token_hash: str, location: tuple[float, float] | None = None
    ) -> Camera:
        """Register a camera, at `location` (lat, lon) if given; NotFound for an unknown owner, Conflict for a taken
        id or device token, ValueError for a position off the globe."""
        lat, lon = checks.check_location(location) or (None, None)
        camera = Camera(camera_id, owner_id, name, time.time(), lat, lon)
        keys = self._keys
        fields = records.pairs(
            id=camera_id,
            owner_id=owner_id,
            name=name,
            token_hash=token_hash,
            created_at=camera.created_at,
            lat=lat,
            lon=lon,
        )
        await self._run(
            self._scripts.add_camera,
            [
                *self._feed,
                keys.account(owner_id),
                keys.camera(camera_id),
                keys.cameras,
                keys.cameras_of(owner_id),
                keys.camera_by_token,
            ],
            [camera_id, token_hash, *fields],
            {
                "account_not_found": NotFound(f"account {owner_id} not found"),
                "camera_exists": Conflict(f"camera {camera_id!r} already exists"),
                "token_in_use": Conflict("that device token is already in use"),
            },
        )
        return camera

    @_guarded
    async def set_camera_location(self, camera_id: str, location: tuple[float, float] | None) -> Camera:
        """Move a camera to `location` (lat, lon), or None to hide its position; the change marker moves if it
        changed (the officers' map follows). NotFound if unknown, ValueError for a position off the globe."""
        lat, lon = checks.check_location(location) or (None, None)
        result = await self._run(
            self._scripts.set_camera_location,
            [*self._feed, self._keys.camera(camera_id)],
            [camera_id, json.dumps(lat), json.dumps(lon)],
            {"camera_not_found": NotFound(f"camera {camera_id!r} not found")},
        )
        return records.camera(records.decode_flat(result["record"]))

    @_guarded
    async def get_camera(self, camera_id: str) -> Camera:
        """The camera; NotFound if unknown."""
        fields = await self._hash(self._keys.camera(camera_id))
        if fields is None:
            raise NotFound(f"camera {camera_id!r} not found")
        return records.camera(fields)

    @_guarded
    async def list_cameras(self, owner_id: int | None = None) -> list[Camera]:
        """Every camera, or only `owner_id`'s, by id."""
        index = self._keys.cameras if owner_id is None else self._keys.cameras_of(owner_id)
        ids = cast(set[str], await self._r.smembers(index))
        return [records.camera(fields) for fields in await self._hashes([self._keys.camera(i) for i in sorted(ids)])]

    @_guarded
    async def camera_for_token(self, token_hash: str) -> Camera:
        """The camera whose device token hashes to `token_hash`; NotFound otherwise."""
        camera_id = cast(str | None, await self._r.hget(self._keys.camera_by_token, token_hash))
        fields = None if camera_id is None else await self._hash(self._keys.camera(camera_id))
        # Re-checked on the record: the camera may have been given a new token between the two reads.
        if fields is None or fields["token_hash"] != token_hash:
            raise NotFound("no camera has that device token")
        return records.camera(fields)

    @_guarded
    async def set_device_token(self, camera_id: str, token_hash: str) -> None:
        """Give a camera a new device token (the old one stops working); bumps the change marker."""
        await self._run(
            self._scripts.set_device_token,
            [*self._feed, self._keys.camera(camera_id), self._keys.camera_by_token],
            [camera_id, token_hash, json.dumps(token_hash)],
            {
                "camera_not_found": NotFound(f"camera {camera_id!r} not found"),
                "token_in_use": Conflict("that device token is already in use"),
            },
        )

    # -- consent ----------------------------------------------------------------------------------------

    @_guarded
    async def get_grant(self, camera_id: str) -> Grant | None:
        """The camera's grant (live, expired or revoked), or None if it never opted in."""
        fields = await self._hash(self._keys.grant(camera_id))
        return None if fields is None else records.grant(fields)

    @_guarded
    async def list_grants(self) -> list[Grant]:
        """Every grant, revoked and expired ones included, by camera id."""
        ids = cast(set[str], await self._r.smembers(self._keys.grants))
        return [records.grant(fields) for fields in await self._hashes([self._keys.grant(i) for i in sorted(ids)])]

    @_guarded
    async def put_grant(
        self, camera_id: str, starts_at: float, ends_at: float, agencies: frozenset[str] | None
    ) -> Grant:
        """Replace the camera's grant with a new, unrevoked one (new version); NotFound if no such camera."""
        checks.check_window(starts_at, ends_at)
        encoded = None if agencies is None else sorted(agencies)
        fields = records.pairs(
            camera_id=camera_id, starts_at=starts_at, ends_at=ends_at, agencies=encoded, revoked_at=None
        )
        keys = self._keys
        result = await self._run(
            self._scripts.put_grant,
            [*self._feed, keys.camera(camera_id), keys.grant(camera_id), keys.grants],
            [camera_id, *fields],
            {"camera_not_found": NotFound(f"camera {camera_id!r} not found")},
        )
        return Grant(camera_id, starts_at, ends_at, agencies, None, int(result["version"]))

    @_guarded
    async def revoke_grant(self, camera_id: str, at: float) -> Grant | None:
        """Mark the grant withdrawn at `at` (new version); unchanged if already revoked; None if no grant."""
        checks.check_finite("at", at)
        result = await self._run(
            self._scripts.revoke_grant, [*self._feed, self._keys.grant(camera_id)], [camera_id, json.dumps(at)]
        )
        return records.grant(records.decode_flat(result["record"])) if "record" in result else None

    # -- access requests ------------------------------------------------------------------------------
    # Not consent: no version, no change message. An approval opens nothing by itself; the grant it leads to is
    # written through put_grant.

    @_guarded
    async def add_access_request(
        self,
        camera_id: str,
        account_id: int,
        case_number: str,
        reason: str,
        duration_seconds: float,
        urgent: bool,
        now: float,
        expires_at: float,
    ) -> AccessRequest:
        """A new pending request for the agency the officer belongs to now (read in the same script); NotFound
        for an unknown camera or account, ValueError for a duration that is not positive or a time not finite."""
        checks.check_positive("duration_seconds", duration_seconds)
        checks.check_finite("now", now)
        checks.check_finite("expires_at", expires_at)
        keys = self._keys
        fields = records.pairs(
            camera_id=camera_id,
            account_id=account_id,
            case_number=case_number,
            reason=reason,
            duration_seconds=duration_seconds,
            urgent=bool(urgent),
            created_at=now,
            expires_at=expires_at,
            state=RequestState.PENDING.value,
            answered_at=None,
        )
        result = await self._run(
            self._scripts.add_access_request,
            [
                keys.camera(camera_id),
                keys.account(account_id),
                keys.access_request_seq,
                keys.access_requests,
                keys.access_requests_of_camera(camera_id),
                keys.access_requests_of_account(account_id),
                keys.access_requests_pending,
            ],
            [repr(float(expires_at)), keys.access_request(""), *fields],
            {
                "camera_not_found": NotFound(f"camera {camera_id!r} not found"),
                "account_not_found": NotFound(f"account {account_id} not found"),
            },
        )
        agency_id = json.loads(result["agency_id"])
        return AccessRequest(
            int(result["id"]),
            camera_id,
            account_id,
            None if agency_id is None else str(agency_id),
            case_number,
            reason,
            float(duration_seconds),
            bool(urgent),
            now,
            expires_at,
        )

    @_guarded
    async def get_access_request(self, request_id: int) -> AccessRequest:
        """The request, whatever its state; NotFound if unknown."""
        fields = await self._hash(self._keys.access_request(request_id))
        if fields is None:
            raise NotFound(f"access request {request_id} not found")
        return records.access_request(fields)

    @_guarded
    async def list_access_requests(
        self, camera_id: str | None = None, account_id: int | None = None
    ) -> list[AccessRequest]:
        """Requests, newest (the last made: highest id) first, of one camera and/or one officer if given."""
        keys = self._keys
        if camera_id is not None:
            index = keys.access_requests_of_camera(camera_id)
        elif account_id is not None:
            index = keys.access_requests_of_account(account_id)
        else:
            index = keys.access_requests
        ids = cast(list[str], await self._r.zrevrange(index, 0, -1))
        found = [records.access_request(f) for f in await self._hashes([keys.access_request(i) for i in ids])]
        return [r for r in found if account_id is None or r.account_id == account_id]

    @_guarded
    async def answer_access_request(self, request_id: int, state: RequestState, now: float) -> AccessRequest:
        """Approve or decline a pending request at `now`: one script checks it is pending and `now` is before
        expires_at, so of two hubs answering at once exactly one succeeds. Conflict if it was answered or has
        expired (a pending request past expires_at is left for `expire_access_requests`), NotFound if unknown,
        ValueError for any other state."""
        state = _answer_state(state)
        checks.check_finite("now", now)
        result = await self._run(
            self._scripts.answer_access_request,
            [self._keys.access_request(request_id), self._keys.access_requests_pending],
            [str(request_id), json.dumps(state.value), json.dumps(float(now))],
            {
                "request_not_found": NotFound(f"access request {request_id} not found"),
                "approved": Conflict(f"access request {request_id} was already approved"),
                "declined": Conflict(f"access request {request_id} was already declined"),
                "expired": Conflict(f"access request {request_id} has expired"),
            },
        )
        return records.access_request(records.decode_flat(result["record"]))

    @_guarded
    async def expire_access_requests(self, now: float) -> list[AccessRequest]:
        """Mark every pending request with expires_at <= now expired, answered at its expires_at: one script, so
        each is expired (and returned) once, whichever hub asks first. The ones this call expired, by id."""
        checks.check_finite("now", now)
        keys = self._keys
        result = await self._run(
            self._scripts.expire_access_requests,
            [keys.access_requests_pending],
            [repr(float(now)), keys.access_request("")],
        )
        # Lua's cjson writes an empty list as {}.
        expired = [records.access_request(records.decode_flat(flat)) for flat in result["expired"] or []]
        return sorted(expired, key=lambda r: r.id)

    @_guarded
    async def get_pilot(self) -> Pilot | None:
        """The pilot's window, or None if an admin never set one."""
        fields = await self._hash(self._keys.pilot)
        if fields is None:
            return None
        return records.pilot(fields)

    @_guarded
    async def set_pilot(self, starts_at: float, ends_at: float) -> Pilot:
        """Set the pilot's window (new version)."""
        checks.check_window(starts_at, ends_at)
        fields = records.pairs(starts_at=starts_at, ends_at=ends_at)
        result = await self._run(self._scripts.set_setting, [*self._feed, self._keys.pilot], ["pilot", *fields])
        return Pilot(starts_at, ends_at, int(result["version"]))

    @_guarded
    async def get_policy(self) -> Policy:
        """The admin's limits; the configured default (version 0) until one is set."""
        fields = await self._hash(self._keys.policy)
        if fields is None:
            return Policy(self._default_max_grant_seconds, 0)
        return records.policy(fields)

    @_guarded
    async def set_policy(self, max_grant_seconds: float) -> Policy:
        """Set the cap on every opt-in's time box (new version); ValueError unless positive and finite."""
        checks.check_positive("max_grant_seconds", max_grant_seconds)
        fields = records.pairs(max_grant_seconds=max_grant_seconds)
        result = await self._run(self._scripts.set_setting, [*self._feed, self._keys.policy], ["policy", *fields])
        return Policy(max_grant_seconds, int(result["version"]))

    # -- camera ownership -----------------------------------------------------------------------------

    @_guarded
    async def claim_camera(self, camera_id: str, node_id: str, url: str, ttl: float) -> bool:
        """Take the camera's ownership lease for `ttl` seconds, or renew it if this node holds it already.
        False if another node holds it."""
        checks.check_positive("ttl", ttl)
        lease = json.dumps({"node": node_id, "url": url})
        ttl_ms = max(1, math.ceil(ttl * 1000))
        result = await self._run(self._scripts.claim_camera, [self._keys.owner(camera_id)], [node_id, lease, ttl_ms])
        return bool(result["claimed"])

    @_guarded
    async def camera_owner(self, camera_id: str) -> tuple[str, str] | None:
        """(node id, url) of the hub holding the camera's lease, or None if no lease is live."""
        value = await self._r.get(self._keys.owner(camera_id))
        if value is None:
            return None
        lease = json.loads(value)
        return str(lease["node"]), str(lease["url"])

    @_guarded
    async def release_camera(self, camera_id: str, node_id: str) -> None:
        """Give up the camera's lease, only if this node holds it."""
        await self._run(self._scripts.release_camera, [self._keys.owner(camera_id)], [node_id])


def _answer_state(state: RequestState) -> RequestState:
    """An answer is an approval or a decline; ValueError otherwise."""
    state = RequestState(state)
    if state not in (RequestState.APPROVED, RequestState.DECLINED):
        raise ValueError("an access request is answered by approving or declining it")
    return state


if TYPE_CHECKING:

    def _implements_store(store: RedisStore) -> Store:
        # mypy proves here that RedisStore satisfies the Store protocol.
        return store
