"""What the parts of the embedded store (`hub.store.sqlite.SqliteStore`) share.

The store is one class made of mixins, one per concern (`hub.store.sqlite_accounts`, `sqlite_sessions`,
`sqlite_cameras`, `sqlite_consent`, `sqlite_requests`). Their base, `SqliteParts`, declares the plumbing they
use and `SqliteStore` implements: a read outside any transaction (`_read`) and one write transaction (`_write`).
The helpers below run inside such a transaction, on the connection `_write` hands its body.
"""

from __future__ import annotations

import abc
import sqlite3
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TypeVar

import aiosqlite

from hub.store.base import NotFound

_T = TypeVar("_T")

Params = Sequence[object]


class SqliteParts(abc.ABC):
    """The base of `SqliteStore`'s parts: the plumbing they use, which `SqliteStore` provides."""

    # The policy's cap until an admin sets one.
    _default_max_grant_seconds: float

    @abc.abstractmethod
    async def _read(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        """One statement outside any transaction: a fresh snapshot that sees other processes' commits."""

    @abc.abstractmethod
    async def _write(self, body: Callable[[aiosqlite.Connection], Awaitable[_T]]) -> _T:
        """Run `body` as one `BEGIN IMMEDIATE` transaction, which runs to its end even if the caller is
        cancelled."""


# -- transaction helpers ------------------------------------------------------------------------------


async def exists(db: aiosqlite.Connection, sql: str, params: Params) -> bool:
    return bool(list(await db.execute_fetchall(sql, params)))


async def check_account(db: aiosqlite.Connection, account_id: int) -> None:
    if not await exists(db, "SELECT 1 FROM accounts WHERE id = ?", (account_id,)):
        raise NotFound(f"account {account_id} not found")


async def bump(db: aiosqlite.Connection) -> int:
    """Take the next version from the shared counter; call only inside a write transaction."""
    rows = await db.execute_fetchall("UPDATE counters SET value = value + 1 WHERE name = 'version' RETURNING value")
    return int(first(rows)["value"])


def first(rows: Iterable[sqlite3.Row]) -> sqlite3.Row:
    """The first row (of a query that always answers one)."""
    return next(iter(rows))
