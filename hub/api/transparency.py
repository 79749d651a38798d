"""The public transparency report: an HTML page, JSON and CSV, open to anyone without logging in.

Query parameters (all optional), the same for the three routes:

- `from`: the first UTC day shown, YYYY-MM-DD. Default: 29 days before `to` (so 30 days in all).
- `to`: the last UTC day shown, YYYY-MM-DD, included (the period ends at the midnight after it). Default: today.
- `agency`: an agency id; only that agency's row (and its views per day). Empty or absent: every agency.

The period runs from `from` 00:00 UTC to the midnight after `to`, at most 366 days. A malformed date answers 400
`bad_date`, `to` before `from` 400 `bad_period`, more than 366 days 400 `period_too_long`, an agency the store
does not know 400 `unknown_agency`. Every answer gives the figures of exactly the records one fresh signed
checkpoint covers (named in the answer), so anyone can check them against the log. They come from running
figures the hub keeps as records are appended (hub/audit/tally.py), not from a scan: a request costs a loop over
the period's days and a binary search per camera, whatever the log's size. The three routes are public and
rate-limited per client address (`limits.public_per_source`; 429 with Retry-After).
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from aiohttp import web

from hub.api.audit import limit_public
from hub.audit.checkpoint import Checkpoint
from hub.audit.report import Report
from hub.audit.report_page import render_page
from hub.auth.identity import public
from hub.errors import BadRequest
from hub.keys import AUDIT, STORE

MAX_DAYS = 366
DEFAULT_DAYS = 30

FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(9999, 12, 30)  # Unix time, and room for the midnight after `to`
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_FILENAME_SAFE = re.compile(r"[A-Za-z0-9_.-]+")


@dataclass(frozen=True, slots=True)
class Query:
    """A checked report query: the first and last UTC days shown (both included) and the agency, if one."""

    first: date
    last: date
    agency: str | None

    @property
    def start(self) -> float:
        """The period's start: midnight UTC opening the first day."""
        return _midnight(self.first)

    @property
    def end(self) -> float:
        """The period's end (exclusive): midnight UTC after the last day."""
        return _midnight(self.last + timedelta(days=1))

    def as_json(self) -> dict[str, str | None]:
        """The query as the answers echo it."""
        return {"from": self.first.isoformat(), "to": self.last.isoformat(), "agency": self.agency}


def parse_query(params: Mapping[str, str], agencies: list[str], today: date) -> Query:
    """The query from the request's parameters, or BadRequest naming what is wrong."""
    last = _date(params.get("to"), "to") or today
    first = _date(params.get("from"), "from") or max(last - timedelta(days=DEFAULT_DAYS - 1), FIRST_DAY)
    if last < first:
        raise BadRequest("`to` is before `from`", "bad_period")
    if (last - first).days + 1 > MAX_DAYS:
        raise BadRequest(f"a report covers at most {MAX_DAYS} days", "period_too_long")
    agency = params.get("agency") or None
    if agency is not None and agency not in agencies:
        raise BadRequest("there is no such agency", "unknown_agency")
    return Query(first, last, agency)


def _date(value: str | None, name: str) -> date | None:
    if not value:
        return None
    # fromisoformat alone would also take other ISO shapes (20260101, weeks); the form and the docs say YYYY-MM-DD.
    try:
        day = date.fromisoformat(value) if _DATE.fullmatch(value) else None
    except ValueError:
        day = None
    if day is None or not FIRST_DAY <= day <= LAST_DAY:
        raise BadRequest(f"`{name}` must be a date YYYY-MM-DD from {FIRST_DAY} to {LAST_DAY}", "bad_date")
    return day


def _midnight(day: date) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()


async def _report(request: web.Request) -> tuple[Report, Checkpoint, Query, list[tuple[str, str]]]:
    """The query's report, the checkpoint it was computed at, the query, and every agency as (id, name)."""
    limit_public(request)
    agencies = [(agency.id, agency.name) for agency in await request.app[STORE].list_agencies()]
    today = datetime.fromtimestamp(time.time(), UTC).date()
    query = parse_query(request.query, [agency_id for agency_id, _ in agencies], today)
    ids, names = [agency_id for agency_id, _ in agencies], dict(agencies)
    report, checkpoint = await request.app[AUDIT].report(query.first, query.last, query.agency, ids, names)
    return report, checkpoint, query, agencies


@public
async def transparency_page(request: web.Request) -> web.Response:
    """GET /transparency: the report as a self-contained HTML page."""
    report, checkpoint, _, agencies = await _report(request)
    response = web.Response(text=render_page(report, checkpoint, agencies), content_type="text/html")
    # The page needs nothing but the hub's style sheets and icon (no script, no inline style); say so, so an
    # injection could load nothing else either. Its form submits to itself.
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; "
        "frame-ancestors 'none'"
    )
    return response


@public
async def transparency_json(request: web.Request) -> web.Response:
    """GET /api/transparency: the report as JSON, with the checkpoint it was computed at and the query."""
    report, checkpoint, query, _ = await _report(request)
    return web.json_response({"checkpoint": checkpoint.as_json(), "query": query.as_json(), **report.as_json()})


@public
async def transparency_csv(request: web.Request) -> web.Response:
    """GET /api/transparency.csv: the report as CSV; the file name carries the period, agency and tree size."""
    report, checkpoint, query, _ = await _report(request)
    parts = ["porchlight-transparency", query.first.isoformat(), query.last.isoformat()]
    if query.agency is not None and _FILENAME_SAFE.fullmatch(query.agency):
        parts.append(query.agency)
    filename = "_".join([*parts, f"size{checkpoint.size}"]) + ".csv"
    return web.Response(
        text=report.as_csv(),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
