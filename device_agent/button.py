"""A physical pause button through a command hook (`--button-command`, e.g. a `gpiomon` wrapper).

The command is run without a shell, and each line it prints is one press: `pause`, `resume` or `toggle` (case and
surrounding blanks ignored; anything else is logged and ignored). It drives the same pause as
`porchlight-agent pause`. If the command exits, it is started again after a growing delay, so a crashed button
reader does not leave the owner without their button for longer than that.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

from device_agent.control import Backoff

logger = logging.getLogger(__name__)

PRESSES = ("pause", "resume", "toggle")
MAX_LINE = 256
_KILL_TIMEOUT = 2.0

Press = Callable[[str], Awaitable[None]]


class ButtonHook:
    """Runs `command` for as long as `run()` runs, calling `press(word)` for each recognized line."""

    def __init__(self, camera_id: str, command: Sequence[str], press: Press, max_backoff: float = 10.0) -> None:
        if not command:
            raise ValueError("a button hook needs a command")
        self._camera = camera_id
        self._command = tuple(command)
        self._press = press
        self._backoff = Backoff(start=0.5, cap=max(0.5, max_backoff))

    async def run(self) -> None:
        """Run the command, again whenever it ends; returns only when cancelled (the process is then ended)."""
        while True:
            started = await self._run_once()
            if started:
                self._backoff.reset()
            await asyncio.sleep(self._backoff.next())

    async def _run_once(self) -> bool:
        """One run of the command; True if it started."""
        try:
            proc = await asyncio.create_subprocess_exec(
                *self._command,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                limit=MAX_LINE,
            )
        except OSError as exc:
            logger.error("camera %s: cannot start the button command: %s", self._camera, exc.strerror)
            return False
        logger.info("camera %s: button command started", self._camera)
        try:
            assert proc.stdout is not None
            while True:
                try:
                    raw = await proc.stdout.readline()
                except ValueError:  # a line over the limit: skip what was read of it
                    logger.warning("camera %s: button command printed an over-long line", self._camera)
                    continue
                if not raw:
                    break
                await self._line(raw.decode(errors="replace"))
            code = await proc.wait()
            logger.warning("camera %s: button command exited with %s; restarting it", self._camera, code)
        finally:
            await _end(proc)
        return True

    async def _line(self, text: str) -> None:
        word = text.strip().lower()
        if word in PRESSES:
            logger.info("camera %s: button: %s", self._camera, word)
            await self._press(word)
        elif word:
            shown = "".join(ch if ch.isprintable() else "?" for ch in word[:40])
            logger.info("camera %s: button command printed %r; ignored", self._camera, shown)


async def _end(proc: asyncio.subprocess.Process) -> None:
    """Terminate the process if it still runs, kill it if it does not go; always reaped."""
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.terminate()
    try:
        await asyncio.wait_for(asyncio.shield(proc.wait()), _KILL_TIMEOUT)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
