"""The transparency report kept up to date as records are appended, so a request costs no scan of the log.

`ReportTally.add` folds one record (in log order) into running figures per UTC day and agency; `report` then
answers any period of whole UTC days (what the public routes ask) with the same figures `compute_report` gives
from a full scan (hub/audit/report.py defines them; tests/test_report_tally.py holds the two equal). A request
costs a loop over the period's days and one binary search per camera, not one step per record.

What is kept:

- per agency, and for the total: per day, the views started, the milliseconds and withdrawals of those views once
  ended (counted on the day the view started, as the report does), denials by reason and access.* records by
  kind; and per camera, the days it was viewed (`DaySet`);
- the views started and not yet ended (seq -> their day and agency), so an ending finds its start;
- each camera's current consent window, and the days every earlier (closed) window covered, per agency scope.

The tally is derived state, like the Merkle tree: every hub folds the same records in the same order (its own
appends, then what it catches up from the store), so a restart or another hub reaches the same figures for the
same tree size. One difference from the full scan, which no hub writes: a view.ended placed in the log before
the view.started it names is not matched (a view.ended always names an earlier record).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from hub.audit.days import DaySet, day_of, day_of_text, last_day_before
from hub.audit.record import Kind, parse_audit_time
from hub.audit.report import ACCESS_KINDS, WITHDRAWN, Figures, Report, agency_of, non_negative

log = logging.getLogger(__name__)

_ACCESS = frozenset(kind.value for kind in ACCESS_KINDS)
_CONSENT = frozenset({Kind.CONSENT_GRANTED.value, Kind.CONSENT_WITHDRAWN.value})
# A record is parsed only if its bytes hold one of these (canonical JSON escapes quotes inside strings, so the
# top-level `"kind":"..."` cannot be faked by a value; a nested match only costs a parse).
_COUNTED = (
    b'"kind":"view.started"', b'"kind":"view.denied"', b'"kind":"view.ended"', b'"kind":"access.',
    b'"kind":"consent.granted"', b'"kind":"consent.withdrawn"',
)  # fmt: skip
SNAPSHOT_VERSION = 1
MAX_COUNTED = 1024


@dataclass(slots=True)
class _Day:
    """One UTC day's counts for one agency (or the total)."""

    views: int = 0
    milliseconds: int = 0
    cut_short: int = 0
    denied: Counter[str] = field(default_factory=Counter)
    access: Counter[str] = field(default_factory=Counter)


@dataclass(slots=True)
class _Book:
    """An agency's (or the total's) running figures."""

    days: dict[int, _Day] = field(default_factory=dict)
    viewed: dict[str, DaySet] = field(default_factory=dict)  # camera -> the days it was viewed

    def day(self, day: int) -> _Day:
        found = self.days.get(day)
        if found is None:
            found = self.days[day] = _Day()
        return found


@dataclass(frozen=True, slots=True)
class _Window:
    """A camera's current consent: [starts, ends) for these agencies (None: every agency)."""

    starts: float
    ends: float
    agencies: frozenset[str] | None


class ReportTally:
    """Running report figures over every record folded so far (`size` of them)."""

    def __init__(self) -> None:
        self.size = 0
        self._total = _Book()
        self._agencies: dict[str, _Book] = {}
        self._open_views: dict[int, tuple[int, str | None]] = {}  # seq of a view.started -> (its day, agency)
        self._grants: dict[str, _Window] = {}
        self._opted_every: dict[str, DaySet] = {}  # camera -> days consented for every agency
        self._opted_by: dict[str, dict[str, DaySet]] = {}  # agency -> camera -> days consented for it by name
        self._opted_any: dict[str, DaySet] = {}  # camera -> days consented for at least one agency
        # The per-camera counts (a binary search per camera) are kept per period until what they count changes:
        # a camera viewed on a new day, or a consent record.
        self._viewed_version = 0
        self._consent_version = 0
        self._counted: dict[tuple[str, str | None, int, int], tuple[int, int]] = {}

    # Folding ------------------------------------------------------------------------------------------------------

    def add_body(self, body: bytes) -> None:
        """Fold the next record of the log, given as its canonical bytes (parsed only if the report counts it)."""
        if any(marker in body for marker in _COUNTED):
            try:
                fields = json.loads(body)
            except ValueError:
                fields = None
            if isinstance(fields, dict):
                self.add(fields)
                return
        self.size += 1

    def add(self, record: Mapping[str, Any]) -> None:
        """Fold the next record of the log (records must come in log order, each once)."""
        self.size += 1
        kind = record.get("kind")
        try:
            if kind == Kind.VIEW_STARTED or kind == Kind.VIEW_DENIED:
                self._look(record)
            elif kind == Kind.VIEW_ENDED:
                self._ending(record)
            elif kind in _ACCESS:
                self._access(record)
            elif kind in _CONSENT:
                self._consent(record)
        except (KeyError, TypeError, ValueError):
            # The log is the hub's own, but one odd record must not stop the report from following the log.
            log.warning("audit: record %d has fields the transparency report cannot read; it counts nothing", self.size)

    def _books(self, agency: str | None) -> tuple[_Book, ...]:
        if agency is None:
            return (self._total,)
        book = self._agencies.get(agency)
        if book is None:
            book = self._agencies[agency] = _Book()
        return (self._total, book)

    def _look(self, record: Mapping[str, Any]) -> None:
        day, agency = day_of_text(record["time"]), agency_of(record)
        if record["kind"] == Kind.VIEW_DENIED:
            reason = str(record.get("denied", "unknown"))
            for book in self._books(agency):
                book.day(day).denied[reason] += 1
            return
        seq = record["seq"]
        camera = str(record.get("camera"))
        self._open_views[seq] = (day, agency)
        for book in self._books(agency):
            book.day(day).views += 1
            days = book.viewed.get(camera)
            if days is None:
                days = book.viewed[camera] = DaySet()
            if days.add(day, day):
                self._viewed_version += 1

    def _ending(self, record: Mapping[str, Any]) -> None:
        view = record.get("view")
        if not isinstance(view, int):
            return
        started = self._open_views.pop(view, None)
        if started is None:
            return  # not a view.started, or ended already (the first ending counts)
        day, agency = started
        milliseconds = non_negative(record.get("duration_ms"))
        withdrawn = record.get("ended_by") == WITHDRAWN
        for book in self._books(agency):
            counts = book.day(day)
            counts.milliseconds += milliseconds
            counts.cut_short += withdrawn

    def _access(self, record: Mapping[str, Any]) -> None:
        day = day_of_text(record["time"])
        agency = record.get("agency")
        for book in self._books(agency if isinstance(agency, str) else None):
            book.day(day).access[str(record["kind"])] += 1

    def _consent(self, record: Mapping[str, Any]) -> None:
        self._consent_version += 1
        camera = str(record.get("camera"))
        old = self._grants.pop(camera, None)
        if record["kind"] == Kind.CONSENT_GRANTED:
            starts, ends = parse_audit_time(record["starts"]), parse_audit_time(record["ends"])
            if old is not None:
                # The store swaps grants when the new one is written, which is also when it starts (now).
                self._close(camera, old, min(parse_audit_time(record["time"]), starts))
            listed = record.get("agencies")
            scope = None if listed is None else frozenset(str(a) for a in listed)
            self._grants[camera] = _Window(starts, ends, scope)
        elif old is not None:
            self._close(camera, old, parse_audit_time(record["at"]))

    def _close(self, camera: str, window: _Window, at: float) -> None:
        """Keep the days a window covered once it is cut short at `at` (replaced or withdrawn)."""
        ends = min(window.ends, at)
        if not window.starts < ends:
            return
        first, last = day_of(window.starts), last_day_before(ends)
        if window.agencies is None:
            targets = [self._opted_every, self._opted_any]
        elif window.agencies:
            targets = [self._opted_by.setdefault(a, {}) for a in window.agencies] + [self._opted_any]
        else:
            return  # an empty list covers no agency
        for cameras in targets:
            days = cameras.get(camera)
            if days is None:
                days = cameras[camera] = DaySet()
            days.add(first, last)

    # Answering ----------------------------------------------------------------------------------------------------

    def report(
        self, first: date, last: date, agency: str | None, agencies: Sequence[str], names: Mapping[str, str]
    ) -> Report:
        """The report over the UTC days first..last (both included), as `compute_report` would give it."""
        d1, d2 = first.toordinal(), last.toordinal()
        shown = [agency] if agency is not None else list(agencies)
        empty = _Book()
        rows = [self._row(a, self._agencies.get(a, empty), names.get(a, a), d1, d2) for a in shown]
        total = self._row(None, self._total, "All agencies", d1, d2)
        book = self._total if agency is None else self._agencies.get(agency, empty)
        per_day = []
        for number in range(d1, d2 + 1):
            counts = book.days.get(number)
            per_day.append((date.fromordinal(number), counts.views if counts is not None else 0))
        start = datetime(first.year, first.month, first.day, tzinfo=UTC).timestamp()
        after = last + timedelta(days=1)
        end = datetime(after.year, after.month, after.day, tzinfo=UTC).timestamp()
        return Report(start, end, agency, rows, total, per_day)

    def _row(self, agency: str | None, book: _Book, name: str, d1: int, d2: int) -> Figures:
        viewed = self._count(("viewed", agency, d1, d2), self._viewed_version, lambda: _viewed(book, d1, d2))
        opted = self._count(("opted", agency, d1, d2), self._consent_version, lambda: self._opted_in(agency, d1, d2))
        return self._figures(book, agency, name, d1, d2, viewed, opted)

    def _count(self, key: tuple[str, str | None, int, int], version: int, count: Callable[[], int]) -> int:
        """`count()`, or what it gave for this key while nothing it counts has changed."""
        kept = self._counted.get(key)
        if kept is not None and kept[0] == version:
            return kept[1]
        if len(self._counted) >= MAX_COUNTED:
            self._counted.clear()
        value = count()
        self._counted[key] = (version, value)
        return value

    @staticmethod
    def _figures(book: _Book, agency: str | None, name: str, d1: int, d2: int, cameras: int, opted_in: int) -> Figures:
        views = milliseconds = cut_short = 0
        denied: Counter[str] = Counter()
        access: Counter[str] = Counter()
        numbers = range(d1, d2 + 1) if d2 - d1 < len(book.days) else [d for d in book.days if d1 <= d <= d2]
        for number in numbers:
            counts = book.days.get(number)
            if counts is None:
                continue
            views += counts.views
            milliseconds += counts.milliseconds
            cut_short += counts.cut_short
            denied.update(counts.denied)
            access.update(counts.access)
        tenths = (milliseconds * 10 + 30_000) // 60_000  # tenths of a minute, halves up (as the report rounds)
        return Figures(
            agency, name, views, cameras, tenths / 10, {k: v for k, v in denied.items() if v}, cut_short, opted_in,
            access[Kind.ACCESS_REQUESTED], access[Kind.ACCESS_APPROVED], access[Kind.ACCESS_DECLINED],
            access[Kind.ACCESS_EXPIRED],
        )  # fmt: skip

    def _opted_in(self, agency: str | None, d1: int, d2: int) -> int:
        """How many cameras had consent for `agency` (None: for any agency) on some day of d1..d2."""
        sources = [self._opted_any] if agency is None else [self._opted_every, self._opted_by.get(agency, {})]
        cameras = {camera for found in sources for camera, days in found.items() if days.overlaps(d1, d2)}
        for camera, window in self._grants.items():
            if camera in cameras or not window.starts < window.ends:
                continue
            if agency is None and window.agencies is not None and not window.agencies:
                continue
            if agency is not None and window.agencies is not None and agency not in window.agencies:
                continue
            if day_of(window.starts) <= d2 and last_day_before(window.ends) >= d1:
                cameras.add(camera)
        return len(cameras)


def _viewed(book: _Book, d1: int, d2: int) -> int:
    """How many cameras the book's views looked at on some day of d1..d2."""
    return sum(1 for days in book.viewed.values() if days.overlaps(d1, d2))


# Snapshots ---------------------------------------------------------------------------------------------------------


def _days_json(days: Mapping[str, DaySet]) -> list[Any]:
    return [[camera, found.as_json()] for camera, found in days.items()]


def _days_from(rows: list[Any]) -> dict[str, DaySet]:
    return {str(camera): DaySet.from_json(ranges) for camera, ranges in rows}


def _book_json(agency: str | None, book: _Book) -> list[Any]:
    days = [[d, c.views, c.milliseconds, c.cut_short, dict(c.denied), dict(c.access)] for d, c in book.days.items()]
    return [agency, days, _days_json(book.viewed)]


def snapshot(tally: ReportTally, root: str) -> dict[str, Any]:
    """The tally as plain JSON values (fresh containers: safe to encode in another thread), with the root of the
    tree of the records it folded (so a hub can tell it belongs to its log)."""
    books = [_book_json(None, tally._total), *(_book_json(a, book) for a, book in tally._agencies.items())]
    grants = [
        [camera, w.starts, w.ends, None if w.agencies is None else sorted(w.agencies)]
        for camera, w in tally._grants.items()
    ]
    return {
        "version": SNAPSHOT_VERSION,
        "size": tally.size,
        "root": root,
        "books": books,
        "open": [[seq, day, agency] for seq, (day, agency) in tally._open_views.items()],
        "grants": grants,
        "every": _days_json(tally._opted_every),
        "by": [[agency, _days_json(cameras)] for agency, cameras in tally._opted_by.items()],
        "any": _days_json(tally._opted_any),
    }


def from_snapshot(data: Mapping[str, Any]) -> tuple[ReportTally, str]:
    """The tally a snapshot holds and the root it was taken at; ValueError if it is not one this hub reads."""
    if data.get("version") != SNAPSHOT_VERSION:
        raise ValueError(f"report snapshot version {data.get('version')!r}, not {SNAPSHOT_VERSION}")
    try:
        tally = ReportTally()
        tally.size = int(data["size"])
        for agency, days, viewed in data["books"]:
            book = _Book(
                {int(d): _Day(v, ms, cut, Counter(den), Counter(acc)) for d, v, ms, cut, den, acc in days},
                _days_from(viewed),
            )
            if agency is None:
                tally._total = book
            else:
                tally._agencies[str(agency)] = book
        tally._open_views = {int(seq): (int(day), agency) for seq, day, agency in data["open"]}
        tally._grants = {
            str(c): _Window(float(a), float(b), None if scope is None else frozenset(scope))
            for c, a, b, scope in data["grants"]
        }
        tally._opted_every = _days_from(data["every"])
        tally._opted_by = {str(agency): _days_from(rows) for agency, rows in data["by"]}
        tally._opted_any = _days_from(data["any"])
        return tally, str(data["root"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"the report snapshot is malformed: {exc}") from exc
