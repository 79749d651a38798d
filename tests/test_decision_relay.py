"""Table tests of the relay's decision: the owning hub's gate for another hub's relay judges the camera's consent
alone (the asking hub judges each officer), and never admits where no officer could be admitted."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hub.consent.decision import CameraState, Officer, Pilot, Reason, decide, decide_relay, decide_relay_audio
from tests.test_decision import CAMERA, OFFICER, ROWS, T, cam, grant

RELAY_ROWS = [
    ("admitted", T, CAMERA, Reason.OK),
    ("camera unknown", T, cam(known=False), Reason.CAMERA_UNKNOWN),
    ("stale state (lease lapsed)", T, cam(lease_until=T), Reason.STATE_STALE),
    ("no pilot", T, cam(pilot=None), Reason.NO_PILOT),
    ("pilot ended by an admin", T, cam(pilot=Pilot(T - 100, T + 100, ended=True)), Reason.PILOT_OVER),
    ("pilot not started", T, cam(pilot=Pilot(T + 1, T + 100)), Reason.PILOT_NOT_STARTED),
    ("pilot over", T, cam(pilot=Pilot(T - 100, T)), Reason.PILOT_OVER),
    ("no grant", T, cam(grant=None), Reason.NO_GRANT),
    ("grant of an earlier pilot", T, cam(grant=grant(pilot_run=3)), Reason.NO_GRANT),
    ("grant not started", T, cam(grant=grant(starts_at=T + 1)), Reason.GRANT_NOT_STARTED),
    ("grant expired", T, cam(grant=grant(ends_at=T)), Reason.GRANT_EXPIRED),
    ("withdrawn", T, cam(grant=grant(revoked_at=T)), Reason.WITHDRAWN),
    ("masks pending", T, cam(masks_version=5, masks_applied=4), Reason.MASKS_PENDING),
    ("masks unknown after the agent reconnected", T, cam(masks_version=5, masks_applied=-1), Reason.MASKS_PENDING),
    ("masks confirmed", T, cam(masks_version=5, masks_applied=5), Reason.OK),
    ("consent reasons come before masks", T, cam(grant=None, masks_version=5, masks_applied=4), Reason.NO_GRANT),
    # Officer matters are the asking hub's: the relay carries the camera for every officer its grant admits.
    ("scoped grant", T, cam(grant=grant(agencies=frozenset({"county"}))), Reason.OK),
    ("empty agency list", T, cam(grant=grant(agencies=frozenset())), Reason.OK),
    ("an officer stopped by the owner", T, cam(barred=frozenset({7})), Reason.OK),
    ("last instant of the grant", T + 10 - 1e-6, CAMERA, Reason.OK),
    ("grant starts exactly now", T, cam(grant=grant(starts_at=T)), Reason.OK),
]


@pytest.mark.parametrize(("now", "camera", "expected"), [r[1:] for r in RELAY_ROWS], ids=[r[0] for r in RELAY_ROWS])
def test_relay_decision(now: float, camera: CameraState, expected: Reason) -> None:
    assert decide_relay(now, camera) is expected


@pytest.mark.parametrize(("now", "camera", "viewer", "expected"), [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_relay_admits_wherever_some_officer_is_admitted(
    now: float, camera: CameraState, viewer: Officer | None, expected: Reason
) -> None:
    """An officer admitted by `decide` is never cut off by the relay; a camera reason refuses the relay too."""
    relay = decide_relay(now, camera)
    if expected is Reason.OK:
        assert relay is Reason.OK
    elif decide(now, camera, OFFICER) is not Reason.OK and not _officer_reason(decide(now, camera, OFFICER)):
        assert relay is decide(now, camera, OFFICER)


def _officer_reason(reason: Reason) -> bool:
    return reason in (Reason.AGENCY_OUT_OF_SCOPE, Reason.STOPPED_BY_OWNER)


@pytest.mark.parametrize(("now", "camera", "expected"), [r[1:] for r in RELAY_ROWS], ids=[r[0] for r in RELAY_ROWS])
def test_relay_audio_needs_the_grants_audio_flag(now: float, camera: CameraState, expected: Reason) -> None:
    assert decide_relay_audio(now, camera) is (Reason.AUDIO_OFF if expected is Reason.OK else expected)
    with_audio = replace(camera, grant=replace(camera.grant, audio=True)) if camera.grant is not None else camera
    assert decide_relay_audio(now, with_audio) is decide_relay(now, with_audio)
