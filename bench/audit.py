"""Audit log: how fast the hub appends durable records, and what an inclusion proof costs as the log grows.

1. Append throughput. The real `AuditLog` (group commit: one writer task, each batch signed record by record and
   written in one transaction) on the embedded `SqliteAuditStore` in a temporary directory (WAL,
   synchronous=FULL: one fsync per group commit). `--appenders` (64) coroutines each await
   `append(Kind.VIEW_STARTED, <realistic view fields>, actor=<officer>, source=<address>)` in a loop for
   `--seconds`; the figure is records made durable per second, with records per commit and the latency of one
   append. Also shown: one appender alone (one commit per record, so group commit cannot help).
   Baseline, measured in the same run, in the same kind of directory: single-row `BEGIN IMMEDIATE; INSERT;
   COMMIT` into a bare sqlite3 table in WAL / synchronous=FULL (one fsync per record), as many rows as the
   AuditLog wrote but stopped after the same number of seconds, run half before and half after the AuditLog
   runs (so that drift in a shared disk's speed weighs on both). The ratio is AuditLog records/s over that.
   cpu % is this process's CPU time (every thread) over the run's wall time: the appender runs' bound.
   `--redis URL` adds the same 64-appender run on `RedisAuditStore` (its keys, under a prefix of their own, are
   deleted afterwards), with its ratio against the same SQLite baseline.

2. Inclusion proofs at 10^3, 10^4, 10^5 and 10^6 records (10^5 at most with `--quick`). Writing a million records
   through the durable writer would take too long, so realistic records (every kind the hub writes, with seq,
   time, hub, source and actor) are encoded canonically (`hub.audit.record.encode`), hashed (`leaf_hash`) and
   appended to a `MerkleTree`; signatures are not part of the tree. When the tree reaches each size:
   `MerkleTree.inclusion_proof` time (the fastest of 5 tries at each of `--indices` indices, the first, the last
   and random ones; the median of those), the proof's size (32 bytes a hash; `proof_bytes` is the longest proof
   seen, which is ceil(log2 n) hashes, the first leaf's), and `verify_inclusion` time against the tree's root,
   timed the same way. Baseline, same run, same leaves: the module-level `inclusion_proof(leaf_hashes, index)`,
   which recomputes every subtree from the leaves (O(n); fewer calls as n grows, 3 at 10^6); its proofs must
   equal the tree's. The growth from the smallest to the
   largest size is printed for both: the tree's should follow log n (about 2x from 10^3 to 10^6), the
   baseline's n (about 1000x). Checks: proof hashes at the largest size <= ceil(log2 n), and tree proof time
   growth under 10x.

4. The public transparency report at 10^6 records (10^5 with `--quick`; `--report-records`), on a real hub
   with a live viewer: see bench/audit_report.py (the report's time in process and over HTTP while three
   clients loop it, and the viewer's frame gaps against a baseline measured in the same run). The hub's limits
   are lifted, the public per-address rate limit included. Writing a million signed records takes a few minutes.

3. The hub's own view (skipped with `--quick`): a `SqliteAuditStore` bulk-loaded with 10^5 records through
   `store.append(first_seq, batch)` in batches of 5000, each record signed (`Signer.sign_record`); then
   `AuditLog.open` (which reads every record back to rebuild the tree), `checkpoint()` (first, unchanged, and
   after one more append) and `AuditLog.inclusion_proof(seq, size)`; every proof is verified against the root of
   the signed checkpoint.

Memory: the 10^6-leaf tree keeps about 64 bytes a leaf, and the leaf hashes kept for the baseline about 73 more
(~140 MB; about 200 MB peak RSS in all); record bodies are not kept. Time: about 2-3 minutes by default, most of
it encoding a million records; about 15 s with `--quick`.

JSON (`--json`): `appends_per_s`, `appends_ratio`, `baseline_commits_per_s`, `append` (every run's figures),
`proof_ms`, `proof_bytes`, `proof_hashes`, `verify_ms`, `baseline_proof_ms` (each keyed by log size as a string:
"1000" to "1000000", or to "100000" with `--quick`), `growth`, `checks` ([{ok, what}]), `all_ok`, and `hub`
(unless `--quick`), `report` (part 4). The exit status is 0 whatever the checks say (a checklist, not asserts).

    .venv/bin/python -m bench.audit [--json] [--quick] [--appenders 64] [--seconds 4] [--indices 200]
                                    [--redis redis://127.0.0.1:6379/0] [--seed 1]
                                    [--report-records 1000000] [--report-clients 3] [--report-window 8]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import math
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.audit_report import print_report_part, report_bench
from bench.output import run_and_report
from hub.audit.events import Fields, view_fields
from hub.audit.log import AuditLog
from hub.audit.merkle import HASH_SIZE, MerkleTree, inclusion_proof, leaf_hash, verify_inclusion
from hub.audit.record import Kind, Record, audit_time, encode
from hub.audit.signing import Signer
from hub.store.audit_sqlite import SqliteAuditStore

if TYPE_CHECKING:
    from hub.store.audit_base import AuditStore, Source

FULL_SIZES = (1_000, 10_000, 100_000, 1_000_000)
QUICK_SIZES = (1_000, 10_000, 100_000)
# Calls of the O(n) baseline at each size: ~1.5 us a hash, so 10^6 leaves take seconds a call.
BASELINE_CALLS = {1_000: 200, 10_000: 50, 100_000: 10, 1_000_000: 3}
HUB_RECORDS = 100_000
HUB_BATCH = 5_000
MAX_TIME_GROWTH = 10.0
ORIGIN = "bench.porchlight.example/audit"
HUB_NAME = "bench-hub"
WRITE_TIMEOUT = 30.0
SINGLE_SECONDS = 1.5  # the one-appender run (a third of it with --quick)
WARMUP_SECONDS = 0.3
PROOF_WARMUP = 20
PROOF_TRIES = 5  # timings per index for the tree's proofs and verifications; the fastest counts
BASELINE_WARMUP_ROWS = 20
EPOCH = 1_795_000_000.0  # 2026-11-18: the synthetic log's first record


# Realistic records ---------------------------------------------------------------------------------------------

PLACES = ("front-door", "driveway", "backyard", "garage", "porch", "side-gate", "alley", "shop-front")
REASONS = (
    "burglary follow-up",
    "hit and run on Elm St",
    "missing person, last seen nearby",
    "vehicle theft, silver sedan",
    "vandalism report",
    "witness canvass",
)
DENIALS = ("no_consent", "outside_pilot", "agency_not_allowed", "camera_offline")
ENDINGS = ("viewer", "consent_withdrawn", "consent_expired", "camera_offline", "hub_shutdown")
FAILURES = ("unknown_user", "bad_password", "disabled")


class RecordMaker:
    """Deterministic, realistic audit records: the kinds and fields the hub writes (see `hub.audit.events`)."""

    KINDS = (
        (Kind.VIEW_REQUESTED, 25),
        (Kind.VIEW_STARTED, 22),
        (Kind.VIEW_ENDED, 22),
        (Kind.VIEW_DENIED, 3),
        (Kind.LOGIN_OK, 12),
        (Kind.LOGIN_FAILED, 2),
        (Kind.LOGOUT, 3),
        (Kind.CONSENT_GRANTED, 6),
        (Kind.CONSENT_WITHDRAWN, 2),
        (Kind.CONSENT_EXPIRED, 3),
    )

    def __init__(
        self, seed: int, epoch: float = EPOCH, spacing: float = 31.7, agencies: Sequence[str | int] | None = None
    ) -> None:
        """Records from `epoch`, `spacing` seconds apart; officers of `agencies` (seven numbered ones by default)."""
        self.rng = random.Random(seed)
        self.epoch, self.spacing = epoch, spacing
        self.kinds = [kind for kind, _ in self.KINDS]
        self.weights = [weight for _, weight in self.KINDS]
        named = list(agencies) if agencies else [1 + i for i in range(7)]
        self.officers: list[Fields] = [
            {"id": 1000 + i, "username": f"officer{i:03d}", "role": "officer", "agency": named[i % len(named)]}
            for i in range(80)
        ]
        self.residents: list[Fields] = [
            {"id": 5000 + i, "username": f"resident{i:04d}", "role": "resident", "agency": None} for i in range(2000)
        ]

    def camera(self) -> tuple[str, int]:
        """A camera id and its owner's account id."""
        owner = self.rng.randrange(len(self.residents))
        return f"{PLACES[owner % len(PLACES)]}-{owner:04d}", 5000 + owner

    def source(self) -> str:
        """A client address (documentation ranges)."""
        rng = self.rng
        if rng.random() < 0.2:
            return f"2001:db8:{rng.randrange(65536):x}::{rng.randrange(65536):x}"
        return f"{rng.choice(('203.0.113', '198.51.100', '192.0.2'))}.{rng.randrange(1, 255)}"

    def look(self) -> Fields:
        """What every view.* record says about the look."""
        camera, owner = self.camera()
        case = f"CASE-2026-{self.rng.randrange(1_000_000):06d}"
        return view_fields(camera, owner, case, self.rng.choice(REASONS))

    def view_started(self, seq: int) -> tuple[Fields, Fields, str]:
        """(fields, actor, source) for `AuditLog.append(Kind.VIEW_STARTED, ...)`."""
        fields = {**self.look(), "request": max(0, seq - self.rng.randrange(1, 40))}
        return fields, self.rng.choice(self.officers), self.source()

    def record(self, seq: int) -> Fields:
        """A complete record as `AuditLog` encodes it: its fields plus seq, time, kind, hub, source and actor."""
        rng = self.rng
        when = self.epoch + seq * self.spacing  # by default about 10^6 records a year
        kind = rng.choices(self.kinds, self.weights)[0]
        actor: Fields | None = rng.choice(self.officers)
        source: str | None = self.source()
        fields: Fields
        if kind in (Kind.VIEW_REQUESTED, Kind.VIEW_STARTED, Kind.VIEW_DENIED, Kind.VIEW_ENDED):
            fields = self.look()
            request = max(0, seq - rng.randrange(1, 40))
            if kind is Kind.VIEW_STARTED:
                fields["request"] = request
            elif kind is Kind.VIEW_DENIED:
                fields.update(request=request, denied=rng.choice(DENIALS))
            elif kind is Kind.VIEW_ENDED:
                duration = rng.randrange(2_000, 1_800_000)
                fields.update(
                    view=request,
                    started=audit_time(when - duration / 1000),
                    ended=audit_time(when),
                    duration_ms=duration,
                    frames=duration * 15 // 1000,
                    bytes=duration * 62,
                    ended_by=rng.choice(ENDINGS),
                )
        elif kind is Kind.LOGIN_FAILED:
            fields = {"username": rng.choice(self.officers)["username"], "why": rng.choice(FAILURES)}
            actor = None
        elif kind in (Kind.CONSENT_GRANTED, Kind.CONSENT_WITHDRAWN, Kind.CONSENT_EXPIRED):
            camera, owner = self.camera()
            actor = self.residents[owner - 5000]
            version = rng.randrange(1, 30)
            if kind is Kind.CONSENT_GRANTED:
                scope = sorted({officer["agency"] for officer in self.officers})
                agencies = None
                if rng.random() >= 0.5:
                    agencies = sorted(rng.sample(scope, min(len(scope), rng.randrange(1, 4))))
                fields = {
                    "camera": camera,
                    "owner": owner,
                    "starts": audit_time(when),
                    "ends": audit_time(when + rng.choice((3600, 86_400, 7 * 86_400))),
                    "agencies": agencies,
                    "version": version,
                }
            elif kind is Kind.CONSENT_WITHDRAWN:
                fields = {"camera": camera, "owner": owner, "at": audit_time(when), "version": version}
            else:
                fields = {"camera": camera, "owner": owner, "ends": audit_time(when), "version": version}
                actor, source = None, None
        else:  # login.ok, logout: the actor says it all
            fields = {}
        return {
            **fields,
            "kind": kind.value,
            "hub": f"hub-{'ab'[seq % 2]}",
            "source": source,
            "actor": actor,
            "seq": seq,
            "time": audit_time(when),
        }


# Small helpers -------------------------------------------------------------------------------------------------


def quantile(values: Sequence[float], q: float) -> float:
    """The q-quantile (nearest rank) of a non-empty sequence."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def median_ms(samples_ns: Sequence[int]) -> float:
    """The median of nanosecond samples, in milliseconds."""
    return statistics.median(samples_ns) / 1e6


def directory_mb(directory: Path) -> float:
    """The size of the files in a directory, in MB (2**20 bytes)."""
    return sum(path.stat().st_size for path in directory.iterdir() if path.is_file()) / 2**20


class Progress:
    """One-line progress notes on stderr (silent when asked)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.began = time.monotonic()

    def __call__(self, text: str) -> None:
        if self.enabled:
            print(f"[{time.monotonic() - self.began:6.1f}s] {text}", file=sys.stderr, flush=True)


# 1. Append throughput ------------------------------------------------------------------------------------------


class CountingStore:
    """An `AuditStore` that counts the appends (group commits) it passes on, and how long they took."""

    def __init__(self, inner: AuditStore) -> None:
        self.inner = inner
        self.commits = 0
        self.commit_ns: list[int] = []

    async def close(self) -> None:
        await self.inner.close()

    async def size(self) -> int:
        return await self.inner.size()

    async def append(
        self, first_seq: int, records: Sequence[tuple[Record, str | None]], sources: Sequence[Source | None] = ()
    ) -> int | None:
        began = time.perf_counter_ns()
        result = await self.inner.append(first_seq, records, sources)
        self.commit_ns.append(time.perf_counter_ns() - began)
        self.commits += 1
        return result

    async def read(self, start: int, stop: int) -> list[Record]:
        return await self.inner.read(start, stop)

    async def read_at(self, positions: Sequence[int]) -> list[Record]:
        return await self.inner.read_at(positions)

    async def positions_for_camera(self, camera_id: str, after: int = -1, limit: int | None = None) -> list[int]:
        return await self.inner.positions_for_camera(camera_id, after, limit)

    async def sources(self, seqs: Sequence[int]) -> dict[int, Source]:
        return await self.inner.sources(seqs)

    async def save_tally(self, snapshot: str) -> None:
        await self.inner.save_tally(snapshot)

    async def tally(self) -> str | None:
        return await self.inner.tally()

    async def add_checkpoint(self, size: int, note: str) -> None:
        await self.inner.add_checkpoint(size, note)

    async def checkpoint(self, size: int | None = None) -> str | None:
        return await self.inner.checkpoint(size)

    async def claim(self, key: str) -> bool:
        return await self.inner.claim(key)

    async def bind_key(self, verifier_key: str) -> str:
        return await self.inner.bind_key(verifier_key)


async def append_run(store: AuditStore, appenders: int, seconds: float, seed: int) -> dict[str, Any]:
    """`appenders` coroutines appending view.started records through a real AuditLog for `seconds`."""
    counting = CountingStore(store)
    audit = await AuditLog.open(
        counting, Signer.generate("porchlight-bench"), origin=ORIGIN, hub=HUB_NAME, checkpoint_seconds=0
    )
    maker = RecordMaker(seed)
    latencies: list[float] = []

    async def appender(until: float, keep: bool) -> int:
        done = 0
        while time.perf_counter() < until:
            fields, actor, source = maker.view_started(audit.leaf_count())
            began = time.perf_counter()
            await audit.append(Kind.VIEW_STARTED, fields, actor=actor, source=source)
            if keep:
                latencies.append(time.perf_counter() - began)
            done += 1
        return done

    try:
        warm_until = time.perf_counter() + WARMUP_SECONDS
        await asyncio.gather(*(appender(warm_until, False) for _ in range(appenders)))
        commits_before, size_before = counting.commits, audit.leaf_count()
        del counting.commit_ns[:]
        began, cpu_began = time.perf_counter(), time.process_time()
        counts = await asyncio.gather(*(appender(began + seconds, True) for _ in range(appenders)))
        elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu_began
        records = sum(counts)
        commits = counting.commits - commits_before
        if audit.leaf_count() - size_before != records:
            raise RuntimeError(f"the log grew by {audit.leaf_count() - size_before}, {records} appends returned")
    finally:
        await audit.close()
    return {
        "appenders": appenders,
        "records": records,
        "seconds": round(elapsed, 3),
        "per_s": round(records / elapsed, 1),
        "commits": commits,
        "records_per_commit": round(records / max(1, commits), 1),
        "commit_p50_ms": round(median_ms(counting.commit_ns), 3),
        "latency_p50_ms": round(statistics.median(latencies) * 1000, 3),
        "latency_p99_ms": round(quantile(latencies, 0.99) * 1000, 3),
        "cpu_pct": round(cpu / elapsed * 100, 1),  # this process, every thread (aiosqlite's included)
    }


class BareTable:
    """The baseline: single-row durable INSERT+COMMIT into a bare sqlite3 table in WAL / synchronous=FULL."""

    def __init__(self, path: Path, seed: int) -> None:
        maker = RecordMaker(seed)
        rng = random.Random(seed)
        # The same kind of rows as the audit store's: a canonical record and a 64-byte signature.
        self.pool = [(encode(maker.record(seq)), rng.randbytes(64)) for seq in range(500)]
        self.db = sqlite3.connect(path, isolation_level=None)
        mode = self.db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise RuntimeError(f"sqlite refused WAL mode ({mode})")
        self.db.execute("PRAGMA synchronous = FULL")
        self.db.execute("CREATE TABLE records (position INTEGER PRIMARY KEY, body BLOB NOT NULL, signature BLOB)")
        self.next = 0
        self.rows = 0
        self.seconds = 0.0
        self.run(BASELINE_WARMUP_ROWS, math.inf)
        self.rows, self.seconds = 0, 0.0

    def insert(self) -> None:
        """One row, in a transaction of its own."""
        body, signature = self.pool[self.next % len(self.pool)]
        self.db.execute("BEGIN IMMEDIATE")
        self.db.execute(
            "INSERT INTO records (position, body, signature) VALUES (?, ?, ?)", (self.next, body, signature)
        )
        self.db.execute("COMMIT")
        self.next += 1

    def run(self, max_rows: float, seconds: float) -> None:
        """Insert until `max_rows` rows or `seconds` have passed, adding to the totals."""
        rows, began = 0, time.perf_counter()
        until = began + seconds
        while rows < max_rows and time.perf_counter() < until:
            self.insert()
            rows += 1
        self.seconds += time.perf_counter() - began
        self.rows += rows

    def close(self) -> None:
        self.db.close()

    def figures(self, target_rows: int) -> dict[str, Any]:
        """Rows per second over both halves."""
        return {
            "rows": self.rows,
            "target_rows": target_rows,
            "seconds": round(self.seconds, 3),
            "per_s": round(self.rows / self.seconds, 1),
            "commit_ms": round(self.seconds / self.rows * 1000, 3),
        }


async def redis_store(url: str, prefix: str) -> AuditStore:
    """A RedisAuditStore under `prefix` (imported here: Redis is optional)."""
    from hub.store.audit_redis import RedisAuditStore

    return await RedisAuditStore.open(url, prefix=prefix, connect_timeout=3.0, socket_timeout=10.0)


async def delete_redis_keys(url: str, prefix: str) -> int:
    """Delete every key under `prefix`; how many there were."""
    import redis.asyncio as aredis

    client = aredis.Redis.from_url(url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await client.delete(*keys)
        return len(keys)
    finally:
        await client.aclose()


async def appends(settings: Settings, progress: Progress) -> dict[str, Any]:
    """Part 1: the AuditLog on SQLite (64 appenders, then 1), the bare baseline, and optionally Redis."""
    with tempfile.TemporaryDirectory(prefix="porchlight-bench-audit-") as tmp:
        directory = Path(tmp)
        # The baseline runs in two halves, before and after the AuditLog, so that drift in the disk's speed
        # (shared machines) weighs on both sides alike.
        half = settings.seconds / 2
        progress(f"appends: baseline, first half ({half:g} s of single-row commits)")
        bare = BareTable(directory / "bare.sqlite3", settings.seed)
        try:
            bare.run(math.inf, half)
            progress(f"appends: {settings.appenders} appenders for {settings.seconds:g} s (AuditLog on SQLite)")
            store = await SqliteAuditStore.open(directory / "many.sqlite3", write_timeout=WRITE_TIMEOUT)
            many = await append_run(store, settings.appenders, settings.seconds, settings.seed)
            progress(f"appends: 1 appender for {settings.single_seconds:g} s")
            store = await SqliteAuditStore.open(directory / "one.sqlite3", write_timeout=WRITE_TIMEOUT)
            one = await append_run(store, 1, settings.single_seconds, settings.seed)
            progress(f"appends: baseline, second half (up to {many['records']} rows in all, or {half:g} s)")
            bare.run(many["records"] - bare.rows, half)
        finally:
            bare.close()
        baseline = bare.figures(many["records"])
    result: dict[str, Any] = {
        "tmp_root": tempfile.gettempdir(),
        "sqlite": many,
        "sqlite_single": one,
        "baseline": baseline,
    }
    for run in (many, one):
        run["ratio"] = round(run["per_s"] / baseline["per_s"], 2)
    if settings.redis:
        prefix = f"porchlight-bench-{os.getpid()}-{random.randrange(1 << 32):08x}:"
        progress(f"appends: {settings.appenders} appenders for {settings.seconds:g} s (AuditLog on Redis)")
        try:
            on_redis = await append_run(
                await redis_store(settings.redis, prefix), settings.appenders, settings.seconds, settings.seed
            )
        finally:
            with contextlib.suppress(Exception):
                await delete_redis_keys(settings.redis, prefix)
        on_redis["ratio"] = round(on_redis["per_s"] / baseline["per_s"], 2)
        result["redis"] = on_redis
    return result


# 2. Inclusion proofs -------------------------------------------------------------------------------------------


def sample_indices(size: int, count: int, rng: random.Random) -> list[int]:
    """The first and last leaf, then random ones: `count` indices in all (fewer if the tree is smaller)."""
    if size <= count:
        return list(range(size))
    return [0, size - 1, *(rng.randrange(size) for _ in range(count - 2))]


def measure_size(
    tree: MerkleTree, leaves: list[bytes], indices: int, baseline_calls: int, rng: random.Random
) -> dict[str, Any]:
    """Tree proofs, their verification, and the O(n) baseline, at the tree's current size."""
    size = len(tree)
    root = tree.root()
    chosen = sample_indices(size, indices, rng)
    proof_ns: list[int] = []
    verify_ns: list[int] = []
    hashes: list[int] = []
    proofs: dict[int, list[bytes]] = {}
    failures = 0
    for index in chosen[:PROOF_WARMUP]:  # untimed: warm the caches and the interpreter's paths
        verify_inclusion(leaves[index], index, size, tree.inclusion_proof(index), root)
    for index in chosen:
        # Each proof takes tens of microseconds: the fastest of a few tries per index drops the scheduler's noise
        # (a shared machine), then the median is taken across indices.
        fastest = math.inf
        for _ in range(PROOF_TRIES):
            began = time.perf_counter_ns()
            proof = tree.inclusion_proof(index)
            fastest = min(fastest, time.perf_counter_ns() - began)
        proof_ns.append(int(fastest))
        hashes.append(len(proof))
        proofs[index] = proof
        leaf = leaves[index]
        fastest = math.inf
        for _ in range(PROOF_TRIES):
            began = time.perf_counter_ns()
            try:
                verify_inclusion(leaf, index, size, proof, root)
            except ValueError:  # ProofError
                failures += 1
                break
            fastest = min(fastest, time.perf_counter_ns() - began)
        verify_ns.append(int(fastest) if fastest < math.inf else 0)
    baseline_ns: list[int] = []
    mismatches = 0
    for index in chosen[:baseline_calls]:
        began = time.perf_counter_ns()
        proof = inclusion_proof(leaves, index)
        baseline_ns.append(time.perf_counter_ns() - began)
        mismatches += proof != proofs[index]
    return {
        "size": size,
        "proof_ms": median_ms(proof_ns),
        "verify_ms": median_ms(verify_ns),
        "hashes_median": statistics.median(hashes),
        "hashes_max": max(hashes),
        "proof_bytes": max(hashes) * HASH_SIZE,
        "proofs": len(chosen),
        "verify_failures": failures,
        "baseline_ms": median_ms(baseline_ns),
        "baseline_calls": len(baseline_ns),
        "baseline_mismatches": mismatches,
    }


def proofs(sizes: Sequence[int], indices: int, seed: int, progress: Progress) -> dict[str, Any]:
    """Part 2: grow one tree of realistic records, measuring proofs each time it reaches one of `sizes`."""
    maker = RecordMaker(seed)
    rng = random.Random(seed + 1)
    tree = MerkleTree()
    leaves: list[bytes] = []
    rows: list[dict[str, Any]] = []
    build_ns = 0
    body_bytes = 0
    for size in sorted(sizes):
        progress(f"proofs: building the tree to {size} records")
        began = time.perf_counter_ns()
        for seq in range(len(leaves), size):
            body = encode(maker.record(seq))
            body_bytes += len(body)
            value = leaf_hash(body)
            leaves.append(value)
            tree.append(value)
        build_ns += time.perf_counter_ns() - began
        calls = BASELINE_CALLS.get(size, 3)
        progress(f"proofs: measuring at {size} ({indices} tree proofs, {calls} O(n) proofs)")
        rows.append(measure_size(tree, leaves, indices, calls, rng))
    del tree, leaves
    gc.collect()
    return {
        "rows": rows,
        "build_seconds": round(build_ns / 1e9, 2),
        "record_bytes_mean": round(body_bytes / max(sizes), 1),
    }


def proof_checks(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The [ok]/[FAIL] lines of part 2: proof size and time growth at the largest size, correctness."""
    small, large = rows[0], rows[-1]
    bound = math.ceil(math.log2(large["size"]))
    growth = large["proof_ms"] / small["proof_ms"]
    leaves_growth = large["size"] / small["size"]
    failures = sum(row["verify_failures"] for row in rows)
    mismatches = sum(row["baseline_mismatches"] for row in rows)
    return [
        {
            "ok": large["hashes_max"] <= bound,
            "what": f"proof hashes at {large['size']}: {large['hashes_max']} <= ceil(log2({large['size']})) = {bound}",
        },
        {
            "ok": growth < MAX_TIME_GROWTH,
            "what": f"proof time growth {small['size']} -> {large['size']}: {growth:.2f}x < {MAX_TIME_GROWTH:g}x "
            f"(records grew {leaves_growth:g}x)",
        },
        {
            "ok": failures == 0,
            "what": f"every tree proof verified against its root ({sum(row['proofs'] for row in rows)} proofs, "
            f"{failures} failed)",
        },
        {
            "ok": mismatches == 0,
            "what": f"the O(n) baseline's proofs equal the tree's ({sum(row['baseline_calls'] for row in rows)} "
            f"compared, {mismatches} differ)",
        },
    ]


# 3. The hub's AuditLog on a bulk-loaded store ------------------------------------------------------------------


async def hub_proofs(records: int, indices: int, seed: int, progress: Progress) -> dict[str, Any]:
    """Part 3: bulk-load `records` signed records into SQLite, open an AuditLog on it, checkpoint and prove."""
    signer = Signer.generate("porchlight-bench")
    maker = RecordMaker(seed + 2)
    rng = random.Random(seed + 3)
    with tempfile.TemporaryDirectory(prefix="porchlight-bench-audit-") as tmp:
        path = Path(tmp) / "audit.sqlite3"
        store = await SqliteAuditStore.open(path, write_timeout=WRITE_TIMEOUT)
        progress(f"hub: bulk-loading {records} signed records in batches of {HUB_BATCH}")
        began = time.perf_counter()
        store_seconds = 0.0
        try:
            for first in range(0, records, HUB_BATCH):
                batch = []
                for seq in range(first, min(records, first + HUB_BATCH)):
                    fields = maker.record(seq)
                    body = encode(fields)
                    camera = fields.get("camera")
                    batch.append((Record(body, signer.sign_record(body)), camera if isinstance(camera, str) else None))
                written = time.perf_counter()
                conflict = await store.append(first, batch)
                store_seconds += time.perf_counter() - written
                if conflict is not None:
                    raise RuntimeError(f"bulk load: the store holds {conflict} records, expected {first}")
        finally:
            await store.close()
        load_seconds = time.perf_counter() - began
        file_mb = directory_mb(Path(tmp))

        progress("hub: AuditLog.open (the tree is rebuilt from the store)")
        began = time.perf_counter()
        store = await SqliteAuditStore.open(path, write_timeout=WRITE_TIMEOUT)
        audit = await AuditLog.open(store, signer, origin=ORIGIN, hub=HUB_NAME, checkpoint_seconds=0)
        open_seconds = time.perf_counter() - began
        try:
            if audit.leaf_count() != records:
                raise RuntimeError(f"AuditLog.open loaded {audit.leaf_count()} records, expected {records}")
            began_ns = time.perf_counter_ns()
            checkpoint = await audit.checkpoint()
            first_checkpoint_ns = time.perf_counter_ns() - began_ns
            unchanged_ns = []
            for _ in range(20):
                began_ns = time.perf_counter_ns()
                await audit.checkpoint()
                unchanged_ns.append(time.perf_counter_ns() - began_ns)
            grown_ns = []
            for _ in range(5):
                fields, actor, source = maker.view_started(audit.leaf_count())
                await audit.append(Kind.VIEW_STARTED, fields, actor=actor, source=source)
                began_ns = time.perf_counter_ns()
                await audit.checkpoint()
                grown_ns.append(time.perf_counter_ns() - began_ns)

            progress(f"hub: {indices} inclusion proofs against the checkpoint of {checkpoint.size}")
            size = checkpoint.size
            chosen = sample_indices(size, indices, rng)
            proof_ns, found = [], []
            for seq in chosen:
                began_ns = time.perf_counter_ns()
                proof = await audit.inclusion_proof(seq, size)
                proof_ns.append(time.perf_counter_ns() - began_ns)
                found.append(proof)
            bodies = await audit.store.read_at(chosen)
            failures = 0
            for seq, proof, record in zip(chosen, found, bodies, strict=True):
                try:
                    verify_inclusion(leaf_hash(record.body), seq, size, proof, checkpoint.root)
                except ValueError:
                    failures += 1
        finally:
            await audit.close()
    return {
        "records": records,
        "batch": HUB_BATCH,
        "load_seconds": round(load_seconds, 2),
        "load_store_seconds": round(store_seconds, 2),
        "file_mb": round(file_mb, 1),
        "open_seconds": round(open_seconds, 3),
        "checkpoint_first_ms": round(first_checkpoint_ns / 1e6, 3),
        "checkpoint_unchanged_ms": round(median_ms(unchanged_ns), 3),
        "checkpoint_after_append_ms": round(median_ms(grown_ns), 3),
        "proof_ms": round(median_ms(proof_ns), 4),
        "proofs": len(chosen),
        "proof_hashes_max": max(len(proof) for proof in found),
        "verify_failures": failures,
    }


# Running and reporting -----------------------------------------------------------------------------------------


class Settings:
    """What one run measures."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.quick: bool = args.quick
        self.appenders: int = args.appenders
        self.seconds: float = args.seconds if args.seconds is not None else (1.5 if args.quick else 4.0)
        self.single_seconds: float = SINGLE_SECONDS / 3 if args.quick else SINGLE_SECONDS
        self.indices: int = args.indices
        self.redis: str | None = args.redis
        self.seed: int = args.seed
        self.sizes: tuple[int, ...] = QUICK_SIZES if args.quick else FULL_SIZES
        self.report_records: int = args.report_records or (100_000 if args.quick else 1_000_000)
        self.report_clients: int = args.report_clients
        self.report_window: float = args.report_window


async def run(settings: Settings, progress: Progress) -> dict[str, Any]:
    """Every part; the result as one JSON-ready object."""
    append = await appends(settings, progress)
    proof = proofs(settings.sizes, settings.indices, settings.seed, progress)
    rows = proof["rows"]
    small, large = rows[0], rows[-1]
    checks = proof_checks(rows)
    result: dict[str, Any] = {
        "quick": settings.quick,
        "appends_per_s": append["sqlite"]["per_s"],
        "appends_ratio": append["sqlite"]["ratio"],
        "baseline_commits_per_s": append["baseline"]["per_s"],
        "append": append,
        "sizes": [str(row["size"]) for row in rows],
        "proof_ms": {str(row["size"]): round(row["proof_ms"], 5) for row in rows},
        "proof_bytes": {str(row["size"]): row["proof_bytes"] for row in rows},
        "proof_hashes": {str(row["size"]): {"median": row["hashes_median"], "max": row["hashes_max"]} for row in rows},
        "verify_ms": {str(row["size"]): round(row["verify_ms"], 5) for row in rows},
        "baseline_proof_ms": {str(row["size"]): round(row["baseline_ms"], 3) for row in rows},
        "baseline_proof_calls": {str(row["size"]): row["baseline_calls"] for row in rows},
        "growth": {
            "from": str(small["size"]),
            "to": str(large["size"]),
            "records": large["size"] / small["size"],
            "proof_ms": round(large["proof_ms"] / small["proof_ms"], 2),
            "proof_bytes": round(large["proof_bytes"] / small["proof_bytes"], 2),
            "baseline_proof_ms": round(large["baseline_ms"] / small["baseline_ms"], 1),
        },
        "tree_build_seconds": proof["build_seconds"],
        "record_bytes_mean": proof["record_bytes_mean"],
        "checks": checks,
    }
    if not settings.quick:
        hub = await hub_proofs(HUB_RECORDS, settings.indices, settings.seed, progress)
        hub_ok = hub["verify_failures"] == 0
        checks.append(
            {
                "ok": hub_ok,
                "what": f"every AuditLog proof verified against the signed checkpoint's root ({hub['proofs']} proofs, "
                f"{hub['verify_failures']} failed)",
            }
        )
        tree_row = next((row for row in rows if row["size"] == HUB_RECORDS), None)
        if tree_row is not None:
            hub["proof_ratio_to_tree"] = round(hub["proof_ms"] / tree_row["proof_ms"], 2)
        result["hub"] = hub
    report = await report_bench(
        settings.report_records, settings.report_clients, settings.report_window, settings.seed, progress
    )
    checks.extend(report["checks"])
    result["report"] = report
    result["all_ok"] = all(check["ok"] for check in checks)
    return result


def print_report(result: dict[str, Any], settings: Settings) -> None:
    """The tables."""
    append = result["append"]
    base = append["baseline"]
    print(
        f"append throughput: AuditLog on SQLite (WAL, synchronous=FULL) under {append['tmp_root']}, "
        f"{settings.appenders} appenders for {settings.seconds:g} s"
    )
    print("ratio: records/s against the baseline: single-row INSERT+COMMIT (one fsync a record), same run")
    print(
        f"{'path':<34} {'records/s':>10} {'ratio':>7} {'records':>8} {'commits':>8} {'rec/commit':>10} "
        f"{'commit ms':>9} {'p50 ms':>8} {'p99 ms':>8} {'cpu %':>6}"
    )
    print(
        f"{'bare INSERT+COMMIT (baseline)':<34} {base['per_s']:>10.0f} {1.0:>7.2f} {base['rows']:>8} "
        f"{base['rows']:>8} {1.0:>10.1f} {base['commit_ms']:>9.2f} {'':>8} {'':>8} {'':>6}"
    )
    named = [
        ("AuditLog, 1 appender", append["sqlite_single"]),
        (f"AuditLog, {settings.appenders} appenders", append["sqlite"]),
    ]
    if "redis" in append:
        named.append((f"AuditLog on Redis, {settings.appenders} appenders", append["redis"]))
    for name, row in named:
        print(
            f"{name:<34} {row['per_s']:>10.0f} {row['ratio']:>7.2f} {row['records']:>8} {row['commits']:>8} "
            f"{row['records_per_commit']:>10.1f} {row['commit_p50_ms']:>9.2f} {row['latency_p50_ms']:>8.2f} "
            f"{row['latency_p99_ms']:>8.2f} {row['cpu_pct']:>6.0f}"
        )
    if base["rows"] < base["target_rows"]:
        print(
            f"(the baseline, half before and half after the AuditLog runs, stopped after {base['seconds']:g} s at "
            f"{base['rows']} of the {base['target_rows']} rows the AuditLog wrote)"
        )

    print()
    print(
        f"inclusion proofs: MerkleTree of realistic canonical records (mean {result['record_bytes_mean']:g} bytes; "
        f"encoding, hashing and tree built in {result['tree_build_seconds']:g} s)"
    )
    print(
        f"proof and verify: median over {settings.indices} indices (first, last, random) of the fastest of "
        f"{PROOF_TRIES} tries; bytes: the longest proof "
        "seen, 32 a hash; O(n): module-level inclusion_proof(leaf_hashes, index)"
    )
    print(
        f"{'records':>9} {'proof ms':>10} {'verify ms':>10} {'hashes med/max':>15} {'bytes':>6} "
        f"{'O(n) ms':>10} {'calls':>5} {'O(n)/tree':>10}"
    )
    for size in result["sizes"]:
        hashes = result["proof_hashes"][size]
        print(
            f"{size:>9} {result['proof_ms'][size]:>10.4f} {result['verify_ms'][size]:>10.4f} "
            f"{hashes['median']:>8g}/{hashes['max']:<6} {result['proof_bytes'][size]:>6} "
            f"{result['baseline_proof_ms'][size]:>10.2f} {result['baseline_proof_calls'][size]:>5} "
            f"{result['baseline_proof_ms'][size] / result['proof_ms'][size]:>10.0f}"
        )
    growth = result["growth"]
    print(
        f"growth {growth['from']} -> {growth['to']} ({growth['records']:g}x the records): tree proof time "
        f"{growth['proof_ms']:g}x, proof bytes {growth['proof_bytes']:g}x; O(n) baseline time "
        f"{growth['baseline_proof_ms']:g}x"
    )

    hub = result.get("hub")
    if hub is not None:
        print()
        print(f"the hub: AuditLog on a SQLite store bulk-loaded with {hub['records']} signed records")
        figures = [
            (
                f"bulk load ({hub['records'] // hub['batch']} store.append of {hub['batch']}, encode + sign)",
                f"{hub['load_seconds']:.2f} s (store.append {hub['load_store_seconds']:.2f} s; file "
                f"{hub['file_mb']:g} MB)",
            ),
            ("AuditLog.open (tree rebuilt from the store)", f"{hub['open_seconds']:.3f} s"),
            ("checkpoint(), first (sign + store)", f"{hub['checkpoint_first_ms']:.3f} ms"),
            ("checkpoint(), unchanged log (median)", f"{hub['checkpoint_unchanged_ms']:.3f} ms"),
            ("checkpoint() after one append (median)", f"{hub['checkpoint_after_append_ms']:.3f} ms"),
            (
                f"inclusion_proof(seq, size) (median of {hub['proofs']})",
                f"{hub['proof_ms']:.4f} ms, at most {hub['proof_hashes_max']} hashes"
                + (f" ({hub['proof_ratio_to_tree']:g}x the bare tree's)" if "proof_ratio_to_tree" in hub else ""),
            ),
        ]
        for name, value in figures:
            print(f"{name:<58} {value}")

    print()
    print_report_part(result["report"])

    print()
    for check in result["checks"]:
        print(f"[{'ok' if check['ok'] else 'FAIL'}] {check['what']}")


def main() -> None:
    """Parse the arguments, run, print the tables or one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="sizes up to 10^5, short append runs, no hub part")
    parser.add_argument("--appenders", type=int, default=64, help="concurrent appenders")
    parser.add_argument("--seconds", type=float, default=None, help="append run length (4, or 1.5 with --quick)")
    parser.add_argument("--indices", type=int, default=200, help="proofs timed at each size")
    parser.add_argument("--redis", metavar="URL", default=None, help="also run the appends on this Redis")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--report-records", type=int, default=None, help="log size for part 4 (10^6; 10^5 quick)")
    parser.add_argument("--report-clients", type=int, default=3, help="clients looping the report in part 4")
    parser.add_argument("--report-window", type=float, default=8.0, help="seconds of load (and of baseline)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if args.appenders < 1 or args.indices < 2 or (args.seconds is not None and args.seconds <= 0):
        parser.error("--appenders must be at least 1, --indices at least 2 and --seconds positive")
    if (args.report_records is not None and args.report_records < 1) or args.report_clients < 1:
        parser.error("--report-records and --report-clients must be at least 1")
    settings = Settings(args)
    run_and_report(run(settings, Progress(not args.json)), args.json, lambda result: print_report(result, settings))


if __name__ == "__main__":
    main()
