"""The consent decision, as a pure function of state and time.

No asyncio, no store, no clock: every input, the time included, is passed in. The hub's per-frame gate
(`hub.consent.gate`) calls `decide` on each frame, so this stays a handful of attribute reads and comparisons.
Anything missing or unknown means deny.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum


class Reason(StrEnum):
    """Why a frame may or may not be forwarded. `OK` is the only admitting value."""

    OK = "ok"
    CAMERA_UNKNOWN = "camera_unknown"
    STATE_STALE = "state_stale"
    NO_PILOT = "no_pilot"
    PILOT_NOT_STARTED = "pilot_not_started"
    PILOT_OVER = "pilot_over"
    NO_GRANT = "no_grant"
    GRANT_NOT_STARTED = "grant_not_started"
    GRANT_EXPIRED = "grant_expired"
    WITHDRAWN = "withdrawn"
    AGENCY_OUT_OF_SCOPE = "agency_out_of_scope"
    ACCOUNT_DISABLED = "account_disabled"
    SESSION_EXPIRED = "session_expired"
    NOT_AN_OFFICER = "not_an_officer"
    # The owner changed the camera's privacy masks and its agent has not confirmed applying them yet.
    MASKS_PENDING = "masks_pending"
    # Audio only (`decide_audio`): the view is admitted but its owner has not opted in to audio. Video goes on.
    AUDIO_OFF = "audio_off"
    # The owner stopped this officer's view of the camera: no view of it until the owner's next grant.
    STOPPED_BY_OWNER = "stopped_by_owner"

    @property
    def terminal(self) -> bool:
        """True when waiting will not reopen the gate for this viewer (only stale state, pending masks and audio
        turned off may recover; audio off never ends a view)."""
        return self not in (Reason.OK, Reason.STATE_STALE, Reason.MASKS_PENDING, Reason.AUDIO_OFF)


@dataclass(frozen=True, slots=True)
class Pilot:
    """The pilot's window: nothing is admitted outside [starts_at, ends_at).

    `run` numbers the pilots: a new pilot (one set after the last one ended) gets the next run, and only grants
    made in the current run count. `ended`: an admin ended it; closed on every hub whatever its clock says.
    """

    starts_at: float
    ends_at: float
    version: int = 0
    run: int = 0
    ended: bool = False


@dataclass(frozen=True, slots=True)
class Grant:
    """A camera owner's opt-in: [starts_at, ends_at), optionally only for some agencies.

    `agencies` None means every agency in the pilot; an empty set admits no one. `pilot_run` is the pilot it was
    made in: a grant never outlives its pilot. A withdrawn grant (`revoked_at` set) is closed on every hub the
    moment that hub learns of it; `revoked_at` says when for the record, it is never compared with a clock.
    `audio`: the owner also opted in to audio (a consent of its own, off unless turned on; invariant 5).
    """

    camera_id: str
    starts_at: float
    ends_at: float
    agencies: frozenset[str] | None = None
    revoked_at: float | None = None
    version: int = 0
    pilot_run: int = 0
    audio: bool = False


@dataclass(frozen=True, slots=True)
class Officer:
    """What the gate needs to know about one viewer: swapped whole when the account or session changes."""

    account_id: int
    agency_id: str | None
    is_officer: bool
    enabled: bool
    session_expires_at: float
    # The account record's version this was built from: an older read never replaces a newer one.
    version: int = 0


@dataclass(frozen=True, slots=True)
class CameraState:
    """One camera's consent snapshot. `lease_until` is when this hub's view of the store stops being fresh."""

    camera_id: str
    known: bool
    pilot: Pilot | None
    grant: Grant | None
    lease_until: float = math.inf
    version: int = 0
    # Privacy masks: the version the owner set (0: never any) and the one the camera's agent confirmed applying
    # (-1: unknown, such as just after it connected). Frames pass only once the agent applies the owner's version.
    masks_version: int = 0
    masks_applied: int = 0
    # Officers' accounts the owner stopped a view of, barred for the rest of `grant` (hub.store.view_bars_base).
    barred: frozenset[int] = frozenset()


def decide(now: float, camera: CameraState, officer: Officer | None) -> Reason:
    """May `officer` receive a frame of `camera` at time `now`? `Reason.OK` or the first reason to deny."""
    if not camera.known:
        return Reason.CAMERA_UNKNOWN
    if now >= camera.lease_until:
        return Reason.STATE_STALE
    if officer is None or not officer.is_officer:
        return Reason.NOT_AN_OFFICER
    if not officer.enabled:
        return Reason.ACCOUNT_DISABLED
    if now >= officer.session_expires_at:
        return Reason.SESSION_EXPIRED
    reason = _consent_live(now, camera)
    if reason is not Reason.OK:
        return reason
    grant = camera.grant
    assert grant is not None  # _consent_live admits only with a grant
    if grant.agencies is not None and officer.agency_id not in grant.agencies:
        return Reason.AGENCY_OUT_OF_SCOPE
    if officer.account_id in camera.barred:
        return Reason.STOPPED_BY_OWNER
    return _masks(camera)


def decide_relay(now: float, camera: CameraState) -> Reason:
    """May the owning hub send a frame of `camera` to another hub's relay at `now`? The camera's consent alone
    (known, fresh, pilot running, grant live, masks applied): the hub at the other end decides per officer."""
    if not camera.known:
        return Reason.CAMERA_UNKNOWN
    if now >= camera.lease_until:
        return Reason.STATE_STALE
    reason = _consent_live(now, camera)
    if reason is not Reason.OK:
        return reason
    return _masks(camera)


def decide_relay_audio(now: float, camera: CameraState) -> Reason:
    """May the owning hub send an audio packet of `camera` to another hub's relay at `now`? `decide_relay`, and
    the grant's audio flag (`AUDIO_OFF` otherwise)."""
    reason = decide_relay(now, camera)
    if reason is not Reason.OK:
        return reason
    grant = camera.grant
    if grant is None or not grant.audio:
        return Reason.AUDIO_OFF
    return Reason.OK


def _consent_live(now: float, camera: CameraState) -> Reason:
    """The pilot is running and the camera's grant (of this pilot) is live at `now`."""
    pilot = camera.pilot
    if pilot is None:
        return Reason.NO_PILOT
    if pilot.ended:
        return Reason.PILOT_OVER
    if now < pilot.starts_at:
        return Reason.PILOT_NOT_STARTED
    if now >= pilot.ends_at:
        return Reason.PILOT_OVER
    grant = camera.grant
    if grant is None or grant.pilot_run != pilot.run:
        return Reason.NO_GRANT
    if grant.revoked_at is not None:
        return Reason.WITHDRAWN
    if now < grant.starts_at:
        return Reason.GRANT_NOT_STARTED
    if now >= grant.ends_at:
        return Reason.GRANT_EXPIRED
    return Reason.OK


def _masks(camera: CameraState) -> Reason:
    """Frames pass only once the camera's agent applies the owner's privacy masks."""
    if camera.masks_version > 0 and camera.masks_applied < camera.masks_version:
        return Reason.MASKS_PENDING
    return Reason.OK


def decide_audio(now: float, camera: CameraState, officer: Officer | None) -> Reason:
    """May `officer` receive an audio packet of `camera` at `now`? Everything `decide` asks, and the grant's audio
    flag: `Reason.OK`, the reason `decide` gives, or `AUDIO_OFF`."""
    reason = decide(now, camera, officer)
    if reason is not Reason.OK:
        return reason
    grant = camera.grant
    if grant is None or not grant.audio:  # decide admits only with a grant; checked again all the same
        return Reason.AUDIO_OFF
    return Reason.OK


def audio_granted(camera: CameraState) -> bool:
    """Whether the camera's current grant allows audio at all (what its agent is told: send a microphone or not)."""
    grant = camera.grant
    return grant is not None and grant.audio and grant.revoked_at is None


def grant_end(now: float, requested_seconds: float | None, max_seconds: float, pilot: Pilot | None) -> float:
    """When a grant opened at `now` ends: the requested box, capped by the admin maximum and the pilot's end.

    `requested_seconds` None asks for "until the pilot ends". Raises ValueError for a box that is not positive.
    """
    if pilot is None or not pilot.starts_at <= now < pilot.ends_at:
        raise ValueError("no running pilot to opt in to")
    if requested_seconds is not None and not (requested_seconds > 0 and math.isfinite(requested_seconds)):
        raise ValueError("duration must be a positive number of seconds")
    end = pilot.ends_at if requested_seconds is None else now + requested_seconds
    return min(end, now + max_seconds, pilot.ends_at)


def closed_at(camera: CameraState, reason: Reason, now: float) -> float:
    """When the gate closed for `reason`: the withdrawal, the grant's or the pilot's end, or else `now` (for the
    pages to say "the owner withdrew consent at 14:32:05")."""
    grant, pilot = camera.grant, camera.pilot
    if reason is Reason.WITHDRAWN and grant is not None and grant.revoked_at is not None:
        return grant.revoked_at
    if reason is Reason.GRANT_EXPIRED and grant is not None:
        return grant.ends_at
    if reason is Reason.PILOT_OVER and pilot is not None:
        return min(pilot.ends_at, now)
    return now
