"""Frame sources: a synthetic test pattern (the default), a webcam or a file through OpenCV, an RTSP camera.

A source is opened only when publishing starts and closed when it stops, so nothing is captured while nobody
watches. Every source returns BGR uint8 frames of the configured size. RTSP cameras (device_agent/rtsp.py) are
read through FFmpeg on a thread of their own that reconnects when the camera goes away.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

import cv2
import numpy as np
from yarl import URL

from device_agent.stamp import Image, stamp_frame

logger = logging.getLogger(__name__)

SourceKind = Literal["synthetic", "webcam", "file", "rtsp"]

# SMPTE-like colour bars, BGR.
_BARS = ((192, 192, 192), (0, 192, 192), (192, 192, 0), (0, 192, 0), (192, 0, 192), (0, 0, 192), (192, 0, 0))


class SourceError(Exception):
    """A source could not be opened or stopped delivering frames."""


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """What to capture from. `target` may hold credentials (RTSP), so it is left out of repr; use `label`."""

    kind: SourceKind
    target: str = field(default="", repr=False)

    @property
    def label(self) -> str:
        """A loggable description: RTSP user info and query are dropped."""
        if self.kind == "rtsp":
            url = URL(self.target)
            return f"rtsp {url.host or '?'}{url.path}"
        if self.kind == "file":
            return f"file {Path(self.target).name}"
        return f"{self.kind} {self.target}".strip()


def parse_source(spec: str) -> SourceSpec:
    """Parse "synthetic" | "webcam:0" | "file:/path.mp4" | "rtsp://..." into a SourceSpec (ValueError if not)."""
    if spec == "synthetic":
        return SourceSpec("synthetic")
    if spec.startswith("webcam:"):
        index = spec.removeprefix("webcam:")
        if not index.isdigit():
            raise ValueError("webcam source must be webcam:<index>, e.g. webcam:0")
        return SourceSpec("webcam", str(int(index)))
    if spec.startswith("file:"):
        path = spec.removeprefix("file:")
        if not path:
            raise ValueError("file source must be file:<path>")
        return SourceSpec("file", path)
    if spec.startswith(("rtsp://", "rtsps://")):
        from device_agent.rtsp import RtspTarget  # rtsp.py imports this module

        RtspTarget.parse(spec)  # a malformed URL or option fails at start, not when someone watches
        return SourceSpec("rtsp", spec)
    raise ValueError("source must be synthetic, webcam:<index>, file:<path> or rtsp://...")


class FrameSource(Protocol):
    """Something that yields BGR frames until closed."""

    async def read(self) -> Image:
        """The next frame (BGR uint8, height x width x 3)."""
        ...

    def close(self) -> None:
        """Release the device or file; safe to call twice."""
        ...


class SyntheticSource:
    """A moving test pattern (colour bars, a bouncing box, the camera name), stamped with its capture time."""

    def __init__(self, width: int = 640, height: int = 480, name: str = "porchlight") -> None:
        self._base = np.zeros((height, width, 3), np.uint8)
        bar = -(-width // len(_BARS))
        for i, colour in enumerate(_BARS):
            self._base[:, i * bar : (i + 1) * bar] = colour
        cv2.putText(
            self._base,
            name,
            (width // 32, height - height // 16),
            cv2.FONT_HERSHEY_SIMPLEX,
            width / 640,
            (255, 255, 255),
            max(1, width // 320),
            cv2.LINE_AA,
        )
        self._count = 0
        self._closed = False

    async def read(self) -> Image:
        """Draw the next frame and stamp it with the current time (this is its capture time)."""
        if self._closed:
            raise SourceError("source is closed")
        img = self._base.copy()
        height, width = img.shape[:2]
        side = width // 8
        span_x, span_y = max(1, width - side), max(1, height - side - width // 8)
        # Bounce the box so every frame differs (encoders cannot skip it) and motion is visible.
        x = abs((self._count * 7) % (2 * span_x) - span_x)
        y = width // 8 + abs((self._count * 5) % (2 * span_y) - span_y)
        cv2.rectangle(img, (x, y), (x + side, y + side), (255, 255, 255), -1)
        self._count += 1
        stamp_frame(img, time.time_ns() // 1_000_000)
        return img

    def close(self) -> None:
        """Nothing to release; later reads fail."""
        self._closed = True


class OpenCVSource:
    """A webcam or a video file (looped) read through cv2.VideoCapture.

    Blocking OpenCV calls run on one private worker thread, so `close` queues the release behind any read
    still in flight instead of releasing the capture under it.
    """

    def __init__(
        self, spec: SourceSpec, capture: cv2.VideoCapture, executor: ThreadPoolExecutor, width: int, height: int
    ) -> None:
        self._spec = spec
        self._capture = capture
        self._executor = executor
        self._size = (width, height)
        self._closed = False

    @classmethod
    async def open(cls, spec: SourceSpec, width: int, height: int) -> OpenCVSource:
        """Open `spec` on a worker thread; SourceError (with a loggable label) if OpenCV cannot."""
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="porchlight-capture")
        loop = asyncio.get_running_loop()
        try:
            capture = await loop.run_in_executor(executor, _open_capture, spec, width, height)
        except BaseException:
            executor.shutdown(wait=False)
            raise
        if capture is None:
            executor.shutdown(wait=False)
            raise SourceError(f"cannot open {spec.label}")
        return cls(spec, capture, executor, width, height)

    async def read(self) -> Image:
        """The next frame, resized to the configured size; files loop at their end."""
        if self._closed:
            raise SourceError("source is closed")
        loop = asyncio.get_running_loop()
        img = await loop.run_in_executor(self._executor, self._read_blocking)
        if img is None:
            raise SourceError(f"{self._spec.label} stopped delivering frames")
        return img

    def _read_blocking(self) -> Image | None:
        ok, img = self._capture.read()
        if not ok and self._spec.kind == "file":
            self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, img = self._capture.read()
        if not ok or img is None:
            return None
        if img.ndim == 2:
            img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
        if (img.shape[1], img.shape[0]) != self._size:
            img = cv2.resize(img, self._size, interpolation=cv2.INTER_AREA)
        return np.ascontiguousarray(img, dtype=np.uint8)

    def close(self) -> None:
        """Release the capture after any in-flight read; returns without waiting."""
        if self._closed:
            return
        self._closed = True
        self._executor.submit(self._capture.release)
        self._executor.shutdown(wait=False)


def _open_capture(spec: SourceSpec, width: int, height: int) -> cv2.VideoCapture | None:
    if spec.kind == "file" and not Path(spec.target).is_file():
        return None
    if spec.kind == "webcam":
        capture = cv2.VideoCapture(int(spec.target))
        capture.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        capture.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
    else:
        capture = cv2.VideoCapture(spec.target)
    if not capture.isOpened():
        capture.release()
        return None
    return capture


async def open_source(spec: SourceSpec, width: int, height: int, name: str) -> FrameSource:
    """Open the source described by `spec`, delivering `width` x `height` BGR frames."""
    if spec.kind == "synthetic":
        return SyntheticSource(width, height, name)
    if spec.kind == "rtsp":
        from device_agent.rtsp import RtspSource, RtspTarget  # rtsp.py imports this module

        return await RtspSource.open(RtspTarget.parse(spec.target), spec.label, width, height)
    source = await OpenCVSource.open(spec, width, height)
    logger.info("opened %s", spec.label)
    return source
