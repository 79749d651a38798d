"""The owning hub's end of a relay: another hub's session on one camera, gated on the camera's consent alone.

A relay sink is a watcher as a viewer is (the camera's agent publishes while it is there), but it is no officer's
view: the asking hub records and gates its own officers' views. Its gate (`RelayGate`) admits while the camera's
consent is live (`decide_relay`: pilot, grant, masks); a withdrawal, expiry or pilot end ends it as it ends a viewer.
Its audio, if the asking hub's offer takes audio, passes per packet only while the grant also allows audio
(`decide_relay_audio`); audio off holds the packets and the relay goes on.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from aiortc import RTCPeerConnection

from hub.consent.decision import CameraState, Officer, Reason, decide_relay, decide_relay_audio
from hub.consent.gate import CameraGate, OfficerPass
from hub.media.gated_audio import GatedAudioTrack
from hub.media.gated_track import GatedTrack

# What a relay's track is given where a viewer's has its officer's pass: never read (RelayGate judges the camera).
RELAY_PASS = OfficerPass("relay", Officer(0, None, False, False, 0.0))


class RelayGate(CameraGate):
    """A camera's gate as a relay sees it: the registry's gate for the camera (swapped there), judged without an
    officer."""

    __slots__ = ("_camera",)

    def __init__(self, camera: CameraGate) -> None:
        super().__init__(camera.state)
        self._camera = camera

    @property
    def state(self) -> CameraState:
        return self._camera.state

    def swap(self, state: CameraState) -> bool:
        raise TypeError("a relay's gate follows the camera's gate; swap that one")

    def admit(self, now: float, officer: OfficerPass) -> Reason:
        return decide_relay(now, self._camera.state)

    def admit_audio(self, now: float, officer: OfficerPass) -> Reason:
        return decide_relay_audio(now, self._camera.state)


class RelaySink:
    """One relay session on the owning hub: the connection to the asking hub and its gated track."""

    def __init__(self, camera_id: str, node: str, pc: RTCPeerConnection, gate: RelayGate) -> None:
        self.camera_id = camera_id
        self.node = node  # the asking hub's node id (from its signature)
        self.pc = pc
        self.gate = gate
        self.id = secrets.token_urlsafe(16)
        self.track: GatedTrack[Any] | None = None
        self.audio: GatedAudioTrack | None = None  # the camera's audio to the asking hub, if its offer takes audio
        self.end_reason: str | None = None
        # Told once when the sink ends (the relay server winds it up: connection closed, watcher gone).
        self.on_end: Callable[[RelaySink], None] = lambda sink: None

    @property
    def ended(self) -> bool:
        return self.end_reason is not None

    def check(self, now: float) -> Reason:
        """Ask the gate now; a terminal refusal ends the sink (no await: callable from the frame path)."""
        reason = self.gate.admit(now, RELAY_PASS)
        if reason.terminal:
            self.end(reason.value)
        return reason

    def end(self, reason: str) -> bool:
        """Stop the track at once (no frame after this) and have the sink wound up; False if it had ended."""
        if self.end_reason is not None:
            return False
        self.end_reason = reason
        if self.track is not None:
            self.track.stop()
        if self.audio is not None:
            self.audio.stop()
        self.on_end(self)
        return True
