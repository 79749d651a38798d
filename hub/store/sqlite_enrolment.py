"""The embedded store's one-time enrolment codes (`enrolment_codes`, one row per account: a new code replaces the
old). Only a code's hash is kept. Log-in bookkeeping: the change marker does not move (the gate depends on none of
it)."""

from __future__ import annotations

import sqlite3

import aiosqlite

from hub.store import checks
from hub.store.base import EnrolmentCheck
from hub.store.sqlite_plumbing import SqliteParts, check_account


class SqliteEnrolment(SqliteParts):
    """Enrolment codes of `SqliteStore`."""

    async def set_enrolment_code(self, account_id: int, code_hash: str, now: float, expires_at: float) -> bool:
        """Keep the hash of the account's new code until `expires_at`, replacing any earlier one; True if that one
        could still have been used at `now`. NotFound for an unknown account, ValueError for bad times or hash."""
        _check_code(code_hash, now)
        checks.check_finite("expires_at", expires_at)

        async def body(db: aiosqlite.Connection) -> bool:
            await check_account(db, account_id)
            rows = list(
                await db.execute_fetchall(
                    "SELECT expires_at, used_at FROM enrolment_codes WHERE account_id = ?", (account_id,)
                )
            )
            replaced = any(_usable(row, now) for row in rows)
            await db.execute(
                "INSERT OR REPLACE INTO enrolment_codes (account_id, code_hash, issued_at, expires_at, used_at)"
                " VALUES (?, ?, ?, ?, NULL)",
                (account_id, code_hash, now, expires_at),
            )
            return replaced

        return await self._write(body)

    async def check_enrolment_code(self, account_id: int, code_hash: str, now: float, spend: bool) -> EnrolmentCheck:
        """What the presented code (its hash) is at `now`; with `spend`, an `OK` code is used up in the same
        transaction (the conditional UPDATE lets one of two racing writers win)."""
        _check_code(code_hash, now)
        sql = "SELECT code_hash, expires_at, used_at FROM enrolment_codes WHERE account_id = ?"
        if not spend:
            return _judge(await self._read(sql, (account_id,)), code_hash, now)

        async def body(db: aiosqlite.Connection) -> EnrolmentCheck:
            found = _judge(list(await db.execute_fetchall(sql, (account_id,))), code_hash, now)
            if found is EnrolmentCheck.OK:
                async with db.execute(
                    "UPDATE enrolment_codes SET used_at = ? WHERE account_id = ? AND code_hash = ? AND used_at IS NULL",
                    (now, account_id, code_hash),
                ) as cursor:
                    if cursor.rowcount != 1:
                        return EnrolmentCheck.USED
            return found

        return await self._write(body)


def _check_code(code_hash: str, now: float) -> None:
    if not code_hash:
        raise ValueError("an enrolment code hash must not be empty")
    checks.check_finite("now", now)


def _usable(row: sqlite3.Row, now: float) -> bool:
    return row["used_at"] is None and now < row["expires_at"]


def _judge(rows: list[sqlite3.Row], code_hash: str, now: float) -> EnrolmentCheck:
    """The verdict on a code's hash against the account's row (if any)."""
    if not rows:
        return EnrolmentCheck.NONE
    row = rows[0]
    if row["code_hash"] != code_hash:
        return EnrolmentCheck.WRONG
    if row["used_at"] is not None:
        return EnrolmentCheck.USED
    if now >= row["expires_at"]:
        return EnrolmentCheck.EXPIRED
    return EnrolmentCheck.OK
