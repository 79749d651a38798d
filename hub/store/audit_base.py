"""The audit log's store: an append-only list of signed records, and the checkpoints signed over it.

The embedded implementation is `audit_sqlite.py` (its own file beside the main store's, so a locked or broken
audit file refuses views without touching consent), the shared one `audit_redis.py` (the same Redis as the main
store, under its own keys). Positions are 0-based; a record's position is its `seq`.

Beside the log, and never in it, each store keeps the client address of each record that had one (`Source`,
written in the same transaction as the record): records carry only a salted commitment to it
(hub/audit/sources.py), so what owners read and verify holds no address, and admins can still look it up.
The store also keeps the transparency report's latest snapshot (hub/audit/tally.py), so a hub that starts folds
only the records appended since.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from hub.audit.record import Record


@dataclass(frozen=True, slots=True)
class Source:
    """A record's client address, kept beside the log for admins, and the random salt of its commitment."""

    address: str
    salt: bytes


class AuditStore(Protocol):
    """Where the audit log lives. Each method is atomic; an append is durable when it returns."""

    async def close(self) -> None: ...

    async def size(self) -> int:
        """How many records the log holds."""
        ...

    async def append(
        self, first_seq: int, records: Sequence[tuple[Record, str | None]], sources: Sequence[Source | None] = ()
    ) -> int | None:
        """Append records (each with the camera it concerns, or None) at positions first_seq, first_seq + 1, ...

        `sources[i]`, when given and not None, is kept for record first_seq + i, in the same transaction.
        Only if the log holds exactly `first_seq` records now: that is what makes one total order across hubs.
        Returns None once written, or the log's current size when another writer got there first (nothing is
        written then). Raises StoreUnavailable when the store cannot take the write in time.
        """
        ...

    async def read(self, start: int, stop: int) -> list[Record]:
        """The records at positions start..stop-1 (fewer if the log is shorter)."""
        ...

    async def read_at(self, positions: Sequence[int]) -> list[Record]:
        """The records at these positions, in the order asked (NotFound if one is past the end)."""
        ...

    async def positions_for_camera(self, camera_id: str, after: int = -1, limit: int | None = None) -> list[int]:
        """The positions of the records about this camera after position `after`, in log order (at most `limit`)."""
        ...

    async def sources(self, seqs: Sequence[int]) -> dict[int, Source]:
        """The kept client addresses of these records (those that had one)."""
        ...

    async def save_tally(self, snapshot: str) -> None:
        """Keep the report's snapshot (replacing the one kept)."""
        ...

    async def tally(self) -> str | None:
        """The report's snapshot kept last, or None."""
        ...

    async def add_checkpoint(self, size: int, note: str) -> None:
        """Keep a signed checkpoint (the first one kept for a size stays)."""
        ...

    async def checkpoint(self, size: int | None = None) -> str | None:
        """The checkpoint kept for `size`, or the one with the largest size; None if there is none."""
        ...

    async def claim(self, key: str) -> bool:
        """True the first time any hub claims `key` (for events many hubs notice, such as a grant's expiry)."""
        ...

    async def bind_key(self, verifier_key: str) -> str:
        """Record the log's verifier key on first use; return the one recorded (the first ever given)."""
        ...
