"""Opening a SQLite file the way both embedded stores (the main one and the audit log's) need it."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from pathlib import Path

import aiosqlite

log = logging.getLogger(__name__)


async def open_file(
    path: Path, *, label: str, busy_timeout: float, schema: str, schema_version: int, foreign_keys: bool = False
) -> aiosqlite.Connection:
    """Open (creating it and its parent directories if missing) a store file: WAL, `synchronous=FULL` (a commit
    is durable when it returns), a busy timeout, and the schema (refusing a file from a newer hub).

    The connection has no implicit transactions (isolation_level=None): the store opens each one itself.
    """
    await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
    db = await aiosqlite.connect(path, isolation_level=None, timeout=busy_timeout)
    try:
        mode = await _wal(db, busy_timeout)
        if mode != "wal":
            # Still correct (the busy timeout serialises writers), but readers would then wait on writers.
            log.warning("%s: SQLite refused WAL journal mode, using %s", label, mode)
        await db.execute("PRAGMA synchronous = FULL")
        if foreign_keys:
            await db.execute("PRAGMA foreign_keys = ON")
        await db.execute(f"PRAGMA busy_timeout = {max(1, round(busy_timeout * 1000))}")
        rows = list(await db.execute_fetchall("PRAGMA user_version"))
        found = int(rows[0][0])
        if found > schema_version:
            raise RuntimeError(f"{label} schema version {found} is newer than this hub's ({schema_version})")
        await db.executescript(schema)
    except BaseException:
        await db.close()
        raise
    return db


async def open_reader(path: Path, *, busy_timeout: float) -> aiosqlite.Connection:
    """Another connection to a store file `open_file` opened, for reads only: in WAL mode it reads while the
    writing connection is inside a transaction (or waiting for its commit to reach the disk)."""
    db = await aiosqlite.connect(path, isolation_level=None, timeout=busy_timeout)
    try:
        await db.execute("PRAGMA query_only = ON")
        await db.execute(f"PRAGMA busy_timeout = {max(1, round(busy_timeout * 1000))}")
    except BaseException:
        await db.close()
        raise
    db.row_factory = sqlite3.Row
    return db


async def _wal(db: aiosqlite.Connection, busy_timeout: float) -> str:
    """Switch the file to WAL; the journal mode it ends up in.

    The switch needs the file to itself, and SQLite answers "locked" at once (without its busy handler) when
    another process is opening it at the same moment: try again, within the busy timeout.
    """
    deadline = time.monotonic() + busy_timeout
    while True:
        try:
            rows = list(await db.execute_fetchall("PRAGMA journal_mode = WAL"))
            return str(rows[0][0]).lower() if rows else "unknown"
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.02)  # another opener holds the file for a moment: back off briefly
