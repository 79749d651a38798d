"""The embedded store's schema: the base every file starts from, then the migrations to the current version.

`PRAGMA user_version` records a file's version. Opening a file runs `SCHEMA` (which only creates what is missing,
in the shape of version 1, and leaves the version alone), then `SqliteStore.open` runs, in one `BEGIN IMMEDIATE`
transaction that first reads the version, every migration the file still lacks and records the new version. A
new file goes the same way as an old one, so both end with the same tables; two processes opening one old file
at once migrate it once (the second reads the new version). An older hub refuses a file of a newer version.
"""

# Times are Unix seconds (REAL). Account ids are AUTOINCREMENT so a number in the audit log never comes to
# mean someone else after a deletion.
# A file written by an older hub may still hold a `views` table (the look history from before the audit log,
# hub/audit/). Nothing reads or writes it any more; it is left in place, not dropped.
# This is the schema of version 1 and stays so: change the tables through MIGRATIONS. It must not set
# `user_version`: run on a file of a later version, that would make its migrations run twice.
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
COMMIT;
"""

# MIGRATIONS[n - 1] takes a file from version n to n + 1: statements run in order inside the opening
# transaction (SQLite's ALTER TABLE is transactional). Add new ones at the end; never edit a released one.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1 -> 2: log-in lock-out, the TOTP second factor, sessions' idle time and MFA state, camera positions.
    (
        # Too many failed log-ins: refused until an admin unlocks it.
        "ALTER TABLE accounts ADD COLUMN locked INTEGER NOT NULL DEFAULT 0 CHECK (locked IN (0, 1))",
        # The TOTP secret (NULL: none), whether it is confirmed, and the last time step whose code was accepted
        # (-1: none), so a code is accepted once.
        "ALTER TABLE accounts ADD COLUMN totp_secret TEXT",
        "ALTER TABLE accounts ADD COLUMN totp_enrolled INTEGER NOT NULL DEFAULT 0"
        " CHECK (totp_enrolled IN (0, 1) AND (totp_enrolled = 0 OR totp_secret IS NOT NULL))",
        "ALTER TABLE accounts ADD COLUMN totp_last_step INTEGER NOT NULL DEFAULT -1",
        # Failed log-ins within the lock-out window; older ones are deleted as new ones are recorded.
        """CREATE TABLE login_failures (
            account_id INTEGER NOT NULL REFERENCES accounts (id),
            at REAL NOT NULL
        ) STRICT""",
        "CREATE INDEX login_failures_by_account ON login_failures (account_id, at)",
        "CREATE INDEX login_failures_by_time ON login_failures (at)",
        # The last request seen with the session; NULL (a session from before version 2) reads as created_at.
        "ALTER TABLE sessions ADD COLUMN last_seen_at REAL",
        # A log-in that still has to enrol its second factor.
        "ALTER TABLE sessions ADD COLUMN mfa_pending INTEGER NOT NULL DEFAULT 0 CHECK (mfa_pending IN (0, 1))",
        "CREATE INDEX sessions_by_account ON sessions (account_id)",
        # Where the camera is (WGS84 degrees), both or neither.
        "ALTER TABLE cameras ADD COLUMN lat REAL CHECK (lat BETWEEN -90 AND 90)",
        "ALTER TABLE cameras ADD COLUMN lon REAL CHECK (lon BETWEEN -180 AND 180 AND (lat IS NULL) = (lon IS NULL))",
    ),
    # 2 -> 3: officers' requests for live access, answered by the camera's owner or expired.
    (
        # agency_id is the officer's agency when the request was made (NULL for an account without one), kept
        # as it was. answered_at is when it was approved, declined or expired (an expiry is dated at
        # expires_at), NULL exactly while pending. Ids are AUTOINCREMENT: a request number in the audit log
        # never comes to mean another request.
        """CREATE TABLE access_requests (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            camera_id TEXT NOT NULL REFERENCES cameras (id),
            account_id INTEGER NOT NULL REFERENCES accounts (id),
            agency_id TEXT,
            case_number TEXT NOT NULL,
            reason TEXT NOT NULL,
            duration_seconds REAL NOT NULL CHECK (duration_seconds > 0),
            urgent INTEGER NOT NULL CHECK (urgent IN (0, 1)),
            created_at REAL NOT NULL,
            expires_at REAL NOT NULL,
            state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'approved', 'declined', 'expired')),
            answered_at REAL,
            CHECK ((state = 'pending') = (answered_at IS NULL))
        ) STRICT""",
        "CREATE INDEX access_requests_by_camera ON access_requests (camera_id)",
        "CREATE INDEX access_requests_by_account ON access_requests (account_id)",
        # For expiry: the pending ones by deadline.
        "CREATE INDEX access_requests_by_state ON access_requests (state, expires_at)",
    ),
    # 3 -> 4: each camera's privacy masks, applied by its agent before encoding.
    (
        # A JSON array of mask objects, as `set_camera_masks` stored it (keys sorted); '[]': none.
        "ALTER TABLE cameras ADD COLUMN masks TEXT NOT NULL DEFAULT '[]'",
        # The version the masks were last set at, taken from the shared counter; 0: never set.
        "ALTER TABLE cameras ADD COLUMN masks_version INTEGER NOT NULL DEFAULT 0",
    ),
    # 4 -> 5: pilot runs (a grant belongs to the pilot it was made in) and account versions.
    (
        # Which pilot this is: a window set after the last one ended starts the next run. The pilot of an older
        # file is run 1, and not ended (ended: an admin ended it, closed whatever a hub's clock says).
        "ALTER TABLE pilot ADD COLUMN run INTEGER NOT NULL DEFAULT 1 CHECK (run >= 1)",
        "ALTER TABLE pilot ADD COLUMN ended INTEGER NOT NULL DEFAULT 0 CHECK (ended IN (0, 1))",
        # The run of the pilot current when the grant was made (0: there was none). Older grants are run 1: they
        # belong to the older file's pilot.
        "ALTER TABLE grants ADD COLUMN pilot_run INTEGER NOT NULL DEFAULT 1 CHECK (pilot_run >= 0)",
        # The version the account was last disabled or enabled at, taken from the shared counter; 0: never.
        "ALTER TABLE accounts ADD COLUMN version INTEGER NOT NULL DEFAULT 0",
    ),
    # 5 -> 6: one-time enrolment codes for the second factor (hub.store.sqlite_enrolment).
    (
        # One code per account (a new one replaces the old): only its hash, when it stops being valid, and when it
        # was used up (NULL: not yet).
        """CREATE TABLE enrolment_codes (
            account_id INTEGER PRIMARY KEY REFERENCES accounts (id),
            code_hash TEXT NOT NULL,
            issued_at REAL NOT NULL,
            expires_at REAL NOT NULL,
            used_at REAL
        ) STRICT""",
    ),
    # 6 -> 7: audio, a consent of its own (issue 15): off for every grant until its owner turns it on.
    ("ALTER TABLE grants ADD COLUMN audio INTEGER NOT NULL DEFAULT 0 CHECK (audio IN (0, 1))",),
    # 7 -> 8: notifications (hub.store.sqlite_push): browsers' Web Push subscriptions and e-mail addresses.
    (
        """CREATE TABLE push_subscriptions (
            endpoint TEXT PRIMARY KEY,
            account_id INTEGER NOT NULL REFERENCES accounts (id),
            p256dh TEXT NOT NULL,
            auth TEXT NOT NULL,
            created_at REAL NOT NULL
        ) STRICT""",
        "CREATE INDEX push_subscriptions_by_account ON push_subscriptions (account_id, created_at)",
        "CREATE TABLE account_emails (account_id INTEGER PRIMARY KEY REFERENCES accounts (id), email TEXT NOT NULL)"
        " STRICT",
    ),
    # 8 -> 9: how ended sessions ended (hub.store.sqlite_session_ends), so a page is told why it must log in again.
    (
        """CREATE TABLE session_ends (
            token_hash TEXT PRIMARY KEY,
            why TEXT NOT NULL,
            at REAL NOT NULL,
            keep_until REAL NOT NULL
        ) STRICT, WITHOUT ROWID""",
        "CREATE INDEX session_ends_by_keep_until ON session_ends (keep_until)",
    ),
    # 9 -> 10: notifications' answer tokens (hub.store.sqlite_push): a request answered from a notification.
    (
        # Only the token's SHA-256; bound to the request, the owner's account and the subscription it was pushed
        # to; spent_at NULL until it (or another of its request's) answered.
        """CREATE TABLE push_answer_tokens (
            token_hash TEXT PRIMARY KEY,
            request_id INTEGER NOT NULL REFERENCES access_requests (id),
            account_id INTEGER NOT NULL REFERENCES accounts (id),
            endpoint TEXT NOT NULL,
            expires_at REAL NOT NULL,
            spent_at REAL
        ) STRICT, WITHOUT ROWID""",
        "CREATE INDEX push_answer_tokens_by_request ON push_answer_tokens (request_id)",
        "CREATE INDEX push_answer_tokens_by_expiry ON push_answer_tokens (expires_at)",
    ),
    # 10 -> 11: bars (hub.store.sqlite_view_bars): an officer whose view the owner stopped, kept out of that
    # camera until its grant (named by its starts_at) is replaced or ends (until).
    (
        """CREATE TABLE view_bars (
            camera_id TEXT NOT NULL REFERENCES cameras (id),
            account_id INTEGER NOT NULL REFERENCES accounts (id),
            grant_starts_at REAL NOT NULL,
            at REAL NOT NULL,
            until REAL NOT NULL,
            PRIMARY KEY (camera_id, account_id)
        ) STRICT, WITHOUT ROWID""",
    ),
)

SCHEMA_VERSION = 1 + len(MIGRATIONS)
