"""The store's seam for how log-in sessions ended: a short-lived note per ended session, by its token's hash.

A session that ends (idle, at its absolute limit, logged out, ended by an administrator) is deleted from the
sessions seam, so a later request with its cookie finds nothing. The note kept here lets the hub tell that
request's page why ("your session ended after 30 minutes without activity") instead of a bare "log in". Only
the holder of the token can ask about it (the key is the token's hash), so the note tells nobody anything about
anyone else. A note is kept until `keep_until` (the session's absolute end, at most), then forgotten. None of this
moves the change marker: the consent gate depends on none of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

# A note is kept this long: longer than a cookie lives (`http.session_seconds`), as long as a page left open
# overnight needs.
NOTE_SECONDS = 24 * 3600.0


class EndedBecause(StrEnum):
    """Why a session ended, as the page is told."""

    IDLE = "idle"  # no activity for `auth.idle_seconds`
    LIMIT = "limit"  # its absolute limit (`http.session_seconds`)
    LOGGED_OUT = "logged_out"  # log-out, in this or another tab
    BY_ADMIN = "by_admin"  # an administrator disabled the account or reset its second factor


@dataclass(frozen=True, slots=True)
class SessionEnd:
    """How one session ended, and when (Unix seconds)."""

    why: EndedBecause
    at: float


class SessionEndStore(Protocol):
    """Notes of how sessions ended."""

    async def note_session_end(self, token_hash: str, why: EndedBecause, at: float, keep_until: float) -> None:
        """Note how the session with this token hash ended (replacing an earlier note), kept until `keep_until`."""
        ...

    async def note_session_ends_of(self, account_id: int, why: EndedBecause, at: float, keep_until: float) -> int:
        """Note the end of every session the account has now (call it before they are deleted); how many."""
        ...

    async def session_end(self, token_hash: str, now: float) -> SessionEnd | None:
        """How the session with this token hash ended, if a note is kept at `now`."""
        ...
