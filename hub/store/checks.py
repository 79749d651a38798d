"""Checks every store applies to consent writes before they reach state."""

from __future__ import annotations

import math


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
