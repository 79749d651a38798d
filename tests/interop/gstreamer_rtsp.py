"""A real RTSP camera on loopback for the tests: tests/interop/gst_rtsp_server.py fed with stamped frames.

The server runs under Debian's python (GStreamer's RTSP server); this side draws the agent's synthetic pattern,
stamps each frame with its capture time and writes it to the server's stdin, so whatever reads the stream can
tell how old each frame is. `stop` and `start` again on the same port make the camera go away and come back.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from tests.interop.gstreamer import FPS, HEIGHT, HERE, WIDTH, feed_stamped, spawn_gst, write_secret
from tests.support.procs import Proc, free_port, wait_until
from tests.support.secrets import SECRETS

SERVER_SCRIPT = HERE / "gst_rtsp_server.py"


@dataclass
class RtspCamera:
    """One RTSP server process at rtsp://127.0.0.1:<port>/cam (restartable on the same port)."""

    tmp: Path
    port: int = field(default_factory=free_port)
    user: str = ""
    password: str = ""
    proc: Proc | None = None
    _feeder: asyncio.Task[None] | None = None
    starts: int = 0

    def url(self, *, credentials: bool = True, fragment: str = "") -> str:
        """The camera's URL (with the user's credentials if it has any, and `fragment` for the agent)."""
        auth = f"{self.user}:{self.password}@" if self.user and credentials else ""
        return f"rtsp://{auth}127.0.0.1:{self.port}/cam" + (f"#{fragment}" if fragment else "")

    async def start(self) -> None:
        """Start the server and its frame feed; returns once it listens."""
        args = ["--port", str(self.port), "--width", str(WIDTH), "--height", str(HEIGHT), "--fps", str(FPS)]
        if self.user:
            SECRETS.add(self.password, "password")
            args += [
                "--user",
                self.user,
                "--password-file",
                str(write_secret(self.tmp / "rtsp.password", self.password)),
            ]
        self.starts += 1
        self.proc = await spawn_gst(
            "rtsp-server",
            SERVER_SCRIPT,
            args,
            self.tmp / f"rtsp-server-{self.starts}.log",
            stdin=asyncio.subprocess.PIPE,
        )
        assert self.proc.proc.stdin is not None
        self._feeder = asyncio.create_task(feed_stamped(self.proc.proc.stdin))
        proc = self.proc
        await wait_until(
            lambda: proc.log_has(r"(?m)^listening \d+") or proc.proc.returncode is not None, 30, "the RTSP server"
        )
        assert proc.proc.returncode is None, proc.log()

    async def stop(self) -> None:
        """Stop the server (its clients see the connection drop) and the feed."""
        if self._feeder is not None:
            self._feeder.cancel()
            await asyncio.gather(self._feeder, return_exceptions=True)
            self._feeder = None
        if self.proc is not None:
            await self.proc.stop()
            self.proc = None
