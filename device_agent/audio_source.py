"""The camera's microphone, sent only when asked: `--audio-source` names one, and the hub must say the camera's
grant allows audio (its `audio` control message; off until it says otherwise, and off again when it says so).

Audio is a consent of its own (invariant 5): without `--audio-source` the agent offers no audio at all; with it,
the WHIP offer carries an audio stream, but `MicrophoneTrack` produces nothing, and opens no device, until
`AudioPermission` is on. When it turns off, the next read returns nothing: the sender waits, and a device is closed.

Sources: `tone` (a 440 Hz sine, for tests and the demo) or `<format>:<device>` read through PyAV/FFmpeg, such as
`pulse:default` or `alsa:hw:0`.
"""

from __future__ import annotations

import asyncio
import fractions
import json
import logging
import math
import time
from typing import Any

import av
import numpy as np
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

logger = logging.getLogger(__name__)

RATE = 48000
SAMPLES = 960  # 20 ms, one Opus packet
TIME_BASE = fractions.Fraction(1, RATE)


class AudioSourceError(ValueError):
    """`--audio-source` does not name a usable source."""


def check_audio_source(text: str) -> str:
    """The `--audio-source` value, checked for shape (AudioSourceError): `tone` or `<format>:<device>`."""
    if text == "tone":
        return text
    fmt, _, device = text.partition(":")
    if not fmt or not device:
        raise AudioSourceError("--audio-source must be tone or <format>:<device> (e.g. pulse:default, alsa:hw:0)")
    return text


class AudioPermission:
    """Whether the hub allows audio now (the latest `audio` message of this connection; off until one says on)."""

    def __init__(self) -> None:
        self._allowed = False
        self._changed = asyncio.Event()

    @property
    def allowed(self) -> bool:
        return self._allowed

    def set(self, allowed: bool) -> bool:
        """Record the hub's word; True if it changed."""
        if allowed == self._allowed:
            return False
        self._allowed = allowed
        self._changed.set()
        return True

    async def until_allowed(self) -> None:
        """Return once audio is allowed."""
        while not self._allowed:
            self._changed.clear()
            await self._changed.wait()


def audio_allowed_in(text: str) -> bool | None:
    """The hub's `audio` control message ({"type": "audio", "audio": bool}) as a bool; None for any other message
    (a malformed `audio` message reads as off: fail closed)."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("type") != "audio":
        return None
    return data.get("audio") is True


class MicrophoneTrack(MediaStreamTrack):
    """20 ms audio frames from the source, only while `permission` allows (the sender waits meanwhile)."""

    kind = "audio"

    def __init__(self, source: str, permission: AudioPermission) -> None:
        super().__init__()
        self._source = check_audio_source(source)
        self._permission = permission
        self._device: Any = None  # av container of a device source, open only while audio is allowed
        self._frames: Any = None
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
        self._pending: list[av.AudioFrame] = []
        self._start = time.monotonic()
        self.frames_sent = 0

    async def recv(self) -> av.AudioFrame:
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            if not self._permission.allowed:
                self._close_device()  # not a sample is read while audio is off
                await self._permission.until_allowed()
                continue
            frame = await (self._tone() if self._source == "tone" else self._from_device())
            # Asked again after the read: audio turned off meanwhile means this frame is not sent.
            if frame is not None and self._permission.allowed and self.readyState == "live":
                self.frames_sent += 1
                return frame

    async def _tone(self) -> av.AudioFrame:
        # Paced by the clock like a live microphone; timestamps follow real time, gaps included.
        index = math.floor((time.monotonic() - self._start) * RATE / SAMPLES) + 1
        await asyncio.sleep(max(0.0, self._start + index * SAMPLES / RATE - time.monotonic()))
        pts = index * SAMPLES
        t = (np.arange(SAMPLES) + pts) / RATE
        pcm = (np.sin(2 * math.pi * 440 * t) * 6000).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = RATE, pts, TIME_BASE
        return frame

    async def _from_device(self) -> av.AudioFrame | None:
        if self._device is None:
            fmt, _, device = self._source.partition(":")
            try:
                self._device = await asyncio.to_thread(av.open, device, format=fmt)
            except (av.FFmpegError, OSError) as exc:
                logger.error("audio source %s cannot be opened: %s", self._source, type(exc).__name__)
                self.stop()
                raise MediaStreamError from exc
            self._frames = self._device.decode(audio=0)
        while not self._pending:
            try:
                raw = await asyncio.to_thread(next, self._frames, None)
            except av.FFmpegError:
                raw = None
            if raw is None:
                logger.error("audio source %s ended", self._source)
                self.stop()
                raise MediaStreamError
            raw.pts = None  # the device's clock is not ours: stamped below by real time
            # aiortc's Opus encoder takes 16-bit mono or stereo.
            self._pending.extend(self._resampler.resample(raw))
        frame = self._pending.pop(0)
        frame.pts, frame.time_base = round((time.monotonic() - self._start) * RATE), TIME_BASE
        return frame

    def _close_device(self) -> None:
        if self._device is not None:
            self._device.close()
            self._device = self._frames = None
            self._pending.clear()

    def stop(self) -> None:
        super().stop()
        self._close_device()
