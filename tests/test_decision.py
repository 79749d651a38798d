"""Table tests of the consent decision: one row per reason, plus the boundaries of every window."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from hub.consent.decision import (
    CameraState,
    Grant,
    Officer,
    Pilot,
    Reason,
    audio_granted,
    decide,
    decide_audio,
    grant_end,
)

T = 1_000_000.0  # "now" in every row
PILOT = Pilot(T - 100, T + 100, version=1)
GRANT = Grant("cam", T - 10, T + 10, None, None, version=2)
CAMERA = CameraState("cam", True, PILOT, GRANT, math.inf, 2)
OFFICER = Officer(7, "metro", True, True, T + 3600)


def cam(**changes: object) -> CameraState:
    return replace(CAMERA, **changes)  # type: ignore[arg-type]


def grant(**changes: object) -> Grant:
    return replace(GRANT, **changes)  # type: ignore[arg-type]


def officer(**changes: object) -> Officer:
    return replace(OFFICER, **changes)  # type: ignore[arg-type]


ROWS = [
    ("admitted", T, CAMERA, OFFICER, Reason.OK),
    ("camera unknown", T, cam(known=False), OFFICER, Reason.CAMERA_UNKNOWN),
    ("stale state (lease lapsed)", T, cam(lease_until=T), OFFICER, Reason.STATE_STALE),
    ("no identity", T, CAMERA, None, Reason.NOT_AN_OFFICER),
    ("not an officer", T, CAMERA, officer(is_officer=False), Reason.NOT_AN_OFFICER),
    ("account disabled", T, CAMERA, officer(enabled=False), Reason.ACCOUNT_DISABLED),
    ("session expired", T, CAMERA, officer(session_expires_at=T), Reason.SESSION_EXPIRED),
    ("no pilot", T, cam(pilot=None), OFFICER, Reason.NO_PILOT),
    ("pilot not started", T, cam(pilot=Pilot(T + 1, T + 100)), OFFICER, Reason.PILOT_NOT_STARTED),
    ("pilot over", T, cam(pilot=Pilot(T - 100, T)), OFFICER, Reason.PILOT_OVER),
    ("no grant", T, cam(grant=None), OFFICER, Reason.NO_GRANT),
    ("grant not started", T, cam(grant=grant(starts_at=T + 1)), OFFICER, Reason.GRANT_NOT_STARTED),
    ("grant expired", T, cam(grant=grant(ends_at=T)), OFFICER, Reason.GRANT_EXPIRED),
    ("withdrawn", T, cam(grant=grant(revoked_at=T)), OFFICER, Reason.WITHDRAWN),
    (
        "agency out of scope",
        T,
        cam(grant=grant(agencies=frozenset({"county"}))),
        OFFICER,
        Reason.AGENCY_OUT_OF_SCOPE,
    ),
    ("agency in scope", T, cam(grant=grant(agencies=frozenset({"metro"}))), OFFICER, Reason.OK),
    ("masks changed, agent not confirmed", T, cam(masks_version=5, masks_applied=4), OFFICER, Reason.MASKS_PENDING),
    ("masks unknown after the agent reconnected", T, cam(masks_version=5, masks_applied=-1), OFFICER,
     Reason.MASKS_PENDING),
    ("masks confirmed", T, cam(masks_version=5, masks_applied=5), OFFICER, Reason.OK),
    ("never any masks, agent just connected", T, cam(masks_version=0, masks_applied=-1), OFFICER, Reason.OK),
    ("consent reasons come before masks", T, cam(grant=None, masks_version=5, masks_applied=4), OFFICER,
     Reason.NO_GRANT),
    ("empty agency list admits no one", T, cam(grant=grant(agencies=frozenset())), OFFICER, Reason.AGENCY_OUT_OF_SCOPE),
    ("officer without agency, scoped grant", T, cam(grant=grant(agencies=frozenset({"metro"}))),
     officer(agency_id=None), Reason.AGENCY_OUT_OF_SCOPE),
    # Issue 16: the owner stopped this officer's view: barred for the rest of the grant; others watch on.
    ("stopped by the owner", T, cam(barred=frozenset({7})), OFFICER, Reason.STOPPED_BY_OWNER),
    ("another officer stopped", T, cam(barred=frozenset({8})), OFFICER, Reason.OK),
    ("withdrawn beats stopped", T, cam(barred=frozenset({7}), grant=grant(revoked_at=T)), OFFICER, Reason.WITHDRAWN),
    # Boundaries: windows are half-open [start, end).
    ("grant starts exactly now", T, cam(grant=grant(starts_at=T)), OFFICER, Reason.OK),
    ("last instant of the grant", T + 10 - 1e-6, CAMERA, OFFICER, Reason.OK),
    ("first instant past the grant", T + 10, CAMERA, OFFICER, Reason.GRANT_EXPIRED),
    # Issue 14 item 1: a withdrawal dated by a hub whose clock runs ahead closes at once, whatever this clock says.
    ("withdrawal dated ahead of this clock", T, cam(grant=grant(revoked_at=T + 5)), OFFICER, Reason.WITHDRAWN),
    # ... and so does a pilot an admin ended, though this clock has not reached its end.
    ("pilot ended, end not reached here", T, cam(pilot=replace(PILOT, ends_at=T + 5, ended=True)), OFFICER,
     Reason.PILOT_OVER),
    # Issue 14 item 2: consent belongs to the pilot it was given in.
    ("grant from an earlier pilot", T, cam(pilot=replace(PILOT, run=2), grant=grant(pilot_run=1)), OFFICER,
     Reason.NO_GRANT),
    ("grant of this pilot", T, cam(pilot=replace(PILOT, run=2), grant=grant(pilot_run=2)), OFFICER, Reason.OK),
    ("pilot ends before the grant", T + 100, cam(grant=grant(ends_at=T + 1000)), OFFICER, Reason.PILOT_OVER),
    # Order: the most basic failure is the one reported.
    ("unknown beats everything", T, cam(known=False, pilot=None, grant=None), None, Reason.CAMERA_UNKNOWN),
    ("withdrawn beats expired", T + 20, cam(grant=grant(revoked_at=T)), OFFICER, Reason.WITHDRAWN),
]  # fmt: skip


@pytest.mark.parametrize(("now", "camera", "viewer", "expected"), [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_decision(now: float, camera: CameraState, viewer: Officer | None, expected: Reason) -> None:
    assert decide(now, camera, viewer) is expected


def test_every_reason_has_a_row() -> None:
    assert {row[-1] for row in ROWS} | {row[-1] for row in AUDIO_ROWS} == set(Reason)


def test_only_stale_state_pending_masks_and_audio_off_may_recover() -> None:
    assert [r for r in Reason if not r.terminal] == [
        Reason.OK,
        Reason.STATE_STALE,
        Reason.MASKS_PENDING,
        Reason.AUDIO_OFF,
    ]


# Audio is a consent of its own: every reason video is refused for refuses audio too, and then the grant's flag.
AUDIO_ON = cam(grant=grant(audio=True))
AUDIO_ROWS = [
    ("audio allowed", T, AUDIO_ON, OFFICER, Reason.OK),
    ("audio off by default", T, CAMERA, OFFICER, Reason.AUDIO_OFF),
    ("audio turned off", T, cam(grant=grant(audio=False, version=3)), OFFICER, Reason.AUDIO_OFF),
    ("withdrawn", T, cam(grant=grant(audio=True, revoked_at=T)), OFFICER, Reason.WITHDRAWN),
    ("grant expired", T + 10, AUDIO_ON, OFFICER, Reason.GRANT_EXPIRED),
    ("pilot over", T, cam(grant=grant(audio=True), pilot=Pilot(T - 100, T)), OFFICER, Reason.PILOT_OVER),
    ("pilot ended", T, cam(grant=grant(audio=True), pilot=replace(PILOT, ended=True)), OFFICER, Reason.PILOT_OVER),
    ("agency out of scope", T, cam(grant=grant(audio=True, agencies=frozenset({"county"}))), OFFICER,
     Reason.AGENCY_OUT_OF_SCOPE),
    ("account disabled", T, AUDIO_ON, officer(enabled=False), Reason.ACCOUNT_DISABLED),
    ("session expired", T, AUDIO_ON, officer(session_expires_at=T), Reason.SESSION_EXPIRED),
    ("no identity", T, AUDIO_ON, None, Reason.NOT_AN_OFFICER),
    ("stale state", T, replace(AUDIO_ON, lease_until=T), OFFICER, Reason.STATE_STALE),
    ("camera unknown", T, replace(AUDIO_ON, known=False), OFFICER, Reason.CAMERA_UNKNOWN),
    ("no grant", T, cam(grant=None), OFFICER, Reason.NO_GRANT),
    ("grant from an earlier pilot", T, cam(pilot=replace(PILOT, run=2), grant=grant(audio=True, pilot_run=1)),
     OFFICER, Reason.NO_GRANT),
    ("masks pending", T, replace(AUDIO_ON, masks_version=5, masks_applied=4), OFFICER, Reason.MASKS_PENDING),
    ("last instant of the grant", T + 10 - 1e-6, AUDIO_ON, OFFICER, Reason.OK),
]  # fmt: skip


@pytest.mark.parametrize(
    ("now", "camera", "viewer", "expected"), [r[1:] for r in AUDIO_ROWS], ids=[r[0] for r in AUDIO_ROWS]
)
def test_audio_decision(now: float, camera: CameraState, viewer: Officer | None, expected: Reason) -> None:
    assert decide_audio(now, camera, viewer) is expected


@pytest.mark.parametrize(("now", "camera", "viewer", "expected"), [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_audio_never_passes_where_video_does_not(
    now: float, camera: CameraState, viewer: Officer | None, expected: Reason
) -> None:
    """Every video row again with audio on: audio passes exactly where video does."""
    with_audio = camera if camera.grant is None else replace(camera, grant=replace(camera.grant, audio=True))
    assert decide_audio(now, with_audio, viewer) is decide(now, with_audio, viewer)
    assert decide_audio(now, camera, viewer) is (Reason.AUDIO_OFF if expected is Reason.OK else expected)


def test_audio_granted_is_the_grants_flag_while_not_withdrawn() -> None:
    assert not audio_granted(CAMERA)
    assert audio_granted(AUDIO_ON)
    assert not audio_granted(cam(grant=grant(audio=True, revoked_at=T)))
    assert not audio_granted(cam(grant=None))


GRANT_ROWS = [
    ("requested box", 3600.0, 86400.0, PILOT_LONG := Pilot(T - 1, T + 10 * 86400), T + 3600),
    ("capped by the admin maximum", 7200.0, 3600.0, PILOT_LONG, T + 3600),
    ("capped by the pilot's end", 86400.0, 10 * 86400.0, Pilot(T - 1, T + 600), T + 600),
    ("until the pilot ends", None, 100 * 86400.0, PILOT_LONG, T + 10 * 86400),
    ("until the pilot ends, capped", None, 3600.0, PILOT_LONG, T + 3600),
]


@pytest.mark.parametrize(("requested", "cap", "pilot", "expected"), [r[1:] for r in GRANT_ROWS],
                         ids=[r[0] for r in GRANT_ROWS])  # fmt: skip
def test_grant_end(requested: float | None, cap: float, pilot: Pilot, expected: float) -> None:
    assert grant_end(T, requested, cap, pilot) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("requested", "pilot"),
    [
        (0.0, PILOT),
        (-5.0, PILOT),
        (math.inf, PILOT),
        (math.nan, PILOT),
        (60.0, None),
        (60.0, Pilot(T - 10, T)),
        (60.0, Pilot(T + 10, T + 100)),
    ],
    ids=["zero", "negative", "infinite", "nan", "no pilot", "pilot over", "pilot not started"],
)
def test_grant_end_refuses(requested: float, pilot: Pilot | None) -> None:
    with pytest.raises(ValueError):
        grant_end(T, requested, 3600.0, pilot)
