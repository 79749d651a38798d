"""The owner's pause at the camera itself: while paused, the agent publishes nothing, whatever the hub says.

The state is the owner's, and needs no log-in and no hub: it is set from the device (`porchlight-agent pause`
over the local socket, or a physical button through a command hook) and kept in a small file in the agent's
state directory, so a restart or a reboot comes back paused. The flag in memory changes first (the capture loop
reads it before every frame), then the file is written (atomically: a temporary file renamed over it).

File format: one JSON object, `{"paused": true|false, "since": "<ISO 8601 UTC>"}`. A file that cannot be read or
parsed counts as paused (fail closed: an unreadable pause must not silently resume sharing).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

logger = logging.getLogger(__name__)

STATE_FILE = "pause.json"

Listener = Callable[[bool], None]


class PauseError(OSError):
    """The pause could not be written to its file (the flag in memory changed all the same)."""


class PauseState:
    """Whether the owner paused this camera; persisted in `path` (None: in memory only, for library use). `paused`
    is a plain attribute, read before every frame."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.paused = read_paused(path) if path is not None else False
        self._listeners: list[Listener] = []

    def listen(self, listener: Listener) -> None:
        """Call `listener(paused)` (synchronously) after every change."""
        self._listeners.append(listener)

    def set(self, paused: bool) -> bool:
        """Pause or resume; True if that changed anything. The flag changes before anything else happens; then
        the file is written (PauseError if it cannot be: the pause holds in memory until the agent stops)."""
        changed = paused != self.paused
        if changed:
            self.paused = paused
            for listener in list(self._listeners):
                listener(paused)
        if self.path is not None:
            write_paused(self.path, paused)  # also when unchanged: a repeated pause makes sure the file says so
        return changed

    def toggle(self) -> bool:
        """Flip the state; the new state."""
        self.set(not self.paused)
        return self.paused


def read_paused(path: Path) -> bool:
    """The state in `path`: False if there is no file, True if it says so or cannot be read (fail closed)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return False
    except OSError as exc:
        logger.error("pause state %s unreadable (%s): staying paused", path.name, exc.strerror)
        return True
    try:
        data = json.loads(text)
        paused = data["paused"]
        if not isinstance(paused, bool):
            raise TypeError("paused is not a boolean")
    except (ValueError, KeyError, TypeError) as exc:
        logger.error("pause state %s malformed (%s): staying paused", path.name, exc)
        return True
    return paused


def write_paused(path: Path, paused: bool) -> None:
    """Write the state atomically (owner-only permissions); PauseError if the file cannot be written."""
    body = json.dumps({"paused": paused, "since": datetime.now(UTC).isoformat(timespec="seconds")})
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, temporary = tempfile.mkstemp(prefix=".pause-", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(body + "\n")
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        _sync_directory(path.parent)  # the rename itself survives a power cut
    except OSError as exc:
        raise PauseError(exc.errno, f"cannot write the pause state: {exc.strerror}") from exc


def _sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
