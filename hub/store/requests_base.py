"""The store's requests seam: officers asking a camera's owner for live access.

None of this moves the change marker: an approval opens nothing by itself (its grant is written through the
consent seam's `put_grant`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


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


class RequestStore(Protocol):
    """Access requests. Implementations make each method atomic."""

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
