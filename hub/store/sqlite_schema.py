"""The embedded store's schema (applied at open; `user_version` records its version)."""

SCHEMA_VERSION = 1

# Times are Unix seconds (REAL). Account ids are AUTOINCREMENT so a number in the audit log never comes to
# mean someone else after a deletion.
# A file written by an older hub may still hold a `views` table (the look history from before the audit log,
# hub/audit/). Nothing reads or writes it any more; it is left in place, not dropped, and the version stays 1:
# every other table is unchanged, so older and newer hubs open each other's files.
SCHEMA = """
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
