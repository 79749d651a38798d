"""Live updates for the pages: what changed on this hub, as server-sent events, so no page has to reload.

Producers (`publish`) are the gates (consent and pilot changes, from any hub once the change reaches this one)
and the streams (agents, publishers and viewers coming and going). An event says only which topics changed;
the page then asks the JSON API, which applies the caller's permissions as always (`hub/api/events.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

RECENT = 256


class LiveEvents:
    """A broadcast of changed topics with a version number; subscribers wait for versions they have not seen."""

    def __init__(self) -> None:
        self.closed = False
        self.version = 0
        self._recent: deque[tuple[int, str]] = deque(maxlen=RECENT)
        self._changed = asyncio.Event()

    def publish(self, topic: str) -> None:
        """Say that `topic` changed (never blocks: safe anywhere)."""
        self.version += 1
        self._recent.append((self.version, topic))
        self._changed.set()
        self._changed = asyncio.Event()

    def close(self) -> None:
        """The hub is stopping: wake every subscriber so its stream ends now, not at its next keep-alive."""
        self.closed = True
        self._changed.set()

    def topics_since(self, seen: int) -> list[str]:
        """The topics changed after version `seen` (["all"] when too many changed to remember)."""
        if self._recent and self._recent[0][0] > seen + 1:
            return ["all"]
        return sorted({topic for version, topic in self._recent if version > seen})

    async def wait(self, seen: int, timeout: float) -> None:
        """Until a version after `seen` exists, or `timeout` passes."""
        if self.version > seen:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout)
