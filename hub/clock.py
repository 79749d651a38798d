"""The time sessions are judged by. The consent gate takes its time from the frame path itself; log-in sessions
ask this clock, so tests can move it forward to show the idle and absolute timeouts."""

from __future__ import annotations

import time


class Clock:
    """Wall-clock Unix seconds."""

    def now(self) -> float:
        """The current time."""
        return time.time()
