"""One publication: a source opened for it, the masked track reading it, and the WHIP session sending it.

Opened when the hub asks for video and closed when it stops; nothing of it outlives the session, so nothing is
captured while nobody watches.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import aiohttp
from aiortc import RTCConfiguration

from device_agent.audio_source import AudioPermission, MicrophoneTrack
from device_agent.config import AgentConfig
from device_agent.masks import LiveMasks
from device_agent.pause import PauseState
from device_agent.sources import FrameSource, SourceError, open_source
from device_agent.track import CameraTrack
from device_agent.whip import WhipError, WhipPublisher

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Publication:
    """A running publication; `watcher` is the agent's task that stops it when it fails."""

    source: FrameSource
    track: CameraTrack
    publisher: WhipPublisher
    watcher: asyncio.Task[None] | None = None
    # The microphone, with --audio-source only; it sends only while the hub allows audio.
    audio: MicrophoneTrack | None = None

    @classmethod
    async def open(
        cls,
        config: AgentConfig,
        hub: str,
        rtc_config: RTCConfiguration,
        session: aiohttp.ClientSession | None,
        masks: LiveMasks,
        pause: PauseState | None = None,
        audio_permission: AudioPermission | None = None,
    ) -> Publication | None:
        """Open the source and publish it to `hub`, masked by `masks`, never a frame while `pause` says paused;
        None (logged) if either fails."""
        try:
            source = await open_source(config.source, config.width, config.height, config.display_name)
        except SourceError as exc:
            logger.error("camera %s: %s", config.camera_id, exc)
            return None
        track = CameraTrack(source, config.fps, masks, pause)
        audio = None
        if config.audio_source is not None and audio_permission is not None:
            audio = MicrophoneTrack(config.audio_source, audio_permission)
        publisher = WhipPublisher(hub, config.camera_id, config.token, rtc_config, config.codec, session=session)
        try:
            await publisher.start(track, audio)
        except BaseException as exc:
            track.enabled = False
            track.stop()
            if audio is not None:
                audio.stop()
            source.close()
            if not isinstance(exc, WhipError | aiohttp.ClientError | TimeoutError | OSError):
                raise
            logger.error("camera %s: cannot publish: %s", config.camera_id, exc)
            return None
        return cls(source, track, publisher, audio=audio)

    async def ended(self) -> None:
        """Return once the WebRTC connection or the source has died."""
        track_ended = asyncio.Event()
        self.track.on("ended", track_ended.set)
        waits = {asyncio.ensure_future(self.publisher.ended.wait()), asyncio.ensure_future(track_ended.wait())}
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()

    async def close(self, camera_id: str, reason: str) -> None:
        """DELETE the WHIP session, then stop the track and close the source whatever happened."""
        try:
            await self.publisher.stop()
        finally:
            self.track.stop()
            if self.audio is not None:
                self.audio.stop()
            self.source.close()
            logger.info("camera %s: publishing stopped (%s); %d frame(s) sent", camera_id, reason, self.track.frames)
