"""The embedded store: one SQLite file, opened through aiosqlite.

One hub needs no server: everything lives in a single file opened in WAL mode, so the admin CLI (another
process) can write while the hub reads. `synchronous=FULL` makes every commit durable before the call returns:
a withdrawal the resident saw acknowledged survives a crash.

Every method is one transaction. Writes run under `BEGIN IMMEDIATE`, which takes SQLite's write lock before
reading, so a read-modify-write (the version counter above all) cannot interleave with another process.
Within this process an asyncio lock keeps coroutines from sharing the connection's transaction, and a write
that has started runs to its end even if its caller is cancelled (see `_write`).

Grants, the pilot and the policy share one version counter (`counters`, row "version"): each consent write
takes counter + 1 in its own transaction, so versions are strictly increasing across all three. Other
consent-relevant changes (an account disabled or enabled, a camera added, re-keyed or moved, a session
deleted, an account's sessions ended) bump the same counter, which makes it the store's `change_marker`. Log-in
bookkeeping (failed log-ins, the lock, the TOTP second factor, a session's last-seen time and MFA state) does not,
nor do officers' access requests (an approval opens nothing by itself: its grant is written through `put_grant`):
the gate depends on none of it.

The file's schema is brought up to date when it is opened (see `hub.store.sqlite_schema`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import aiosqlite

from hub.consent.decision import Grant, Pilot
from hub.store import checks, sqlite_rows
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
    StoreUnavailable,
)
from hub.store.sqlite_file import open_file
from hub.store.sqlite_schema import MIGRATIONS, SCHEMA, SCHEMA_VERSION

log = logging.getLogger(__name__)

_T = TypeVar("_T")
_Params = Sequence[object]

_BUSY_TIMEOUT_SECONDS = 5.0


_ACCOUNT_COLUMNS = "id, username, role, agency_id, disabled, created_at, locked, totp_enrolled"
_SESSION_COLUMNS = "token_hash, account_id, created_at, expires_at, last_seen_at, mfa_pending"
_CAMERA_COLUMNS = "id, owner_id, name, created_at, lat, lon"
_REQUEST_COLUMNS = (
    "id, camera_id, account_id, agency_id, case_number, reason, duration_seconds, urgent, created_at, expires_at,"
    " state, answered_at"
)


class SqliteStore:
    """`hub.store.base.Store` on one SQLite file. Open with `await SqliteStore.open(path, ...)`."""

    def __init__(self, db: aiosqlite.Connection, default_max_grant_seconds: float) -> None:
        self._db = db
        self._default_max_grant_seconds = default_max_grant_seconds
        self._lock = asyncio.Lock()
        self._closed = False

    @classmethod
    async def open(cls, path: Path, *, default_max_grant_seconds: float) -> SqliteStore:
        """Open (creating it and its parent directories if missing) the store file at `path`.

        `default_max_grant_seconds` is the policy's cap until an admin sets one.
        """
        checks.check_positive("default_max_grant_seconds", default_max_grant_seconds)
        # Each write opens its own transaction with BEGIN IMMEDIATE.
        db = await open_file(
            path,
            label=f"store {path}",
            busy_timeout=_BUSY_TIMEOUT_SECONDS,
            schema=SCHEMA,
            schema_version=SCHEMA_VERSION,
            foreign_keys=True,
        )
        try:
            await _migrate(db, label=f"store {path}")
        except BaseException:
            await db.close()
            raise
        db.row_factory = sqlite3.Row
        return cls(db, default_max_grant_seconds)

    async def close(self) -> None:
        """Wait for a running write to finish, then close the file. Closing twice is harmless."""
        async with self._lock:
            if not self._closed:
                self._closed = True
                await self._db.close()

    # -- plumbing -------------------------------------------------------------------------------------

    async def _read(self, sql: str, params: _Params = ()) -> list[sqlite3.Row]:
        """One statement outside any transaction: a fresh snapshot that sees other processes' commits."""
        async with self._lock:
            with _answering():
                return list(await self._db.execute_fetchall(sql, params))

    async def _write(self, body: Callable[[aiosqlite.Connection], Awaitable[_T]]) -> _T:
        """Run `body` as one `BEGIN IMMEDIATE` transaction.

        Shielded: a caller cancelled mid-way must not leave the shared connection inside an open transaction,
        so once started the transaction commits or rolls back on its own.
        """
        with _answering():
            return await asyncio.shield(self._transaction(body))

    async def _transaction(self, body: Callable[[aiosqlite.Connection], Awaitable[_T]]) -> _T:
        async with self._lock:
            db = self._db
            await db.execute("BEGIN IMMEDIATE")
            try:
                result = await body(db)
            except BaseException:
                # SQLite may already have rolled back (disk full, I/O error); a second ROLLBACK would raise
                # and hide the original error.
                if db.in_transaction:
                    await db.execute("ROLLBACK")
                raise
            await db.execute("COMMIT")
            return result

    # -- change feed ----------------------------------------------------------------------------------

    async def change_marker(self) -> int:
        """The shared version counter, read fresh from the file.

        It grows with every consent-relevant write (grants, pilot, policy, an account disabled or enabled, a
        camera added, given a new device token or moved, a session deleted, an account's sessions ended), whether
        this store or another process on the same file (the admin CLI) wrote it. The hub polls it and reloads
        when it moved. Purging expired sessions does not bump it: those sessions already deny by their expiry
        time.
        """
        rows = await self._read("SELECT value FROM counters WHERE name = 'version'")
        return int(rows[0]["value"])

    # -- agencies and accounts ------------------------------------------------------------------------

    async def add_agency(self, agency_id: str, name: str) -> Agency:
        """Add an agency; Conflict if the id is taken."""

        async def body(db: aiosqlite.Connection) -> Agency:
            if await _exists(db, "SELECT 1 FROM agencies WHERE id = ?", (agency_id,)):
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
            if await _exists(db, "SELECT 1 FROM accounts WHERE username = ?", (username,)):
                raise Conflict(f"username {username!r} is taken")
            rows = await db.execute_fetchall(
                "INSERT INTO accounts (username, password_hash, role, agency_id, disabled, created_at)"
                f" VALUES (?, ?, ?, ?, 0, ?) RETURNING {_ACCOUNT_COLUMNS}",
                (username, password_hash, role.value, agency_id, time.time()),
            )
            return sqlite_rows.account(sqlite_rows.first(rows))

        return await self._write(body)

    async def get_account(self, account_id: int) -> Account:
        """The account; NotFound if unknown."""
        rows = await self._read(f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE id = ?", (account_id,))
        if not rows:
            raise NotFound(f"account {account_id} not found")
        return sqlite_rows.account(rows[0])

    async def find_account(self, username: str) -> tuple[Account, str]:
        """The account and its password hash; NotFound if no such username."""
        rows = await self._read(
            f"SELECT {_ACCOUNT_COLUMNS}, password_hash FROM accounts WHERE username = ?", (username,)
        )
        if not rows:
            raise NotFound("no account with that username")
        return sqlite_rows.account(rows[0]), str(rows[0]["password_hash"])

    async def list_accounts(self) -> list[Account]:
        """Every account, by id."""
        rows = await self._read(f"SELECT {_ACCOUNT_COLUMNS} FROM accounts ORDER BY id")
        return [sqlite_rows.account(row) for row in rows]

    async def set_account_disabled(self, account_id: int, disabled: bool) -> Account:
        """Disable or enable an account (the change marker moves if the flag changed); NotFound if unknown."""

        async def body(db: aiosqlite.Connection) -> Account:
            rows = await db.execute_fetchall(f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE id = ?", (account_id,))
            if not rows:
                raise NotFound(f"account {account_id} not found")
            before = sqlite_rows.account(sqlite_rows.first(rows))
            if before.disabled == disabled:
                return before
            rows = await db.execute_fetchall(
                f"UPDATE accounts SET disabled = ? WHERE id = ? RETURNING {_ACCOUNT_COLUMNS}",
                (int(disabled), account_id),
            )
            await _bump(db)
            return sqlite_rows.account(sqlite_rows.first(rows))

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

    # -- log-in lock-out and the second factor ----------------------------------------------------------

    async def record_login_failure(self, account_id: int, now: float, window: float) -> int:
        """Count a failed log-in at `now`; how many the account had in (now - window, now], this one included.
        Failures older than the window, any account's, are deleted on the way. NotFound for an unknown account."""
        checks.check_finite("now", now)
        checks.check_positive("window", window)
        since = now - window

        async def body(db: aiosqlite.Connection) -> int:
            await _check_account(db, account_id)
            await db.execute("DELETE FROM login_failures WHERE at <= ?", (since,))
            await db.execute("INSERT INTO login_failures (account_id, at) VALUES (?, ?)", (account_id, now))
            rows = await db.execute_fetchall(
                "SELECT count(*) AS failures FROM login_failures WHERE account_id = ? AND at > ? AND at <= ?",
                (account_id, since, now),
            )
            return int(sqlite_rows.first(rows)["failures"])

        return await self._write(body)

    async def clear_login_failures(self, account_id: int) -> None:
        """Forget an account's failed log-ins (it logged in); NotFound if unknown."""

        async def body(db: aiosqlite.Connection) -> None:
            await _check_account(db, account_id)
            await db.execute("DELETE FROM login_failures WHERE account_id = ?", (account_id,))

        await self._write(body)

    async def set_account_locked(self, account_id: int, locked: bool) -> Account:
        """Lock or unlock an account; unlocking also forgets its failed log-ins. NotFound if unknown."""

        async def body(db: aiosqlite.Connection) -> Account:
            rows = await db.execute_fetchall(
                f"UPDATE accounts SET locked = ? WHERE id = ? RETURNING {_ACCOUNT_COLUMNS}", (int(locked), account_id)
            )
            if not rows:
                raise NotFound(f"account {account_id} not found")
            if not locked:
                await db.execute("DELETE FROM login_failures WHERE account_id = ?", (account_id,))
            return sqlite_rows.account(sqlite_rows.first(rows))

        return await self._write(body)

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
            return sqlite_rows.account(sqlite_rows.first(rows))

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
                await _check_account(db, account_id)
            return accepted

        return await self._write(body)

    # -- sessions -------------------------------------------------------------------------------------

    async def add_session(
        self, token_hash: str, account_id: int, now: float, expires_at: float, mfa_pending: bool = False
    ) -> Session:
        """Record a log-in, last seen `now` (`mfa_pending`: it may only enrol a second factor); NotFound for an
        unknown account, Conflict for a token hash already in use."""

        async def body(db: aiosqlite.Connection) -> Session:
            await _check_account(db, account_id)
            if await _exists(db, "SELECT 1 FROM sessions WHERE token_hash = ?", (token_hash,)):
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
            return sqlite_rows.session(sqlite_rows.first(rows))

        return await self._write(body)

    async def delete_sessions_of(self, account_id: int) -> int:
        """End every session of an account, expired or not (it was disabled, its second factor reset); how many
        there were. The change marker moves if there was any; NotFound for an unknown account."""

        async def body(db: aiosqlite.Connection) -> int:
            await _check_account(db, account_id)
            rows = await db.execute_fetchall(
                "DELETE FROM sessions WHERE account_id = ? RETURNING token_hash", (account_id,)
            )
            ended = len(list(rows))
            if ended:
                await _bump(db)
            return ended

        return await self._write(body)

    async def get_session(self, token_hash: str) -> Session:
        """The session, expired or not; NotFound if unknown."""
        rows = await self._read(f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE token_hash = ?", (token_hash,))
        if not rows:
            raise NotFound("session not found")
        return sqlite_rows.session(rows[0])

    async def delete_session(self, token_hash: str) -> None:
        """End a session (log-out, or an admin ending it). Idempotent: an unknown token is not an error."""

        async def body(db: aiosqlite.Connection) -> None:
            rows = await db.execute_fetchall(
                "DELETE FROM sessions WHERE token_hash = ? RETURNING token_hash", (token_hash,)
            )
            if rows:
                await _bump(db)

        await self._write(body)

    async def purge_sessions(self, now: float) -> int:
        """Delete sessions expired at `now` (expires_at <= now, as the gate sees them); how many went."""

        async def body(db: aiosqlite.Connection) -> int:
            rows = await db.execute_fetchall("DELETE FROM sessions WHERE expires_at <= ? RETURNING token_hash", (now,))
            return len(list(rows))

        return await self._write(body)

    # -- cameras --------------------------------------------------------------------------------------

    async def add_camera(
        self, camera_id: str, owner_id: int, name: str, token_hash: str, location: tuple[float, float] | None = None
    ) -> Camera:
        """Register a camera, at `location` (lat, lon) if given; NotFound for an unknown owner, Conflict for a taken
        id or device token, ValueError for a position off the globe."""
        lat, lon = checks.check_location(location) or (None, None)

        async def body(db: aiosqlite.Connection) -> Camera:
            await _check_account(db, owner_id)
            if await _exists(db, "SELECT 1 FROM cameras WHERE id = ?", (camera_id,)):
                raise Conflict(f"camera {camera_id!r} already exists")
            await _check_token_free(db, token_hash)
            camera = Camera(camera_id, owner_id, name, time.time(), lat, lon)
            await db.execute(
                "INSERT INTO cameras (id, owner_id, name, token_hash, created_at, lat, lon)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (camera_id, owner_id, name, token_hash, camera.created_at, lat, lon),
            )
            await _bump(db)
            return camera

        return await self._write(body)

    async def set_camera_location(self, camera_id: str, location: tuple[float, float] | None) -> Camera:
        """Move a camera to `location` (lat, lon), or None to hide its position; the change marker moves if it
        changed (the officers' map follows). NotFound if unknown, ValueError for a position off the globe."""
        lat, lon = checks.check_location(location) or (None, None)

        async def body(db: aiosqlite.Connection) -> Camera:
            rows = await db.execute_fetchall(f"SELECT {_CAMERA_COLUMNS} FROM cameras WHERE id = ?", (camera_id,))
            if not rows:
                raise NotFound(f"camera {camera_id!r} not found")
            before = sqlite_rows.camera(sqlite_rows.first(rows))
            if (before.lat, before.lon) == (lat, lon):
                return before
            rows = await db.execute_fetchall(
                f"UPDATE cameras SET lat = ?, lon = ? WHERE id = ? RETURNING {_CAMERA_COLUMNS}", (lat, lon, camera_id)
            )
            await _bump(db)
            return sqlite_rows.camera(sqlite_rows.first(rows))

        return await self._write(body)

    async def get_camera(self, camera_id: str) -> Camera:
        """The camera; NotFound if unknown."""
        rows = await self._read(f"SELECT {_CAMERA_COLUMNS} FROM cameras WHERE id = ?", (camera_id,))
        if not rows:
            raise NotFound(f"camera {camera_id!r} not found")
        return sqlite_rows.camera(rows[0])

    async def list_cameras(self, owner_id: int | None = None) -> list[Camera]:
        """Every camera, or only `owner_id`'s, by id."""
        if owner_id is None:
            rows = await self._read(f"SELECT {_CAMERA_COLUMNS} FROM cameras ORDER BY id")
        else:
            rows = await self._read(
                f"SELECT {_CAMERA_COLUMNS} FROM cameras WHERE owner_id = ? ORDER BY id", (owner_id,)
            )
        return [sqlite_rows.camera(row) for row in rows]

    async def camera_for_token(self, token_hash: str) -> Camera:
        """The camera whose device token hashes to `token_hash`; NotFound otherwise."""
        rows = await self._read(f"SELECT {_CAMERA_COLUMNS} FROM cameras WHERE token_hash = ?", (token_hash,))
        if not rows:
            raise NotFound("no camera has that device token")
        return sqlite_rows.camera(rows[0])

    async def set_device_token(self, camera_id: str, token_hash: str) -> None:
        """Give a camera a new device token (the old one stops working); bumps the change marker."""

        async def body(db: aiosqlite.Connection) -> None:
            if not await _exists(db, "SELECT 1 FROM cameras WHERE id = ?", (camera_id,)):
                raise NotFound(f"camera {camera_id!r} not found")
            await _check_token_free(db, token_hash, except_camera=camera_id)
            await db.execute("UPDATE cameras SET token_hash = ? WHERE id = ?", (token_hash, camera_id))
            await _bump(db)

        await self._write(body)

    # -- consent ----------------------------------------------------------------------------------------

    async def get_grant(self, camera_id: str) -> Grant | None:
        """The camera's grant (live, expired or revoked), or None if it never opted in."""
        rows = await self._read(
            "SELECT camera_id, starts_at, ends_at, agencies, revoked_at, version FROM grants WHERE camera_id = ?",
            (camera_id,),
        )
        return sqlite_rows.grant(rows[0]) if rows else None

    async def list_grants(self) -> list[Grant]:
        """Every grant, revoked and expired ones included, by camera id."""
        rows = await self._read(
            "SELECT camera_id, starts_at, ends_at, agencies, revoked_at, version FROM grants ORDER BY camera_id"
        )
        return [sqlite_rows.grant(row) for row in rows]

    async def put_grant(
        self, camera_id: str, starts_at: float, ends_at: float, agencies: frozenset[str] | None
    ) -> Grant:
        """Replace the camera's grant with a new, unrevoked one (new version); NotFound if no such camera."""
        checks.check_window(starts_at, ends_at)
        encoded = None if agencies is None else json.dumps(sorted(agencies))

        async def body(db: aiosqlite.Connection) -> Grant:
            if not await _exists(db, "SELECT 1 FROM cameras WHERE id = ?", (camera_id,)):
                raise NotFound(f"camera {camera_id!r} not found")
            version = await _bump(db)
            await db.execute(
                "INSERT OR REPLACE INTO grants (camera_id, starts_at, ends_at, agencies, revoked_at, version)"
                " VALUES (?, ?, ?, ?, NULL, ?)",
                (camera_id, starts_at, ends_at, encoded, version),
            )
            return Grant(camera_id, starts_at, ends_at, agencies, None, version)

        return await self._write(body)

    async def revoke_grant(self, camera_id: str, at: float) -> Grant | None:
        """Mark the grant withdrawn at `at` (new version); unchanged if already revoked; None if no grant."""
        checks.check_finite("at", at)

        async def body(db: aiosqlite.Connection) -> Grant | None:
            rows = await db.execute_fetchall(
                "SELECT camera_id, starts_at, ends_at, agencies, revoked_at, version FROM grants WHERE camera_id = ?",
                (camera_id,),
            )
            if not rows:
                return None
            grant = sqlite_rows.grant(sqlite_rows.first(rows))
            if grant.revoked_at is not None:
                return grant
            version = await _bump(db)
            await db.execute(
                "UPDATE grants SET revoked_at = ?, version = ? WHERE camera_id = ?", (at, version, camera_id)
            )
            return Grant(grant.camera_id, grant.starts_at, grant.ends_at, grant.agencies, at, version)

        return await self._write(body)

    # -- access requests ------------------------------------------------------------------------------
    # Not consent: the change marker stays. An approval opens nothing by itself; the grant it leads to is written
    # through put_grant.

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
        """A new pending request for the agency the officer belongs to now (read in the same transaction); NotFound
        for an unknown camera or account, ValueError for a duration that is not positive or a time not finite."""
        checks.check_positive("duration_seconds", duration_seconds)
        checks.check_finite("now", now)
        checks.check_finite("expires_at", expires_at)

        async def body(db: aiosqlite.Connection) -> AccessRequest:
            if not await _exists(db, "SELECT 1 FROM cameras WHERE id = ?", (camera_id,)):
                raise NotFound(f"camera {camera_id!r} not found")
            rows = list(await db.execute_fetchall("SELECT agency_id FROM accounts WHERE id = ?", (account_id,)))
            if not rows:
                raise NotFound(f"account {account_id} not found")
            rows = list(
                await db.execute_fetchall(
                    "INSERT INTO access_requests (camera_id, account_id, agency_id, case_number, reason,"
                    " duration_seconds, urgent, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    f" RETURNING {_REQUEST_COLUMNS}",
                    (
                        camera_id,
                        account_id,
                        rows[0]["agency_id"],
                        case_number,
                        reason,
                        duration_seconds,
                        int(bool(urgent)),
                        now,
                        expires_at,
                    ),
                )
            )
            return sqlite_rows.access_request(sqlite_rows.first(rows))

        return await self._write(body)

    async def get_access_request(self, request_id: int) -> AccessRequest:
        """The request, whatever its state; NotFound if unknown."""
        rows = await self._read(f"SELECT {_REQUEST_COLUMNS} FROM access_requests WHERE id = ?", (request_id,))
        if not rows:
            raise NotFound(f"access request {request_id} not found")
        return sqlite_rows.access_request(rows[0])

    async def list_access_requests(
        self, camera_id: str | None = None, account_id: int | None = None
    ) -> list[AccessRequest]:
        """Requests, newest (the last made: highest id) first, of one camera and/or one officer if given."""
        where, params = _request_filter(camera_id, account_id)
        rows = await self._read(f"SELECT {_REQUEST_COLUMNS} FROM access_requests{where} ORDER BY id DESC", params)
        return [sqlite_rows.access_request(row) for row in rows]

    async def answer_access_request(self, request_id: int, state: RequestState, now: float) -> AccessRequest:
        """Approve or decline a pending request at `now`: one conditional UPDATE (still pending, `now` before
        expires_at), so of two hubs answering at once exactly one succeeds. Conflict if it was answered or has
        expired (a pending request past expires_at is left for `expire_access_requests`), NotFound if unknown,
        ValueError for any other state."""
        state = _answer_state(state)
        checks.check_finite("now", now)

        async def body(db: aiosqlite.Connection) -> AccessRequest:
            rows = list(
                await db.execute_fetchall(
                    "UPDATE access_requests SET state = ?, answered_at = ?"
                    " WHERE id = ? AND state = 'pending' AND ? < expires_at"
                    f" RETURNING {_REQUEST_COLUMNS}",
                    (state.value, now, request_id, now),
                )
            )
            if rows:
                return sqlite_rows.access_request(rows[0])
            rows = list(await db.execute_fetchall("SELECT state FROM access_requests WHERE id = ?", (request_id,)))
            if not rows:
                raise NotFound(f"access request {request_id} not found")
            raise _unanswerable(request_id, RequestState(rows[0]["state"]))

        return await self._write(body)

    async def expire_access_requests(self, now: float) -> list[AccessRequest]:
        """Mark every pending request with expires_at <= now expired, answered at its expires_at: one conditional
        UPDATE, so each is expired (and returned) once, whichever hub asks first. The ones this call expired,
        by id."""
        checks.check_finite("now", now)

        async def body(db: aiosqlite.Connection) -> list[AccessRequest]:
            rows = await db.execute_fetchall(
                "UPDATE access_requests SET state = 'expired', answered_at = expires_at"
                f" WHERE state = 'pending' AND expires_at <= ? RETURNING {_REQUEST_COLUMNS}",
                (now,),
            )
            return sorted((sqlite_rows.access_request(row) for row in rows), key=lambda r: r.id)

        return await self._write(body)

    async def get_pilot(self) -> Pilot | None:
        """The pilot's window, or None if an admin never set one."""
        rows = await self._read("SELECT starts_at, ends_at, version FROM pilot WHERE id = 1")
        if not rows:
            return None
        return Pilot(rows[0]["starts_at"], rows[0]["ends_at"], rows[0]["version"])

    async def set_pilot(self, starts_at: float, ends_at: float) -> Pilot:
        """Set the pilot's window (new version)."""
        checks.check_window(starts_at, ends_at)

        async def body(db: aiosqlite.Connection) -> Pilot:
            version = await _bump(db)
            await db.execute(
                "INSERT OR REPLACE INTO pilot (id, starts_at, ends_at, version) VALUES (1, ?, ?, ?)",
                (starts_at, ends_at, version),
            )
            return Pilot(starts_at, ends_at, version)

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
            version = await _bump(db)
            await db.execute(
                "INSERT OR REPLACE INTO policy (id, max_grant_seconds, version) VALUES (1, ?, ?)",
                (max_grant_seconds, version),
            )
            return Policy(max_grant_seconds, version)

        return await self._write(body)


@contextlib.contextmanager
def _answering() -> Iterator[None]:
    """A file still locked by another writer after the busy timeout, or a disk error: `StoreUnavailable`."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        message = str(exc).lower()
        if "database is locked" in message or "disk i/o error" in message:
            raise StoreUnavailable(f"the store file did not answer: {exc}") from exc
        raise


# -- transaction helpers ------------------------------------------------------------------------------


async def _exists(db: aiosqlite.Connection, sql: str, params: _Params) -> bool:
    return bool(list(await db.execute_fetchall(sql, params)))


async def _migrate(db: aiosqlite.Connection, *, label: str) -> None:
    """Bring the file to SCHEMA_VERSION: one BEGIN IMMEDIATE transaction reads its version, runs the migrations
    it lacks and records the new version (see `hub.store.sqlite_schema`)."""
    await db.execute("BEGIN IMMEDIATE")
    try:
        rows = list(await db.execute_fetchall("PRAGMA user_version"))
        found = int(rows[0][0])
        if found > SCHEMA_VERSION:
            raise RuntimeError(f"{label} schema version {found} is newer than this hub's ({SCHEMA_VERSION})")
        # 0: a new file, which SCHEMA has just created in the shape of version 1.
        for statements in MIGRATIONS[max(found, 1) - 1 :]:
            for statement in statements:
                await db.execute(statement)
        if found != SCHEMA_VERSION:
            await db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except BaseException:
        if db.in_transaction:
            await db.execute("ROLLBACK")
        raise
    await db.execute("COMMIT")
    if 0 < found < SCHEMA_VERSION:
        log.info("%s: schema migrated from version %d to %d", label, found, SCHEMA_VERSION)


async def _check_account(db: aiosqlite.Connection, account_id: int) -> None:
    if not await _exists(db, "SELECT 1 FROM accounts WHERE id = ?", (account_id,)):
        raise NotFound(f"account {account_id} not found")


async def _bump(db: aiosqlite.Connection) -> int:
    """Take the next version from the shared counter; call only inside a write transaction."""
    rows = await db.execute_fetchall("UPDATE counters SET value = value + 1 WHERE name = 'version' RETURNING value")
    return int(sqlite_rows.first(rows)["value"])


async def _check_agency_rule(db: aiosqlite.Connection, role: Role, agency_id: str | None) -> None:
    checks.check_account_agency(role, agency_id)
    if agency_id is None:
        return
    if not await _exists(db, "SELECT 1 FROM agencies WHERE id = ?", (agency_id,)):
        raise ValueError(f"an officer account needs an existing agency; {agency_id!r} is unknown")


def _request_filter(camera_id: str | None, account_id: int | None) -> tuple[str, list[object]]:
    """A WHERE clause (or "") and its parameters for listing access requests."""
    clauses: list[str] = []
    params: list[object] = []
    if camera_id is not None:
        clauses.append("camera_id = ?")
        params.append(camera_id)
    if account_id is not None:
        clauses.append("account_id = ?")
        params.append(account_id)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _answer_state(state: RequestState) -> RequestState:
    """An answer is an approval or a decline; ValueError otherwise."""
    state = RequestState(state)
    if state not in (RequestState.APPROVED, RequestState.DECLINED):
        raise ValueError("an access request is answered by approving or declining it")
    return state


def _unanswerable(request_id: int, state: RequestState) -> Conflict:
    """Why a request cannot be answered: it already was, or it has expired (pending, but past expires_at)."""
    if state in (RequestState.APPROVED, RequestState.DECLINED):
        return Conflict(f"access request {request_id} was already {state.value}")
    return Conflict(f"access request {request_id} has expired")


async def _check_token_free(db: aiosqlite.Connection, token_hash: str, except_camera: str | None = None) -> None:
    rows = list(await db.execute_fetchall("SELECT id FROM cameras WHERE token_hash = ?", (token_hash,)))
    if rows and rows[0]["id"] != except_camera:
        raise Conflict("that device token is already in use")


if TYPE_CHECKING:

    def _implements_store(store: SqliteStore) -> Store:
        # mypy proves here that SqliteStore satisfies the Store protocol.
        return store
