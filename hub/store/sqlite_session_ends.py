"""The embedded store's notes of how sessions ended (`hub.store.session_ends_base.SessionEndStore`): the
`session_ends` table, one row per ended session's token hash, forgotten once its `keep_until` passed. Log-in
bookkeeping: the change marker does not move."""

from __future__ import annotations

import aiosqlite

from hub.store import checks
from hub.store.session_ends_base import EndedBecause, SessionEnd
from hub.store.sqlite_plumbing import SqliteParts

_UPSERT = (
    "INSERT INTO session_ends (token_hash, why, at, keep_until) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (token_hash) DO UPDATE SET why = excluded.why, at = excluded.at, keep_until = excluded.keep_until"
)


class SqliteSessionEnds(SqliteParts):
    """Notes of how sessions ended, of `SqliteStore`."""

    async def note_session_end(self, token_hash: str, why: EndedBecause, at: float, keep_until: float) -> None:
        """Note how the session with this token hash ended (replacing an earlier note), kept until `keep_until`."""
        _check(token_hash, at, keep_until)

        async def body(db: aiosqlite.Connection) -> None:
            await db.execute("DELETE FROM session_ends WHERE keep_until <= ?", (at,))  # old notes go as new come
            await db.execute(_UPSERT, (token_hash, EndedBecause(why).value, at, keep_until))

        await self._write(body)

    async def note_session_ends_of(self, account_id: int, why: EndedBecause, at: float, keep_until: float) -> int:
        """Note the end of every session the account has now (call it before they are deleted); how many."""
        _check("-", at, keep_until)

        async def body(db: aiosqlite.Connection) -> int:
            sql = "SELECT token_hash FROM sessions WHERE account_id = ?"
            rows = list(await db.execute_fetchall(sql, (account_id,)))
            for row in rows:
                await db.execute(_UPSERT, (row["token_hash"], EndedBecause(why).value, at, keep_until))
            return len(rows)

        return await self._write(body)

    async def session_end(self, token_hash: str, now: float) -> SessionEnd | None:
        """How the session with this token hash ended, if a note is kept at `now`."""
        rows = await self._read(
            "SELECT why, at FROM session_ends WHERE token_hash = ? AND keep_until > ?", (token_hash, now)
        )
        if not rows:
            return None
        return SessionEnd(EndedBecause(rows[0]["why"]), float(rows[0]["at"]))


def _check(token_hash: str, at: float, keep_until: float) -> None:
    if not token_hash:
        raise ValueError("token_hash must not be empty")
    checks.check_finite("at", at)
    checks.check_finite("keep_until", keep_until)
