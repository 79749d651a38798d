"""The embedded store's bars (`hub.store.view_bars_base.ViewBarStore`): the `view_bars` table, one row per camera
and officer's account, holding for the grant whose `starts_at` it names. A bar takes a version from the shared
counter (the change marker moves: every hub reloads and refuses the officer)."""

from __future__ import annotations

import sqlite3

import aiosqlite

from hub.store import checks
from hub.store.sqlite_plumbing import SqliteParts, bump, check_account
from hub.store.view_bars_base import ViewBar

_UPSERT = (
    "INSERT INTO view_bars (camera_id, account_id, grant_starts_at, at, until) VALUES (?, ?, ?, ?, ?)"
    " ON CONFLICT (camera_id, account_id) DO UPDATE SET grant_starts_at = excluded.grant_starts_at,"
    " at = excluded.at, until = excluded.until"
)


class SqliteViewBars(SqliteParts):
    """Bars on officers whose views a camera's owner stopped, of `SqliteStore`."""

    async def bar_viewer(self, camera_id: str, account_id: int, at: float) -> ViewBar | None:
        """Bar the account from the camera until its current grant is replaced or ends (read in the same
        transaction); None, nothing written, without a grant live at `at`; NotFound for an unknown account."""
        checks.check_finite("at", at)

        async def body(db: aiosqlite.Connection) -> ViewBar | None:
            await check_account(db, account_id)
            sql = "SELECT starts_at, ends_at, revoked_at FROM grants WHERE camera_id = ?"
            rows = list(await db.execute_fetchall(sql, (camera_id,)))
            if not rows or rows[0]["revoked_at"] is not None or rows[0]["ends_at"] <= at:
                return None
            starts_at, until = float(rows[0]["starts_at"]), float(rows[0]["ends_at"])
            # Bars of ended grants, and of this camera's earlier grants, go as new ones come.
            await db.execute(
                "DELETE FROM view_bars WHERE until <= ? OR (camera_id = ? AND grant_starts_at != ?)",
                (at, camera_id, starts_at),
            )
            await bump(db)
            await db.execute(_UPSERT, (camera_id, account_id, starts_at, at, until))
            return ViewBar(camera_id, account_id, starts_at, at, until)

        return await self._write(body)

    async def list_view_bars(self, now: float) -> list[ViewBar]:
        """Every bar kept at `now`, by camera and account."""
        rows = await self._read(
            "SELECT camera_id, account_id, grant_starts_at, at, until FROM view_bars WHERE until > ?"
            " ORDER BY camera_id, account_id",
            (now,),
        )
        return [_bar(row) for row in rows]


def _bar(row: sqlite3.Row) -> ViewBar:
    return ViewBar(
        camera_id=row["camera_id"],
        account_id=int(row["account_id"]),
        grant_starts_at=float(row["grant_starts_at"]),
        at=float(row["at"]),
        until=float(row["until"]),
    )
