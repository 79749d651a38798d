"""The transparency report: every figure over hand-written records, its JSON and CSV, and the HTML page."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from typing import Any

import pytest

from hub.api.transparency import parse_query
from hub.audit.checkpoint import Checkpoint
from hub.audit.record import Kind, audit_time
from hub.audit.report import compute_report, consent_windows, utc_days
from hub.audit.report_page import render_page
from hub.errors import BadRequest

DAY = 86_400.0
T0 = datetime(2026, 3, 1, tzinfo=UTC).timestamp()  # the period: three UTC days, [T0, END)
END = T0 + 3 * DAY
AGENCIES = ["county", "metro"]


def rec(seq: int, kind: Kind, when: float, agency: str | None = None, /, **fields: Any) -> dict[str, Any]:
    """A record's fields as `Record.fields()` gives them (views' actor is the officer)."""
    actor = None if agency is None else {"id": seq, "username": f"o{seq}", "role": "officer", "agency": agency}
    return {
        "seq": seq,
        "time": audit_time(when),
        "kind": kind.value,
        "hub": "h1",
        "source": None,
        "actor": actor,
        **fields,
    }


def started(seq: int, at: float, agency: str | None, camera: str) -> dict[str, Any]:
    return rec(seq, Kind.VIEW_STARTED, at, agency, camera=camera, owner=1, case="c", reason="r", request=seq - 1)


def ended(seq: int, view: int, at: float, agency: str, ms: int, by: str = "viewer_left") -> dict[str, Any]:
    fields = {"camera": "x", "owner": 1, "case": "c", "reason": "r", "view": view, "started": audit_time(at)}
    return rec(seq, Kind.VIEW_ENDED, at, agency, **fields, ended=audit_time(at), duration_ms=ms, ended_by=by)


def denied(seq: int, at: float, agency: str | None, why: str) -> dict[str, Any]:
    return rec(seq, Kind.VIEW_DENIED, at, agency, camera="a", owner=1, case="c", reason="r", request=seq, denied=why)


def granted(seq: int, at: float, camera: str, starts: float, ends: float, agencies: list[str] | None) -> dict[str, Any]:
    fields = {"camera": camera, "owner": 1, "agencies": agencies, "version": seq}
    return rec(seq, Kind.CONSENT_GRANTED, at, starts=audit_time(starts), ends=audit_time(ends), **fields)


def withdrawn(seq: int, camera: str, at: float) -> dict[str, Any]:
    return rec(seq, Kind.CONSENT_WITHDRAWN, at, camera=camera, owner=1, at=audit_time(at), version=seq)


def report(records: list[dict[str, Any]], agency: str | None = None, **kw: Any) -> Any:
    return compute_report(records, T0, END, agency, AGENCIES, **kw)


VIEWS = [
    started(1, T0, "metro", "a"),  # the first instant of the period is in it
    started(2, T0 + 10, "metro", "a"),
    started(3, T0 + 20, "county", "b"),
    started(4, T0 - 0.01, "metro", "c"),  # just before
    started(5, END, "county", "b"),  # the end is excluded
    ended(6, 1, T0 + 100, "metro", 90_000),
    ended(7, 2, T0 + 100, "metro", 45_000, "withdrawn"),
    ended(8, 4, T0 + 100, "metro", 60_000, "withdrawn"),  # ends a view started before the period
    ended(9, 5, END + 100, "county", 60_000, "withdrawn"),
    # view 3 is still open: no view.ended yet
]


def test_views_cameras_minutes_and_withdrawals_per_agency_and_total() -> None:
    result = report(VIEWS)
    metro, county = result.rows[1], result.rows[0]
    assert [row.agency for row in result.rows] == AGENCIES
    assert (metro.views, metro.cameras_viewed, metro.minutes_watched, metro.cut_short_by_withdrawal) == (2, 1, 2.3, 1)
    assert (county.views, county.cameras_viewed, county.minutes_watched, county.cut_short_by_withdrawal) == (1, 1, 0, 0)
    total = result.total
    assert total.agency is None
    assert (total.views, total.cameras_viewed, total.minutes_watched, total.cut_short_by_withdrawal) == (3, 2, 2.3, 1)


def test_a_view_counts_whole_even_when_it_ends_after_the_period() -> None:
    records = [started(1, END - 60, "metro", "a"), ended(2, 1, END + 3600, "metro", 3_660_000)]
    assert report(records).rows[1].minutes_watched == 61.0


def test_minutes_round_to_a_tenth_halves_up_and_the_total_once() -> None:
    records = [
        started(1, T0, "metro", "a"),
        started(2, T0, "county", "b"),
        ended(3, 1, T0 + 1, "metro", 3_000),  # 0.05 min
        ended(4, 2, T0 + 1, "county", 2_999),  # 0.0499... min
    ]
    result = report(records)
    assert (result.rows[1].minutes_watched, result.rows[0].minutes_watched) == (0.1, 0.0)
    assert result.total.minutes_watched == 0.1  # 5 999 ms, rounded once


def test_odd_durations_add_nothing() -> None:
    records = [started(1, T0, "metro", "a"), ended(2, 1, T0 + 1, "metro", 60_000) | {"duration_ms": -5}]
    assert report(records).total.minutes_watched == 0


def test_denials_by_reason_in_the_period() -> None:
    records = [
        denied(1, T0, "metro", "no_grant"),
        denied(2, T0 + 1, "metro", "no_grant"),
        denied(3, T0 + 2, "metro", "agency_out_of_scope"),
        denied(4, T0 + 3, "county", "withdrawn"),
        denied(5, T0 + 4, None, "not_an_officer"),  # no agency: the total only
        denied(6, END, "metro", "no_grant"),
        denied(7, T0 - 1, "county", "no_grant"),
    ]
    result = report(records)
    assert result.rows[1].denied == {"no_grant": 2, "agency_out_of_scope": 1}
    assert result.rows[0].denied == {"withdrawn": 1}
    assert result.total.denied == {"no_grant": 2, "agency_out_of_scope": 1, "withdrawn": 1, "not_an_officer": 1}


CONSENT = [
    granted(1, T0 - 200, "everyone", T0 - 100, T0 + 50, None),
    granted(2, T0 + 5, "metro-only", T0 + 5, T0 + 500, ["metro"]),
    granted(3, T0 - 200, "withdrawn-before", T0 - 100, T0 + DAY, None),
    withdrawn(4, "withdrawn-before", T0 - 10),
    granted(5, T0 - 200, "replaced", T0 - 100, T0 + 10 * DAY, None),
    granted(6, T0 - 50, "replaced", T0 - 50, T0 + 100, ["county"]),  # replaces the grant to everyone before T0
    granted(7, T0 - 200, "nobody", T0, T0 + 100, []),
    granted(8, T0 - 200, "after", END, END + 100, None),
    granted(9, T0 - 200, "before", T0 - 100, T0, None),
    withdrawn(10, "never-granted", T0 + 5),
    granted(11, T0 - 300, "regranted", T0 - 100, T0 + DAY, None),
    withdrawn(12, "regranted", T0 - 50),
    granted(13, T0 + 10, "regranted", T0 + 10, T0 + 20, ["metro"]),
]


def test_cameras_opted_in_per_agency_and_total() -> None:
    result = report(CONSENT)
    assert result.rows[1].cameras_opted_in == 3  # everyone, metro-only, regranted
    assert result.rows[0].cameras_opted_in == 2  # everyone, replaced
    assert result.total.cameras_opted_in == 4  # not "nobody": an empty list covers no agency


def test_consent_is_taken_in_log_order_whatever_the_input_order() -> None:
    assert report(list(reversed(CONSENT))) == report(CONSENT)


def test_a_withdrawal_inside_the_period_keeps_the_camera_counted() -> None:
    records = [granted(1, T0 - 10, "a", T0 - 10, END + DAY, None), withdrawn(2, "a", T0 + DAY)]
    windows = consent_windows(records)
    assert [(w.starts, w.ends) for w in windows] == [(T0 - 10, T0 + DAY)]
    assert report(records).total.cameras_opted_in == 1


def test_a_new_grant_replaces_the_old_from_when_it_starts() -> None:
    # The new grant starts "now" and its record is written a moment later: the old one ended at the start.
    records = [
        granted(1, T0 - 200, "a", T0 - 100, END + DAY, None),
        granted(2, T0 + 0.01, "a", T0 - 0.01, END + DAY, ["county"]),
    ]
    result = report(records)
    assert (result.rows[0].cameras_opted_in, result.rows[1].cameras_opted_in) == (1, 0)


def test_views_without_an_agency_count_in_the_total_only() -> None:
    result = report([started(1, T0, None, "a")])
    assert (result.total.views, result.rows[0].views, result.rows[1].views) == (1, 0, 0)


def test_one_agency_asked() -> None:
    result = report(VIEWS + CONSENT, "county")
    assert [row.agency for row in result.rows] == ["county"]
    assert (result.rows[0].views, result.rows[0].cameras_opted_in) == (1, 2)
    assert result.total.views == 3  # the whole hub, for context
    assert sum(views for _, views in result.views_per_day) == 1


def test_views_per_day_lists_every_day_with_zeros() -> None:
    records = [started(1, T0 + 1, "metro", "a"), started(2, T0 + 2, "county", "a"), started(3, END - 1, "metro", "b")]
    days = [(date(2026, 3, 1), 2), (date(2026, 3, 2), 0), (date(2026, 3, 3), 1)]
    assert report(records).views_per_day == days
    assert report(records, "metro").views_per_day == [(d, n) for (d, _), n in zip(days, [1, 0, 1], strict=True)]


def test_utc_days_cover_the_period() -> None:
    assert utc_days(T0, T0 + DAY) == [date(2026, 3, 1)]
    assert utc_days(T0 + DAY / 2, T0 + DAY + 1) == [date(2026, 3, 1), date(2026, 3, 2)]
    assert utc_days(T0, T0) == []


def test_json_shape() -> None:
    body = report([*VIEWS, denied(20, T0, "metro", "no_grant")], names={"metro": "Metro PD"}).as_json()
    assert json.loads(json.dumps(body)) == body
    assert body["period"] == {"start": "2026-03-01T00:00:00.00Z", "end": "2026-03-04T00:00:00.00Z"}
    assert body["agency"] is None
    metro = body["agencies"][1]
    assert metro == {
        "agency": "metro",
        "name": "Metro PD",
        "views": 2,
        "cameras_viewed": 1,
        "minutes_watched": 2.3,
        "cut_short_by_withdrawal": 1,
        "cameras_opted_in": 0,
        "access_requested": 0,
        "access_approved": 0,
        "access_declined": 0,
        "access_expired": 0,
        "denied": {"no_grant": 1},
    }
    assert body["total"]["agency"] is None
    assert body["views_per_day"][0] == {"date": "2026-03-01", "views": 3}


def test_csv_shape() -> None:
    records = [*VIEWS, denied(20, T0, "metro", "no_grant"), denied(21, T0, "county", "withdrawn")]
    rows = list(csv.reader(io.StringIO(report(records, names={"county": "=HYPERLINK(1)"}).as_csv())))
    assert rows[0] == [
        "agency",
        "name",
        "views",
        "cameras_viewed",
        "minutes_watched",
        "cut_short_by_withdrawal",
        "cameras_opted_in",
        "access_requested",
        "access_approved",
        "access_declined",
        "access_expired",
        "denied_no_grant",
        "denied_withdrawn",
    ]
    none = ["0", "0", "0", "0"]  # no access requests
    assert rows[1] == ["county", "'=HYPERLINK(1)", "1", "1", "0.0", "0", "0", *none, "0", "1"]
    assert rows[2] == ["metro", "metro", "2", "1", "2.3", "1", "0", *none, "1", "0"]
    assert rows[3][0] == "total" and rows[3][2:] == ["3", "2", "2.3", "1", "0", *none, "1", "1"]
    assert len(rows) == 4


# -- the page ----------------------------------------------------------------------------------------------------

CHECKPOINT = Checkpoint("porchlight.example/audit", 42, bytes(range(32)), "porchlight.example/audit\n42\nAA==\n")
VOID = {"meta", "input", "br", "img", "link", "hr", "wbr", "source", "area", "col", "base"}


class Page(HTMLParser):
    """Checks that tags nest and close, and collects what the tests look at."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1] == tag, f"</{tag}> closes <{self.open[-1] if self.open else None}>"
        self.open.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    page.close()
    assert page.open == []
    return page


HOSTILE = '"><script>alert(1)</script><img src=//evil.example/x>'


def page_for(agency: str | None = None) -> tuple[str, Page]:
    agencies = [("county", "County Sheriff"), ("metro", HOSTILE)]
    result = compute_report(VIEWS + CONSENT, T0, END, agency, ["county", "metro"], dict(agencies))
    html = render_page(result, CHECKPOINT, agencies)
    return html, parse(html)


def test_page_is_well_formed_and_self_contained() -> None:
    html, page = page_for()
    assert html.startswith("<!doctype html>")
    assert not any(tag == "script" for tag, _ in page.tags)
    assert "http://" not in html and "https://" not in html
    links = [value for _, attrs in page.tags for key, value in attrs.items() if key in ("src", "href", "action")]
    assert all(value and not value.startswith("//") for value in links)
    assert sorted(v for v in links if v and v.startswith("api/")) == [
        "api/transparency.csv?from=2026-03-01&to=2026-03-03",
        "api/transparency?from=2026-03-01&to=2026-03-03",
    ]


def test_page_escapes_a_hostile_agency_name() -> None:
    html, page = page_for()
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert HOSTILE in "".join(page.text)


def test_page_chart_has_one_bar_per_day_with_exact_counts() -> None:
    html, page = page_for()
    svg = [attrs for tag, attrs in page.tags if tag == "svg"]
    assert len(svg) == 1
    assert svg[0]["role"] == "img" and svg[0]["viewbox"] == "0 0 480 220" and svg[0]["width"] == "100%"
    assert "3 views in 3 days" in (svg[0]["aria-label"] or "")
    bars = [attrs for tag, attrs in page.tags if tag == "rect" and attrs.get("class") == "bar"]
    assert len(bars) == 3
    assert "<title>2026-03-01: 3 views</title>" in html and "<title>2026-03-02: 0 views</title>" in html


def test_page_for_one_agency_names_it_and_the_checkpoint() -> None:
    html, page = page_for("county")
    assert "Views per day: County Sheriff" in "".join(page.text)
    assert '<option value="county" selected>' in html
    assert "api/transparency?from=2026-03-01&amp;to=2026-03-03&amp;agency=county" in html
    assert "tree size 42" in html and "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=" in html
    assert "<pre>porchlight.example/audit\n42\nAA==\n</pre>" in html


# -- the query ---------------------------------------------------------------------------------------------------

TODAY = date(2026, 3, 31)


def test_query_defaults_to_the_last_30_days_ending_today() -> None:
    query = parse_query({}, AGENCIES, TODAY)
    assert (query.first, query.last, query.agency) == (date(2026, 3, 2), TODAY, None)
    assert query.end - query.start == 30 * DAY


def test_query_to_is_the_last_day_included() -> None:
    query = parse_query({"from": "2026-03-01", "to": "2026-03-03", "agency": "metro"}, AGENCIES, TODAY)
    assert (query.start, query.end, query.agency) == (T0, END, "metro")


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"from": "2026-3-1"}, "bad_date"),
        ({"to": "20260301"}, "bad_date"),
        ({"to": "2026-02-30"}, "bad_date"),
        ({"from": "1969-12-31", "to": "1970-01-01"}, "bad_date"),
        ({"from": "2026-03-02", "to": "2026-03-01"}, "bad_period"),
        ({"from": "2025-03-30", "to": "2026-03-31"}, "period_too_long"),
        ({"agency": "nope"}, "unknown_agency"),
    ],
)
def test_bad_queries(params: dict[str, str], reason: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_query(params, AGENCIES, TODAY)
    assert caught.value.reason == reason


def test_a_year_and_a_day_is_allowed() -> None:
    assert parse_query({"from": "2025-03-31", "to": "2026-03-31"}, AGENCIES, TODAY).first == date(2025, 3, 31)


def _access(seq: int, kind: str, at: float, agency: str | None) -> dict[str, object]:
    return {"seq": seq, "kind": kind, "time": audit_time(at), "agency": agency, "camera": "cam", "request": 1}


def test_access_requests_and_answers_per_agency() -> None:
    records = [
        _access(30, "access.requested", T0, "metro"),
        _access(31, "access.requested", T0 + 60, "metro"),
        _access(32, "access.requested", T0 + 60, "county"),
        _access(33, "access.approved", T0 + 120, "metro"),
        _access(34, "access.declined", T0 + 120, "county"),
        _access(35, "access.expired", T0 + 900, "metro"),
        _access(36, "access.requested", T0 - 60, "metro"),  # before the period
    ]
    result = report(records)
    county, metro = result.rows
    assert (metro.access_requested, metro.access_approved, metro.access_declined, metro.access_expired) == (2, 1, 0, 1)
    assert (county.access_requested, county.access_declined) == (1, 1)
    assert result.total.access_requested == 3
