"""SQLite-only store checks: the file's settings, its schema version and migrations, a locked file. The contract
both stores share is in tests/test_store_contract.py."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from hub.consent.decision import Grant, Pilot
from hub.store import sqlite as sqlite_store
from hub.store.base import Account, Camera, RequestState, Role, Session, StoreUnavailable
from hub.store.sqlite import SqliteStore
from hub.store.sqlite_schema import MIGRATIONS, SCHEMA_VERSION

DEFAULT_MAX = 7 * 24 * 3600.0
T0 = 1_700_000_000.0
HOUR = 3600.0
MASKS = [{"style": "blur", "points": [[0.0, 0.0], [1 / 3, 0.5], [0.5, 1.0]]}]

# The schema of version 1, as hub/store/sqlite_schema.py had it before the migration to version 2 (git show
# HEAD:hub/store/sqlite_schema.py at the time): files written by hubs of that version look like this.
SCHEMA_V1 = """
BEGIN IMMEDIATE;
CREATE TABLE IF NOT EXISTS agencies (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS accounts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('resident', 'officer', 'admin')),
    agency_id TEXT REFERENCES agencies (id),
    disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at REAL NOT NULL,
    CHECK ((role = 'officer') = (agency_id IS NOT NULL))
) STRICT;
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sessions_by_expiry ON sessions (expires_at);
CREATE TABLE IF NOT EXISTS cameras (
    id TEXT PRIMARY KEY,
    owner_id INTEGER NOT NULL REFERENCES accounts (id),
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS cameras_by_owner ON cameras (owner_id);
-- agencies: a JSON array of agency ids, sorted; NULL means every agency in the pilot.
CREATE TABLE IF NOT EXISTS grants (
    camera_id TEXT PRIMARY KEY REFERENCES cameras (id),
    starts_at REAL NOT NULL,
    ends_at REAL NOT NULL,
    agencies TEXT,
    revoked_at REAL,
    version INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS pilot (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    starts_at REAL NOT NULL,
    ends_at REAL NOT NULL,
    version INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS policy (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    max_grant_seconds REAL NOT NULL,
    version INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) STRICT;
INSERT OR IGNORE INTO counters (name, value) VALUES ('version', 0);
PRAGMA user_version = 1;
COMMIT;
"""


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


async def test_reads_and_the_consent_poll_do_not_wait_for_a_write_in_progress(tmp_path: Path) -> None:
    """A burst of offers keeps the writing connection busy (each commit waits for the disk); the consent lease's
    poll (`change_marker`) and reads answer meanwhile, and see the write once it committed."""
    store = await SqliteStore.open(tmp_path / "hub.sqlite3", default_max_grant_seconds=DEFAULT_MAX)
    inside, release = asyncio.Event(), asyncio.Event()

    async def slow(db: Any) -> None:
        await db.execute("UPDATE counters SET value = value + 1 WHERE name = 'version'")
        inside.set()
        await release.wait()  # a write still in progress

    try:
        before = await store.change_marker()
        writing = asyncio.create_task(store._write(slow))
        await inside.wait()
        assert await asyncio.wait_for(store.change_marker(), 1.0) == before  # not the uncommitted write
        assert (await asyncio.wait_for(store.get_policy(), 1.0)).max_grant_seconds == DEFAULT_MAX
        release.set()
        await writing
        assert await store.change_marker() == before + 1
    finally:
        release.set()
        await store.close()


def _old_file(path: Path) -> None:
    """A version-1 file with an account, a session, a camera and a grant, written as an older hub would."""
    with sqlite3.connect(path, isolation_level=None) as raw:
        raw.executescript(SCHEMA_V1)
        raw.execute(
            "INSERT INTO accounts (username, password_hash, role, agency_id, disabled, created_at)"
            " VALUES ('rosa', 'hash-rosa', 'resident', NULL, 0, ?)",
            (T0,),
        )
        raw.execute("INSERT INTO sessions VALUES ('s1', 1, ?, ?)", (T0, T0 + HOUR))
        raw.execute("INSERT INTO cameras VALUES ('cam-1', 1, 'Front door', 'tok-1', ?)", (T0,))
        raw.execute("INSERT INTO grants VALUES ('cam-1', ?, ?, NULL, NULL, 1)", (T0, T0 + HOUR))
        raw.execute("UPDATE counters SET value = 1 WHERE name = 'version'")
        assert raw.execute("PRAGMA user_version").fetchone()[0] == 1
    raw.close()


async def test_a_version_1_file_is_migrated_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "hub.sqlite3"
    _old_file(path)
    store = await SqliteStore.open(path, default_max_grant_seconds=DEFAULT_MAX)
    try:
        rosa = Account(1, "rosa", Role.RESIDENT, None, False, T0, mfa_enrolled=False)
        assert await store.list_accounts() == [rosa]
        assert await store.find_account("rosa") == (rosa, "hash-rosa")
        assert await store.get_totp(1) == (None, -1)
        # An old session was last seen when it was created, and is a full session.
        assert await store.get_session("s1") == Session("s1", 1, T0, T0 + HOUR, last_seen_at=T0, mfa_pending=False)
        assert await store.get_camera("cam-1") == Camera("cam-1", 1, "Front door", T0, lat=None, lon=None)
        assert await store.camera_for_token("tok-1") == await store.get_camera("cam-1")
        grant = await store.get_grant("cam-1")
        assert grant is not None and grant.version == 1
        assert await store.change_marker() == 1
        # The new columns and table work on the old rows.
        assert await store.record_login_failure(1, T0, 900.0) == 1
        assert await store.count_login_failures(1, T0, 900.0) == 1
        assert await store.set_totp(1, "SECRETSECRETSECR", enrolled=True) == Account(
            1, "rosa", Role.RESIDENT, None, False, T0, mfa_enrolled=True
        )
        assert await store.use_totp_step(1, 5)
        await store.touch_session("s1", T0 + 60)
        assert (await store.get_session("s1")).last_seen_at == T0 + 60
        assert (await store.set_camera_location("cam-1", (1.5, -2.5))).lat == 1.5
        assert await store.delete_sessions_of(1) == 1
        request = await store.add_access_request("cam-1", 1, "2024-0042", "a reason", HOUR, True, T0, T0 + 60)
        declined = await store.answer_access_request(request.id, RequestState.DECLINED, T0 + 1)
        assert await store.get_access_request(request.id) == declined
        # An old camera has no masks until its owner sets some.
        assert await store.get_camera_masks("cam-1") == (0, [])
        version = await store.set_camera_masks("cam-1", MASKS)
        assert version > 1
        assert await store.get_camera_masks("cam-1") == (version, MASKS)
    finally:
        await store.close()
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    raw.close()
    # Opening it again runs no migration twice.
    store = await SqliteStore.open(path, default_max_grant_seconds=DEFAULT_MAX)
    try:
        assert (await store.get_account(1)).mfa_enrolled
        assert (await store.get_camera("cam-1")).lon == -2.5
        assert [r.state for r in await store.list_access_requests()] == [RequestState.DECLINED]
        assert await store.get_camera_masks("cam-1") == (version, MASKS)
        assert (await store.get_camera("cam-1")).masks_version == version
    finally:
        await store.close()


def _version_2_file(path: Path) -> None:
    """A version-2 file, written as a hub of that version would: the version-1 file taken through the migration
    1 -> 2 (a released migration is never edited), with an officer and a session of the new columns."""
    _old_file(path)
    with sqlite3.connect(path, isolation_level=None) as raw:
        raw.execute("BEGIN IMMEDIATE")
        for statement in MIGRATIONS[0]:
            raw.execute(statement)
        raw.execute("PRAGMA user_version = 2")
        raw.execute("COMMIT")
        raw.execute("INSERT INTO agencies VALUES ('pd', 'City Police')")
        raw.execute(
            "INSERT INTO accounts (username, password_hash, role, agency_id, disabled, created_at, totp_secret,"
            " totp_enrolled) VALUES ('otto', 'hash-otto', 'officer', 'pd', 0, ?, 'SECRETSECRETSECR', 1)",
            (T0,),
        )
        raw.execute("UPDATE cameras SET lat = 1.5, lon = -2.5 WHERE id = 'cam-1'")
        assert [row[0] for row in raw.execute("SELECT name FROM sqlite_master WHERE name LIKE 'access%'")] == []
    raw.close()


async def test_a_version_2_file_is_migrated_and_takes_access_requests(tmp_path: Path) -> None:
    path = tmp_path / "hub.sqlite3"
    _version_2_file(path)
    store = await SqliteStore.open(path, default_max_grant_seconds=DEFAULT_MAX)
    try:
        otto = await store.get_account(2)
        assert (otto.username, otto.agency_id, otto.mfa_enrolled) == ("otto", "pd", True)
        assert (await store.get_camera("cam-1")).lat == 1.5
        assert await store.change_marker() == 1
        # The new table works on the old rows.
        request = await store.add_access_request("cam-1", otto.id, "2024-0042", "a reason", HOUR, False, T0, T0 + 60)
        assert (request.id, request.agency_id, request.state) == (1, "pd", RequestState.PENDING)
        assert await store.list_access_requests(camera_id="cam-1") == [request]
        assert [r.id for r in await store.expire_access_requests(T0 + 60)] == [request.id]
        assert await store.get_camera_masks("cam-1") == (0, [])
    finally:
        await store.close()
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert raw.execute("SELECT state, answered_at FROM access_requests").fetchall() == [("expired", T0 + 60)]
    raw.close()
    # Opening it again runs no migration twice.
    store = await SqliteStore.open(path, default_max_grant_seconds=DEFAULT_MAX)
    try:
        assert (await store.get_access_request(1)).state is RequestState.EXPIRED
    finally:
        await store.close()


def _version_3_file(path: Path) -> None:
    """A version-3 file, as a hub of that version wrote it: the version-1 file taken through the migrations 1 -> 2
    and 2 -> 3, with a second camera and a pending access request."""
    _old_file(path)
    with sqlite3.connect(path, isolation_level=None) as raw:
        raw.execute("BEGIN IMMEDIATE")
        for statement in (*MIGRATIONS[0], *MIGRATIONS[1]):
            raw.execute(statement)
        raw.execute("PRAGMA user_version = 3")
        raw.execute("COMMIT")
        raw.execute(
            "INSERT INTO cameras (id, owner_id, name, token_hash, created_at, lat, lon)"
            " VALUES ('cam-2', 1, 'Back door', 'tok-2', ?, 1.5, -2.5)",
            (T0,),
        )
        raw.execute(
            "INSERT INTO access_requests (camera_id, account_id, agency_id, case_number, reason, duration_seconds,"
            " urgent, created_at, expires_at) VALUES ('cam-2', 1, NULL, 'c', 'r', 60.0, 0, ?, ?)",
            (T0, T0 + 60),
        )
        assert "masks" not in [row[1] for row in raw.execute("PRAGMA table_info(cameras)")]
    raw.close()


async def test_a_version_3_file_is_migrated_and_takes_masks(tmp_path: Path) -> None:
    path = tmp_path / "hub.sqlite3"
    _version_3_file(path)
    store = await SqliteStore.open(path, default_max_grant_seconds=DEFAULT_MAX)
    try:
        assert await store.get_camera("cam-2") == Camera("cam-2", 1, "Back door", T0, 1.5, -2.5, masks_version=0)
        assert [c.masks_version for c in await store.list_cameras()] == [0, 0]
        assert await store.get_camera_masks("cam-1") == (0, [])
        assert await store.change_marker() == 1
        assert [r.camera_id for r in await store.list_access_requests()] == ["cam-2"]
        version = await store.set_camera_masks("cam-2", MASKS)
        assert version == 2 == await store.change_marker()
        assert await store.camera_for_token("tok-2") == Camera(
            "cam-2", 1, "Back door", T0, 1.5, -2.5, masks_version=version
        )
    finally:
        await store.close()
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        rows = raw.execute("SELECT id, masks, masks_version FROM cameras ORDER BY id").fetchall()
        # Kept verbatim as JSON with sorted keys.
        assert rows == [("cam-1", "[]", 0), ("cam-2", json.dumps(MASKS, sort_keys=True), version)]
    raw.close()
    # Opening it again runs no migration twice.
    store = await SqliteStore.open(path, default_max_grant_seconds=DEFAULT_MAX)
    try:
        assert await store.get_camera_masks("cam-2") == (version, MASKS)
    finally:
        await store.close()


def _version_4_file(path: Path) -> None:
    """A version-4 file, as a hub of that version wrote it: the version-1 file (its grant made in no pilot run, as
    every grant then) taken through the migrations 1 -> 2, 2 -> 3 and 3 -> 4, with a running pilot and a disabled
    officer."""
    _old_file(path)
    with sqlite3.connect(path, isolation_level=None) as raw:
        raw.execute("BEGIN IMMEDIATE")
        for statement in (*MIGRATIONS[0], *MIGRATIONS[1], *MIGRATIONS[2]):
            raw.execute(statement)
        raw.execute("PRAGMA user_version = 4")
        raw.execute("COMMIT")
        raw.execute("INSERT INTO pilot VALUES (1, ?, ?, 2)", (T0, T0 + 10 * HOUR))
        raw.execute("INSERT INTO agencies VALUES ('pd', 'City Police')")
        raw.execute(
            "INSERT INTO accounts (username, password_hash, role, agency_id, disabled, created_at)"
            " VALUES ('otto', 'hash-otto', 'officer', 'pd', 1, ?)",
            (T0,),
        )
        raw.execute("UPDATE counters SET value = 3 WHERE name = 'version'")
        assert "run" not in [row[1] for row in raw.execute("PRAGMA table_info(pilot)")]
    raw.close()


async def test_a_version_4_file_is_migrated_and_keeps_its_pilot_and_grants_as_run_1(tmp_path: Path) -> None:
    path = tmp_path / "hub.sqlite3"
    _version_4_file(path)
    store = await SqliteStore.open(path, default_max_grant_seconds=DEFAULT_MAX)
    try:
        # The pilot and the grant of the old file are both run 1: the grant still counts in that pilot.
        assert await store.get_pilot() == Pilot(T0, T0 + 10 * HOUR, 2, run=1, ended=False)
        assert await store.get_grant("cam-1") == Grant("cam-1", T0, T0 + HOUR, None, None, 1, pilot_run=1)
        assert [g.pilot_run for g in await store.list_grants()] == [1]
        # Accounts never disabled or enabled since have version 0, disabled ones too.
        assert [(a.username, a.disabled, a.version) for a in await store.list_accounts()] == [
            ("rosa", False, 0),
            ("otto", True, 0),
        ]
        assert await store.change_marker() == 3
        # The new columns work on the old rows: the running pilot extended is still run 1 ...
        assert (await store.set_pilot(T0, T0 + 20 * HOUR, T0 + HOUR)).run == 1
        assert (await store.set_account_disabled(2, False)).version == 5 == await store.change_marker()
        # ... and once it has ended, the next is run 2, in which the old grant does not count.
        ended = await store.set_pilot(T0, T0 + 2 * HOUR, T0 + 2 * HOUR)
        assert (ended.run, ended.ended) == (1, True)
        assert (await store.set_pilot(T0 + 3 * HOUR, T0 + 9 * HOUR, T0 + 3 * HOUR)).run == 2
        assert (await store.get_grant("cam-1")) == Grant("cam-1", T0, T0 + HOUR, None, None, 1, pilot_run=1)
        assert (await store.put_grant("cam-1", T0 + 3 * HOUR, T0 + 4 * HOUR, None)).pilot_run == 2
    finally:
        await store.close()
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION >= 5
        assert raw.execute("SELECT run, ended FROM pilot").fetchall() == [(2, 0)]
        assert raw.execute("SELECT disabled, version FROM accounts ORDER BY id").fetchall() == [(0, 0), (0, 5)]
    raw.close()
    # Opening it again runs no migration twice.
    store = await SqliteStore.open(path, default_max_grant_seconds=DEFAULT_MAX)
    try:
        assert (await store.get_pilot()) == Pilot(T0 + 3 * HOUR, T0 + 9 * HOUR, 7, run=2, ended=False)
        assert (await store.get_account(2)).version == 5
    finally:
        await store.close()


async def test_the_pilot_run_columns_refuse_nonsense(tmp_path: Path) -> None:
    path = tmp_path / "hub.sqlite3"
    store = await SqliteStore.open(path, default_max_grant_seconds=DEFAULT_MAX)
    try:
        rosa = await store.add_account("rosa", "h", Role.RESIDENT, None)
        await store.add_camera("cam-1", rosa.id, "Front door", "tok-1")
        await store.set_pilot(T0, T0 + HOUR, T0)
        await store.put_grant("cam-1", T0, T0 + HOUR, None)
    finally:
        await store.close()
    with sqlite3.connect(path) as raw:
        for statement in (
            "UPDATE pilot SET run = 0",
            "UPDATE pilot SET run = NULL",
            "UPDATE pilot SET ended = 2",
            "UPDATE grants SET pilot_run = -1",
            "UPDATE grants SET pilot_run = NULL",
            "UPDATE accounts SET version = NULL",
        ):
            with pytest.raises(sqlite3.IntegrityError):
                raw.execute(statement)
    raw.close()


async def test_the_masks_columns_refuse_nulls(tmp_path: Path) -> None:
    path = tmp_path / "hub.sqlite3"
    store = await SqliteStore.open(path, default_max_grant_seconds=DEFAULT_MAX)
    try:
        rosa = await store.add_account("rosa", "h", Role.RESIDENT, None)
        await store.add_camera("cam-1", rosa.id, "Front door", "tok-1")
    finally:
        await store.close()
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT masks, masks_version FROM cameras").fetchall() == [("[]", 0)]
        for statement in ("UPDATE cameras SET masks = NULL", "UPDATE cameras SET masks_version = NULL"):
            with pytest.raises(sqlite3.IntegrityError):
                raw.execute(statement)
    raw.close()


async def test_the_access_requests_table_refuses_inconsistent_rows(tmp_path: Path) -> None:
    path = tmp_path / "hub.sqlite3"
    store = await SqliteStore.open(path, default_max_grant_seconds=DEFAULT_MAX)
    try:
        rosa = await store.add_account("rosa", "h", Role.RESIDENT, None)
        await store.add_camera("cam-1", rosa.id, "Front door", "tok-1")
    finally:
        await store.close()
    columns = "camera_id, account_id, case_number, reason, duration_seconds, urgent, created_at, expires_at"
    bad = [
        f"INSERT INTO access_requests ({columns}) VALUES ('ghost', 1, 'c', 'r', 60.0, 0, 0.0, 60.0)",
        f"INSERT INTO access_requests ({columns}) VALUES ('cam-1', 99, 'c', 'r', 60.0, 0, 0.0, 60.0)",
        f"INSERT INTO access_requests ({columns}, state) VALUES ('cam-1', 1, 'c', 'r', 60.0, 0, 0.0, 60.0, 'lost')",
        f"INSERT INTO access_requests ({columns}, state) VALUES ('cam-1', 1, 'c', 'r', 60.0, 0, 0.0, 60.0, 'expired')",
        f"INSERT INTO access_requests ({columns}, answered_at) VALUES ('cam-1', 1, 'c', 'r', 60.0, 0, 0.0, 60.0, 1.0)",
        f"INSERT INTO access_requests ({columns}) VALUES ('cam-1', 1, 'c', 'r', 0.0, 0, 0.0, 60.0)",
    ]
    with sqlite3.connect(path) as raw:
        raw.execute("PRAGMA foreign_keys = ON")
        for statement in bad:
            with pytest.raises(sqlite3.IntegrityError):
                raw.execute(statement)
        indexes = {row[1] for row in raw.execute("PRAGMA index_list(access_requests)")}
        assert {"access_requests_by_camera", "access_requests_by_account", "access_requests_by_state"} <= indexes
    raw.close()


async def test_two_processes_opening_an_old_file_at_once_migrate_it_once(tmp_path: Path) -> None:
    path = tmp_path / "hub.sqlite3"
    _old_file(path)
    stores = await asyncio.gather(*(SqliteStore.open(path, default_max_grant_seconds=DEFAULT_MAX) for _ in range(4)))
    try:
        for store in stores:
            assert (await store.get_session("s1")).last_seen_at == T0
    finally:
        for store in stores:
            await store.close()


async def test_a_new_file_has_the_same_tables_as_a_migrated_one(tmp_path: Path) -> None:
    old, new = tmp_path / "old.sqlite3", tmp_path / "new.sqlite3"
    _old_file(old)
    for path in (old, new):
        store = await SqliteStore.open(path, default_max_grant_seconds=DEFAULT_MAX)
        await store.close()

    def layout(path: Path) -> list[tuple[str, str]]:
        with sqlite3.connect(path) as raw:
            rows = raw.execute("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name").fetchall()
        raw.close()
        return rows

    assert layout(old) == layout(new)


async def test_a_failed_migration_leaves_the_old_file_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "hub.sqlite3"
    _old_file(path)
    broken = ((*MIGRATIONS[0], "THIS IS NOT SQL"),)
    monkeypatch.setattr(sqlite_store, "MIGRATIONS", broken)
    with pytest.raises(sqlite3.OperationalError):
        await SqliteStore.open(path, default_max_grant_seconds=DEFAULT_MAX)
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == 1
        assert [row[1] for row in raw.execute("PRAGMA table_info(sessions)")] == [
            "token_hash",
            "account_id",
            "created_at",
            "expires_at",
        ]
    raw.close()
    monkeypatch.undo()
    store = await SqliteStore.open(path, default_max_grant_seconds=DEFAULT_MAX)
    try:
        assert (await store.get_session("s1")).mfa_pending is False
    finally:
        await store.close()
