"""The control channel's protocol: messages from the hub, the agent's state reply, and reconnect backoff.

Hub to agent (JSON text frames):
    {"type": "hello", "camera_id": "..."}       on connect
    {"type": "publish", "watchers": N, "viewers": [...]}   N >= 1 authorized viewers wait: start publishing
    {"type": "watchers", "watchers": N, "viewers": [...]}  the viewers changed
        each viewer: {"id", "officer", "agency", "case", "since"}: the owner's device learns who looks
    {"type": "stop", "reason": "..."}           stop publishing now
Agent to hub:
    {"type": "state", "publishing": true|false} on connect and after every change
Anything else is logged and ignored; a malformed "publish" never starts publishing (fail closed).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

_MAX_TEXT = 200


class MalformedMessage(ValueError):
    """A control message that is not the JSON object the protocol describes."""


@dataclass(frozen=True, slots=True)
class Hello:
    """The hub accepted the connection."""

    camera_id: str | None


@dataclass(frozen=True, slots=True)
class Viewer:
    """One officer watching this camera, as the hub names them."""

    id: str
    officer: str
    agency: str
    case: str
    since: str


@dataclass(frozen=True, slots=True)
class Publish:
    """Someone is watching: start publishing."""

    watchers: int
    viewers: tuple[Viewer, ...] = ()


@dataclass(frozen=True, slots=True)
class Watchers:
    """The viewers changed."""

    watchers: int
    viewers: tuple[Viewer, ...] = ()


@dataclass(frozen=True, slots=True)
class Stop:
    """Stop publishing."""

    reason: str


@dataclass(frozen=True, slots=True)
class Unknown:
    """A well-formed message of a type this agent does not know."""

    type: str


ControlMessage = Hello | Publish | Watchers | Stop | Unknown


def _clean(value: object) -> str:
    """Hub-supplied text made safe for one log line."""
    text = "".join(ch if ch.isprintable() else "?" for ch in str(value))
    return text[:_MAX_TEXT]


def _count(data: dict[str, object]) -> int:
    watchers = data.get("watchers")
    if isinstance(watchers, bool) or not isinstance(watchers, int) or watchers < 0:
        raise MalformedMessage(f"{_clean(data['type'])} needs a non-negative integer 'watchers'")
    return watchers


def _viewers(data: dict[str, object]) -> tuple[Viewer, ...]:
    """The optional list of viewers (an older hub sends none); malformed entries make the message malformed."""
    items = data.get("viewers", [])
    if not isinstance(items, list):
        raise MalformedMessage("'viewers' must be a list")
    viewers = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            raise MalformedMessage("each viewer is an object with a string 'id'")
        fields = (item.get(name) for name in ("officer", "agency", "case", "since"))
        viewers.append(Viewer(_clean(item["id"]), *(_clean(value or "-") for value in fields)))
    return tuple(viewers)


def parse_message(text: str) -> ControlMessage:
    """Parse one text frame from the hub; MalformedMessage if it is not a typed JSON object."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise MalformedMessage("not JSON") from exc
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise MalformedMessage("not an object with a string 'type'")
    kind = data["type"]
    if kind == "hello":
        camera_id = data.get("camera_id")
        return Hello(_clean(camera_id) if camera_id is not None else None)
    if kind == "publish":
        return Publish(_count(data), _viewers(data))
    if kind == "watchers":
        return Watchers(_count(data), _viewers(data))
    if kind == "stop":
        return Stop(_clean(data.get("reason") or "no reason given"))
    return Unknown(_clean(kind))


def state_message(publishing: bool) -> str:
    """The agent's report of whether it is publishing."""
    return json.dumps({"type": "state", "publishing": publishing})


class Backoff:
    """Exponential backoff with jitter: start, start*factor, ... capped, each delay drawn from [d/2, d]."""

    def __init__(
        self, start: float = 0.2, factor: float = 2.0, cap: float = 10.0, rng: random.Random | None = None
    ) -> None:
        if not 0 < start <= cap or factor < 1:
            raise ValueError("backoff needs 0 < start <= cap and factor >= 1")
        self._start = start
        self._factor = factor
        self._cap = cap
        self._rng = rng or random.Random()
        self._current = start

    def next(self) -> float:
        """The next delay in seconds; grows until the cap."""
        delay = self._current
        self._current = min(self._cap, self._current * self._factor)
        # Jitter spreads the reconnects of many agents after a hub restart.
        return self._rng.uniform(delay / 2, delay)

    def reset(self) -> None:
        """Start again from the smallest delay (after a successful connection)."""
        self._current = self._start
