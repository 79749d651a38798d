"""Times on the wire: ISO 8601 in UTC out, ISO 8601 or Unix seconds in."""

from __future__ import annotations

import math
from datetime import UTC, datetime


def iso(ts: float | None) -> str | None:
    """Unix seconds as ISO 8601 UTC (None and infinity stay None)."""
    if ts is None or not math.isfinite(ts):
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(value: object) -> float:
    """ISO 8601 (a zone is required) or Unix seconds; raises ValueError with a clear message."""
    if isinstance(value, bool):
        raise ValueError("a time must be ISO 8601 text or Unix seconds")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError("a time must be finite")
        return float(value)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO 8601 time") from None
        if parsed.tzinfo is None:
            raise ValueError(f"{value!r} has no time zone (add Z or +00:00)")
        return parsed.timestamp()
    raise ValueError("a time must be ISO 8601 text or Unix seconds")
