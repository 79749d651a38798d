"""The store's enrolment seam: one-time codes an admin issues, without which no second factor is enrolled.

Only a code's hash is kept, one per account (a new one replaces the old); none of this moves the change marker.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol


class EnrolmentCheck(StrEnum):
    """What a presented enrolment code turned out to be (`EnrolmentStore.check_enrolment_code`). Only `OK` lets anyone
    enrol; the others say why not, for the record."""

    OK = "ok"
    NONE = "none"  # the account has no code (never issued one, or no such account)
    WRONG = "wrong"  # not the account's current code (another account's, a replaced one, a typo)
    USED = "used"  # the right code, used up already
    EXPIRED = "expired"  # the right code, past its time


class EnrolmentStore(Protocol):
    """One-time enrolment codes (`hub.auth.enrolment_codes`). Implementations make each method atomic."""

    async def set_enrolment_code(self, account_id: int, code_hash: str, now: float, expires_at: float) -> bool:
        """Keep the hash of the account's new enrolment code, valid until `expires_at`; it replaces any earlier
        one. True if the code it replaced could still have been used at `now`. NotFound for an unknown account."""
        ...

    async def check_enrolment_code(self, account_id: int, code_hash: str, now: float, spend: bool) -> EnrolmentCheck:
        """Compare a presented code's hash with the account's code at `now`; with `spend`, an `OK` code is used up
        in the same atomic step (of two racing with one code, on any hubs, exactly one gets `OK`)."""
        ...
