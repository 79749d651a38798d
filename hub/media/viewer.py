"""One officer watching one camera: peer connection, gated track, view record and event stream."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiortc import RTCPeerConnection

from hub.audit.events import Fields
from hub.config import VideoCodec
from hub.consent.gate import OfficerPass
from hub.media.gated_audio import GatedAudioTrack
from hub.media.gated_track import GatedTrack
from hub.timefmt import iso


@dataclass
class Viewer:
    """A WHEP session. `events` feeds the session's server-sent event stream.

    `purpose`, `actor` and `source` are what its audit records say about the look; `view_id` is the position of
    its view.started record, set once that is durable. `pc` and `track` are None once the session has ended and
    been wound up (`forget_media`).
    """

    camera_id: str
    account_id: int
    officer: OfficerPass
    pc: RTCPeerConnection | None
    purpose: Fields
    actor: Fields | None = None
    source: str | None = None
    view_id: int | None = None
    started_at: float = 0.0
    track: GatedTrack[Any] | None = None
    audio: GatedAudioTrack | None = None  # its gated audio, if its offer asked for audio (hub.media.audio_sessions)
    codec: VideoCodec = VideoCodec.VP8  # what its answer negotiated (hub.media.codecs)
    id: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    end_reason: str | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def ended(self) -> bool:
        return self.end_reason is not None

    def publish_event(self, event: dict[str, Any]) -> None:
        """Add an event for the SSE stream (kept, so a late listener still sees it)."""
        self.events.append(event)
        self.changed.set()

    def mark_ended(self, reason: str, at: float | None = None, note: str | None = None) -> bool:
        """Stop the track at once (no frame after this) and record why and when consent ended (`at`, default
        now; `note`: an administrator's words, sent with the `end` event); False if it had already ended."""
        if self.end_reason is not None:
            return False
        self.end_reason = reason
        if self.track is not None:
            self.track.stop()
        if self.audio is not None:
            self.audio.stop()
        event = {"type": "end", "reason": reason, "at": iso(time.time() if at is None else at)}
        self.publish_event(event if note is None else {**event, "note": note})
        return True

    def watching(self) -> dict[str, Any]:
        """Who is watching, as the camera's owner is told (their page, their agent)."""
        actor = self.actor or {}
        return {
            "id": self.id,
            "officer": actor.get("username"),
            "agency": actor.get("agency"),
            "case": self.purpose.get("case"),
            "since": iso(self.started_at),
        }

    async def bytes_sent(self) -> int:
        """Bytes of video sent to the viewer so far (from the sender's RTP statistics)."""
        total = 0
        for sender in self.pc.getSenders() if self.pc is not None else []:
            try:
                report = await sender.getStats()
            except Exception:  # a sender whose transport is gone has no statistics left
                continue
            total += sum(getattr(stats, "bytesSent", 0) for stats in report.values())
        return total

    def forget_media(self) -> None:
        """Drop the closed connection and the track once the session is wound up. The hub keeps its last ended
        sessions for their late event listeners; with these (transports, certificate, and through the track the
        camera's old publisher) each would hold about 0.4 MB."""
        self.pc = None
        self.track = None
        self.audio = None


class EndedViewers:
    """Ended sessions, kept a while so that a late event listener still learns why its session ended: the last
    `most`, for `seconds` each. Bounded in time as well as in number, so the hub's memory settles under steady
    coming and going instead of holding the last thousand sessions (bench/soak.py)."""

    def __init__(self, most: int = 1000, seconds: float = 120.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.most, self.seconds, self._clock = most, seconds, clock
        self._kept: OrderedDict[str, tuple[float, Viewer]] = OrderedDict()  # oldest first, with when it ended

    def __len__(self) -> int:
        return len(self._kept)

    def add(self, viewer: Viewer) -> None:
        """Keep an ended session (forgetting the oldest beyond the bounds)."""
        self._kept[viewer.id] = (self._clock(), viewer)
        self.forget_old()

    def get(self, viewer_id: str) -> Viewer | None:
        kept = self._kept.get(viewer_id)
        return kept[1] if kept is not None else None

    def forget_old(self) -> None:
        """Drop the sessions kept longer than `seconds`, and the oldest beyond `most`."""
        too_old = self._clock() - self.seconds
        while self._kept and (len(self._kept) > self.most or next(iter(self._kept.values()))[0] < too_old):
            self._kept.popitem(last=False)
