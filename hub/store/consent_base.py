"""The store's consent seam: grants, the pilot and the policy.

Every write takes a fresh version from one counter shared by grants, the pilot, the policy and cameras' masks,
so versions only grow across all of them, and each write moves the change marker.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from hub.consent.decision import Grant, Pilot

# Conflict's message when a write that names the grant version it replaces finds another one.
GRANT_CHANGED = "the camera's grant changed since it was read"


@dataclass(frozen=True, slots=True)
class Policy:
    """Admin-set limits. `max_grant_seconds` caps every opt-in's time box."""

    max_grant_seconds: float
    version: int = 0


class ConsentStore(Protocol):
    """Grants, the pilot and the policy. Implementations make each method atomic."""

    async def get_grant(self, camera_id: str) -> Grant | None: ...
    async def list_grants(self) -> list[Grant]: ...
    async def put_grant(
        self,
        camera_id: str,
        starts_at: float,
        ends_at: float,
        agencies: frozenset[str] | None,
        audio: bool = False,
        replacing: int | None = None,
    ) -> Grant:
        """Replace the camera's grant with a new one (new version), made in the pilot current at the write: its
        `pilot_run` is that pilot's run, read in the same transaction (0 if there is no pilot). `audio`: the owner
        opted in to audio too (off unless asked). `replacing`: write only if the camera's grant is still that
        version, read in the same transaction (Conflict otherwise: it was withdrawn or changed meanwhile)."""
        ...

    async def set_grant_audio(self, camera_id: str, audio: bool, replacing: int | None = None) -> Grant | None:
        """Turn the grant's audio on or off (new version, announced like any grant change); the grant unchanged if
        it already says so; None if the camera has no grant. Nothing else of the grant changes. `replacing`: only
        if the grant is still that version (Conflict otherwise)."""
        ...

    async def revoke_grant(self, camera_id: str, at: float) -> Grant | None:
        """Mark the live grant withdrawn at `at` (new version); None if there was no grant."""
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
