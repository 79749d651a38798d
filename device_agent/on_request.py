"""An officer asks the owner for access to this camera: the hub tells the agent (a `request` control message), which
logs it on the owner's device and runs the owner's `--on-request` command (a chime, a light, a message to a phone).
The answer is the owner's to give on their page; nothing here approves anything.

The command is run directly, never through a shell, with the request in its environment: PORCHLIGHT_REQUEST_ID,
PORCHLIGHT_REQUEST_CAMERA, PORCHLIGHT_REQUEST_AGENCY, PORCHLIGHT_REQUEST_REASON, PORCHLIGHT_REQUEST_DURATION
(seconds) and PORCHLIGHT_REQUEST_EXPIRES (ISO 8601, UTC). It may run `COMMAND_TIMEOUT` seconds; what it prints is
logged, line by line (at most `MAX_OUTPUT` bytes of it).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence

from device_agent.control import Request

logger = logging.getLogger(__name__)

COMMAND_TIMEOUT = 10.0
MAX_OUTPUT = 4096


class RequestHook:
    """Logs each request and runs the command for it; `close()` waits for commands still running."""

    def __init__(self, camera_id: str, command: Sequence[str] = ()) -> None:
        self._camera = camera_id
        self._command = tuple(command)
        self._runs: set[asyncio.Task[None]] = set()

    def arrived(self, request: Request) -> None:
        """The hub says an officer asked (returns at once; the command runs in the background)."""
        logger.warning(
            "camera %s: %s asks for access (request %d, %d s); answer on your page",
            self._camera,
            request.agency,
            request.id,
            request.duration_seconds,
        )
        if self._command:
            task = asyncio.create_task(self._run(request), name=f"on-request-{request.id}")
            self._runs.add(task)
            task.add_done_callback(self._runs.discard)

    def environment(self, request: Request) -> dict[str, str]:
        """The command's environment: the agent's own, and the request."""
        return {
            **os.environ,
            "PORCHLIGHT_REQUEST_ID": str(request.id),
            "PORCHLIGHT_REQUEST_CAMERA": request.camera,
            "PORCHLIGHT_REQUEST_AGENCY": request.agency,
            "PORCHLIGHT_REQUEST_REASON": request.reason,
            "PORCHLIGHT_REQUEST_DURATION": str(request.duration_seconds),
            "PORCHLIGHT_REQUEST_EXPIRES": request.expires_at,
        }

    async def _run(self, request: Request) -> None:
        try:
            process = await asyncio.create_subprocess_exec(
                *self._command,
                env=self.environment(request),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
        except OSError as exc:
            logger.error("camera %s: the on-request command could not start: %s", self._camera, exc.strerror)
            return
        assert process.stdout is not None
        try:
            output, code = await asyncio.wait_for(_finish(process, process.stdout), COMMAND_TIMEOUT)
        except TimeoutError:
            process.kill()
            await process.wait()
            logger.error(
                "camera %s: the on-request command ran over %.0f s and was stopped", self._camera, COMMAND_TIMEOUT
            )
            return
        for line in output.decode(errors="replace").splitlines():
            logger.info("camera %s: on-request: %s", self._camera, "".join(c if c.isprintable() else "?" for c in line))
        if code != 0:
            logger.error("camera %s: the on-request command exited with %d", self._camera, code)

    async def close(self) -> None:
        """Wait for commands still running (they are bounded by their timeout)."""
        if self._runs:
            await asyncio.gather(*self._runs, return_exceptions=True)


async def _finish(process: asyncio.subprocess.Process, stdout: asyncio.StreamReader) -> tuple[bytes, int]:
    """What the command printed (its first `MAX_OUTPUT` bytes; the rest is read and dropped) and its exit code."""
    kept = bytearray()
    while chunk := await stdout.read(65536):
        kept += chunk[: max(0, MAX_OUTPUT - len(kept))]
    return bytes(kept), await process.wait()
