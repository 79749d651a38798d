"""Filtering audit records for the admin's audit viewer: by camera, officer, kind and time.

A filter is read from the query of `GET /api/audit/records` (`officer`, `kind`, `from`, `to`; the camera has its
own index and is handled by the route) and judged on each record's own signed fields, so the page can check that
every record shown matches what was asked. A record whose bytes do not parse matches every filter: hiding it would
hide that the log was altered (the page shows it failing its check).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from hub.audit.record import Kind, Record, RecordError, audit_time, parse_audit_time
from hub.errors import BadRequest
from hub.timefmt import parse_time

KINDS = frozenset(kind.value for kind in Kind)
FAMILIES = frozenset(kind.value.split(".")[0] for kind in Kind if "." in kind.value)


@dataclass(frozen=True, slots=True)
class RecordFilter:
    """What a record must match. `kind` is a kind ("view.started") or a family ("view.*"); `officer` a username,
    matched against who acted and the officer a record is about (session.ended); times are Unix seconds, `start`
    inclusive, `end` exclusive."""

    officer: str | None = None
    kind: str | None = None
    start: float | None = None
    end: float | None = None

    @property
    def empty(self) -> bool:
        """Whether it lets every record through."""
        return self.officer is None and self.kind is None and self.start is None and self.end is None

    def as_fields(self) -> dict[str, str]:
        """The filter as an audit.read record names it (what was given only; times as the log writes them)."""
        given = {"officer": self.officer, "kind": self.kind}
        given["from"] = None if self.start is None else audit_time(self.start)
        given["to"] = None if self.end is None else audit_time(self.end)
        return {name: value for name, value in given.items() if value is not None}

    def matches(self, record: Record) -> bool:
        """Whether `record` matches (a record that does not parse always does: see the module's docstring)."""
        try:
            fields = record.fields()
        except RecordError:
            return True
        return self.matches_fields(fields)

    def matches_fields(self, fields: dict[str, Any]) -> bool:
        """Whether a record with these fields matches."""
        if self.kind is not None:
            kind = str(fields.get("kind"))
            family = self.kind.endswith(".*")
            if kind != self.kind and not (family and kind.startswith(self.kind[:-1])):
                return False
        if self.officer is not None and self.officer not in _names(fields):
            return False
        if self.start is not None or self.end is not None:
            try:
                at = parse_audit_time(str(fields.get("time")))
            except ValueError:
                return True  # no time to judge: shown, so its check can say what is wrong
            if self.start is not None and at < self.start:
                return False
            if self.end is not None and at >= self.end:
                return False
        return True


def _names(fields: dict[str, Any]) -> set[str]:
    """The usernames a record names as acting or watched-for: its actor and an `officer` it is about."""
    names = set()
    for who in (fields.get("actor"), fields.get("officer")):
        if isinstance(who, dict) and isinstance(who.get("username"), str):
            names.add(who["username"])
    return names


def _time(request: web.Request, name: str) -> float | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    try:
        return parse_time(float(raw) if raw.replace(".", "", 1).isdigit() else raw)
    except (TypeError, ValueError):
        raise BadRequest(f"{name}: an ISO 8601 time with a zone, or Unix seconds", f"bad_{name}") from None


def record_filter(request: web.Request) -> RecordFilter:
    """The filter a records request asks for; 400 naming the query parameter at fault."""
    officer = request.query.get("officer") or None
    if officer is not None and len(officer) > 100:
        raise BadRequest("officer: a username of at most 100 characters", "bad_officer")
    kind = request.query.get("kind") or None
    if kind is not None and kind not in KINDS and not (kind.endswith(".*") and kind[:-2] in FAMILIES):
        raise BadRequest("kind: one of the log's kinds (such as view.started) or a family (such as view.*)", "bad_kind")
    start, end = _time(request, "from"), _time(request, "to")
    if start is not None and end is not None and end <= start:
        raise BadRequest("to: must be after from", "bad_to")
    return RecordFilter(officer=officer, kind=kind, start=start, end=end)
