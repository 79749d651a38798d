"""The running report (hub/audit/tally.py) equals the full scan (compute_report) for any log and any period."""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from hub.audit.days import DaySet
from hub.audit.record import Kind, audit_time, encode
from hub.audit.report import compute_report
from hub.audit.tally import ReportTally, from_snapshot, snapshot

AGENCIES = ["county", "metro", "state"]
NAMES = {"county": "County", "metro": "Metro PD"}
FIRST = date(2026, 3, 1)
SPAN_DAYS = 12
CAMERAS = ["front", "back", "porch", "gate", "shop"]


def _midnight(day: date) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()


def _when(rng: random.Random) -> float:
    # Some moments exactly at midnight: the edges of periods and windows.
    day = FIRST + timedelta(days=rng.randrange(SPAN_DAYS))
    return _midnight(day) + (0 if rng.random() < 0.1 else rng.randrange(86_400 * 100) / 100)


def random_log(rng: random.Random, size: int) -> list[dict[str, Any]]:
    """`size` records of every kind the report reads (and some it ignores); a view.ended names an earlier record,
    as the hub's do."""
    records: list[dict[str, Any]] = []
    started: list[int] = []
    for seq in range(size):
        when = _when(rng)
        agency = rng.choice([*AGENCIES, "unknown-agency", None])
        actor = None if agency is None else {"id": 1, "username": "o", "role": "officer", "agency": agency}
        camera = rng.choice(CAMERAS)
        kind = rng.choice(list(Kind))
        fields: dict[str, Any] = {"camera": camera, "owner": 1}
        if kind is Kind.VIEW_STARTED:
            started.append(seq)
        elif kind is Kind.VIEW_DENIED:
            fields["denied"] = rng.choice(["no_grant", "outside_pilot", "agency"])
        elif kind is Kind.VIEW_ENDED:
            fields.update(
                view=rng.choice(started) if started and rng.random() < 0.9 else rng.randrange(seq + 1),
                duration_ms=rng.choice([rng.randrange(200_000), None, -5, 30_000]),
                ended_by=rng.choice(["withdrawn", "viewer_left", "hub_restarted"]),
            )
        elif kind in (Kind.ACCESS_REQUESTED, Kind.ACCESS_APPROVED, Kind.ACCESS_DECLINED, Kind.ACCESS_EXPIRED):
            fields["agency"] = rng.choice([*AGENCIES, None])
        elif kind is Kind.CONSENT_GRANTED:
            starts = when - rng.choice([0, 0, 3600])
            ends = starts + rng.choice([60, 3600, 86_400, 5 * 86_400, 86_400 - (starts % 86_400)])
            choice = rng.random()
            agencies = None if choice < 0.4 else [] if choice < 0.5 else rng.sample(AGENCIES, rng.randrange(1, 3))
            fields.update(starts=audit_time(starts), ends=audit_time(ends), agencies=agencies, version=seq)
        elif kind is Kind.CONSENT_WITHDRAWN:
            fields.update(at=audit_time(when + rng.choice([0, -100, 100])), version=seq)
        records.append({**fields, "seq": seq, "time": audit_time(when), "kind": kind.value, "hub": "h", "actor": actor})
    return records


def _periods(rng: random.Random) -> list[tuple[date, date, str | None]]:
    periods = []
    for _ in range(12):
        first = FIRST + timedelta(days=rng.randrange(-2, SPAN_DAYS + 2))
        last = first + timedelta(days=rng.randrange(0, 8))
        periods.append((first, last, rng.choice([None, None, *AGENCIES])))
    periods.append((FIRST - timedelta(days=5), FIRST + timedelta(days=SPAN_DAYS + 5), None))
    return periods


@pytest.mark.parametrize("seed", range(40))
def test_the_running_report_equals_the_full_scan(seed: int) -> None:
    rng = random.Random(seed)
    records = random_log(rng, rng.choice([0, 1, 20, 200, 800]))
    tally = ReportTally()
    checkpoints = sorted({rng.randrange(len(records) + 1) for _ in range(3)} | {len(records)})
    folded = 0
    for size in checkpoints:
        for record in records[folded:size]:
            tally.add(record)
        folded = size
        assert tally.size == size
        for first, last, agency in _periods(rng):
            start, end = _midnight(first), _midnight(last + timedelta(days=1))
            scan = compute_report(records[:size], start, end, agency, AGENCIES, NAMES)
            assert tally.report(first, last, agency, AGENCIES, NAMES).as_json() == scan.as_json(), (size, first, last)


def test_a_day_set_merges_ranges_and_answers_overlaps() -> None:
    days = DaySet()
    for first, last in [(10, 10), (11, 11), (20, 25), (5, 6), (8, 8), (7, 7), (13, 19), (30, 30), (26, 29)]:
        days.add(first, last)
    assert days.as_json() == [[5, 8], [10, 11], [13, 30]]
    assert days.overlaps(9, 9) is False and days.overlaps(9, 10) and days.overlaps(31, 40) is False
    assert days.overlaps(0, 4) is False and days.overlaps(0, 5) and days.overlaps(12, 12) is False
    assert DaySet.from_json(days.as_json()).as_json() == days.as_json()
    rng = random.Random(3)
    members: set[int] = set()
    days = DaySet()
    for _ in range(300):
        a = rng.randrange(100)
        b = a + rng.randrange(4)
        days.add(a, b)
        members.update(range(a, b + 1))
        lo = rng.randrange(105)
        hi = lo + rng.randrange(6)
        assert days.overlaps(lo, hi) == any(lo <= m <= hi for m in members)
    flat = [d for lo, hi in days.as_json() for d in range(lo, hi + 1)]
    assert flat == sorted(members)


def test_a_snapshot_holds_the_same_figures_and_folds_on() -> None:
    rng = random.Random(7)
    records = random_log(rng, 600)
    whole, half = ReportTally(), ReportTally()
    for record in records:
        whole.add(record)
    for record in records[:300]:
        half.add(record)
    text = json.dumps(snapshot(half, "root-at-300"))
    again, root = from_snapshot(json.loads(text))
    assert root == "root-at-300" and again.size == 300
    for record in records[300:]:
        again.add(record)
    for first, last, agency in _periods(rng):
        assert again.report(first, last, agency, AGENCIES, NAMES) == whole.report(first, last, agency, AGENCIES, NAMES)
    with pytest.raises(ValueError):
        from_snapshot({**json.loads(text), "version": 0})
    with pytest.raises(ValueError):
        from_snapshot({"version": 1, "size": 3})


def test_bodies_are_folded_like_fields() -> None:
    records = random_log(random.Random(11), 400)
    by_fields, by_bodies = ReportTally(), ReportTally()
    for record in records:
        by_fields.add(record)
        by_bodies.add_body(encode(record))
    assert by_bodies.size == by_fields.size == 400
    assert snapshot(by_bodies, "r") == snapshot(by_fields, "r")
