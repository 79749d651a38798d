"""The embedded store: one SQLite file, opened through aiosqlite.

One hub needs no server: everything lives in a single file opened in WAL mode, so the admin CLI (another
process) can write while the hub reads. `synchronous=FULL` makes every commit durable before the call returns:
a withdrawal the resident saw acknowledged survives a crash.

Every method is one transaction. Writes run under `BEGIN IMMEDIATE`, which takes SQLite's write lock before
reading, so a read-modify-write (the version counter above all) cannot interleave with another process.
Within this process an asyncio lock keeps coroutines from sharing the connection's transaction, and a write
that has started runs to its end even if its caller is cancelled (see `_write`).

Grants, the pilot, the policy and cameras' privacy masks share one version counter (`counters`, row "version"):
each such write takes counter + 1 in its own transaction, so versions are strictly increasing across all four.
Other consent-relevant changes (an account disabled or enabled, a camera added, re-keyed or moved, a session
deleted, an account's sessions ended) bump the same counter, which makes it the store's `change_marker`. Log-in
bookkeeping (failed log-ins, the TOTP second factor, a session's last-seen time and MFA state) does not,
nor do officers' access requests (an approval opens nothing by itself: its grant is written through `put_grant`):
the gate depends on none of it.

The file's schema is brought up to date when it is opened (see `hub.store.sqlite_schema`).

`SqliteStore`, here, holds the file, the transaction plumbing and the change marker; its other methods come, one
concern per module, from mixins on the base in `hub.store.sqlite_plumbing`: `hub.store.sqlite_accounts`
(agencies, accounts, failed log-ins and TOTP), `hub.store.sqlite_sessions`, `hub.store.sqlite_cameras`,
`hub.store.sqlite_consent` (grants, the pilot, the policy), `hub.store.sqlite_requests` (access requests) and
`hub.store.sqlite_enrolment` (one-time enrolment codes for the second factor).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import aiosqlite

from hub.store import checks
from hub.store.base import Store, StoreUnavailable
from hub.store.sqlite_accounts import SqliteAccounts
from hub.store.sqlite_cameras import SqliteCameras
from hub.store.sqlite_consent import SqliteConsent
from hub.store.sqlite_enrolment import SqliteEnrolment
from hub.store.sqlite_file import open_file, open_reader
from hub.store.sqlite_plumbing import Params
from hub.store.sqlite_push import SqlitePush
from hub.store.sqlite_requests import SqliteRequests
from hub.store.sqlite_schema import MIGRATIONS, SCHEMA, SCHEMA_VERSION
from hub.store.sqlite_session_ends import SqliteSessionEnds
from hub.store.sqlite_sessions import SqliteSessions
from hub.store.sqlite_view_bars import SqliteViewBars

log = logging.getLogger(__name__)

_T = TypeVar("_T")

_BUSY_TIMEOUT_SECONDS = 5.0


class SqliteStore(
    SqliteAccounts,
    SqliteSessions,
    SqliteCameras,
    SqliteConsent,
    SqliteRequests,
    SqliteEnrolment,
    SqlitePush,
    SqliteSessionEnds,
    SqliteViewBars,
):
    """`hub.store.base.Store` on one SQLite file. Open with `await SqliteStore.open(path, ...)`."""

    def __init__(
        self,
        db: aiosqlite.Connection,
        reader: aiosqlite.Connection,
        poller: aiosqlite.Connection,
        default_max_grant_seconds: float,
    ) -> None:
        # Three connections, each behind its own lock, so that no read waits for a write's commit to reach the
        # disk and the consent lease's poll (`change_marker`) waits for nothing else the hub asks of the store:
        # under a burst of offers it would otherwise miss its deadline and close every gate.
        self._db = db
        self._lock = asyncio.Lock()
        self._reader, self._reader_lock = reader, asyncio.Lock()
        self._poller, self._poller_lock = poller, asyncio.Lock()
        self._default_max_grant_seconds = default_max_grant_seconds
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
        opened = [db]
        try:
            await _migrate(db, label=f"store {path}")
            for _ in range(2):
                opened.append(await open_reader(path, busy_timeout=_BUSY_TIMEOUT_SECONDS))
        except BaseException:
            for connection in opened:
                await connection.close()
            raise
        db.row_factory = sqlite3.Row
        return cls(db, opened[1], opened[2], default_max_grant_seconds)

    async def close(self) -> None:
        """Wait for a running write and reads to finish, then close the file. Closing twice is harmless."""
        async with self._lock, self._reader_lock, self._poller_lock:
            if not self._closed:
                self._closed = True
                for connection in (self._poller, self._reader, self._db):
                    await connection.close()

    # -- plumbing -------------------------------------------------------------------------------------

    async def _read(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        """One statement outside any transaction: a fresh snapshot that sees other processes' commits."""
        async with self._reader_lock:
            with _answering():
                return list(await self._reader.execute_fetchall(sql, params))

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
        camera added, given a new device token, moved or given new masks, a session deleted, an account's
        sessions ended, an officer barred from a camera by its owner), whether this store or another process on
        the same file (the admin CLI) wrote it. The hub polls it and reloads when it moved. Purging expired
        sessions does not bump it: those sessions already deny by their expiry time.
        """
        async with self._poller_lock:
            with _answering():
                rows = list(await self._poller.execute_fetchall("SELECT value FROM counters WHERE name = 'version'"))
        return int(rows[0]["value"])

    async def server_id(self) -> str | None:
        """None: the file is the store, and it never loses a write it acknowledged (no failover, no restart gap)."""
        return None


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


if TYPE_CHECKING:

    def _implements_store(store: SqliteStore) -> Store:
        # mypy proves here that SqliteStore satisfies the Store protocol.
        return store
