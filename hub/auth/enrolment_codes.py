"""One-time enrolment codes: an officer or admin enrols a second factor only with one, issued by an admin.

Without it, whoever has the password of an account that has not enrolled yet (a new one, or one whose second
factor an admin reset) could enrol their own authenticator and keep the account. The admin hands the code over out
of band (in person, by phone), so the password alone is never enough.

A code is 10 characters of the RFC 4648 base32 alphabet (50 random bits), shown in two groups of five
("K7QWM-3RZPA"): typeable, and far beyond guessing at the few tries an account is allowed. It is bound to one
account (its hash includes the account id), valid for `auth.enrolment_code_seconds`, used up by the enrolment it
completes, and a new one replaces the old. Only its hash is stored; it appears once, to the admin who issued it,
and never in a log or on the audit record.
"""

from __future__ import annotations

import hashlib
import secrets

from hub.store.base import Account, EnrolmentCheck, EnrolmentStore, Role

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
LENGTH = 10
GROUP = 5
# Roles that enrol a second factor (officers and admins), and so are issued codes.
ENROLLING_ROLES = frozenset({Role.OFFICER, Role.ADMIN})
# What people mistype for base32 (which has no 0, 1 or 8): read as the letters they look like.
_LOOKALIKES = str.maketrans({"0": "O", "1": "I", "8": "B"})


def new_code() -> str:
    """A fresh code as shown to the admin: two groups of five base32 characters."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    return f"{raw[:GROUP]}-{raw[GROUP:]}"


def normalise(code: str) -> str | None:
    """The code as typed, made canonical (case, spaces, dashes and lookalike digits forgiven); None if it cannot be
    a code at all."""
    raw = "".join(code.split()).replace("-", "").upper().translate(_LOOKALIKES)
    if len(raw) != LENGTH or any(char not in ALPHABET for char in raw):
        return None
    return raw


def code_hash(account_id: int, code: str) -> str:
    """What the store keeps of a code: SHA-256 over the account id and the canonical code (a code is worth nothing
    for another account). A fast hash is enough: a code lives an hour and its 50 bits are not a password."""
    raw = normalise(code) or ""
    return hashlib.sha256(f"porchlight-enrolment:{account_id}:{raw}".encode()).hexdigest()


class NotEnrolling(ValueError):
    """The account does not take an enrolment code (a resident, or a second factor already enrolled)."""


async def issue(store: EnrolmentStore, account: Account, now: float, lifetime: float) -> tuple[str, float, bool]:
    """Issue `account` a new code valid for `lifetime` seconds from `now`, replacing any earlier one: (the code as
    shown, when it expires, whether it replaced a code that could still have been used). NotEnrolling unless the
    account is an officer or admin with no second factor yet (reset it first)."""
    if account.role not in ENROLLING_ROLES:
        raise NotEnrolling(
            f"{account.username} is a {account.role.value}: only officers and admins enrol a second factor"
        )
    if account.mfa_enrolled:
        raise NotEnrolling(f"{account.username} has a second factor already: reset it first")
    code = new_code()
    expires_at = now + lifetime
    replaced = await store.set_enrolment_code(account.id, code_hash(account.id, code), now, expires_at)
    return code, expires_at, replaced


async def check(store: EnrolmentStore, account_id: int, code: str, now: float, *, spend: bool) -> EnrolmentCheck:
    """What `code` is for the account at `now` (with `spend`, an OK code is used up at once)."""
    if normalise(code) is None:
        return EnrolmentCheck.WRONG
    return await store.check_enrolment_code(account_id, code_hash(account_id, code), now, spend)
