"""The shared store's agencies and accounts, and what guards a log-in: the count of failed log-ins (which slows
guessing, never locks) and the TOTP second factor.

Disabling or enabling an account takes a version and announces it on the change channel (the hubs reload); the
log-in bookkeeping (failed log-ins, the TOTP secret and the last code step used) does not. An account's `locked`
field, written by versions that locked accounts out, is no longer read or written. Fields added after accounts
were first written may be missing from older ones: `mfa_enrolled` reads as false, `totp_secret` as null,
`totp_last_step` as -1 and `version` as 0.

Keys: `AccountKeys` below; scripts: after it; records: `account_record` and `totp_fields` at the end.
"""

from __future__ import annotations

import functools
import json
import math
import time
import uuid
from collections.abc import Sequence
from typing import cast

import redis.asyncio as aredis
from redis.commands.core import AsyncScript

from hub.store import checks
from hub.store import redis_records as records
from hub.store.base import Account, Agency, Conflict, NotFound, Role
from hub.store.redis_plumbing import RedisParts, guard, script

# A failed log-in's key outlives its window by this much (hubs' clocks may differ a little).
LOGIN_FAILURE_GRACE_SECONDS = 60.0


class AccountKeys:
    """The accounts seam's keys. Mixed into `hub.store.redis_keys.RedisKeys`, which gives the prefix."""

    __slots__ = ()
    prefix: str

    @property
    def agencies(self) -> str:
        """HASH: agency id -> JSON {"id": ..., "name": ...}. Agencies are never deleted."""
        return f"{self.prefix}agencies"

    def account(self, account_id: int | str) -> str:
        """HASH: one account. Fields (JSON values): id, username, password_hash, role, agency_id (null unless
        an officer), disabled (true/false), created_at,
        mfa_enrolled (true/false: the TOTP secret is confirmed), totp_secret (null if none), totp_last_step (the
        last TOTP time step whose code was accepted, -1 if none; only ever raised, by `USE_TOTP_STEP`), version
        (the version `SET_ACCOUNT_DISABLED` took when it last changed `disabled`; 0 or missing: never)."""
        return f"{self.prefix}account:{account_id}"

    @property
    def accounts(self) -> str:
        """ZSET: every account id, scored by the id (lists accounts in id order)."""
        return f"{self.prefix}accounts"

    @property
    def account_by_username(self) -> str:
        """HASH: username -> account id (the uniqueness index for usernames)."""
        return f"{self.prefix}account-by-username"

    @property
    def account_seq(self) -> str:
        """STRING, integer: the last account id handed out (INCR); ids are never reused."""
        return f"{self.prefix}account-seq"

    def login_failures(self, account_id: int) -> str:
        """ZSET: one account's failed log-ins, each a random member scored by its time. Each new failure first
        removes those at or before `now - window`; the key expires `window` plus `LOGIN_FAILURE_GRACE_SECONDS`
        after the last failure (nothing older counts). Deleted when the failures are cleared (a log-in, or an
        admin's `unlock`)."""
        return f"{self.prefix}login-failures:{account_id}"


# -- scripts (conventions: `hub.store.redis_plumbing`) ----------------------------------------

# KEYS: agencies. ARGV: agency id, record JSON.
ADD_AGENCY = script("""
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then
  return fail('agency_exists')
end
return ok({})
""")

# KEYS: username index, agencies, account sequence, account ids.
# ARGV: username, '1' for an officer (whose agency must exist) or '0', agency id, account key stem, field pairs.
ADD_ACCOUNT = script("""
if ARGV[2] == '1' and redis.call('HEXISTS', KEYS[2], ARGV[3]) == 0 then
  return fail('unknown_agency')
end
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  return fail('username_taken')
end
local id = redis.call('INCR', KEYS[3])
redis.call('HSET', ARGV[4] .. id, 'id', tostring(id))
hset_pairs(ARGV[4] .. id, 5)
redis.call('HSET', KEYS[1], ARGV[1], id)
redis.call('ZADD', KEYS[4], id, id)
return ok({id = id})
""")

# KEYS: version, changes, account. ARGV: account id, disabled ('true' or 'false'). A change keeps the version it took
# as the account's `version`.
SET_ACCOUNT_DISABLED = script("""
if redis.call('EXISTS', KEYS[3]) == 0 then
  return fail('account_not_found')
end
if redis.call('HGET', KEYS[3], 'disabled') ~= ARGV[2] then
  local version = next_version()
  redis.call('HSET', KEYS[3], 'disabled', ARGV[2], 'version', version)
  announce('account', tonumber(ARGV[1]), version)
end
return ok({record = redis.call('HGETALL', KEYS[3])})
""")

# KEYS: account. ARGV: password hash (JSON).
SET_PASSWORD_HASH = script("""
if redis.call('EXISTS', KEYS[1]) == 0 then
  return fail('account_not_found')
end
redis.call('HSET', KEYS[1], 'password_hash', ARGV[1])
return ok({})
""")

# KEYS: account, then keys deleted with the change (failed log-ins). ARGV: field pairs to set on the account.
# Answers the account record.
UPDATE_ACCOUNT = script("""
if redis.call('EXISTS', KEYS[1]) == 0 then
  return fail('account_not_found')
end
hset_pairs(KEYS[1], 1)
for i = 2, #KEYS do
  redis.call('DEL', KEYS[i])
end
return ok({record = redis.call('HGETALL', KEYS[1])})
""")

# KEYS: account, its failed log-ins. ARGV: now (score), now - window (score), a new unique member, TTL in ms.
# Drops failures at or before now - window, adds this one, answers how many are in (now - window, now].
RECORD_LOGIN_FAILURE = script("""
if redis.call('EXISTS', KEYS[1]) == 0 then
  return fail('account_not_found')
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return ok({failures = redis.call('ZCOUNT', KEYS[2], '(' .. ARGV[2], ARGV[1])})
""")

# KEYS: account. ARGV: a TOTP time step (integer). Takes it as the last accepted step only if the account has a
# secret and the step is later than the last one: a code is accepted once, by whichever hub asks first.
USE_TOTP_STEP = script("""
if redis.call('EXISTS', KEYS[1]) == 0 then
  return fail('account_not_found')
end
local secret = redis.call('HGET', KEYS[1], 'totp_secret')
local last = tonumber(redis.call('HGET', KEYS[1], 'totp_last_step') or '-1')
if not secret or secret == 'null' or tonumber(ARGV[1]) <= last then
  return ok({accepted = false})
end
redis.call('HSET', KEYS[1], 'totp_last_step', ARGV[1])
return ok({accepted = true})
""")


class AccountScripts:
    """The scripts above, registered on one client (EVALSHA, loaded again after a Redis restart)."""

    def __init__(self, client: aredis.Redis) -> None:
        register = client.register_script
        self.add_agency: AsyncScript = register(ADD_AGENCY)
        self.add_account: AsyncScript = register(ADD_ACCOUNT)
        self.set_account_disabled: AsyncScript = register(SET_ACCOUNT_DISABLED)
        self.set_password_hash: AsyncScript = register(SET_PASSWORD_HASH)
        self.update_account: AsyncScript = register(UPDATE_ACCOUNT)
        self.record_login_failure: AsyncScript = register(RECORD_LOGIN_FAILURE)
        self.use_totp_step: AsyncScript = register(USE_TOTP_STEP)


class RedisAccounts(RedisParts):
    """Agencies, accounts, failed log-ins and the TOTP second factor of `RedisStore`."""

    @functools.cached_property
    def _account_scripts(self) -> AccountScripts:
        return AccountScripts(self._r)

    # -- agencies and accounts ------------------------------------------------------------------------

    @guard
    async def add_agency(self, agency_id: str, name: str) -> Agency:
        """Add an agency; Conflict if the id is taken."""
        record = json.dumps({"id": agency_id, "name": name})
        errors = {"agency_exists": Conflict(f"agency {agency_id!r} already exists")}
        await self._run(self._account_scripts.add_agency, [self._keys.agencies], [agency_id, record], errors)
        return Agency(agency_id, name)

    @guard
    async def list_agencies(self) -> list[Agency]:
        """Every agency, by id."""
        values = cast(list[str], await self._r.hvals(self._keys.agencies))
        agencies = [json.loads(value) for value in values]
        return sorted((Agency(str(a["id"]), str(a["name"])) for a in agencies), key=lambda a: a.id)

    @guard
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
            mfa_enrolled=False,
            totp_secret=None,
            totp_last_step=-1,
        )
        result = await self._run(
            self._account_scripts.add_account,
            [keys.account_by_username, keys.agencies, keys.account_seq, keys.accounts],
            [username, "1" if role is Role.OFFICER else "0", agency_id or "", keys.account(""), *fields],
            errors,
        )
        return Account(int(result["id"]), username, role, agency_id, False, created_at)

    @guard
    async def get_account(self, account_id: int) -> Account:
        """The account; NotFound if unknown."""
        fields = await self._hash(self._keys.account(account_id))
        if fields is None:
            raise NotFound(f"account {account_id} not found")
        return account_record(fields)

    @guard
    async def find_account(self, username: str) -> tuple[Account, str]:
        """The account and its password hash; NotFound if no such username."""
        account_id = cast(str | None, await self._r.hget(self._keys.account_by_username, username))
        fields = None if account_id is None else await self._hash(self._keys.account(account_id))
        # Accounts are never deleted and usernames never change, so the index and the record agree.
        if fields is None or fields["username"] != username:
            raise NotFound("no account with that username")
        return account_record(fields), str(fields["password_hash"])

    @guard
    async def list_accounts(self) -> list[Account]:
        """Every account, by id."""
        ids = cast(list[str], await self._r.zrange(self._keys.accounts, 0, -1))
        return [account_record(fields) for fields in await self._hashes([self._keys.account(i) for i in ids])]

    @guard
    async def set_account_disabled(self, account_id: int, disabled: bool) -> Account:
        """Disable or enable an account; NotFound if unknown. A change takes the next version from the shared
        counter (announced on the change channel) and keeps it as the account's `version`; an unchanged flag keeps
        both."""
        result = await self._run(
            self._account_scripts.set_account_disabled,
            [*self._feed, self._keys.account(account_id)],
            [account_id, json.dumps(bool(disabled))],
            {"account_not_found": NotFound(f"account {account_id} not found")},
        )
        return account_record(records.decode_flat(result["record"]))

    @guard
    async def set_password_hash(self, account_id: int, password_hash: str) -> None:
        """Replace an account's password hash; NotFound if unknown."""
        await self._run(
            self._account_scripts.set_password_hash,
            [self._keys.account(account_id)],
            [json.dumps(password_hash)],
            {"account_not_found": NotFound(f"account {account_id} not found")},
        )

    # -- failed log-ins and the second factor ----------------------------------------------------------

    @guard
    async def record_login_failure(self, account_id: int, now: float, window: float) -> int:
        """Count a failed log-in at `now`; how many the account had in (now - window, now], this one included.
        Older failures are dropped on the way. NotFound for an unknown account."""
        checks.check_finite("now", now)
        checks.check_positive("window", window)
        ttl_ms = math.ceil((window + LOGIN_FAILURE_GRACE_SECONDS) * 1000)
        result = await self._run(
            self._account_scripts.record_login_failure,
            [self._keys.account(account_id), self._keys.login_failures(account_id)],
            [repr(float(now)), repr(float(now - window)), uuid.uuid4().hex, ttl_ms],
            {"account_not_found": NotFound(f"account {account_id} not found")},
        )
        return int(result["failures"])

    @guard
    async def clear_login_failures(self, account_id: int) -> None:
        """Forget an account's failed log-ins (it logged in); NotFound if unknown."""
        await self._update_account(account_id, [], [self._keys.login_failures(account_id)])

    @guard
    async def count_login_failures(self, account_id: int, now: float, window: float) -> int:
        """How many failed log-ins the account had in (now - window, now], counting nothing (0 if unknown)."""
        checks.check_finite("now", now)
        checks.check_positive("window", window)
        key = self._keys.login_failures(account_id)
        return int(await self._r.zcount(key, f"({float(now - window)!r}", repr(float(now))))

    @guard
    async def set_totp(self, account_id: int, secret: str | None, enrolled: bool) -> Account:
        """Keep a TOTP secret (None removes it), confirmed (`enrolled`) or still being enrolled, and forget the
        last code step used. ValueError for an empty secret or one enrolled without a secret; NotFound if
        unknown."""
        checks.check_totp(secret, enrolled)
        fields = records.pairs(totp_secret=secret, mfa_enrolled=bool(enrolled), totp_last_step=-1)
        return await self._update_account(account_id, fields)

    @guard
    async def get_totp(self, account_id: int) -> tuple[str | None, int]:
        """The TOTP secret (None if none) and the last time step whose code was accepted (-1 if none)."""
        names = ["id", "totp_secret", "totp_last_step"]
        values = cast(list[str | None], await self._r.hmget(self._keys.account(account_id), names))
        if values[0] is None:
            raise NotFound(f"account {account_id} not found")
        fields = records.decode({name: value for name, value in zip(names, values, strict=True) if value is not None})
        return totp_fields(fields)

    @guard
    async def use_totp_step(self, account_id: int, step: int) -> bool:
        """Accept a code's time step: True only if the account has a secret and `step` is later than every step
        accepted before (one script, so of two hubs racing with one code exactly one wins). NotFound if unknown,
        ValueError unless `step` is a non-negative integer."""
        checks.check_time_step(step)
        result = await self._run(
            self._account_scripts.use_totp_step,
            [self._keys.account(account_id)],
            [str(step)],
            {"account_not_found": NotFound(f"account {account_id} not found")},
        )
        return bool(result["accepted"])

    async def _update_account(self, account_id: int, fields: Sequence[str], forget: Sequence[str] = ()) -> Account:
        """Set `fields` (name/JSON pairs) on an account and delete the `forget` keys with it; NotFound if unknown."""
        result = await self._run(
            self._account_scripts.update_account,
            [self._keys.account(account_id), *forget],
            fields,
            {"account_not_found": NotFound(f"account {account_id} not found")},
        )
        return account_record(records.decode_flat(result["record"]))


def account_record(fields: records.Fields) -> Account:
    return Account(
        id=int(fields["id"]),
        username=str(fields["username"]),
        role=Role(fields["role"]),
        agency_id=records.optional_str(fields["agency_id"]),
        disabled=bool(fields["disabled"]),
        created_at=float(fields["created_at"]),
        mfa_enrolled=bool(fields.get("mfa_enrolled", False)),
        version=int(fields.get("version", 0)),
    )


def totp_fields(fields: records.Fields) -> tuple[str | None, int]:
    """An account's TOTP secret and last accepted time step."""
    return records.optional_str(fields.get("totp_secret")), int(fields.get("totp_last_step", -1))
