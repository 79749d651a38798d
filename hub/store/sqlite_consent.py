"""The embedded store's consent state: each camera's grant, the pilot's window and the admin's policy.

Every change takes counter + 1 from the shared version counter in its own transaction, so versions are strictly
increasing across all three (and the change marker moves). Pilots are numbered by run (`set_pilot` decides, in its
transaction, whether a window continues the current pilot or starts the next), and a grant records the run of the
pilot current when it was written, read in the same transaction.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace

import aiosqlite

from hub.consent.decision import Grant, Pilot
from hub.store import checks
from hub.store.base import Conflict, NotFound, Policy
from hub.store.consent_base import GRANT_CHANGED
from hub.store.pilot_runs import next_pilot
from hub.store.sqlite_plumbing import SqliteParts, bump, exists, first

_GRANT_COLUMNS = "camera_id, starts_at, ends_at, agencies, revoked_at, version, pilot_run, audio"
_PILOT_COLUMNS = "starts_at, ends_at, version, run, ended"


class SqliteConsent(SqliteParts):
    """Grants, the pilot and the policy of `SqliteStore`."""

    # -- grants ---------------------------------------------------------------------------------------

    async def get_grant(self, camera_id: str) -> Grant | None:
        """The camera's grant (live, expired or revoked), or None if it never opted in."""
        rows = await self._read(f"SELECT {_GRANT_COLUMNS} FROM grants WHERE camera_id = ?", (camera_id,))
        return grant_row(rows[0]) if rows else None

    async def list_grants(self) -> list[Grant]:
        """Every grant, revoked and expired ones included, by camera id."""
        rows = await self._read(f"SELECT {_GRANT_COLUMNS} FROM grants ORDER BY camera_id")
        return [grant_row(row) for row in rows]

    async def put_grant(
        self,
        camera_id: str,
        starts_at: float,
        ends_at: float,
        agencies: frozenset[str] | None,
        audio: bool = False,
        replacing: int | None = None,
    ) -> Grant:
        """Replace the camera's grant with a new, unrevoked one (new version) made in the pilot current now (its
        run, 0 if there is none), with audio only if `audio`; NotFound if no such camera; Conflict if `replacing`
        is given and the grant is no longer that version."""
        checks.check_window(starts_at, ends_at)
        encoded = None if agencies is None else json.dumps(sorted(agencies))

        async def body(db: aiosqlite.Connection) -> Grant:
            if not await exists(db, "SELECT 1 FROM cameras WHERE id = ?", (camera_id,)):
                raise NotFound(f"camera {camera_id!r} not found")
            if replacing is not None and not await exists(
                db, "SELECT 1 FROM grants WHERE camera_id = ? AND version = ?", (camera_id, replacing)
            ):
                raise Conflict(GRANT_CHANGED)
            pilot = await _current_pilot(db)
            run = 0 if pilot is None else pilot.run
            version = await bump(db)
            await db.execute(
                "INSERT OR REPLACE INTO grants"
                " (camera_id, starts_at, ends_at, agencies, revoked_at, version, pilot_run, audio)"
                " VALUES (?, ?, ?, ?, NULL, ?, ?, ?)",
                (camera_id, starts_at, ends_at, encoded, version, run, int(audio)),
            )
            return Grant(camera_id, starts_at, ends_at, agencies, None, version, run, audio)

        return await self._write(body)

    async def revoke_grant(self, camera_id: str, at: float) -> Grant | None:
        """Mark the grant withdrawn at `at` (new version); unchanged if already revoked; None if no grant."""
        checks.check_finite("at", at)

        async def body(db: aiosqlite.Connection) -> Grant | None:
            rows = await db.execute_fetchall(f"SELECT {_GRANT_COLUMNS} FROM grants WHERE camera_id = ?", (camera_id,))
            if not rows:
                return None
            grant = grant_row(first(rows))
            if grant.revoked_at is not None:
                return grant
            version = await bump(db)
            await db.execute(
                "UPDATE grants SET revoked_at = ?, version = ? WHERE camera_id = ?", (at, version, camera_id)
            )
            return replace(grant, revoked_at=at, version=version)

        return await self._write(body)

    async def set_grant_audio(self, camera_id: str, audio: bool, replacing: int | None = None) -> Grant | None:
        """Turn the grant's audio on or off (new version); unchanged if it already says so; None if no grant;
        Conflict if `replacing` is given and the grant is no longer that version."""

        async def body(db: aiosqlite.Connection) -> Grant | None:
            rows = await db.execute_fetchall(f"SELECT {_GRANT_COLUMNS} FROM grants WHERE camera_id = ?", (camera_id,))
            if not rows:
                return None
            grant = grant_row(first(rows))
            if replacing is not None and grant.version != replacing:
                raise Conflict(GRANT_CHANGED)
            if grant.audio == audio:
                return grant
            version = await bump(db)
            await db.execute(
                "UPDATE grants SET audio = ?, version = ? WHERE camera_id = ?", (int(audio), version, camera_id)
            )
            return replace(grant, audio=audio, version=version)

        return await self._write(body)

    # -- the pilot and the policy ---------------------------------------------------------------------

    async def get_pilot(self) -> Pilot | None:
        """The pilot's window, or None if an admin never set one."""
        rows = await self._read(f"SELECT {_PILOT_COLUMNS} FROM pilot WHERE id = 1")
        return pilot_row(rows[0]) if rows else None

    async def set_pilot(self, starts_at: float, ends_at: float, now: float) -> Pilot:
        """Set the pilot's window (new version) at the writer's time `now`.

        The window continues the current pilot's run if that pilot is not ended, `now` is before its end, and the
        window starts before that end (it extends, shortens or ends the running or scheduled pilot); otherwise it
        is a new pilot, with the next run (1 for the first), in which no grant made before counts. It is `ended`
        if `ends_at <= now` (an admin ending it now, or setting an end in the past).
        """
        checks.check_window(starts_at, ends_at)
        checks.check_finite("now", now)

        async def body(db: aiosqlite.Connection) -> Pilot:
            pilot = next_pilot(await _current_pilot(db), starts_at, ends_at, now)
            version = await bump(db)
            await db.execute(
                "INSERT OR REPLACE INTO pilot (id, starts_at, ends_at, version, run, ended) VALUES (1, ?, ?, ?, ?, ?)",
                (starts_at, ends_at, version, pilot.run, int(pilot.ended)),
            )
            return replace(pilot, version=version)

        return await self._write(body)

    async def get_policy(self) -> Policy:
        """The admin's limits; the configured default (version 0) until one is set."""
        rows = await self._read("SELECT max_grant_seconds, version FROM policy WHERE id = 1")
        if not rows:
            return Policy(self._default_max_grant_seconds, 0)
        return Policy(rows[0]["max_grant_seconds"], rows[0]["version"])

    async def set_policy(self, max_grant_seconds: float) -> Policy:
        """Set the cap on every opt-in's time box (new version); ValueError unless positive and finite."""
        checks.check_positive("max_grant_seconds", max_grant_seconds)

        async def body(db: aiosqlite.Connection) -> Policy:
            version = await bump(db)
            await db.execute(
                "INSERT OR REPLACE INTO policy (id, max_grant_seconds, version) VALUES (1, ?, ?)",
                (max_grant_seconds, version),
            )
            return Policy(max_grant_seconds, version)

        return await self._write(body)


async def _current_pilot(db: aiosqlite.Connection) -> Pilot | None:
    """The pilot as the write transaction sees it."""
    rows = await db.execute_fetchall(f"SELECT {_PILOT_COLUMNS} FROM pilot WHERE id = 1")
    return pilot_row(first(rows)) if rows else None


def grant_row(row: sqlite3.Row) -> Grant:
    return Grant(
        camera_id=row["camera_id"],
        starts_at=row["starts_at"],
        ends_at=row["ends_at"],
        agencies=decode_agencies(row["agencies"]),
        revoked_at=row["revoked_at"],
        version=row["version"],
        pilot_run=row["pilot_run"],
        audio=bool(row["audio"]),
    )


def pilot_row(row: sqlite3.Row) -> Pilot:
    return Pilot(row["starts_at"], row["ends_at"], row["version"], row["run"], bool(row["ended"]))


def decode_agencies(encoded: str | None) -> frozenset[str] | None:
    if encoded is None:
        return None
    value = json.loads(encoded)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError("grant agencies must be a JSON array of agency ids")
    return frozenset(value)
