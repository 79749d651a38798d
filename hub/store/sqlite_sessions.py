"""The embedded store's sessions (log-ins; only a token's hash is kept).

Ending a session, or every session of an account, moves the change marker (if there was one to end); recording
one, touching it, finishing its second factor and purging expired ones do not (an expired session already denies
by its expiry time).
"""

from __future__ import annotations

import sqlite3

import aiosqlite

from hub.store import checks
from hub.store.base import Conflict, NotFound, Session
from hub.store.sqlite_plumbing import SqliteParts, bump, check_account, exists, first

_SESSION_COLUMNS = "token_hash, account_id, created_at, expires_at, last_seen_at, mfa_pending"


class SqliteSessions(SqliteParts):
    """The sessions of `SqliteStore`."""

    # -- sessions -------------------------------------------------------------------------------------

    async def add_session(
        self, token_hash: str, account_id: int, now: float, expires_at: float, mfa_pending: bool = False
    ) -> Session:
        """Record a log-in, last seen `now` (`mfa_pending`: it may only enrol a second factor); NotFound for an
        unknown account, Conflict for a token hash already in use."""

        async def body(db: aiosqlite.Connection) -> Session:
            await check_account(db, account_id)
            if await exists(db, "SELECT 1 FROM sessions WHERE token_hash = ?", (token_hash,)):
                raise Conflict("session token already in use")
            await db.execute(
                f"INSERT INTO sessions ({_SESSION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                (token_hash, account_id, now, expires_at, now, int(mfa_pending)),
            )
            return Session(token_hash, account_id, now, expires_at, now, bool(mfa_pending))

        return await self._write(body)

    async def touch_session(self, token_hash: str, now: float) -> None:
        """Record a request seen with the session at `now`; it never moves back (a late request from another hub
        leaves a later time). Nothing if the session is unknown. The caller decides how often to call it."""
        checks.check_finite("now", now)

        async def body(db: aiosqlite.Connection) -> None:
            await db.execute(
                "UPDATE sessions SET last_seen_at = ? WHERE token_hash = ? AND coalesce(last_seen_at, created_at) < ?",
                (now, token_hash, now),
            )

        await self._write(body)

    async def finish_mfa(self, token_hash: str) -> Session:
        """The session's second factor is enrolled: it becomes a full session; NotFound if unknown. The change
        marker stays: a pending session has no officer pass to reload."""

        async def body(db: aiosqlite.Connection) -> Session:
            rows = await db.execute_fetchall(
                f"UPDATE sessions SET mfa_pending = 0 WHERE token_hash = ? RETURNING {_SESSION_COLUMNS}", (token_hash,)
            )
            if not rows:
                raise NotFound("session not found")
            return session_row(first(rows))

        return await self._write(body)

    async def delete_sessions_of(self, account_id: int) -> int:
        """End every session of an account, expired or not (it was disabled, its second factor reset); how many
        there were. The change marker moves if there was any; NotFound for an unknown account."""

        async def body(db: aiosqlite.Connection) -> int:
            await check_account(db, account_id)
            rows = await db.execute_fetchall(
                "DELETE FROM sessions WHERE account_id = ? RETURNING token_hash", (account_id,)
            )
            ended = len(list(rows))
            if ended:
                await bump(db)
            return ended

        return await self._write(body)

    async def get_session(self, token_hash: str) -> Session:
        """The session, expired or not; NotFound if unknown."""
        rows = await self._read(f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE token_hash = ?", (token_hash,))
        if not rows:
            raise NotFound("session not found")
        return session_row(rows[0])

    async def delete_session(self, token_hash: str) -> None:
        """End a session (log-out, or an admin ending it). Idempotent: an unknown token is not an error."""

        async def body(db: aiosqlite.Connection) -> None:
            rows = await db.execute_fetchall(
                "DELETE FROM sessions WHERE token_hash = ? RETURNING token_hash", (token_hash,)
            )
            if rows:
                await bump(db)

        await self._write(body)

    async def purge_sessions(self, now: float) -> int:
        """Delete sessions expired at `now` (expires_at <= now, as the gate sees them); how many went."""

        async def body(db: aiosqlite.Connection) -> int:
            rows = await db.execute_fetchall("DELETE FROM sessions WHERE expires_at <= ? RETURNING token_hash", (now,))
            return len(list(rows))

        return await self._write(body)


def session_row(row: sqlite3.Row) -> Session:
    """A session row; a NULL last_seen_at (a session from before schema version 2) reads as created_at."""
    last_seen_at = row["last_seen_at"]
    return Session(
        token_hash=row["token_hash"],
        account_id=row["account_id"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        last_seen_at=row["created_at"] if last_seen_at is None else last_seen_at,
        mfa_pending=bool(row["mfa_pending"]),
    )
