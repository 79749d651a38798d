"""The audit log as the hub uses it: append events, keep the Merkle tree, sign checkpoints, prove.

Appends go through one writer task (group commit): events queued while a write is in flight go out together in
the next one, so many concurrent views cost one durable write, not one each. Each record gets its position
(`seq`), is signed, and is appended only at the position the store says is next (`AuditStore.append`); a
conflict (another hub appended first) re-numbers and re-signs the batch. That gives one total order across hubs.

Events that gate access (a view, a log-in) are `required`: the caller gets `AuditUnavailable` if they could not
be written, and refuses. Others (a withdrawal, a view's end) must never block the action they record: if the
store fails they stay queued and are retried until written.

The tree of every record's leaf hash is kept in memory (about 64 bytes a record), caught up from the store
before every checkpoint or proof, so proofs cost O(log n). Beside it, the transparency report's running figures
(`ReportTally`) fold the same records in the same order, so the report at a checkpoint costs no scan; a snapshot
of them is kept in the store now and then (and at close), so a hub that starts folds only what came after it.

A client's address never goes into a record: the record carries a salted commitment and the address is kept
beside the log for admins (hub/audit/sources.py).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypeVar

from hub.audit import sources
from hub.audit.checkpoint import Checkpoint, sign_checkpoint
from hub.audit.events import Fields
from hub.audit.merkle import MerkleTree, leaf_hash
from hub.audit.reads import ReadWindow
from hub.audit.record import Kind, Record, audit_time, encode
from hub.audit.report import Report
from hub.audit.signing import Signer
from hub.audit.tally import ReportTally, from_snapshot, snapshot
from hub.errors import AuditUnavailable
from hub.store.audit_base import AuditStore, Source
from hub.store.base import StoreUnavailable

log = logging.getLogger(__name__)

MAX_BATCH = 512
READ_CHUNK = 10_000
MAX_CONFLICTS = 100
RETRY_SECONDS = (0.25, 0.5, 1.0, 2.0, 5.0)
SNAPSHOT_RECORDS = 10_000
"""The report's snapshot is kept again once the log has grown by this many records (and at close)."""
REPORT_CATCH_UP_SECONDS = 1.0
"""The public report looks for other writers' records at most this often (asking the store for its size is not
free at 10^6 records); this hub's own appends are in it at once."""

_T = TypeVar("_T")


class AuditKeyMismatch(RuntimeError):
    """The store's log was started with another key: this hub must not sign records into it."""


@dataclass
class _Pending:
    fields: Fields
    camera: str | None
    required: bool
    source: Source | None
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
        self._tally = ReportTally()
        self._tally_root: bytes | None = None  # the root a loaded snapshot says it was taken at
        self._tally_saved = 0
        self._caught_up_at = -math.inf  # time.monotonic() of the last catch-up
        self.reads = ReadWindow(store)

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
        await audit._load_tally()
        await audit._catch_up()
        await audit._check_tally()
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
        try:
            await self._save_tally()
        except StoreUnavailable as exc:
            log.warning("audit: the report's snapshot was not kept at shutdown: %s", exc)
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
        record = {**fields, "kind": kind.value, "hub": self._hub, "actor": actor}
        kept: Source | None = None
        if source:
            # The address stays beside the log (admins only); the record commits to it under a salt of its own.
            kept, record[sources.COMMITMENT] = sources.new_source(source)
        pending = _Pending(record, fields.get("camera"), required, kept)
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
        kept = [pending.source for pending in batch]
        for _ in range(MAX_CONFLICTS):
            now = audit_time(time.time())
            records = []
            written = []
            for offset, pending in enumerate(batch):
                fields = {**pending.fields, "seq": first + offset, "time": now}
                body = encode(fields)
                written.append((body, fields))
                records.append((Record(body, self.signer.sign_record(body)), pending.camera))
            current = await self.store.append(first, records, kept)
            if current is None:
                break
            first = current  # another hub wrote first: take the next free positions
        else:
            raise StoreUnavailable(f"the audit log stayed contended through {MAX_CONFLICTS} attempts")
        self._next = first + len(batch)
        async with self._tree_lock:
            if len(self._tree) == first:
                for body, fields in written:
                    self._tree.append(leaf_hash(body))
                    self._tally.add(fields)
        return first

    # The tree, checkpoints and proofs ---------------------------------------------------------------------------

    async def _catch_up(self) -> int:
        """Add the leaves other writers appended since we last looked; the tree's size."""
        async with self._tree_lock:
            return await self._catch_up_locked()

    async def _catch_up_locked(self) -> int:
        self._caught_up_at = time.monotonic()
        size = await self.store.size()
        if size < len(self._tree):
            log.error("audit: the log shrank from %d to %d records", len(self._tree), size)
            raise AuditUnavailable("the audit log shrank: it has been tampered with")
        tally = self._tally
        while len(self._tree) < size:
            chunk = await self.store.read(len(self._tree), min(size, len(self._tree) + READ_CHUNK))
            if not chunk:
                break
            for record in chunk:
                # A loaded snapshot already holds the first `tally.size` records: fold only those after it.
                if tally.size == len(self._tree):
                    tally.add_body(record.body)
                self._tree.append(leaf_hash(record.body))
        return len(self._tree)

    async def checkpoint(self) -> Checkpoint:
        """A signed checkpoint of the whole log as it is now (signed afresh if the log grew), kept in the store."""
        checkpoint, _ = await self._head(lambda: None)
        return checkpoint

    async def _head(self, at_head: Callable[[], _T], fresh_within: float = 0.0) -> tuple[Checkpoint, _T]:
        """A checkpoint of the whole log as it is now, and what `at_head` answers at exactly that size (it runs
        with the tree held still, between the catch-up and the signature). `fresh_within`: skip the catch-up if
        the last one was this recent (seconds)."""
        try:
            async with self._tree_lock:
                if time.monotonic() - self._caught_up_at < fresh_within:
                    size = len(self._tree)
                else:
                    size = await self._catch_up_locked()
                value = at_head()
                latest = self._latest
                if latest is not None and latest.size == size:
                    return latest, value
                checkpoint = sign_checkpoint(self.signer, self.origin, size, self._tree.root(size))
            await self.store.add_checkpoint(size, checkpoint.note)
        except StoreUnavailable as exc:
            raise AuditUnavailable(f"the audit log cannot be read: {exc}") from exc
        if self._latest is None or self._latest.size < checkpoint.size:
            self._latest = checkpoint
        return checkpoint, value

    async def report(
        self, first: date, last: date, agency: str | None, agencies: Sequence[str], names: dict[str, str]
    ) -> tuple[Report, Checkpoint]:
        """The transparency report over the UTC days first..last, from exactly the records of the checkpoint given
        with it (running figures: no scan of the log)."""
        checkpoint, report = await self._head(
            lambda: self._tally.report(first, last, agency, agencies, names), REPORT_CATCH_UP_SECONDS
        )
        return report, checkpoint

    async def _checkpoint_loop(self) -> None:
        while True:
            await asyncio.sleep(self._checkpoint_seconds)
            try:
                await self.checkpoint()
                if self._tally.size - self._tally_saved >= SNAPSHOT_RECORDS:
                    await self._save_tally()
            except (AuditUnavailable, StoreUnavailable) as exc:
                log.warning("audit: no checkpoint this time: %s", exc)
            except Exception:
                log.exception("audit: signing a checkpoint failed")

    # The report's snapshot ---------------------------------------------------------------------------------------

    async def _load_tally(self) -> None:
        """Start the running report from the store's snapshot when there is one this hub reads (else from zero)."""
        try:
            text = await self.store.tally()
            if text is None:
                return
            tally, root = from_snapshot(await asyncio.to_thread(json.loads, text))
            self._tally, self._tally_root = tally, base64.b64decode(root)
            self._tally_saved = tally.size
        except (ValueError, TypeError) as exc:
            log.warning("audit: the report's snapshot is not usable (%s); every record will be counted anew", exc)

    async def _check_tally(self) -> None:
        """A loaded snapshot must be of this log's first records (the tree, rebuilt from the store, says): if not,
        count every record anew."""
        tally = self._tally
        if self._tally_root is None:
            return
        root, self._tally_root = self._tally_root, None
        if tally.size <= len(self._tree) and self._tree.root(tally.size) == root:
            return
        log.warning("audit: the report's snapshot does not match the log; counting every record anew")
        fresh = ReportTally()
        async with self._tree_lock:
            while fresh.size < len(self._tree):
                chunk = await self.store.read(fresh.size, min(len(self._tree), fresh.size + READ_CHUNK))
                if not chunk:
                    raise AuditUnavailable("the audit log shrank while it was being counted")
                for record in chunk:
                    fresh.add_body(record.body)
            self._tally = fresh
        self._tally_saved = 0

    async def _save_tally(self) -> None:
        """Keep a snapshot of the running report in the store, if it grew since the last one."""
        tally = self._tally
        if tally.size <= self._tally_saved or tally.size != len(self._tree):
            return
        data = snapshot(tally, base64.b64encode(self._tree.root(tally.size)).decode())
        size = tally.size
        await self.store.save_tally(await asyncio.to_thread(json.dumps, data, separators=(",", ":")))
        self._tally_saved = size

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

    async def camera_records(
        self, camera_id: str, after: int = -1, limit: int | None = None
    ) -> list[tuple[int, Record]]:
        """The records about one camera after position `after` (at most `limit`), with their positions, in log
        order."""
        positions = await self.store.positions_for_camera(camera_id, after, limit)
        return list(zip(positions, await self.store.read_at(positions), strict=True))

    async def sources(self, seqs: Sequence[int]) -> dict[int, Source]:
        """The client addresses kept beside the log for these records (admins only)."""
        try:
            return await self.store.sources(seqs)
        except StoreUnavailable as exc:
            raise AuditUnavailable(f"the audit log cannot be read: {exc}") from exc

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
