"""The store's accounts seam: agencies, accounts, failed log-ins and the TOTP second factor.

An account's disable or enable takes a fresh version from the shared counter (the hubs' passes apply only newer
ones) and moves the change marker; failed log-ins and TOTP do not: the gate depends on neither.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class Role(StrEnum):
    """Who an account is: residents own cameras, officers watch, admins run the pilot."""

    RESIDENT = "resident"
    OFFICER = "officer"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Agency:
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    username: str
    role: Role
    agency_id: str | None
    disabled: bool
    created_at: float
    # A confirmed TOTP second factor.
    mfa_enrolled: bool = False
    # Taken from the shared version counter by every disable or enable: the hubs' passes apply only newer ones.
    version: int = 0


class AccountStore(Protocol):
    """Agencies, accounts, failed log-ins and TOTP. Implementations make each method atomic."""

    # Agencies and accounts
    async def add_agency(self, agency_id: str, name: str) -> Agency: ...
    async def list_agencies(self) -> list[Agency]: ...
    async def add_account(self, username: str, password_hash: str, role: Role, agency_id: str | None) -> Account: ...
    async def get_account(self, account_id: int) -> Account: ...
    async def find_account(self, username: str) -> tuple[Account, str]:
        """The account and its password hash; NotFound if no such username."""
        ...

    async def list_accounts(self) -> list[Account]: ...
    async def set_account_disabled(self, account_id: int, disabled: bool) -> Account:
        """Disable or enable; a change takes a fresh version from the shared counter, kept as `Account.version`
        (an unchanged flag changes nothing). NotFound if unknown."""
        ...

    async def set_password_hash(self, account_id: int, password_hash: str) -> None: ...

    # Failed log-ins, which slow further attempts (hub.auth.guessing); they never lock an account
    async def record_login_failure(self, account_id: int, now: float, window: float) -> int:
        """Count a failed log-in at `now`; how many the account had in (now - window, now], this one included."""
        ...

    async def count_login_failures(self, account_id: int, now: float, window: float) -> int:
        """How many failed log-ins the account had in (now - window, now], counting nothing (0 if unknown)."""
        ...

    async def clear_login_failures(self, account_id: int) -> None:
        """Forget an account's failed log-ins (it logged in, or an admin cleared them)."""
        ...

    # TOTP second factor
    async def set_totp(self, account_id: int, secret: str | None, enrolled: bool) -> Account:
        """Keep a TOTP secret (None removes it), confirmed (`enrolled`) or still being enrolled; resets the last
        code step used."""
        ...

    async def get_totp(self, account_id: int) -> tuple[str | None, int]:
        """The TOTP secret (None if none) and the last time step whose code was accepted (-1 if none)."""
        ...

    async def use_totp_step(self, account_id: int, step: int) -> bool:
        """Atomically accept a code's time step: True only if it is later than every step accepted before (a code
        used once is refused the second time, on any hub)."""
        ...
