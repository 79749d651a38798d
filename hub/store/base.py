"""The store interface and its records.

Every store (embedded SQLite for one hub, Redis for many) implements `Store`; the hub picks one at
start-up. Records are frozen dataclasses; times are Unix seconds (float, UTC).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from hub.consent.decision import Grant, Pilot


class Role(StrEnum):
    """Who an account is: residents own cameras, officers watch, admins run the pilot."""

    RESIDENT = "resident"
    OFFICER = "officer"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Agency:
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    username: str
    role: Role
    agency_id: str | None
    disabled: bool
    created_at: float
    # A confirmed TOTP second factor.
    mfa_enrolled: bool = False
    # Taken from the shared version counter by every disable or enable: the hubs' passes apply only newer ones.
    version: int = 0


@dataclass(frozen=True, slots=True)
class Session:
    """A log-in. Only the token's hash is stored."""

    token_hash: str
    account_id: int
    created_at: float
    expires_at: float
    # The last request seen with it (for the idle timeout); the store writes it at most every so often.
    last_seen_at: float = 0.0
    # A log-in that still has to enrol its second factor: it may do nothing else.
    mfa_pending: bool = False


@dataclass(frozen=True, slots=True)
class Camera:
    id: str
    owner_id: int
    name: str
    created_at: float
    # Where it is (WGS84 degrees), for the officers' map; None if the owner gave no position.
    lat: float | None = None
    lon: float | None = None
    # The version of its privacy masks (0: never set); the masks themselves come from `get_camera_masks`.
    masks_version: int = 0


@dataclass(frozen=True, slots=True)
class Policy:
    """Admin-set limits. `max_grant_seconds` caps every opt-in's time box."""

    max_grant_seconds: float
    version: int = 0


class RequestState(StrEnum):
    """Where an officer's request for live access stands."""

    PENDING = "pending"
    APPROVED = "approved"
    DECLINED = "declined"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class AccessRequest:
    """An officer asking a camera's owner for live access (never a way around the owner: only the owner's
    approval opens anything, as a grant for the officer's agency and the duration asked)."""

    id: int
    camera_id: str
    account_id: int
    agency_id: str | None
    case_number: str
    reason: str
    duration_seconds: float
    urgent: bool
    created_at: float
    expires_at: float  # unanswered by then, it expires
    state: RequestState = RequestState.PENDING
    answered_at: float | None = None  # approved, declined or expired at


class EnrolmentCheck(StrEnum):
    """What a presented enrolment code turned out to be (`Store.check_enrolment_code`). Only `OK` lets anyone
    enrol; the others say why not, for the record."""

    OK = "ok"
    NONE = "none"  # the account has no code (never issued one, or no such account)
    WRONG = "wrong"  # not the account's current code (another account's, a replaced one, a typo)
    USED = "used"  # the right code, used up already
    EXPIRED = "expired"  # the right code, past its time


class NotFound(LookupError):
    """The record asked for does not exist."""


class Conflict(ValueError):
    """The write would break a uniqueness rule (a taken username, camera id, agency id)."""


class StoreUnavailable(ConnectionError):
    """The store did not answer in time."""


class Store(Protocol):
    """Everything the hub keeps. Implementations must make each method atomic."""

    async def close(self) -> None: ...

    # Change feed: a number that grows whenever anything consent-relevant changed, from this or another process.
    async def change_marker(self) -> int: ...

    # Agencies and accounts
    async def add_agency(self, agency_id: str, name: str) -> Agency: ...
    async def list_agencies(self) -> list[Agency]: ...
    async def add_account(self, username: str, password_hash: str, role: Role, agency_id: str | None) -> Account: ...
    async def get_account(self, account_id: int) -> Account: ...
    async def find_account(self, username: str) -> tuple[Account, str]:
        """The account and its password hash; NotFound if no such username."""
        ...

    async def list_accounts(self) -> list[Account]: ...
    async def set_account_disabled(self, account_id: int, disabled: bool) -> Account:
        """Disable or enable; a change takes a fresh version from the shared counter, kept as `Account.version`
        (an unchanged flag changes nothing). NotFound if unknown."""
        ...

    async def set_password_hash(self, account_id: int, password_hash: str) -> None: ...

    # Failed log-ins, which slow further attempts (hub.auth.guessing); they never lock an account
    async def record_login_failure(self, account_id: int, now: float, window: float) -> int:
        """Count a failed log-in at `now`; how many the account had in (now - window, now], this one included."""
        ...

    async def count_login_failures(self, account_id: int, now: float, window: float) -> int:
        """How many failed log-ins the account had in (now - window, now], counting nothing (0 if unknown)."""
        ...

    async def clear_login_failures(self, account_id: int) -> None:
        """Forget an account's failed log-ins (it logged in, or an admin cleared them)."""
        ...

    # TOTP second factor
    async def set_totp(self, account_id: int, secret: str | None, enrolled: bool) -> Account:
        """Keep a TOTP secret (None removes it), confirmed (`enrolled`) or still being enrolled; resets the last
        code step used."""
        ...

    async def get_totp(self, account_id: int) -> tuple[str | None, int]:
        """The TOTP secret (None if none) and the last time step whose code was accepted (-1 if none)."""
        ...

    async def use_totp_step(self, account_id: int, step: int) -> bool:
        """Atomically accept a code's time step: True only if it is later than every step accepted before (a code
        used once is refused the second time, on any hub)."""
        ...

    # One-time enrolment codes: a second factor is enrolled only with one an admin issued (hub.auth.enrolment_codes)
    async def set_enrolment_code(self, account_id: int, code_hash: str, now: float, expires_at: float) -> bool:
        """Keep the hash of the account's new enrolment code, valid until `expires_at`; it replaces any earlier
        one. True if the code it replaced could still have been used at `now`. NotFound for an unknown account."""
        ...

    async def check_enrolment_code(self, account_id: int, code_hash: str, now: float, spend: bool) -> EnrolmentCheck:
        """Compare a presented code's hash with the account's code at `now`; with `spend`, an `OK` code is used up
        in the same atomic step (of two racing with one code, on any hubs, exactly one gets `OK`)."""
        ...

    # Sessions
    async def add_session(
        self, token_hash: str, account_id: int, now: float, expires_at: float, mfa_pending: bool = False
    ) -> Session:
        """A new session; its `last_seen_at` is `now`."""
        ...

    async def touch_session(self, token_hash: str, now: float) -> None:
        """Record a request seen with the session at `now` (nothing if it is unknown)."""
        ...

    async def finish_mfa(self, token_hash: str) -> Session:
        """The session's second factor is now enrolled: it is a full session (NotFound if unknown)."""
        ...

    async def delete_sessions_of(self, account_id: int) -> int:
        """End every session of an account (disabled, MFA reset); how many there were."""
        ...

    async def get_session(self, token_hash: str) -> Session:
        """The session, expired or not; NotFound if unknown."""
        ...

    async def delete_session(self, token_hash: str) -> None: ...
    async def purge_sessions(self, now: float) -> int: ...

    # Cameras
    async def add_camera(
        self, camera_id: str, owner_id: int, name: str, token_hash: str, location: tuple[float, float] | None = None
    ) -> Camera: ...
    async def set_camera_location(self, camera_id: str, location: tuple[float, float] | None) -> Camera: ...

    # Privacy masks, applied by the camera's agent before encoding
    async def set_camera_masks(self, camera_id: str, masks: list[dict[str, Any]]) -> int:
        """Replace the camera's masks (a JSON-able list of polygons, checked by the caller) and return the new
        version, taken from the shared version counter (so it only grows). Consent-relevant: bumps the change
        marker, since every hub must hold the camera's video until its agent confirms the new version."""
        ...

    async def get_camera_masks(self, camera_id: str) -> tuple[int, list[dict[str, Any]]]:
        """The camera's mask version and masks: (0, []) if it never had any; NotFound for an unknown camera."""
        ...

    async def get_camera(self, camera_id: str) -> Camera: ...
    async def list_cameras(self, owner_id: int | None = None) -> list[Camera]: ...
    async def camera_for_token(self, token_hash: str) -> Camera:
        """The camera whose device token hashes to `token_hash`; NotFound otherwise."""
        ...

    async def set_device_token(self, camera_id: str, token_hash: str) -> None: ...

    # Consent: every write takes a fresh version from one counter shared by grants, pilot and policy.
    async def get_grant(self, camera_id: str) -> Grant | None: ...
    async def list_grants(self) -> list[Grant]: ...
    async def put_grant(
        self,
        camera_id: str,
        starts_at: float,
        ends_at: float,
        agencies: frozenset[str] | None,
        audio: bool = False,
    ) -> Grant:
        """Replace the camera's grant with a new one (new version), made in the pilot current at the write: its
        `pilot_run` is that pilot's run, read in the same transaction (0 if there is no pilot). `audio`: the owner
        opted in to audio too (off unless asked)."""
        ...

    async def set_grant_audio(self, camera_id: str, audio: bool) -> Grant | None:
        """Turn the grant's audio on or off (new version, announced like any grant change); the grant unchanged if
        it already says so; None if the camera has no grant. Nothing else of the grant changes."""
        ...

    async def revoke_grant(self, camera_id: str, at: float) -> Grant | None:
        """Mark the live grant withdrawn at `at` (new version); None if there was no grant."""
        ...

    # Access requests
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
        """A new pending request (its agency is the officer's); NotFound for an unknown camera or account."""
        ...

    async def get_access_request(self, request_id: int) -> AccessRequest: ...
    async def list_access_requests(
        self, camera_id: str | None = None, account_id: int | None = None
    ) -> list[AccessRequest]:
        """Requests, newest first, optionally of one camera or one officer."""
        ...

    async def answer_access_request(self, request_id: int, state: RequestState, now: float) -> AccessRequest:
        """Approve or decline a pending request at `now`, atomically: Conflict if it was already answered or has
        expired (`now` >= expires_at counts as expired even before `expire_access_requests` ran)."""
        ...

    async def expire_access_requests(self, now: float) -> list[AccessRequest]:
        """Mark every pending request whose `expires_at` <= now expired (answered_at = its expires_at); the ones
        this call expired (each only once, whichever hub asks first)."""
        ...

    async def get_pilot(self) -> Pilot | None: ...
    async def set_pilot(self, starts_at: float, ends_at: float, now: float) -> Pilot:
        """Set the pilot's window (new version) at the writer's time `now`, deciding atomically which pilot it is:
        it continues the current pilot's run if that pilot is not `ended`, `now` is before its end and the window
        starts before that end; otherwise it is a new pilot, the next run (1 for the first), in which no earlier
        grant counts. It is `ended` if `ends_at <= now`. ValueError for a window that is not finite and ordered."""
        ...

    async def get_policy(self) -> Policy: ...
    async def set_policy(self, max_grant_seconds: float) -> Policy: ...
