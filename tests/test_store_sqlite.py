"""SQLite-only store checks: the file's settings, its schema version, a locked file. The contract both stores
share is in tests/test_store_contract.py."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from hub.store import sqlite as sqlite_store
from hub.store.base import StoreUnavailable
from hub.store.sqlite import SqliteStore
from hub.store.sqlite_schema import SCHEMA_VERSION

DEFAULT_MAX = 7 * 24 * 3600.0


async def test_sqlite_file_settings(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "hub.sqlite3"
    store = await SqliteStore.open(path, default_max_grant_seconds=DEFAULT_MAX)
    try:
        assert path.exists()
        with sqlite3.connect(path) as raw:
            assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        raw.close()
    finally:
        await store.close()


async def test_sqlite_refuses_a_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "hub.sqlite3"
    with sqlite3.connect(path) as raw:
        raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    raw.close()
    with pytest.raises(RuntimeError, match="newer"):
        await SqliteStore.open(path, default_max_grant_seconds=DEFAULT_MAX)


async def test_sqlite_refuses_a_bad_default_policy(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        await SqliteStore.open(tmp_path / "hub.sqlite3", default_max_grant_seconds=0)
    assert not (tmp_path / "hub.sqlite3").exists()


async def test_a_file_locked_past_the_busy_timeout_is_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_store, "_BUSY_TIMEOUT_SECONDS", 0.1)
    path = tmp_path / "hub.sqlite3"
    store = await SqliteStore.open(path, default_max_grant_seconds=DEFAULT_MAX)
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        with pytest.raises(StoreUnavailable):
            await store.set_policy(3600.0)
        other.execute("ROLLBACK")
        assert (await store.set_policy(3600.0)).max_grant_seconds == 3600.0
    finally:
        other.close()
        await store.close()
