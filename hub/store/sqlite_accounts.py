"""The embedded store's agencies and accounts, and what guards a log-in: the count of failed log-ins (which slows
guessing, never locks) and the TOTP second factor.

Disabling or enabling an account moves the change marker (the gate reloads); the log-in bookkeeping (failed
log-ins, the TOTP secret and the last code step used) does not: the gate depends on none of it.
"""

from __future__ import annotations

import sqlite3
import time

import aiosqlite

from hub.store import checks
from hub.store.base import Account, Agency, Conflict, NotFound, Role
from hub.store.sqlite_plumbing import SqliteParts, bump, check_account, exists, first

# The `locked` column of schema version 2 (the lock-out that failed log-ins used to set) is no longer read.
_ACCOUNT_COLUMNS = "id, username, role, agency_id, disabled, created_at, totp_enrolled, version"


class SqliteAccounts(SqliteParts):
    """Agencies, accounts, failed log-ins and the TOTP second factor of `SqliteStore`."""

    # -- agencies and accounts ------------------------------------------------------------------------

    async def add_agency(self, agency_id: str, name: str) -> Agency:
        """Add an agency; Conflict if the id is taken."""

        async def body(db: aiosqlite.Connection) -> Agency:
            if await exists(db, "SELECT 1 FROM agencies WHERE id = ?", (agency_id,)):
                raise Conflict(f"agency {agency_id!r} already exists")
            await db.execute("INSERT INTO agencies (id, name) VALUES (?, ?)", (agency_id, name))
            return Agency(agency_id, name)

        return await self._write(body)

    async def list_agencies(self) -> list[Agency]:
        """Every agency, by id."""
        rows = await self._read("SELECT id, name FROM agencies ORDER BY id")
        return [Agency(row["id"], row["name"]) for row in rows]

    async def add_account(self, username: str, password_hash: str, role: Role, agency_id: str | None) -> Account:
        """Add an account. Officers need an existing agency; residents and admins have none (ValueError)."""
        role = Role(role)

        async def body(db: aiosqlite.Connection) -> Account:
            await _check_agency_rule(db, role, agency_id)
            if await exists(db, "SELECT 1 FROM accounts WHERE username = ?", (username,)):
                raise Conflict(f"username {username!r} is taken")
            rows = await db.execute_fetchall(
                "INSERT INTO accounts (username, password_hash, role, agency_id, disabled, created_at)"
                f" VALUES (?, ?, ?, ?, 0, ?) RETURNING {_ACCOUNT_COLUMNS}",
                (username, password_hash, role.value, agency_id, time.time()),
            )
            return account_row(first(rows))

        return await self._write(body)

    async def get_account(self, account_id: int) -> Account:
        """The account; NotFound if unknown."""
        rows = await self._read(f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE id = ?", (account_id,))
        if not rows:
            raise NotFound(f"account {account_id} not found")
        return account_row(rows[0])

    async def find_account(self, username: str) -> tuple[Account, str]:
        """The account and its password hash; NotFound if no such username."""
        rows = await self._read(
            f"SELECT {_ACCOUNT_COLUMNS}, password_hash FROM accounts WHERE username = ?", (username,)
        )
        if not rows:
            raise NotFound("no account with that username")
        return account_row(rows[0]), str(rows[0]["password_hash"])

    async def list_accounts(self) -> list[Account]:
        """Every account, by id."""
        rows = await self._read(f"SELECT {_ACCOUNT_COLUMNS} FROM accounts ORDER BY id")
        return [account_row(row) for row in rows]

    async def set_account_disabled(self, account_id: int, disabled: bool) -> Account:
        """Disable or enable an account; NotFound if unknown. A change takes the next version from the shared
        counter (the change marker moves) and keeps it as the account's `version`; an unchanged flag keeps both."""

        async def body(db: aiosqlite.Connection) -> Account:
            rows = await db.execute_fetchall(f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE id = ?", (account_id,))
            if not rows:
                raise NotFound(f"account {account_id} not found")
            before = account_row(first(rows))
            if before.disabled == disabled:
                return before
            version = await bump(db)
            rows = await db.execute_fetchall(
                f"UPDATE accounts SET disabled = ?, version = ? WHERE id = ? RETURNING {_ACCOUNT_COLUMNS}",
                (int(disabled), version, account_id),
            )
            return account_row(first(rows))

        return await self._write(body)

    async def set_password_hash(self, account_id: int, password_hash: str) -> None:
        """Replace an account's password hash; NotFound if unknown."""

        async def body(db: aiosqlite.Connection) -> None:
            rows = await db.execute_fetchall(
                "UPDATE accounts SET password_hash = ? WHERE id = ? RETURNING id", (password_hash, account_id)
            )
            if not rows:
                raise NotFound(f"account {account_id} not found")

        await self._write(body)

    # -- failed log-ins and the second factor ----------------------------------------------------------

    async def record_login_failure(self, account_id: int, now: float, window: float) -> int:
        """Count a failed log-in at `now`; how many the account had in (now - window, now], this one included.
        Failures older than the window, any account's, are deleted on the way. NotFound for an unknown account."""
        checks.check_finite("now", now)
        checks.check_positive("window", window)
        since = now - window

        async def body(db: aiosqlite.Connection) -> int:
            await check_account(db, account_id)
            await db.execute("DELETE FROM login_failures WHERE at <= ?", (since,))
            await db.execute("INSERT INTO login_failures (account_id, at) VALUES (?, ?)", (account_id, now))
            rows = await db.execute_fetchall(
                "SELECT count(*) AS failures FROM login_failures WHERE account_id = ? AND at > ? AND at <= ?",
                (account_id, since, now),
            )
            return int(first(rows)["failures"])

        return await self._write(body)

    async def clear_login_failures(self, account_id: int) -> None:
        """Forget an account's failed log-ins (it logged in); NotFound if unknown."""

        async def body(db: aiosqlite.Connection) -> None:
            await check_account(db, account_id)
            await db.execute("DELETE FROM login_failures WHERE account_id = ?", (account_id,))

        await self._write(body)

    async def count_login_failures(self, account_id: int, now: float, window: float) -> int:
        """How many failed log-ins the account had in (now - window, now], counting nothing (0 if unknown)."""
        checks.check_finite("now", now)
        checks.check_positive("window", window)
        rows = await self._read(
            "SELECT count(*) AS failures FROM login_failures WHERE account_id = ? AND at > ? AND at <= ?",
            (account_id, now - window, now),
        )
        return int(first(rows)["failures"])

    async def set_totp(self, account_id: int, secret: str | None, enrolled: bool) -> Account:
        """Keep a TOTP secret (None removes it), confirmed (`enrolled`) or still being enrolled, and forget the
        last code step used. ValueError for an empty secret or one enrolled without a secret; NotFound if
        unknown."""
        checks.check_totp(secret, enrolled)

        async def body(db: aiosqlite.Connection) -> Account:
            rows = await db.execute_fetchall(
                "UPDATE accounts SET totp_secret = ?, totp_enrolled = ?, totp_last_step = -1"
                f" WHERE id = ? RETURNING {_ACCOUNT_COLUMNS}",
                (secret, int(enrolled), account_id),
            )
            if not rows:
                raise NotFound(f"account {account_id} not found")
            return account_row(first(rows))

        return await self._write(body)

    async def get_totp(self, account_id: int) -> tuple[str | None, int]:
        """The TOTP secret (None if none) and the last time step whose code was accepted (-1 if none)."""
        rows = await self._read("SELECT totp_secret, totp_last_step FROM accounts WHERE id = ?", (account_id,))
        if not rows:
            raise NotFound(f"account {account_id} not found")
        return rows[0]["totp_secret"], int(rows[0]["totp_last_step"])

    async def use_totp_step(self, account_id: int, step: int) -> bool:
        """Accept a code's time step: True only if the account has a secret and `step` is later than every step
        accepted before (one conditional UPDATE, so of two hubs racing with one code exactly one wins). NotFound
        if unknown, ValueError unless `step` is a non-negative integer."""
        checks.check_time_step(step)

        async def body(db: aiosqlite.Connection) -> bool:
            async with db.execute(
                "UPDATE accounts SET totp_last_step = ?"
                " WHERE id = ? AND totp_last_step < ? AND totp_secret IS NOT NULL",
                (step, account_id, step),
            ) as cursor:
                accepted = cursor.rowcount == 1
            if not accepted:
                await check_account(db, account_id)
            return accepted

        return await self._write(body)


async def _check_agency_rule(db: aiosqlite.Connection, role: Role, agency_id: str | None) -> None:
    checks.check_account_agency(role, agency_id)
    if agency_id is None:
        return
    if not await exists(db, "SELECT 1 FROM agencies WHERE id = ?", (agency_id,)):
        raise ValueError(f"an officer account needs an existing agency; {agency_id!r} is unknown")


def account_row(row: sqlite3.Row) -> Account:
    return Account(
        id=row["id"],
        username=row["username"],
        role=Role(row["role"]),
        agency_id=row["agency_id"],
        disabled=bool(row["disabled"]),
        created_at=row["created_at"],
        mfa_enrolled=bool(row["totp_enrolled"]),
        version=row["version"],
    )
