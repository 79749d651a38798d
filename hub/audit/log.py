"""The audit log as the hub uses it: append events, keep the Merkle tree, sign checkpoints, prove.

Appends go through one writer task (group commit): events queued while a write is in flight go out together in
the next one, so many concurrent views cost one durable write, not one each. Each record gets its position
(`seq`), is signed, and is appended only at the position the store says is next (`AuditStore.append`); a
conflict (another hub appended first) re-numbers and re-signs the batch. That gives one total order across hubs.

Events that gate access (a view, a log-in) are `required`: the caller gets `AuditUnavailable` if they could not
be written, and refuses. Others (a withdrawal, a view's end) must never block the action they record: if the
store fails they stay queued and are retried until written.

The tree of every record's leaf hash is kept in memory (about 64 bytes a record), caught up from the store
before every checkpoint or proof, so proofs cost O(log n).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hub.audit.checkpoint import Checkpoint, sign_checkpoint
from hub.audit.events import Fields
from hub.audit.merkle import MerkleTree, leaf_hash
from hub.audit.record import Kind, Record, audit_time, encode
from hub.audit.signing import Signer
from hub.errors import AuditUnavailable
from hub.store.audit_base import AuditStore
from hub.store.base import StoreUnavailable

log = logging.getLogger(__name__)

MAX_BATCH = 512
READ_CHUNK = 10_000
MAX_CONFLICTS = 100
RETRY_SECONDS = (0.25, 0.5, 1.0, 2.0, 5.0)


class AuditKeyMismatch(RuntimeError):
    """The store's log was started with another key: this hub must not sign records into it."""


@dataclass
class _Pending:
    fields: Fields
    camera: str | None
    required: bool
    # The position once written; None for an event that is not required and failed its first attempt (it stays
    # queued and is retried).
    done: asyncio.Future[int | None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class AuditLog:
    """One hub's handle on the shared audit log. Open with `await AuditLog.open(...)`; `close()` when done."""

    def __init__(self, store: AuditStore, signer: Signer, *, origin: str, hub: str, checkpoint_seconds: float) -> None:
        self.store = store
        self.signer = signer
        self.origin = origin
        self._hub = hub
        self._checkpoint_seconds = checkpoint_seconds
        self._tree = MerkleTree()
        self._tree_lock = asyncio.Lock()
        self._next = 0  # the position the writer will try first
        self._queue: list[_Pending] = []
        self._wake = asyncio.Event()
        self._latest: Checkpoint | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @classmethod
    async def open(
        cls, store: AuditStore, signer: Signer, *, origin: str, hub: str, checkpoint_seconds: float = 60.0
    ) -> AuditLog:
        """Bind the key to the store (refusing another key), load the tree and start the writer."""
        bound = await store.bind_key(signer.verifier.text())
        if bound != signer.verifier.text():
            raise AuditKeyMismatch(
                f"the audit log is signed with the key {bound!r}, not ours ({signer.verifier.text()!r}): every hub of"
                " one log needs the same audit.signing_key_file"
            )
        audit = cls(store, signer, origin=origin, hub=hub, checkpoint_seconds=checkpoint_seconds)
        await audit._catch_up()
        audit._next = len(audit._tree)
        audit._tasks = [asyncio.create_task(audit._write_loop(), name="audit-writer")]
        if checkpoint_seconds > 0:
            audit._tasks.append(asyncio.create_task(audit._checkpoint_loop(), name="audit-checkpoints"))
        return audit

    async def close(self) -> None:
        """Write what is queued (briefly), then stop the background tasks."""
        if self._queue:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*(p.done for p in self._queue), return_exceptions=True), 2)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for pending in self._queue:
            if not pending.done.done():
                log.error("audit: %s was never written (the store did not answer before shutdown)", pending.fields)
                pending.done.set_exception(AuditUnavailable("the hub shut down before the record was written"))
        await self.store.close()

    # Appending ---------------------------------------------------------------------------------------------------

    async def append(
        self,
        kind: Kind,
        fields: Fields,
        *,
        actor: Fields | None = None,
        source: str | None = None,
        required: bool = True,
    ) -> int | None:
        """Record an event; its position once durable.

        `required`: raise AuditUnavailable if it cannot be written now (the caller refuses what it was about to
        allow). Otherwise return None on failure and keep retrying in the background.
        """
        record = {**fields, "kind": kind.value, "hub": self._hub, "source": source, "actor": actor}
        pending = _Pending(record, fields.get("camera"), required)
        self._queue.append(pending)
        self._wake.set()
        return await asyncio.shield(pending.done)

    async def _write_loop(self) -> None:
        failures = 0
        while True:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
            batch = self._queue[:MAX_BATCH]
            try:
                first = await self._write(batch)
            except StoreUnavailable as exc:
                failures += 1
                self._fail(batch, exc)
                delay = RETRY_SECONDS[min(failures, len(RETRY_SECONDS)) - 1]
                self._wake.clear()
                with contextlib.suppress(TimeoutError):  # a new required event tries again at once
                    await asyncio.wait_for(self._wake.wait(), delay)
                continue
            except Exception:
                log.exception("audit: writing %d record(s) failed", len(batch))
                self._fail(batch, StoreUnavailable("unexpected error"))
                continue
            failures = 0
            del self._queue[: len(batch)]
            for offset, pending in enumerate(batch):
                if not pending.done.done():
                    pending.done.set_result(first + offset)

    def _fail(self, batch: Sequence[_Pending], exc: Exception) -> None:
        """Required events fail now (their callers refuse); the others stay queued for the next attempt."""
        log.warning("audit: the store refused %d record(s): %s", len(batch), exc)
        for pending in batch:
            if pending.required:
                self._queue.remove(pending)
                if not pending.done.done():
                    pending.done.set_exception(AuditUnavailable("the audit log cannot be written; try again shortly"))
            elif not pending.done.done():
                pending.done.set_result(None)

    async def _write(self, batch: Sequence[_Pending]) -> int:
        """Append the batch at the next free position; returns the first one."""
        first = self._next
        for _ in range(MAX_CONFLICTS):
            now = audit_time(time.time())
            records = []
            for offset, pending in enumerate(batch):
                body = encode({**pending.fields, "seq": first + offset, "time": now})
                records.append((Record(body, self.signer.sign_record(body)), pending.camera))
            current = await self.store.append(first, records)
            if current is None:
                break
            first = current  # another hub wrote first: take the next free positions
        else:
            raise StoreUnavailable(f"the audit log stayed contended through {MAX_CONFLICTS} attempts")
        self._next = first + len(batch)
        async with self._tree_lock:
            if len(self._tree) == first:
                for record, _ in records:
                    self._tree.append(leaf_hash(record.body))
        return first

    # The tree, checkpoints and proofs ---------------------------------------------------------------------------

    async def _catch_up(self) -> int:
        """Add the leaves other writers appended since we last looked; the tree's size."""
        async with self._tree_lock:
            size = await self.store.size()
            if size < len(self._tree):
                log.error("audit: the log shrank from %d to %d records", len(self._tree), size)
                raise AuditUnavailable("the audit log shrank: it has been tampered with")
            while len(self._tree) < size:
                chunk = await self.store.read(len(self._tree), min(size, len(self._tree) + READ_CHUNK))
                if not chunk:
                    break
                for record in chunk:
                    self._tree.append(leaf_hash(record.body))
            return len(self._tree)

    async def checkpoint(self) -> Checkpoint:
        """A signed checkpoint of the whole log as it is now (signed afresh if the log grew), kept in the store."""
        try:
            size = await self._catch_up()
            if self._latest is not None and self._latest.size == size:
                return self._latest
            checkpoint = sign_checkpoint(self.signer, self.origin, size, self._tree.root(size))
            await self.store.add_checkpoint(size, checkpoint.note)
        except StoreUnavailable as exc:
            raise AuditUnavailable(f"the audit log cannot be read: {exc}") from exc
        self._latest = checkpoint
        return checkpoint

    async def _checkpoint_loop(self) -> None:
        while True:
            await asyncio.sleep(self._checkpoint_seconds)
            try:
                await self.checkpoint()
            except AuditUnavailable as exc:
                log.warning("audit: no checkpoint this time: %s", exc)
            except Exception:
                log.exception("audit: signing a checkpoint failed")

    async def inclusion_proof(self, seq: int, size: int) -> list[bytes]:
        """The proof that record `seq` is in the tree of the first `size` records."""
        await self._ensure(size)
        return self._tree.inclusion_proof(seq, size)

    async def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        """The proof that the tree of `old_size` records is a prefix of the one of `new_size`."""
        await self._ensure(new_size)
        return self._tree.consistency_proof(old_size, new_size)

    async def _ensure(self, size: int) -> None:
        if size > len(self._tree):
            await self._catch_up()

    async def read(self, start: int, stop: int) -> list[Record]:
        """The records at positions start..stop-1."""
        return await self.store.read(start, stop)

    async def camera_records(self, camera_id: str) -> list[tuple[int, Record]]:
        """Every record about one camera, with its position, in log order."""
        positions = await self.store.positions_for_camera(camera_id)
        return list(zip(positions, await self.store.read_at(positions), strict=True))

    def pending(self) -> int:
        """Events queued and not yet durable."""
        return len(self._queue)

    def leaf_count(self) -> int:
        """How many records this hub's tree holds (may lag other hubs' appends until the next catch-up)."""
        return len(self._tree)


def describe(record: Record) -> dict[str, Any]:
    """A record for JSON answers: its exact bytes (what the leaf hashes), signature, and parsed fields."""
    return {
        "record": record.body.decode("ascii"),
        "signature": base64.b64encode(record.signature).decode(),
        "fields": record.fields(),
    }
