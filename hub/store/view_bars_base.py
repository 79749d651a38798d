"""The store's seam for bars: an officer whose view a camera's owner stopped may not watch that camera again
under the same grant.

A bar names a camera and an officer's account, and the grant it holds for by that grant's `starts_at`. Why
`starts_at`: a grant's version changes with every write to it (a new opt-in, a withdrawal, audio on or off), but its
`starts_at` is set once, by `put_grant`, from the writer's clock, and nothing else changes it; every new grant (the
owner's opt-in, "+1 hour", an approved request) is written by `put_grant` with the writer's `now`. So a bar holds
while the camera's grant has the same `starts_at` (audio turned on or off keeps it) and is lifted by the next
grant, whoever makes it. The store writes a bar against the grant current in the same transaction or script (none:
no bar), takes a version and moves the change marker (announced as {"kind": "view_bar", "id": <camera id>}), so
every hub reloads and its gates refuse the officer (`hub.consent.decision.Reason.STOPPED_BY_OWNER`).

Bars of ended or replaced grants are forgotten as new ones are written (and, on Redis, by a TTL past the grant's
end); readers still match each bar to the grant they hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class ViewBar:
    """One officer's account barred from one camera for the rest of one grant (Unix seconds)."""

    camera_id: str
    account_id: int
    # The grant it holds for: that grant's `starts_at` (its identity; see the module's docstring).
    grant_starts_at: float
    # When the owner stopped the view.
    at: float
    # The grant's end: the bar is forgotten after it.
    until: float


class ViewBarStore(Protocol):
    """Bars on officers whose views a camera's owner stopped."""

    async def bar_viewer(self, camera_id: str, account_id: int, at: float) -> ViewBar | None:
        """Bar the account from the camera until its current grant is replaced or ends: the grant is read in the
        same step as the write (new version, change marker moved). None, and nothing written, when the camera has
        no grant live at `at` (none, withdrawn or ended: nobody may watch anyway). NotFound for an unknown
        account. Barring again keeps one bar (the latest `at`)."""
        ...

    async def list_view_bars(self, now: float) -> list[ViewBar]:
        """Every bar kept at `now`, by camera and account (bars of replaced grants may linger: match each to the
        camera's grant by `grant_starts_at`)."""
        ...
