"""Reads of the log are on the record, but at most once per reader, scope and hour: reading never grows the log
without bound.

A resident's page reads their cameras' records again and again (each refresh, each page of a long history); a
record per read would make the log grow with every look at it, and a loop of reads a way to fill it. So an
`audit.read` record is written for the first read of a scope (a camera's records, the whole log, the kept
addresses) by one account in each fixed window of `READ_WINDOW_SECONDS`; later reads in that window write
nothing. The window is claimed in the audit store (`AuditStore.claim`), so every hub of a cluster and a restarted
hub agree; a small memory of the windows already claimed here spares the store a write on every read.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from hub.store.audit_base import AuditStore
from hub.store.base import StoreUnavailable

log = logging.getLogger(__name__)

READ_WINDOW_SECONDS = 3600
MAX_REMEMBERED = 10_000


class ReadWindow:
    """Which reads still need their `audit.read` record in the current window."""

    def __init__(
        self, store: AuditStore, seconds: float = READ_WINDOW_SECONDS, clock: Callable[[], float] = time.time
    ) -> None:
        self._store = store
        self._seconds = seconds
        self._clock = clock
        self._seen: dict[str, int] = {}  # reader and scope -> the window last claimed for it (here or elsewhere)

    async def first(self, key: str) -> bool:
        """True for the first read of `key` (a reader and a scope) in the current window, on any hub."""
        window = int(self._clock() // self._seconds)
        if self._seen.get(key) == window:
            return False
        try:
            claimed = await self._store.claim(f"audit.read:{window}:{key}")
        except StoreUnavailable as exc:
            # Better one record too many than a read missing from the record: the append retries on its own.
            log.warning("audit: could not tell whether this read is the first of its window: %s", exc)
            return True
        if len(self._seen) >= MAX_REMEMBERED:
            self._seen = {k: w for k, w in self._seen.items() if w == window}
            if len(self._seen) >= MAX_REMEMBERED:
                self._seen.clear()
        self._seen[key] = window
        return claimed
