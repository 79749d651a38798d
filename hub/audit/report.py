"""The public transparency report: what officers looked at over a period, computed from the audit log alone.

Pure computation over record field dicts (as `Record.fields()` returns them): no I/O, no clock. The period is
half-open, [start, end) in Unix seconds, and a record is "in the period" when its `time` is. Each agency's row
holds these figures (docs/api.md quotes these definitions):

- `views`: the view.started records in the period whose officer (the record's `actor.agency`) is in the agency.
- `cameras_viewed`: how many distinct cameras those view.started records name.
- `minutes_watched`: the sum of `duration_ms` of the view.ended records that end one of those views (matched by
  the view.ended `view` field, the seq of its view.started), over 60 000, rounded to the nearest 0.1 minute
  (halves up). A view counts whole, even the part after the period's end. A view still open when the report is
  computed has no view.ended record yet and adds nothing: its minutes appear once it ends.
- `denied`: the view.denied records in the period from the agency's officers, counted by their `denied` reason
  (reason -> count; only reasons that occur).
- `cut_short_by_withdrawal`: the view.ended records with `ended_by` "withdrawn" that end one of the agency's views
  started in the period.
- `cameras_opted_in`: how many distinct cameras had consent for the agency at some moment of the period. A
  consent.granted record gives consent over [starts, ends) for its `agencies` (null covers every agency, a list
  only those named), cut short at the `at` of the first later consent.withdrawn of the same camera, or where
  the first later consent.granted of the same camera replaces it (a new grant replaces the old): at the earlier
  of that record's `time` and its `starts`. "Later" is log order (seq). Consent counts when that window overlaps
  the period (both half-open).

- `access_requested`: the access.requested records in the period from the agency's officers (an officer asking a
  camera's owner for live access); `access_approved`, `access_declined`, `access_expired`: the answers recorded
  in the period (access.approved, access.declined, access.expired) to the agency's requests, by their `agency`.

The `total` row applies the same definitions to every record whatever the agency (views by officers of any
agency, and cameras opted in for at least one agency): it is the whole hub even when one agency is asked, so it
is not always the sum of the rows shown. Minutes in the total are rounded once, from the summed milliseconds.

`views_per_day` lists every UTC calendar day that overlaps the period, zeros included, with its count of the
views above (the one agency asked, or the total).
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from hub.audit.record import Kind, audit_time, parse_audit_time
from hub.consent.decision import Reason

WITHDRAWN = Reason.WITHDRAWN.value
"""The `ended_by` of a view.ended record when the owner's withdrawal ended the view."""

ACCESS_KINDS = (Kind.ACCESS_REQUESTED, Kind.ACCESS_APPROVED, Kind.ACCESS_DECLINED, Kind.ACCESS_EXPIRED)

TOTAL = "total"
"""The label of the total row in the CSV."""

FIGURES = (
    "views",
    "cameras_viewed",
    "minutes_watched",
    "cut_short_by_withdrawal",
    "cameras_opted_in",
    "access_requested",
    "access_approved",
    "access_declined",
    "access_expired",
)
"""The single-number figures, in the order the CSV and the page show them (`denied` follows)."""


@dataclass(frozen=True, slots=True)
class Figures:
    """One row of the report: an agency's figures (or the total, whose `agency` is None)."""

    agency: str | None
    name: str
    views: int
    cameras_viewed: int
    minutes_watched: float
    denied: dict[str, int]
    cut_short_by_withdrawal: int
    cameras_opted_in: int
    access_requested: int = 0
    access_approved: int = 0
    access_declined: int = 0
    access_expired: int = 0

    def as_json(self) -> dict[str, Any]:
        """The row as a JSON object."""
        row: dict[str, Any] = {"agency": self.agency, "name": self.name}
        row.update({figure: getattr(self, figure) for figure in FIGURES})
        row["denied"] = dict(sorted(self.denied.items()))
        return row


@dataclass(frozen=True, slots=True)
class Report:
    """The report over [start, end): one row per agency shown, the total, and views per UTC day."""

    start: float
    end: float
    agency: str | None
    rows: list[Figures]
    total: Figures
    views_per_day: list[tuple[date, int]]

    def denied_reasons(self) -> list[str]:
        """Every denial reason that occurs in any row, sorted."""
        return sorted({reason for row in [*self.rows, self.total] for reason in row.denied})

    def as_json(self) -> dict[str, Any]:
        """The report as a JSON object (times as audit_time strings; `end` is exclusive)."""
        return {
            "period": {"start": audit_time(self.start), "end": audit_time(self.end)},
            "agency": self.agency,
            "agencies": [row.as_json() for row in self.rows],
            "total": self.total.as_json(),
            "views_per_day": [{"date": day.isoformat(), "views": views} for day, views in self.views_per_day],
        }

    def as_csv(self) -> str:
        """A header row, one row per agency, then the "total" row; a `denied_<reason>` column per reason."""
        reasons = self.denied_reasons()
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["agency", "name", *FIGURES, *(f"denied_{reason}" for reason in reasons)])
        for row in [*self.rows, self.total]:
            label = TOTAL if row.agency is None else row.agency
            figures = [getattr(row, figure) for figure in FIGURES]
            writer.writerow([_cell(label), _cell(row.name), *figures, *(row.denied.get(r, 0) for r in reasons)])
        return out.getvalue()


def _cell(text: str) -> str:
    # A spreadsheet would run a cell starting like a formula; agency names are admin-chosen text, never formulas.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@dataclass(slots=True)
class _Tally:
    views: int = 0
    cameras: set[str] = field(default_factory=set)
    milliseconds: int = 0
    denied: Counter[str] = field(default_factory=Counter)
    cut_short: int = 0
    opted_in: set[str] = field(default_factory=set)
    access: Counter[str] = field(default_factory=Counter)  # access.* kind -> count

    def figures(self, agency: str | None, name: str) -> Figures:
        # Integer arithmetic rounds exactly: tenths of a minute, halves up.
        tenths = (self.milliseconds * 10 + 30_000) // 60_000
        cameras, opted_in = len(self.cameras), len(self.opted_in)
        a = self.access
        return Figures(
            agency, name, self.views, cameras, tenths / 10, dict(self.denied), self.cut_short, opted_in,
            a[Kind.ACCESS_REQUESTED], a[Kind.ACCESS_APPROVED], a[Kind.ACCESS_DECLINED], a[Kind.ACCESS_EXPIRED],
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Consent:
    camera: str
    starts: float
    ends: float
    agencies: frozenset[str] | None


def compute_report(
    records: Iterable[Mapping[str, Any]],
    start: float,
    end: float,
    agency: str | None,
    agencies: Sequence[str],
    names: Mapping[str, str] | None = None,
) -> Report:
    """The report over [start, end) for `agency` (or every agency in `agencies`, when None), as the module says.

    `records` are field dicts in any order (consent is put in log order by `seq`); records of other kinds are
    ignored. `names` gives agencies' display names (the id when missing).
    """
    shown = [agency] if agency is not None else list(agencies)
    counts = _Counts(start, end, agency)
    consent: list[Mapping[str, Any]] = []
    for record in records:
        kind = record.get("kind")
        if kind in (Kind.CONSENT_GRANTED, Kind.CONSENT_WITHDRAWN):
            consent.append(record)
        elif kind == Kind.VIEW_ENDED and isinstance(record.get("view"), int):
            counts.ended.setdefault(record["view"], record)
        elif kind in (Kind.VIEW_STARTED, Kind.VIEW_DENIED):
            counts.add_look(record)
        elif kind in ACCESS_KINDS:
            counts.add_access(record)
    counts.add_endings()
    counts.add_consent(consent_windows(consent), shown)
    label = names or {}
    return Report(
        start,
        end,
        agency,
        [counts.of(name).figures(name, label.get(name, name)) for name in shown],
        counts.total.figures(None, "All agencies"),
        [(day, counts.days[day]) for day in utc_days(start, end)],
    )


@dataclass(slots=True)
class _Counts:
    """The running tallies of one report."""

    start: float
    end: float
    agency: str | None
    total: _Tally = field(default_factory=_Tally)
    tallies: dict[str, _Tally] = field(default_factory=dict)
    started: dict[int, str | None] = field(default_factory=dict)  # seq of a view.started in the period -> agency
    ended: dict[int, Mapping[str, Any]] = field(default_factory=dict)  # seq of a view.started -> its view.ended
    days: Counter[date] = field(default_factory=Counter)

    def of(self, agency: str) -> _Tally:
        return self.tallies.setdefault(agency, _Tally())

    def both(self, agency: str | None) -> list[_Tally]:
        """The tallies a record of this agency adds to: the total, and the agency's own when it has one."""
        return [self.total] if agency is None else [self.total, self.of(agency)]

    def add_look(self, record: Mapping[str, Any]) -> None:
        """Count a view.started or view.denied record, if it is in the period."""
        moment = parse_audit_time(record["time"])
        if not self.start <= moment < self.end:
            return
        agency = agency_of(record)
        if record["kind"] == Kind.VIEW_DENIED:
            for t in self.both(agency):
                t.denied[str(record.get("denied", "unknown"))] += 1
            return
        self.started[record["seq"]] = agency
        for t in self.both(agency):
            t.views += 1
            t.cameras.add(str(record.get("camera")))
        if self.agency is None or agency == self.agency:
            self.days[datetime.fromtimestamp(moment, UTC).date()] += 1

    def add_access(self, record: Mapping[str, Any]) -> None:
        """Count an access.* record in the period, for the agency of the request it is about."""
        if self.start <= parse_audit_time(record["time"]) < self.end:
            agency = record.get("agency")
            for t in self.both(agency if isinstance(agency, str) else None):
                t.access[str(record["kind"])] += 1

    def add_endings(self) -> None:
        """Add the minutes and withdrawals of the views started in the period that have ended."""
        for seq, agency in self.started.items():
            ending = self.ended.get(seq)
            if ending is None:
                continue  # still open: its minutes count once it ends
            for t in self.both(agency):
                t.milliseconds += non_negative(ending.get("duration_ms"))
                if ending.get("ended_by") == WITHDRAWN:
                    t.cut_short += 1

    def add_consent(self, windows: Iterable[_Consent], shown: Sequence[str]) -> None:
        """Count the cameras whose consent window overlaps the period, per agency it covers."""
        for window in windows:
            if not (window.starts < self.end and window.ends > self.start and window.starts < window.ends):
                continue
            if window.agencies is None or window.agencies:  # an empty list covers no agency
                self.total.opted_in.add(window.camera)
            for agency in shown:
                if window.agencies is None or agency in window.agencies:
                    self.of(agency).opted_in.add(window.camera)


def consent_windows(records: Iterable[Mapping[str, Any]]) -> list[_Consent]:
    """Each consent.granted record's window [starts, ends), cut as the module says (possibly empty)."""
    current: dict[str, _Consent] = {}
    windows: list[_Consent] = []
    for record in sorted(records, key=lambda r: int(r.get("seq", 0))):
        camera = str(record.get("camera"))
        old = current.pop(camera, None)
        if record.get("kind") == Kind.CONSENT_GRANTED:
            starts, ends = parse_audit_time(record["starts"]), parse_audit_time(record["ends"])
            if old is not None:
                # The store swaps grants when the new one is written, which is also when it starts (now).
                windows.append(_cut(old, min(parse_audit_time(record["time"]), starts)))
            listed = record.get("agencies")
            scope = None if listed is None else frozenset(str(a) for a in listed)
            current[camera] = _Consent(camera, starts, ends, scope)
        elif old is not None:
            windows.append(_cut(old, parse_audit_time(record["at"])))
    return windows + list(current.values())


def _cut(window: _Consent, at: float) -> _Consent:
    return _Consent(window.camera, window.starts, min(window.ends, at), window.agencies)


def utc_days(start: float, end: float) -> list[date]:
    """Every UTC calendar day that overlaps [start, end), in order."""
    days: list[date] = []
    day = datetime.fromtimestamp(start, UTC).date()
    while _midnight(day) < end:
        days.append(day)
        day += timedelta(days=1)
    return days


def _midnight(day: date) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()


def agency_of(record: Mapping[str, Any]) -> str | None:
    """The acting officer's agency a record names, if any."""
    actor = record.get("actor")
    value = actor.get("agency") if isinstance(actor, dict) else None
    return value if isinstance(value, str) else None


def non_negative(value: object) -> int:
    """A count or duration read from a record, 0 unless a positive integer."""
    # The log is the hub's own, but one odd record must not break the public page.
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
