"""The transparency report as one HTML page, rendered on the server: it works without JavaScript and loads none.

It wears the other pages' header, bar of pages and style sheet (web/css/porchlight.css, light or dark as the system
is), plus its own sheet (web/css/transparency.css); the views-per-day chart is an inline SVG styled by classes.
Every piece of text from the log or the store is escaped with `html.escape`. Every link is relative (the form,
the JSON and CSV versions, the style sheets, the other pages), so the page works behind a path prefix.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import date
from html import escape
from urllib.parse import urlencode

from hub.audit.checkpoint import Checkpoint
from hub.audit.report import Figures, Report

WIDTH, HEIGHT = 480, 220
"""The chart's viewBox: small enough that its text stays legible when scaled to a phone's width."""
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 10, 42

LABELS = {
    "views": "Views started",
    "cameras_viewed": "Cameras viewed",
    "minutes_watched": "Minutes watched (ended views)",
    "cut_short_by_withdrawal": "Views cut short by the owner's withdrawal",
    "cameras_opted_in": "Cameras opted in",
    "access_requested": "Requests for access made",
    "access_approved": "Requests approved by the owner",
    "access_declined": "Requests declined by the owner",
    "access_expired": "Requests left unanswered (expired)",
}

DEFINITIONS = [
    ("Views started", "live views that began in the period, by officers of the agency."),
    ("Cameras viewed", "distinct cameras among those views."),
    (
        "Minutes watched",
        "total length of those views that have ended, to 0.1 minute; a view still open is not counted yet.",
    ),
    ("Requests denied", "requests to watch made in the period and refused, by the reason the hub gave."),
    ("Views cut short", "views started in the period that ended because the owner withdrew consent."),
    (
        "Cameras opted in",
        "distinct cameras whose owner's consent covered the agency at some moment of the period.",
    ),
    (
        "Requests for access",
        "officers asking a camera's owner for live access in the period, and the owners' answers recorded in the"
        " period (approved, declined, or left to expire). There is no way around an owner: only approval opens.",
    ),
]

# The bar of pages every page carries (web/*.html), with relative links; the current page is marked.
NAV = (
    '<nav class="site-nav" aria-label="Porchlight pages"><ul>'
    '<li><a class="home" href="./">Home</a></li>'
    '<li><a href="resident">Residents</a></li>'
    '<li><a href="officer">Officers</a></li>'
    '<li><a href="admin">Administrators</a></li>'
    '<li><a href="transparency" aria-current="page">Transparency</a></li>'
    "</ul></nav>"
)


def render_page(report: Report, checkpoint: Checkpoint, agencies: Sequence[tuple[str, str]]) -> str:
    """The whole page for `report`, computed at `checkpoint`; `agencies` (id, name) fill the form's choice."""
    days = report.views_per_day
    first, last = (days[0][0], days[-1][0]) if days else (None, None)
    params = {"from": _day(first), "to": _day(last), **({"agency": report.agency} if report.agency else {})}
    query = escape(urlencode(params))
    subject = report.rows[0].name if report.agency is not None and report.rows else "all agencies"
    period = f"{_day(first)} to {_day(last)}" if days else "an empty period"
    return "\n".join(
        [
            "<!doctype html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            '<meta name="referrer" content="no-referrer">',
            "<title>Transparency report · Porchlight</title>",
            '<link rel="icon" href="icons/porchlight.svg" type="image/svg+xml">',
            '<link rel="stylesheet" href="css/porchlight.css">',
            '<link rel="stylesheet" href="css/transparency.css">',
            "</head><body>",
            f"<header>{NAV}<h1>Porchlight · Transparency report</h1></header>",
            '<main class="report">',
            f"<p>Who watched residents' cameras live, from {escape(period)} (UTC days, both included).</p>",
            _form(params, report.agency, agencies),
            f'<p>The same figures as <a href="api/transparency?{query}">JSON</a> or '
            f'<a href="api/transparency.csv?{query}">CSV</a>.</p>',
            f"<section><h2>Views per day: {escape(subject)}</h2>",
            _chart(days, subject),
            _day_table(days),
            "</section>",
            "<section><h2>Figures by agency</h2>",
            _tables(report),
            _definitions(),
            "</section>",
            _checkpoint(checkpoint),
            "</main></body></html>",
        ]
    )


def _day(day: date | None) -> str:
    return day.isoformat() if day is not None else ""


def _form(params: dict[str, str], chosen: str | None, agencies: Sequence[tuple[str, str]]) -> str:
    options = ['<option value="">All agencies</option>']
    for agency_id, name in agencies:
        selected = " selected" if agency_id == chosen else ""
        options.append(f'<option value="{escape(agency_id)}"{selected}>{escape(name)}</option>')
    return (
        '<form method="get" action="transparency">'
        f'<label>From <input type="date" name="from" value="{escape(params["from"])}" required></label>'
        f'<label>To (included) <input type="date" name="to" value="{escape(params["to"])}" required></label>'
        f'<label>Agency <select name="agency">{"".join(options)}</select></label>'
        "<button>Show</button></form>"
    )


def _chart(days: Sequence[tuple[date, int]], subject: str) -> str:
    """An SVG bar chart, one bar per day (a zero-height bar on days without views), with axes and labels."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top = _nice_top(max((views for _, views in days), default=0))
    slot = plot_w / max(len(days), 1)
    gap = slot * 0.2 if slot > 3 else 0  # thin bars for long periods: no gap, or nothing would show
    parts = [
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" aria-label="{escape(_summary(days, subject))}">'
    ]
    for tick in (0, top // 2, top) if top % 2 == 0 else (0, top):
        y = TOP + plot_h - tick / top * plot_h
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.2f}" y2="{y:.2f}"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.2f}" text-anchor="end">{tick}</text>')
    for i, (day, views) in enumerate(days):
        height = views / top * plot_h
        x, y = LEFT + i * slot + gap / 2, TOP + plot_h - height
        noun = "view" if views == 1 else "views"
        parts.append(
            f'<rect class="bar" x="{x:.2f}" y="{y:.2f}" width="{slot - gap:.2f}" height="{height:.2f}">'
            f"<title>{day.isoformat()}: {views} {noun}</title></rect>"
        )
    base = TOP + plot_h
    parts.append(f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{base}" y2="{base}"/>')
    for i in _label_positions(len(days)):
        anchor = "start" if i == 0 and len(days) > 1 else "end" if i == len(days) - 1 and i > 0 else "middle"
        x = LEFT + (i + 0.5) * slot if anchor == "middle" else LEFT + (i * slot if anchor == "start" else plot_w)
        day = days[i][0]
        parts.append(f'<text x="{x:.2f}" y="{base + 16}" text-anchor="{anchor}">{day:%b} {day.day}</text>')
    parts.append(f'<text x="{LEFT + plot_w / 2:.2f}" y="{HEIGHT - 4}" text-anchor="middle">day (UTC)</text>')
    parts.append(
        f'<text transform="translate(12 {TOP + plot_h / 2:.2f}) rotate(-90)" text-anchor="middle">views</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def _nice_top(peak: int) -> int:
    """The y axis' top: the smallest of 1, 2, 5, 10, 20, 50, ... at least `peak`."""
    scale = 1
    while True:
        for step in (1, 2, 5):
            if step * scale >= peak:
                return step * scale
        scale *= 10


def _label_positions(count: int) -> list[int]:
    """Which days get a date under the axis: the first, the last and a few evenly between (no overlap)."""
    labels = min(count, 5)
    if labels <= 1:
        return list(range(count))
    return sorted({round(k * (count - 1) / (labels - 1)) for k in range(labels)})


def _summary(days: Sequence[tuple[date, int]], subject: str) -> str:
    if not days:
        return f"Bar chart of views per day for {subject}: the period is empty."
    total = sum(views for _, views in days)
    head = f"Bar chart of views per day for {subject}, {days[0][0]} to {days[-1][0]}: {total} views in {len(days)} days"
    if total == 0:
        return head + "."
    busiest, most = max(days, key=lambda item: item[1])
    return f"{head}; the busiest day was {busiest} with {most}."


def _day_table(days: Sequence[tuple[date, int]]) -> str:
    rows = "".join(f'<tr><th scope="row">{day.isoformat()}</th><td>{views}</td></tr>' for day, views in days)
    return (
        "<details><summary>Views per day as a table</summary><table>"
        f'<thead><tr><th scope="col">Day (UTC)</th><th scope="col">Views</th></tr></thead><tbody>{rows}</tbody>'
        "</table></details>"
    )


def _tables(report: Report) -> str:
    total = _figures_table(report.total, "All agencies (the whole hub)")
    tables = [
        _figures_table(row, f"{row.name} ({row.agency})" if row.name != row.agency else row.name) for row in report.rows
    ]
    return f'<div class="tables">{total}{"".join(tables)}</div>'


def _figures_table(row: Figures, caption: str) -> str:
    cells = [
        f'<tr><th scope="row">{label}</th><td>{getattr(row, figure)}</td></tr>' for figure, label in LABELS.items()
    ]
    cells.append(f'<tr><th scope="row">Requests denied</th><td>{sum(row.denied.values())}</td></tr>')
    for reason, count in sorted(row.denied.items()):
        cells.append(f'<tr class="reason"><th scope="row">{escape(reason.replace("_", " "))}</th><td>{count}</td></tr>')
    return f"<table><caption>{escape(caption)}</caption><tbody>{''.join(cells)}</tbody></table>"


def _definitions() -> str:
    items = "".join(f"<dt>{escape(term)}</dt><dd>{escape(text)}</dd>" for term, text in DEFINITIONS)
    return f"<h3>What the figures mean</h3><dl>{items}</dl>"


def _checkpoint(checkpoint: Checkpoint) -> str:
    root = escape(base64.b64encode(checkpoint.root).decode())
    origin, size = escape(checkpoint.origin), checkpoint.size
    return (
        "<section><h2>Where these figures come from</h2>"
        f"<p>Computed from the first {size} records of the audit log <code>{origin}</code>, exactly those covered"
        f" by this signed checkpoint (tree size {size}, root hash <code>{root}</code>). Anyone holding the log's"
        " public key can check the signature, and ask the hub for proofs that later checkpoints extend this one.</p>"
        f"<pre>{escape(checkpoint.note)}</pre></section>"
    )
