"""Sets of UTC days kept as sorted, disjoint, inclusive ranges of day numbers (`date.toordinal()`).

The transparency report asks one question of them: did a camera have a look (or consent) on any day of a period?
A camera watched every day for a year is one range, so the answer costs a binary search, whatever the log's size.
"""

from __future__ import annotations

import bisect
from datetime import date


class DaySet:
    """Days as sorted disjoint ranges [lo[i], hi[i]] (adjacent ranges are merged)."""

    __slots__ = ("hi", "lo")

    def __init__(self, lo: list[int] | None = None, hi: list[int] | None = None) -> None:
        self.lo: list[int] = lo if lo is not None else []
        self.hi: list[int] = hi if hi is not None else []

    def add(self, first: int, last: int) -> bool:
        """Add the days first..last (inclusive; nothing when last < first); whether the set changed."""
        if last < first:
            return False
        lo, hi = self.lo, self.hi
        if not lo or first > hi[-1] + 1:
            # The usual case: time moves forward, so a new day lands after every range.
            lo.append(first)
            hi.append(last)
            return True
        if lo[-1] <= first and last <= hi[-1]:
            return False  # already inside the last range (the usual case for a second look the same day)
        i = bisect.bisect_left(hi, first)
        if i < len(lo) and lo[i] <= first and last <= hi[i]:
            return False
        # Merge with every range that overlaps or touches first..last.
        i = bisect.bisect_left(hi, first - 1)
        j = bisect.bisect_right(lo, last + 1)
        if i < j:
            first, last = min(first, lo[i]), max(last, hi[j - 1])
        lo[i:j] = [first]
        hi[i:j] = [last]
        return True

    def overlaps(self, first: int, last: int) -> bool:
        """Whether any day of first..last (inclusive) is in the set."""
        hi = self.hi
        if hi and last >= hi[-1]:
            return hi[-1] >= first  # a period reaching past the last day: only the last range can tell
        i = bisect.bisect_left(hi, first)
        return i < len(self.lo) and self.lo[i] <= last

    def as_json(self) -> list[list[int]]:
        """The ranges as [[lo, hi], ...]."""
        return [[a, b] for a, b in zip(self.lo, self.hi, strict=True)]

    @classmethod
    def from_json(cls, ranges: list[list[int]]) -> DaySet:
        """The inverse of `as_json`."""
        return cls([int(a) for a, _ in ranges], [int(b) for _, b in ranges])


EPOCH_DAY = date(1970, 1, 1).toordinal()
DAY_SECONDS = 86_400


def day_of(ts: float) -> int:
    """The UTC day (ordinal) a moment falls on."""
    return EPOCH_DAY + int(ts // DAY_SECONDS)


def last_day_before(ts: float) -> int:
    """The UTC day of the last moment before `ts` (the day before, when `ts` is a midnight)."""
    day = day_of(ts)
    return day - 1 if ts % DAY_SECONDS == 0 else day


def day_of_text(text: str) -> int:
    """The UTC day of an `audit_time` string (its first ten characters are the date)."""
    return date.fromisoformat(text[:10]).toordinal()
