"""Every Redis key and channel the shared store uses, in one place.

All names start with a configurable prefix (default "pl:") so several deployments, or a test, can share one
Redis. Records are hashes whose field values are JSON encoded and decoded in Python (`json.dumps` writes a
float exactly; Redis's Lua cjson keeps only 14 significant digits, so scripts copy these strings and never
re-encode a number). A JSON `null` is the string "null". Times are Unix seconds.

Relationships (indexes) are kept in the same Lua script as the record they index, so they never disagree.
The layout needs a single Redis (or a primary with replicas), not Redis Cluster: scripts build some keys from a
stem passed in (new accounts, `account("")`; sessions to purge or end, `session("")`; the account index of a
session deleted or purged, `sessions_of("")`; new and expiring access requests, `access_request("")`).

Fields added after records were first written (an account's `mfa_enrolled`, `totp_secret`,
`totp_last_step`; a session's `last_seen_at`, `mfa_pending`; a camera's `lat`, `lon`, `masks`, `masks_version`) may
be missing from older records: they read as false, null, -1, the session's created_at, false, null, [], 0. An
account's `locked` field, left by versions that locked accounts after failed log-ins, is ignored. An account's
`version`, a pilot's `run` and `ended`, and a grant's `pilot_run` may be missing too: they read as 0, 1, false
and 1 (a pilot and grants written before pilot runs all belong to run 1); a grant's `audio` reads as false.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PREFIX = "pl:"


@dataclass(frozen=True, slots=True)
class RedisKeys:
    prefix: str = DEFAULT_PREFIX

    # -- change feed --------------------------------------------------------------------------------------

    @property
    def version(self) -> str:
        """STRING, integer: the shared version counter (INCR). Every grant, pilot, policy and camera-masks write
        takes its version from it; account enable/disable, camera add/re-key/move and session deletion (one, or all
        of an account's) bump it too. It is the store's `change_marker`; missing means 0."""
        return f"{self.prefix}version"

    @property
    def changes(self) -> str:
        """PUB/SUB channel: one JSON message per bump of `version`, published by the same Lua script that
        wrote the change: {"kind": "grant"|"pilot"|"policy"|"account"|"camera"|"session", "id": ...,
        "version": n}. `id` is the camera id (grant, camera), the account id (account, session) or null."""
        return f"{self.prefix}changes"

    def bus(self, suffix: str) -> str:
        """PUB/SUB channel: hub-to-hub messages (JSON objects) on a topic, e.g. withdrawal confirmations."""
        return f"{self.prefix}bus:{suffix}"

    # -- agencies and accounts ----------------------------------------------------------------------------

    @property
    def agencies(self) -> str:
        """HASH: agency id -> JSON {"id": ..., "name": ...}. Agencies are never deleted."""
        return f"{self.prefix}agencies"

    def account(self, account_id: int | str) -> str:
        """HASH: one account. Fields (JSON values): id, username, password_hash, role, agency_id (null unless
        an officer), disabled (true/false), created_at,
        mfa_enrolled (true/false: the TOTP secret is confirmed), totp_secret (null if none), totp_last_step (the
        last TOTP time step whose code was accepted, -1 if none; only ever raised, by `USE_TOTP_STEP`), version
        (the version `SET_ACCOUNT_DISABLED` took when it last changed `disabled`; 0 or missing: never)."""
        return f"{self.prefix}account:{account_id}"

    @property
    def accounts(self) -> str:
        """ZSET: every account id, scored by the id (lists accounts in id order)."""
        return f"{self.prefix}accounts"

    @property
    def account_by_username(self) -> str:
        """HASH: username -> account id (the uniqueness index for usernames)."""
        return f"{self.prefix}account-by-username"

    @property
    def account_seq(self) -> str:
        """STRING, integer: the last account id handed out (INCR); ids are never reused."""
        return f"{self.prefix}account-seq"

    def login_failures(self, account_id: int) -> str:
        """ZSET: one account's failed log-ins, each a random member scored by its time. Each new failure first
        removes those at or before `now - window`; the key expires `window` plus `LOGIN_FAILURE_GRACE_SECONDS`
        after the last failure (nothing older counts). Deleted when the failures are cleared (a log-in, or an
        admin's `unlock`)."""
        return f"{self.prefix}login-failures:{account_id}"

    def enrolment_code(self, account_id: int) -> str:
        """HASH: one account's one-time enrolment code (hub.store.redis_enrolment). Fields (JSON values):
        code_hash (of the code bound to the account; the code itself is never stored), issued_at, expires_at,
        used_at (null until used up). Replaced whole by a new code, only ever changed otherwise by the script that
        uses it up (used_at, once). Expires `ENROLMENT_CODE_GRACE_SECONDS` after `expires_at`: missing then, like a
        code never issued."""
        return f"{self.prefix}enrolment-code:{account_id}"

    # -- sessions -------------------------------------------------------------------------------------------

    def session(self, token_hash: str) -> str:
        """HASH: one log-in. Fields (JSON values): token_hash, account_id, created_at, expires_at, last_seen_at
        (the last request seen with it; only ever raised), mfa_pending (true/false: it may only enrol a second
        factor). Also given a Redis TTL of its remaining life plus `SESSION_GRACE_SECONDS`, so a session nobody
        purges still goes; until then `get_session` returns it, expired or not, like the embedded store."""
        return f"{self.prefix}session:{token_hash}"

    def sessions_of(self, account_id: int | str) -> str:
        """SET: the token hashes of one account's sessions, for `delete_sessions_of`. Kept with the sessions by
        the scripts that add, delete, purge and end them; its TTL is raised to the longest of its sessions' keys,
        so it never outlives them all. Like `sessions_by_expiry` it may hold hashes whose session key already
        expired through its TTL. Sessions written by a hub older than this index are not in it."""
        return f"{self.prefix}sessions-of:{account_id}"

    @property
    def sessions_by_expiry(self) -> str:
        """ZSET: token hash scored by expires_at, for `purge_sessions`. May hold hashes whose session key
        already expired through its TTL; a purge removes them."""
        return f"{self.prefix}sessions-by-expiry"

    # -- cameras ----------------------------------------------------------------------------------------------

    def camera(self, camera_id: str) -> str:
        """HASH: one camera. Fields (JSON values): id, owner_id, name, token_hash (of its device token),
        created_at, lat and lon (WGS84 degrees; both null when the owner gave no position), masks (its privacy
        masks: an array of objects, keys sorted, as the owner set them) and masks_version (the version the
        `SET_CAMERA_MASKS` script took for them from the shared counter). Both mask fields are missing until the
        owner first sets masks: (0, [])."""
        return f"{self.prefix}camera:{camera_id}"

    @property
    def cameras(self) -> str:
        """SET: every camera id."""
        return f"{self.prefix}cameras"

    def cameras_of(self, owner_id: int) -> str:
        """SET: the camera ids one account owns."""
        return f"{self.prefix}cameras-of:{owner_id}"

    @property
    def camera_by_token(self) -> str:
        """HASH: device token hash -> camera id (the uniqueness index for device tokens)."""
        return f"{self.prefix}camera-by-token"

    def owner(self, camera_id: str) -> str:
        """STRING, JSON {"node": ..., "url": ...}: which hub holds the camera's stream. A lease: set with a
        PX expiry by `claim_camera`, renewed only by its holder, deleted by `release_camera`."""
        return f"{self.prefix}owner:{camera_id}"

    # -- consent ----------------------------------------------------------------------------------------------

    def grant(self, camera_id: str) -> str:
        """HASH: a camera's grant. Fields (JSON values): camera_id, starts_at, ends_at, agencies (sorted array,
        or null for every agency), revoked_at (null while live), version, pilot_run (the run of the pilot
        current when `PUT_GRANT` wrote it, read in that script; 0 if there was no pilot), audio (true: the owner
        opted in to audio too; missing from grants written before audio consent, reads as false)."""
        return f"{self.prefix}grant:{camera_id}"

    @property
    def grants(self) -> str:
        """SET: the camera ids that have a grant (live, expired or revoked)."""
        return f"{self.prefix}grants"

    @property
    def pilot(self) -> str:
        """HASH: the pilot's window. Fields (JSON values): starts_at, ends_at, version, run (which pilot this is:
        `SET_PILOT` keeps the run of a window that continues the current pilot and gives the next run to a new
        one), ended (true/false: it ended at or before the writer's time). Missing until set."""
        return f"{self.prefix}pilot"

    @property
    def policy(self) -> str:
        """HASH: the admin's limits. Fields (JSON values): max_grant_seconds, version. Missing until set (the
        configured default applies, version 0)."""
        return f"{self.prefix}policy"

    # -- access requests --------------------------------------------------------------------------------------

    def access_request(self, request_id: int | str) -> str:
        """HASH: an officer's request for live access. Fields (JSON values): id, camera_id, account_id, agency_id
        (the officer's agency when asked, copied from the account by `ADD_ACCESS_REQUEST`), case_number, reason,
        duration_seconds, urgent (true/false), created_at, expires_at, state ("pending", "approved", "declined"
        or "expired"; only pending ever changes, once), answered_at (null while pending; an expiry is dated at
        expires_at). Never deleted."""
        return f"{self.prefix}access-request:{request_id}"

    @property
    def access_request_seq(self) -> str:
        """STRING, integer: the last access request id handed out (INCR); ids are never reused."""
        return f"{self.prefix}access-request-seq"

    @property
    def access_requests(self) -> str:
        """ZSET: every access request id, scored by the id (newest first with ZREVRANGE)."""
        return f"{self.prefix}access-requests"

    def access_requests_of_camera(self, camera_id: str) -> str:
        """ZSET: the ids of the access requests for one camera, scored by the id."""
        return f"{self.prefix}access-requests-of-camera:{camera_id}"

    def access_requests_of_account(self, account_id: int) -> str:
        """ZSET: the ids of the access requests one officer made, scored by the id."""
        return f"{self.prefix}access-requests-of-account:{account_id}"

    @property
    def access_requests_pending(self) -> str:
        """ZSET: the ids of the pending access requests, scored by expires_at. A request leaves it when it is
        answered or expired, in the script that changes its state: the set of ids to expire at `now` is
        ZRANGEBYSCORE -inf now."""
        return f"{self.prefix}access-requests-pending"


# A session key outlives its expiry by this much, so `get_session` can still tell "expired" from "unknown".
SESSION_GRACE_SECONDS = 24 * 3600.0

# A failed log-in's key outlives its window by this much (hubs' clocks may differ a little).
LOGIN_FAILURE_GRACE_SECONDS = 60.0

# An enrolment code's key outlives its validity by this much, so a late try is told "expired" rather than "none".
ENROLMENT_CODE_GRACE_SECONDS = 24 * 3600.0
