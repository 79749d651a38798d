"""The shared store's agencies and accounts, and what guards a log-in: the count of failed log-ins (which slows
guessing, never locks) and the TOTP second factor.

Disabling or enabling an account takes a version and announces it on the change channel (the hubs reload); the
log-in bookkeeping (failed log-ins, the TOTP secret and the last code step used) does not. An account's `locked`
field, written by versions that locked accounts out, is no longer read or written.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Sequence
from typing import cast

from hub.store import checks
from hub.store import redis_records as records
from hub.store.base import Account, Agency, Conflict, NotFound, Role
from hub.store.redis_keys import LOGIN_FAILURE_GRACE_SECONDS
from hub.store.redis_plumbing import RedisParts, guard


class RedisAccounts(RedisParts):
    """Agencies, accounts, failed log-ins and the TOTP second factor of `RedisStore`."""

    # -- agencies and accounts ------------------------------------------------------------------------

    @guard
    async def add_agency(self, agency_id: str, name: str) -> Agency:
        """Add an agency; Conflict if the id is taken."""
        record = json.dumps({"id": agency_id, "name": name})
        errors = {"agency_exists": Conflict(f"agency {agency_id!r} already exists")}
        await self._run(self._scripts.add_agency, [self._keys.agencies], [agency_id, record], errors)
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
            self._scripts.add_account,
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
        return records.account(fields)

    @guard
    async def find_account(self, username: str) -> tuple[Account, str]:
        """The account and its password hash; NotFound if no such username."""
        account_id = cast(str | None, await self._r.hget(self._keys.account_by_username, username))
        fields = None if account_id is None else await self._hash(self._keys.account(account_id))
        # Accounts are never deleted and usernames never change, so the index and the record agree.
        if fields is None or fields["username"] != username:
            raise NotFound("no account with that username")
        return records.account(fields), str(fields["password_hash"])

    @guard
    async def list_accounts(self) -> list[Account]:
        """Every account, by id."""
        ids = cast(list[str], await self._r.zrange(self._keys.accounts, 0, -1))
        return [records.account(fields) for fields in await self._hashes([self._keys.account(i) for i in ids])]

    @guard
    async def set_account_disabled(self, account_id: int, disabled: bool) -> Account:
        """Disable or enable an account; NotFound if unknown. A change takes the next version from the shared
        counter (announced on the change channel) and keeps it as the account's `version`; an unchanged flag keeps
        both."""
        result = await self._run(
            self._scripts.set_account_disabled,
            [*self._feed, self._keys.account(account_id)],
            [account_id, json.dumps(bool(disabled))],
            {"account_not_found": NotFound(f"account {account_id} not found")},
        )
        return records.account(records.decode_flat(result["record"]))

    @guard
    async def set_password_hash(self, account_id: int, password_hash: str) -> None:
        """Replace an account's password hash; NotFound if unknown."""
        await self._run(
            self._scripts.set_password_hash,
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
            self._scripts.record_login_failure,
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
        return records.totp(fields)

    @guard
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

    async def _update_account(self, account_id: int, fields: Sequence[str], forget: Sequence[str] = ()) -> Account:
        """Set `fields` (name/JSON pairs) on an account and delete the `forget` keys with it; NotFound if unknown."""
        result = await self._run(
            self._scripts.update_account,
            [self._keys.account(account_id), *forget],
            fields,
            {"account_not_found": NotFound(f"account {account_id} not found")},
        )
        return records.account(records.decode_flat(result["record"]))
