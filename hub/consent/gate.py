"""Per-camera gates: an immutable consent snapshot swapped whole, read on every frame.

`admit` is the hot-path check: a few attribute reads and comparisons, no await, no I/O, no lock. Expiry
needs no timer: the time comparison closes the gate on the first frame past a deadline.
"""

from __future__ import annotations

from dataclasses import replace

from hub.consent.decision import CameraState, Officer, Reason, decide, decide_audio


class CameraGate:
    """Holds one camera's current `CameraState`; the registry swaps it, the frame path reads it."""

    __slots__ = ("_state",)

    def __init__(self, state: CameraState) -> None:
        self._state = state

    @property
    def state(self) -> CameraState:
        return self._state

    def swap(self, state: CameraState) -> bool:
        """Install `state` unless it is older than what the gate holds; True if installed."""
        if state.version < self._state.version:
            return False
        self._state = state
        return True

    def extend_lease(self, until: float) -> None:
        """Move the lease of the state the gate holds to `until`, all else as it is."""
        self._state = replace(self._state, lease_until=until)

    def reset(self, state: CameraState) -> None:
        """Install `state` whatever its version: after the store lost writes, its older versions are the truth."""
        self._state = state

    def admit(self, now: float, officer: OfficerPass) -> Reason:
        """The per-frame check: may this officer receive a frame at `now`?"""
        return decide(now, self._state, officer.state)

    def admit_audio(self, now: float, officer: OfficerPass) -> Reason:
        """The per-packet audio check: `admit`, and the grant allows audio."""
        return decide_audio(now, self._state, officer.state)


class OfficerPass:
    """One viewer's identity snapshot (account and session), swapped when either changes."""

    __slots__ = ("session_hash", "state")

    def __init__(self, session_hash: str, state: Officer) -> None:
        self.session_hash = session_hash
        self.state = state
