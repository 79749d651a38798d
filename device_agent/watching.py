"""Who is watching this camera, as the hub tells the agent: each start and end is logged on the owner's device,
and can run a command of the owner's (to light an LED, or send a phone notification).

The command gets the event in its environment (it is run directly, never through a shell):
PORCHLIGHT_WATCH_EVENT (started or ended), PORCHLIGHT_CAMERA, PORCHLIGHT_OFFICER, PORCHLIGHT_AGENCY,
PORCHLIGHT_CASE and PORCHLIGHT_SINCE. The case number goes only to the command, never into the log.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence

from device_agent.control import Viewer

logger = logging.getLogger(__name__)

COMMAND_TIMEOUT = 10.0


class WatchLog:
    """The officers watching one camera; `update` with each list the hub sends."""

    def __init__(self, camera_id: str, command: Sequence[str] = ()) -> None:
        self._camera = camera_id
        self._command = tuple(command)
        self._viewers: dict[str, Viewer] = {}
        self._runs: set[asyncio.Task[None]] = set()

    @property
    def viewers(self) -> list[Viewer]:
        """Who is watching now, as last told."""
        return list(self._viewers.values())

    def update(self, viewers: Sequence[Viewer]) -> None:
        """The hub's current list: log (and run the command for) each viewer that started or ended."""
        current = {viewer.id: viewer for viewer in viewers}
        for viewer_id, viewer in self._viewers.items():
            if viewer_id not in current:
                self._event("ended", viewer)
        for viewer_id, viewer in current.items():
            if viewer_id not in self._viewers:
                self._event("started", viewer)
        self._viewers = current

    def clear(self) -> None:
        """Nobody watches any more (the hub said stop, or the control channel is gone)."""
        self.update(())

    def _event(self, event: str, viewer: Viewer) -> None:
        logger.warning("camera %s: officer %s (%s) %s watching", self._camera, viewer.officer, viewer.agency, event)
        if self._command:
            task = asyncio.create_task(self._run(event, viewer))
            self._runs.add(task)
            task.add_done_callback(self._runs.discard)

    async def _run(self, event: str, viewer: Viewer) -> None:
        env = {
            **os.environ,
            "PORCHLIGHT_WATCH_EVENT": event,
            "PORCHLIGHT_CAMERA": self._camera,
            "PORCHLIGHT_OFFICER": viewer.officer,
            "PORCHLIGHT_AGENCY": viewer.agency,
            "PORCHLIGHT_CASE": viewer.case,
            "PORCHLIGHT_SINCE": viewer.since,
        }
        try:
            process = await asyncio.create_subprocess_exec(*self._command, env=env, stdin=asyncio.subprocess.DEVNULL)
        except OSError as exc:
            logger.error("camera %s: the watch command could not start: %s", self._camera, exc.strerror)
            return
        try:
            code = await asyncio.wait_for(process.wait(), COMMAND_TIMEOUT)
        except TimeoutError:
            process.kill()
            await process.wait()
            logger.error("camera %s: the watch command ran over %.0f s and was stopped", self._camera, COMMAND_TIMEOUT)
            return
        if code != 0:
            logger.error("camera %s: the watch command exited with %d", self._camera, code)

    async def close(self) -> None:
        """Wait for commands still running (they are bounded by their timeout)."""
        if self._runs:
            await asyncio.gather(*self._runs, return_exceptions=True)
