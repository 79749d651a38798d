"""The control channel's protocol: messages from the hub, the agent's state reply, and reconnect backoff.

Hub to agent (JSON text frames):
    {"type": "hello", "camera_id": "..."}       on connect
    {"type": "publish", "watchers": N, "viewers": [...]}   N >= 1 authorized viewers wait: start publishing
    {"type": "watchers", "watchers": N, "viewers": [...]}  the viewers changed
        each viewer: {"id", "officer", "agency", "case", "since"}: the owner's device learns who looks
    {"type": "stop", "reason": "..."}           stop publishing now
    {"type": "masks", "version": N, "masks": [{"points": [[x, y], ...], "style": "black"|"blur"}, ...]}
        the owner's privacy masks, applied in the home before encoding: polygons in coordinates relative to the
        frame (0..1 on both axes), 3..64 points each, at most 32 polygons; N is an integer >= 0; an empty list
        removes every mask. The agent keeps the last set it was given (across reconnects) until told otherwise.
    {"type": "snapshot", "id": "<opaque>"}      one still picture, for the owner to draw masks on
    {"type": "request", "id": N, "camera", "agency", "reason", "duration_seconds", "expires_at"}
        an officer asks the owner for access to this camera (answered on the owner's page, not here): the agent
        logs it and runs its --on-request command (device_agent.on_request)
Agent to hub:
    {"type": "state", "publishing": true|false} on connect and after every change
    {"type": "masks_applied", "version": N}     every frame produced from now on carries version N's masks:
        sent after the first frame masked with them, or at once when not publishing (nothing leaves; the next
        publication starts with them). A set replaced before any frame carried it is never confirmed.
    {"type": "snapshot", "id": same, "jpeg": "<base64>"}   the raw picture (the owner's page draws the masks
    {"type": "snapshot", "id": same, "error": "<short text>"}   over it), at most 640 px wide and 512 KiB
    {"type": "paused"}                          the owner paused the camera at the device: it publishes nothing
        until resumed there, whatever the hub asks (sent on every change and on every connect while paused)
    {"type": "resumed"}                         the owner resumed at the device: it may publish when asked again
Anything else is logged and ignored; a malformed "publish" never starts publishing, and a malformed "masks"
never changes the masks in force (fail closed: what was masked stays masked).
"""

from __future__ import annotations

import base64
import json
import random
from dataclasses import dataclass

from device_agent.masks import MAX_VERSION, Mask, MaskError, parse_masks

_MAX_TEXT = 200
MAX_SNAPSHOT_ID = 200


class MalformedMessage(ValueError):
    """A control message that is not the JSON object the protocol describes; `kind` is its type if known."""

    def __init__(self, message: str, kind: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind


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
class Masks:
    """The owner's privacy masks, numbered by the hub; no masks removes them all."""

    version: int
    masks: tuple[Mask, ...]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The hub asks for one still picture; the reply carries the same opaque `id`."""

    id: str


@dataclass(frozen=True, slots=True)
class Request:
    """An officer asks this camera's owner for live access (text fields cleaned for a log line)."""

    id: int
    camera: str
    agency: str
    reason: str
    duration_seconds: int
    expires_at: str


@dataclass(frozen=True, slots=True)
class Unknown:
    """A well-formed message of a type this agent does not know."""

    type: str


ControlMessage = Hello | Publish | Watchers | Stop | Masks | Snapshot | Request | Unknown


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


def _masks(data: dict[str, object]) -> Masks:
    version = data.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or not 0 <= version <= MAX_VERSION:
        raise MalformedMessage("masks needs an integer 'version' >= 0", "masks")
    try:
        return Masks(version, parse_masks(data.get("masks")))
    except MaskError as exc:
        raise MalformedMessage(f"masks version {version}: {exc}", "masks") from exc


def _snapshot(data: dict[str, object]) -> Snapshot:
    request_id = data.get("id")
    # Echoed back verbatim (JSON escapes it), so any string will do, but not an unbounded one.
    if not isinstance(request_id, str) or not 0 < len(request_id) <= MAX_SNAPSHOT_ID:
        raise MalformedMessage(f"snapshot needs a string 'id' of 1..{MAX_SNAPSHOT_ID} characters", "snapshot")
    return Snapshot(request_id)


def _request(data: dict[str, object]) -> Request:
    request_id, duration = data.get("id"), data.get("duration_seconds")
    if isinstance(request_id, bool) or not isinstance(request_id, int) or request_id < 0:
        raise MalformedMessage("request needs an integer 'id' >= 0", "request")
    if isinstance(duration, bool) or not isinstance(duration, int | float) or not 0 < duration < 1e9:
        raise MalformedMessage("request needs a positive 'duration_seconds'", "request")
    fields = (_clean(data.get(name) or "-") for name in ("camera", "agency", "reason", "expires_at"))
    camera, agency, reason, expires_at = fields
    return Request(request_id, camera, agency, reason, round(duration), expires_at)


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
    if kind == "masks":
        return _masks(data)
    if kind == "snapshot":
        return _snapshot(data)
    if kind == "request":
        return _request(data)
    return Unknown(_clean(kind))


def state_message(publishing: bool) -> str:
    """The agent's report of whether it is publishing."""
    return json.dumps({"type": "state", "publishing": publishing})


def paused_message() -> str:
    """The owner paused the camera at the device."""
    return json.dumps({"type": "paused"})


def resumed_message() -> str:
    """The owner resumed the camera at the device."""
    return json.dumps({"type": "resumed"})


def masks_applied_message(version: int) -> str:
    """Every frame produced from now on carries masks `version`."""
    return json.dumps({"type": "masks_applied", "version": version})


def snapshot_message(request_id: str, jpeg: bytes) -> str:
    """The answer to a snapshot request: the picture as base64 JPEG."""
    return json.dumps({"type": "snapshot", "id": request_id, "jpeg": base64.b64encode(jpeg).decode("ascii")})


def snapshot_error_message(request_id: str, error: str) -> str:
    """The answer to a snapshot request that could not be met."""
    return json.dumps({"type": "snapshot", "id": request_id, "error": error})


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
