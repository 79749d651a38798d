"""The audit log's embedded store: a SQLite file of its own (the hub passes `data_dir / "audit.sqlite3"`).

Apart from the main store's file, so a locked or broken audit file refuses views without touching consent. WAL
lets a verifier read while a writer holds the lock; `synchronous=FULL` makes an append durable when it returns.
Writes run under `BEGIN IMMEDIATE` with a busy timeout of `write_timeout`, so a file another process keeps
locked raises `StoreUnavailable` instead of hanging. An asyncio lock keeps this process's coroutines from sharing
the connection's transaction, and a started transaction runs to its end even if its caller is cancelled.

Positions are ordinal: the N-th row in position order is at position N (untouched, the two agree). A row deleted
in the file shifts everything after it down, as in a list: a verifier reads seq p+1 at position p, and size()
counts rows, so an append expected at the old size is refused. New rows go after the largest position, so the
hole stays visible in the file.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import aiosqlite

from hub.audit.record import Record
from hub.store import checks
from hub.store.audit_base import Source
from hub.store.base import NotFound, StoreUnavailable
from hub.store.sqlite_file import open_file

if TYPE_CHECKING:
    from hub.store.audit_base import AuditStore

log = logging.getLogger(__name__)

_T = TypeVar("_T")

SCHEMA_VERSION = 2

# STRICT: a body or signature always reads back as bytes (something written behind the store's back must be a
# BLOB too). The camera index carries the position (the rowid), so a camera's positions come from it alone.
# Version 2 added `sources` (client addresses, by the record's seq; admins only, never in a record) and the
# report snapshot in `meta`; a version 1 file is upgraded in place (its records keep the addresses they hold).
SCHEMA = """
BEGIN IMMEDIATE;
CREATE TABLE IF NOT EXISTS records (
    position INTEGER PRIMARY KEY,
    body BLOB NOT NULL,
    signature BLOB NOT NULL,
    camera TEXT
) STRICT;
CREATE INDEX IF NOT EXISTS records_by_camera ON records (camera);
CREATE TABLE IF NOT EXISTS checkpoints (size INTEGER PRIMARY KEY, note TEXT NOT NULL) STRICT;
CREATE TABLE IF NOT EXISTS claims (key TEXT PRIMARY KEY) STRICT, WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT, WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sources (seq INTEGER PRIMARY KEY, address TEXT NOT NULL, salt BLOB NOT NULL) STRICT;
PRAGMA user_version = 2;
COMMIT;
"""

# One statement, three lookups: COUNT(*) walks the small camera index; MIN and MAX each read one end of the
# table's b-tree. (A single SELECT COUNT(*), MIN(), MAX() would scan every row instead.)
_SHAPE = (
    "SELECT (SELECT COUNT(*) FROM records), (SELECT MIN(position) FROM records), (SELECT MAX(position) FROM records)"
)

# Ordinal positions when rows are missing: the window numbers rows in position order (one pass over the log,
# without carrying bodies through it).
_ORDINALS = "SELECT position, camera, ROW_NUMBER() OVER (ORDER BY position) - 1 AS ord FROM records"


class SqliteAuditStore:
    """`hub.store.audit_base.AuditStore` on one SQLite file. Open with `await SqliteAuditStore.open(path, ...)`."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db
        self._lock = asyncio.Lock()
        self._closed = False

    @classmethod
    async def open(cls, path: Path, *, write_timeout: float) -> SqliteAuditStore:
        """Open (creating it and its parent directories if missing) the audit file at `path`.

        `write_timeout` (seconds) bounds how long a write waits for another process's lock on the file.
        """
        checks.check_positive("write_timeout", write_timeout)
        with _answering("be opened"):
            # Each transaction is opened explicitly in `_run`.
            db = await open_file(
                path, label="audit store", busy_timeout=write_timeout, schema=SCHEMA, schema_version=SCHEMA_VERSION
            )
        return cls(db)

    async def close(self) -> None:
        """Wait for a running transaction to finish, then close the file. Closing twice is harmless."""
        async with self._lock:
            if not self._closed:
                self._closed = True
                await self._db.close()

    # -- plumbing -------------------------------------------------------------------------------------

    async def _run(self, begin: str, what: str, body: Callable[[aiosqlite.Connection], Awaitable[_T]]) -> _T:
        """Run `body` in one transaction opened with `begin` (a read snapshot, or BEGIN IMMEDIATE to write).

        Shielded: a cancelled caller must not leave the shared connection inside an open transaction."""
        with _answering(what):
            return await asyncio.shield(self._transaction(begin, body))

    async def _transaction(self, begin: str, body: Callable[[aiosqlite.Connection], Awaitable[_T]]) -> _T:
        async with self._lock:
            db = self._db
            await db.execute(begin)
            try:
                result = await body(db)
            except BaseException:
                # SQLite may already have rolled back (disk full, I/O error); a second ROLLBACK would raise and
                # hide the original error.
                if db.in_transaction:
                    await db.execute("ROLLBACK")
                raise
            await db.execute("COMMIT")
            return result

    async def _read(self, body: Callable[[aiosqlite.Connection], Awaitable[_T]]) -> _T:
        # Several statements that must agree (the log's shape, then its rows): one read snapshot.
        return await self._run("BEGIN", "be read", body)

    async def _write(self, body: Callable[[aiosqlite.Connection], Awaitable[_T]]) -> _T:
        return await self._run("BEGIN IMMEDIATE", "take the write", body)

    # -- the log --------------------------------------------------------------------------------------

    async def size(self) -> int:
        """How many records the log holds (rows in the file, whatever their positions)."""

        async def body(db: aiosqlite.Connection) -> int:
            return (await _shape(db))[0]

        return await self._read(body)

    async def append(
        self, first_seq: int, records: Sequence[tuple[Record, str | None]], sources: Sequence[Source | None] = ()
    ) -> int | None:
        """Append records at first_seq, first_seq + 1, ... if the log holds exactly `first_seq` records (and
        `sources[i]`, when not None, for record first_seq + i, in the same transaction).

        Returns None once written and durable, or the current size (writing nothing) when it is not
        `first_seq`. StoreUnavailable if the file stays locked past `write_timeout` or fails.
        """
        _check_position("first_seq", first_seq)

        async def body(db: aiosqlite.Connection) -> int | None:
            count, _, top = await _shape(db)
            if count != first_seq:
                return count
            # After the largest position, not at `count`: a row deleted behind our back leaves its hole visible.
            start = -1 if top is None else top
            await db.executemany(
                "INSERT INTO records (position, body, signature, camera) VALUES (?, ?, ?, ?)",
                [(start + 1 + i, r.body, r.signature, camera) for i, (r, camera) in enumerate(records)],
            )
            kept = [(first_seq + i, s.address, s.salt) for i, s in enumerate(sources) if s is not None]
            if kept:
                await db.executemany("INSERT INTO sources (seq, address, salt) VALUES (?, ?, ?)", kept)
            return None

        return await self._write(body)

    async def read(self, start: int, stop: int) -> list[Record]:
        """The records at positions start..stop-1 in log order (fewer if the log is shorter)."""
        _check_position("start", start)
        if stop <= start:
            return []

        async def body(db: aiosqlite.Connection) -> list[Record]:
            if _dense(await _shape(db)):
                # Untouched log: position N is row N, and a range on the primary key is a b-tree seek.
                rows = await db.execute_fetchall(
                    "SELECT body, signature FROM records WHERE position >= ? AND position < ? ORDER BY position",
                    (start, stop),
                )
            else:
                rows = await db.execute_fetchall(
                    "SELECT body, signature FROM records ORDER BY position LIMIT ? OFFSET ?", (stop - start, start)
                )
            return [Record(bytes(row[0]), bytes(row[1])) for row in rows]

        return await self._read(body)

    async def read_at(self, positions: Sequence[int]) -> list[Record]:
        """The records at these positions, in the order asked; NotFound if one is past the end."""
        for position in positions:
            _check_position("position", position)
        if not positions:
            return []
        wanted = json.dumps(sorted(set(positions)))

        async def body(db: aiosqlite.Connection) -> dict[int, Record]:
            # json_each: one parameter however many positions (a long IN list would hit SQLite's limit).
            if _dense(await _shape(db)):
                sql = "SELECT position, body, signature FROM records WHERE position IN (SELECT value FROM json_each(?))"
            else:
                sql = (
                    f"SELECT o.ord, r.body, r.signature FROM ({_ORDINALS}) AS o JOIN records AS r USING (position)"
                    " WHERE o.ord IN (SELECT value FROM json_each(?))"
                )
            rows = await db.execute_fetchall(sql, (wanted,))
            return {int(row[0]): Record(bytes(row[1]), bytes(row[2])) for row in rows}

        found = await self._read(body)
        missing = [p for p in positions if p not in found]
        if missing:
            raise NotFound(f"the audit log has no record at position {missing[0]}")
        return [found[p] for p in positions]

    async def positions_for_camera(self, camera_id: str, after: int = -1, limit: int | None = None) -> list[int]:
        """The positions of the records about this camera after position `after`, in log order (at most `limit`)."""
        count = -1 if limit is None else limit  # LIMIT -1: no limit

        async def body(db: aiosqlite.Connection) -> list[int]:
            if _dense(await _shape(db)):
                # The camera index holds the position: a range seek, whatever the log's size.
                sql = "SELECT position FROM records WHERE camera = ? AND position > ? ORDER BY position LIMIT ?"
            else:
                sql = f"SELECT ord FROM ({_ORDINALS}) WHERE camera = ? AND ord > ? ORDER BY ord LIMIT ?"
            return [int(row[0]) for row in await db.execute_fetchall(sql, (camera_id, after, count))]

        return await self._read(body)

    async def sources(self, seqs: Sequence[int]) -> dict[int, Source]:
        """The kept client addresses of these records (those that had one)."""
        if not seqs:
            return {}
        wanted = json.dumps(sorted(set(seqs)))

        async def body(db: aiosqlite.Connection) -> dict[int, Source]:
            rows = await db.execute_fetchall(
                "SELECT seq, address, salt FROM sources WHERE seq IN (SELECT value FROM json_each(?))", (wanted,)
            )
            return {int(row[0]): Source(str(row[1]), bytes(row[2])) for row in rows}

        return await self._read(body)

    async def save_tally(self, snapshot: str) -> None:
        """Keep the report's snapshot (replacing the one kept)."""

        async def body(db: aiosqlite.Connection) -> None:
            await db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES ('report_tally', ?)", (snapshot,))

        await self._write(body)

    async def tally(self) -> str | None:
        """The report's snapshot kept last, or None."""

        async def body(db: aiosqlite.Connection) -> str | None:
            rows = list(await db.execute_fetchall("SELECT value FROM meta WHERE name = 'report_tally'"))
            return str(rows[0][0]) if rows else None

        return await self._read(body)

    # -- checkpoints, claims, the verifier key ---------------------------------------------------------

    async def add_checkpoint(self, size: int, note: str) -> None:
        """Keep a signed checkpoint; the first one kept for a size stays."""
        _check_position("size", size)

        async def body(db: aiosqlite.Connection) -> None:
            await db.execute("INSERT OR IGNORE INTO checkpoints (size, note) VALUES (?, ?)", (size, note))

        await self._write(body)

    async def checkpoint(self, size: int | None = None) -> str | None:
        """The checkpoint kept for `size`, or the one with the largest size; None if there is none."""

        async def body(db: aiosqlite.Connection) -> str | None:
            if size is None:
                rows = await db.execute_fetchall("SELECT note FROM checkpoints ORDER BY size DESC LIMIT 1")
            else:
                rows = await db.execute_fetchall("SELECT note FROM checkpoints WHERE size = ?", (size,))
            found = list(rows)
            return str(found[0][0]) if found else None

        return await self._read(body)

    async def claim(self, key: str) -> bool:
        """True the first time `key` is claimed. Claims are kept for good (one row per claimed event)."""

        async def body(db: aiosqlite.Connection) -> bool:
            rows = await db.execute_fetchall(
                "INSERT INTO claims (key) VALUES (?) ON CONFLICT DO NOTHING RETURNING key", (key,)
            )
            return bool(list(rows))

        return await self._write(body)

    async def bind_key(self, verifier_key: str) -> str:
        """Record the log's verifier key on first use; return the one recorded (the first ever given)."""

        async def body(db: aiosqlite.Connection) -> str:
            await db.execute("INSERT OR IGNORE INTO meta (name, value) VALUES ('verifier_key', ?)", (verifier_key,))
            rows = list(await db.execute_fetchall("SELECT value FROM meta WHERE name = 'verifier_key'"))
            return str(rows[0][0])

        return await self._write(body)


# -- helpers --------------------------------------------------------------------------------------------------


def _check_position(name: str, value: int) -> None:
    if value < 0:
        raise ValueError(f"{name} must not be negative")


async def _shape(db: aiosqlite.Connection) -> tuple[int, int | None, int | None]:
    """(row count, smallest position, largest position); call inside a transaction."""
    rows = list(await db.execute_fetchall(_SHAPE))
    count, low, high = rows[0]
    return int(count), low, high


def _dense(shape: tuple[int, int | None, int | None]) -> bool:
    """Whether the positions are exactly 0..count-1 (distinct integers: smallest 0 and largest count-1)."""
    count, low, high = shape
    return count == 0 or (low == 0 and high == count - 1)


@contextlib.contextmanager
def _answering(what: str) -> Iterator[None]:
    """A file locked past the busy timeout, a disk error, a damaged file: `StoreUnavailable` (fail closed).

    Programming errors (a wrong statement or binding) stay what they are."""
    try:
        yield
    except sqlite3.ProgrammingError:
        raise
    except sqlite3.DatabaseError as exc:
        raise StoreUnavailable(f"the audit file could not {what}: {exc}") from exc


if TYPE_CHECKING:

    def _implements_audit_store(store: SqliteAuditStore) -> AuditStore:
        # mypy proves here that SqliteAuditStore satisfies the AuditStore protocol.
        return store
