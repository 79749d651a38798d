"""A camera publishing to this hub over WHIP: its peer connection and the feed task that fans frames out."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable, Iterable

from aiortc import MediaStreamTrack, RTCPeerConnection
from aiortc.mediastreams import MediaStreamError
from av import VideoFrame

from hub.media.gated_track import GatedTrack

log = logging.getLogger(__name__)


class Publisher:
    """One WHIP session: the hub's receiving peer connection for one camera."""

    def __init__(self, camera_id: str, pc: RTCPeerConnection) -> None:
        self.camera_id = camera_id
        self.resource_id = secrets.token_urlsafe(16)
        self.pc = pc
        self._feed: asyncio.Task[None] | None = None
        self._closed = False

    def start_feed(self, track: MediaStreamTrack, sinks: Callable[[], Iterable[GatedTrack]]) -> None:
        """Read the camera's decoded frames and offer each one to every viewer's gated track."""
        self._feed = asyncio.create_task(self._run_feed(track, sinks), name=f"feed-{self.camera_id}")

    async def _run_feed(self, track: MediaStreamTrack, sinks: Callable[[], Iterable[GatedTrack]]) -> None:
        try:
            while True:
                frame = await track.recv()
                if not isinstance(frame, VideoFrame):
                    continue
                for sink in sinks():
                    sink.offer(frame)
        except MediaStreamError:
            log.info("camera %s: feed ended", self.camera_id)
        except Exception:
            log.exception("camera %s: feed failed", self.camera_id)

    async def close(self) -> None:
        """Stop the feed and close the peer connection; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._feed is not None:
            self._feed.cancel()
        await self.pc.close()
        if self._feed is not None:
            await asyncio.gather(self._feed, return_exceptions=True)
