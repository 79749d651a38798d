"""RTSP cameras (how most home IP cameras are reached), read through FFmpeg (PyAV) on a capture thread.

One thread per open source owns the FFmpeg connection: it connects, decodes every frame as it arrives and keeps
only the newest, so a slow reader never works through a backlog (low latency), and nothing here ever blocks the
agent's event loop. When the stream is lost (the camera reboots, the network drops, the server stops sending) the
thread logs it once, reconnects with a short capped backoff, and logs once more when frames are back.

Meanwhile `read` gives a "no signal" picture at the track's pace instead of failing, so the WebRTC session and
the officer's view survive an outage and resume on their own; that picture carries no capture stamp and never
repeats an old frame. Opening fails (SourceError) only if the first connection does: a wrong address is reported
at once rather than retried forever.

Options travel in the URL's fragment, which is never sent to the camera: `rtsp://host/stream#transport=udp`.
TCP (RTSP interleaved) is the default: it passes NATs and firewalls and loses no packets; UDP suits cameras that
cannot do TCP. Log lines name the camera by host and path only: credentials in the URL never reach a log, and
neither do FFmpeg's error messages (they may quote the URL); only their short error text.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Literal

import av
import av.error
import cv2
import numpy as np
from yarl import URL

from device_agent.sources import SourceError
from device_agent.stamp import Image

logger = logging.getLogger(__name__)

Transport = Literal["tcp", "udp"]
TRANSPORTS: tuple[Transport, ...] = ("tcp", "udp")
OPEN_TIMEOUT = 5.0  # the first connection, and each reconnection attempt (snapshots wait 7 s for a frame)
READ_TIMEOUT = 3.0  # no data for this long means the stream is lost (the hub ends a silent session after 5 s)
MIN_BACKOFF = 0.25
MAX_BACKOFF = 2.0  # reconnection attempts are cheap; a camera that comes back is seen within 2 s


class RtspError(SourceError):
    """The camera could not be reached (the message is safe to log)."""


@dataclass(frozen=True, slots=True)
class RtspTarget:
    """An RTSP URL split into what FFmpeg opens and the agent's options from its fragment."""

    url: str  # without the fragment; may hold credentials: never log it
    transport: Transport = "tcp"

    @classmethod
    def parse(cls, text: str) -> RtspTarget:
        """Read `rtsp[s]://[user:pass@]host[:port]/path[#transport=tcp|udp]`; ValueError if malformed."""
        url = URL(text)
        if url.scheme not in ("rtsp", "rtsps") or not url.host:
            raise ValueError("an RTSP source must be rtsp://host/path")
        transport: str = "tcp"
        for item in filter(None, url.fragment.split("&")):
            key, _, value = item.partition("=")
            if key != "transport" or value not in TRANSPORTS:
                raise ValueError("RTSP options (after #) are transport=tcp or transport=udp")
            transport = value
        return cls(str(url.with_fragment(None)), transport)  # type: ignore[arg-type]

    def ffmpeg_options(self) -> dict[str, str]:
        """FFmpeg's options for a live camera: the chosen transport, no input buffering, a short probe."""
        return {
            "rtsp_transport": self.transport,
            "fflags": "nobuffer",
            "flags": "low_delay",
            "analyzeduration": "500000",  # microseconds: the first frame sooner, not after 5 s of probing
            "probesize": "500000",
        }


def describe(exc: BaseException) -> str:
    """A loggable reason for a failure: FFmpeg's short error text, never its message (which may hold the URL)."""
    if isinstance(exc, av.error.ExitError):  # PyAV's timeout interrupted FFmpeg
        return "timed out"
    strerror = getattr(exc, "strerror", None)
    if isinstance(strerror, str) and strerror:
        return strerror
    return type(exc).__name__


def no_signal(width: int, height: int, label: str) -> Image:
    """The picture sent while the camera is unreachable: dark, with a notice; no capture stamp."""
    img = np.full((height, width, 3), 40, np.uint8)
    scale = width / 640
    for i, line in enumerate(("no signal from the camera", f"{label}: reconnecting")):
        cv2.putText(
            img,
            line,
            (width // 16, height // 2 + int(i * 40 * scale)),
            cv2.FONT_HERSHEY_SIMPLEX,
            scale,
            (220, 220, 220),
            max(1, width // 320),
            cv2.LINE_AA,
        )
    return img


class _Capture(threading.Thread):
    """The thread that connects, reads and reconnects; hands frames to the source through `deliver`."""

    def __init__(self, source: RtspSource) -> None:
        super().__init__(name="porchlight-rtsp", daemon=False)
        self._source = source
        self.stopping = threading.Event()

    def run(self) -> None:
        try:
            self._run()
        except Exception:
            logger.exception("%s: capture failed", self._source.label)
            self._source.failed("capture failed")
            self._source.lost("capture failed")

    def _run(self) -> None:
        source = self._source
        backoff = MIN_BACKOFF
        lost_at: float | None = None
        while not self.stopping.is_set():
            try:
                container = av.open(
                    source.target.url,
                    options=source.target.ffmpeg_options(),
                    timeout=(OPEN_TIMEOUT, READ_TIMEOUT),
                )
            except Exception as exc:  # FFmpeg raises many kinds (refused, 401, not found, timeout)
                if not source.connected_once:
                    source.failed(describe(exc))
                    return
                if lost_at is None:  # the camera was gone before the first frame of this connection
                    lost_at = time.monotonic()
                    source.lost(describe(exc))
                logger.debug("%s: reconnection failed (%s)", source.label, describe(exc))
                self.stopping.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
                continue
            try:
                reason = self._read(container, lost_at)
            finally:
                container.close()
            if self.stopping.is_set():
                return
            if not source.connected_once:
                source.failed(reason)
                return
            if source.is_live:
                lost_at = time.monotonic()
                source.lost(reason)
            backoff = MIN_BACKOFF
            self.stopping.wait(backoff)

    def _read(self, container: Any, lost_at: float | None) -> str:
        """Decode frames until the stream fails or we are stopped; why it ended."""
        source = self._source
        try:
            stream = container.streams.video[0]
        except IndexError:
            return "no video in the stream"
        try:
            for packet in container.demux(stream):
                if self.stopping.is_set():
                    return "closed"
                for frame in packet.decode():
                    source.deliver(frame.to_ndarray(format="bgr24"), lost_at)
                    lost_at = None
        except Exception as exc:  # the connection dropped, timed out or sent something undecodable
            return describe(exc)
        return "end of stream"


class RtspSource:
    """A FrameSource reading an RTSP camera (see the module docstring); the newest frame, each at most once."""

    def __init__(self, target: RtspTarget, label: str, width: int, height: int) -> None:
        self.target = target
        self.label = label
        self._size = (width, height)
        self._loop = asyncio.get_running_loop()
        self._lock = threading.Lock()
        self._latest: Image | None = None
        self._seq = 0  # frames delivered; read() returns each at most once
        self._taken = 0
        self._changed = asyncio.Event()
        self._opened: asyncio.Future[str | None] = self._loop.create_future()
        self._closed = False
        self.connected_once = False
        self.is_live = False
        self._no_signal = no_signal(width, height, label)
        self._capture = _Capture(self)

    @classmethod
    async def open(cls, target: RtspTarget, label: str, width: int, height: int) -> RtspSource:
        """Connect and wait for the first frame; RtspError (loggable) if the camera cannot be reached."""
        source = cls(target, label, width, height)
        source._capture.start()
        try:
            error = await asyncio.wait_for(asyncio.shield(source._opened), OPEN_TIMEOUT + READ_TIMEOUT)
        except TimeoutError:
            error = "no frame in time"
        except BaseException:
            source.close()
            raise
        if error is not None:
            source.close()
            raise RtspError(f"cannot open {label}: {error}")
        logger.info("%s: connected over %s", label, target.transport.upper())
        return source

    async def read(self) -> Image:
        """The newest frame not yet returned; while the camera is lost, the no-signal picture at once."""
        while True:
            if self._closed:
                raise SourceError("source is closed")
            with self._lock:
                if self._seq > self._taken and self._latest is not None:
                    self._taken = self._seq
                    return self._latest
                live = self.is_live
            if not live:
                return self._no_signal
            self._changed.clear()
            await self._changed.wait()

    def close(self) -> None:
        """Stop the capture thread (it ends within READ_TIMEOUT, closing the connection); safe to call twice."""
        self._closed = True
        self._capture.stopping.set()
        self._wake()

    # ---- called on the capture thread ----

    def deliver(self, decoded: Image, lost_at: float | None) -> None:
        """A decoded frame: resized, kept as the newest, the reader woken."""
        if (decoded.shape[1], decoded.shape[0]) != self._size:
            decoded = np.asarray(cv2.resize(decoded, self._size, interpolation=cv2.INTER_AREA), np.uint8)
        img: Image = np.ascontiguousarray(decoded, dtype=np.uint8)
        with self._lock:
            self._latest = img
            self._seq += 1
            self.is_live = True
        if not self.connected_once:
            self.connected_once = True
            self._settle(None)
        elif lost_at is not None:
            logger.warning("%s: stream back after %.1f s", self.label, time.monotonic() - lost_at)
        self._wake()

    def lost(self, reason: str) -> None:
        """The stream stopped: say so once; readers get the no-signal picture until it is back."""
        with self._lock:
            self.is_live = False
            self._latest = None
        logger.warning("%s: stream lost (%s); reconnecting", self.label, reason)
        self._wake()

    def failed(self, reason: str) -> None:
        """The first connection failed: `open` raises."""
        self._settle(reason)

    def _settle(self, error: str | None) -> None:
        def settle() -> None:
            if not self._opened.done():
                self._opened.set_result(error)

        self._call(settle)

    def _wake(self) -> None:
        self._call(self._changed.set)

    def _call(self, callback: Any) -> None:
        # A closed event loop raises: nobody is waiting any more.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(callback)
