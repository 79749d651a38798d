"""Checks every store applies to consent writes before they reach state."""

from __future__ import annotations

import math

from hub.store.base import Role


def check_finite(name: str, value: float) -> None:
    # SQLite stores NaN as NULL; refuse it (and infinities) before it reaches consent state.
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number of seconds")


def check_window(starts_at: float, ends_at: float) -> None:
    check_finite("starts_at", starts_at)
    check_finite("ends_at", ends_at)
    if ends_at < starts_at:
        raise ValueError("ends_at must not be before starts_at")


def check_positive(name: str, value: float) -> None:
    check_finite(name, value)
    if value <= 0:
        raise ValueError(f"{name} must be positive")


def check_account_agency(role: Role, agency_id: str | None) -> None:
    """Officers belong to an agency (whose existence the store checks); residents and admins to none."""
    if role is not Role.OFFICER:
        if agency_id is not None:
            raise ValueError(f"only officers belong to an agency; a {role.value} account must have none")
    elif agency_id is None:
        raise ValueError("an officer account needs an agency")
