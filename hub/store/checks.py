"""Checks every store applies to a write's arguments before they reach state (consent above all)."""

from __future__ import annotations

import json
import math
from typing import Any

from hub.store.base import RequestState, Role


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


def check_location(location: tuple[float, float] | None) -> tuple[float, float] | None:
    """A camera's position as (lat, lon) in WGS84 degrees, as floats; None stays None. ValueError unless both are
    finite, lat in [-90, 90] and lon in [-180, 180]."""
    if location is None:
        return None
    lat, lon = location
    for name, value, limit in (("lat", lat, 90.0), ("lon", lon, 180.0)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number of degrees")
        if not -limit <= value <= limit:
            raise ValueError(f"{name} must be within [-{limit:g}, {limit:g}] degrees")
    # + 0.0 turns -0.0 into 0.0: one position, one stored form.
    return float(lat) + 0.0, float(lon) + 0.0


def check_totp(secret: str | None, enrolled: bool) -> None:
    """A TOTP secret is a non-empty string; only a kept secret can be enrolled."""
    if secret is None:
        if enrolled:
            raise ValueError("an enrolled second factor needs a secret")
    elif not secret:
        raise ValueError("a TOTP secret must not be empty")


def check_time_step(step: int) -> None:
    """A TOTP time step is a non-negative integer."""
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ValueError("a TOTP time step must be a non-negative integer")


def check_answer_state(state: RequestState) -> RequestState:
    """An access request is answered by an approval or a decline; ValueError otherwise."""
    state = RequestState(state)
    if state not in (RequestState.APPROVED, RequestState.DECLINED):
        raise ValueError("an access request is answered by approving or declining it")
    return state


def check_masks(value: object) -> list[dict[str, Any]]:
    """A camera's privacy masks are a list of JSON objects (their shape is the caller's to check); ValueError
    otherwise."""
    if not isinstance(value, list) or not all(isinstance(mask, dict) for mask in value):
        raise ValueError("a camera's masks must be a list of JSON objects")
    return value


def encode_masks(masks: list[dict[str, Any]]) -> str:
    """A camera's masks as both stores keep them: JSON, keys sorted; ValueError unless a list of JSON objects."""
    return json.dumps(check_masks(masks), sort_keys=True, allow_nan=False)
