"""What residents are told: an officer asks to watch one of their cameras, and an officer started watching one.

Each `Notice` carries a plain-text title and body (the e-mail, and any push client that shows only those) and the
push payload the service worker (web/sw.js) reads: the same facts as data, so the page's words for times and
durations (web/js/time-words.js) are used, in the reader's own time zone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from hub.store.base import AccessRequest
from hub.timefmt import iso

# A view's notice is worth little an hour later; a request's is worth nothing once it expired.
VIEW_TTL_SECONDS = 3600


@dataclass(frozen=True, slots=True)
class Answerable:
    """A notice that may answer a request: each push message of it carries its own answer token
    (`hub.notify.answer_tokens`), valid until `expires_at`."""

    request_id: int
    expires_at: float


@dataclass(frozen=True, slots=True)
class Notice:
    """One message for one account, by every channel it has."""

    kind: str  # "request" or "view"
    title: str
    body: str
    payload: dict[str, Any] = field(default_factory=dict)
    # How long a push service keeps it for a browser that is offline (the TTL header), in seconds.
    ttl: int = VIEW_TTL_SECONDS
    # RFC 8030's Urgency: "high" wakes a phone at once.
    urgency: str = "normal"
    # Set for a request: each push message gets an answer token (never the e-mail).
    answerable: Answerable | None = None


def request_notice(item: AccessRequest, camera_name: str, agency_name: str | None, now: float) -> Notice:
    """An officer asks to watch one of the account's cameras: answered with Approve or Decline."""
    agency = agency_name or item.agency_id or "An officer"
    title = f"Officer asks to watch {camera_name}"
    body = (
        f"{agency}, case {item.case_number}: {item.reason}. For {duration_words(item.duration_seconds)};"
        f" the request expires at {_utc(item.expires_at)} unless you answer."
    )
    payload = {
        "type": "request",
        "title": title,
        "body": body,
        "request": item.id,
        "camera": item.camera_id,
        "camera_name": camera_name,
        "agency": agency,
        "case": item.case_number,
        "reason": item.reason,
        "duration_seconds": item.duration_seconds,
        "expires_at": iso(item.expires_at),
        "urgent": item.urgent,
        "url": f"/resident#request-{item.id}",
        "tag": f"request-{item.id}",
    }
    ttl = max(0, math.floor(item.expires_at - now))
    return Notice("request", title, body, payload, ttl, "high", Answerable(item.id, item.expires_at))


def view_notice(
    camera_id: str, camera_name: str, agency_name: str | None, case: str, reason: str, view_id: int | None
) -> Notice:
    """An officer started watching one of the account's cameras."""
    agency = agency_name or "An officer"
    title = f"An officer started watching {camera_name}"
    body = f"{agency}, case {case}: {reason}. You can stop it on your page at any moment."
    payload = {
        "type": "view",
        "title": title,
        "body": body,
        "camera": camera_id,
        "camera_name": camera_name,
        "agency": agency,
        "case": case,
        "reason": reason,
        "url": "/resident",
        "tag": f"view-{camera_id}-{view_id}",
    }
    return Notice("view", title, body, payload)


def duration_words(seconds: float) -> str:
    """A duration in the pages' words (web/js/time-words.js durationWords): "7 days", "2 hours", "90 minutes"."""
    n = round(seconds)

    def plural(count: int, word: str) -> str:
        return f"{count} {word}{'' if count == 1 else 's'}"

    if n > 86400 and n % 86400 == 0:
        return plural(n // 86400, "day")
    if n >= 3600 and n % 3600 == 0:
        return plural(n // 3600, "hour")
    if n >= 60 and n % 60 == 0:
        return plural(n // 60, "minute")
    return plural(n, "second")


def _utc(ts: float) -> str:
    text = iso(ts) or ""
    return text[11:16] + " UTC" if text else "its deadline"
