"""Checking a whole log against a saved checkpoint, and naming what was changed.

The checkpoint's root proves the first `size` records are untouched or not; the records themselves say where:
each carries its position (`seq`) and the log's signature, so

- an altered record fails its signature (or is no longer a canonical record) at its position;
- a deleted record leaves its `seq` missing;
- reordered records sit at positions other than the one their `seq` ranks them at;
- a log that shrank is shorter than the checkpoint.

Forging any of that would need the signing key; even then the root would not match the saved checkpoint.
"""

from __future__ import annotations

import bisect
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from hub.audit.checkpoint import Checkpoint
from hub.audit.merkle import MerkleTree, leaf_hash
from hub.audit.record import Record, RecordError
from hub.audit.signing import Verifier

MAX_LISTED = 20  # findings of one kind listed one by one before they are summed up


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing wrong with the log, at a position when there is one."""

    position: int | None
    problem: str

    def __str__(self) -> str:
        where = f"position {self.position}" if self.position is not None else "log"
        return f"{where}: {self.problem}"


@dataclass
class Report:
    """What verification found: nothing, for a log that matches its checkpoint."""

    size: int = 0
    checkpoint_size: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings


def _seq(record: Record) -> int | None:
    try:
        seq = record.fields().get("seq")
    except RecordError:
        return None
    return seq if isinstance(seq, int) and not isinstance(seq, bool) else None


async def verify_log(records: AsyncIterator[Record], checkpoint: Checkpoint, verifier: Verifier) -> Report:
    """Read every record in log order and report what does not hold against `checkpoint`."""
    report = Report(checkpoint_size=checkpoint.size)
    tree = MerkleTree()
    seqs: list[tuple[int, int]] = []  # (seq, position) of every readable record
    altered: list[Finding] = []
    position = 0
    async for record in records:
        if len(tree) < checkpoint.size:
            tree.append(leaf_hash(record.body))
        seq = _seq(record)
        if seq is None:
            altered.append(Finding(position, "altered: not a well-formed record"))
        elif not verifier.check_record(record.body, record.signature):
            altered.append(Finding(position, f"altered: record {seq}'s signature does not verify"))
        if seq is not None:
            seqs.append((seq, position))
        position += 1
    report.size = position
    report.findings.extend(altered)
    report.findings.extend(_order_findings(seqs))
    if report.size < checkpoint.size:
        report.findings.append(
            Finding(report.size, f"the log shrank: the checkpoint has {checkpoint.size} records, the log {report.size}")
        )
    elif tree.root(checkpoint.size) != checkpoint.root:
        report.findings.append(Finding(None, f"the first {checkpoint.size} records do not match the checkpoint's root"))
    return report


def _order_findings(seqs: list[tuple[int, int]]) -> list[Finding]:
    """Deleted, duplicated and reordered records, from the seq found at each position."""
    findings: list[Finding] = []
    present = sorted({seq for seq, _ in seqs})
    last = present[-1] if present else -1
    missing = sorted(set(range(last + 1)) - set(present))
    for seq in missing[:MAX_LISTED]:
        findings.append(Finding(seq, f"deleted: record {seq} is missing"))
    if len(missing) > MAX_LISTED:
        findings.append(Finding(None, f"{len(missing) - MAX_LISTED} more records are missing"))
    counts: dict[int, list[int]] = {}
    for seq, position in seqs:
        counts.setdefault(seq, []).append(position)
    for seq, positions in counts.items():
        if len(positions) > 1:
            findings.append(Finding(positions[1], f"record {seq} appears again (positions {positions})"))
    moved = []
    for seq, position in seqs:
        rank = bisect.bisect_left(present, seq)  # where it belongs once deleted records are accounted for
        if rank != position and len(counts[seq]) == 1:
            moved.append(Finding(position, f"reordered: holds record {seq}, which belongs at position {rank}"))
    findings.extend(moved[:MAX_LISTED])
    if len(moved) > MAX_LISTED:
        findings.append(Finding(None, f"{len(moved) - MAX_LISTED} more records are out of place"))
    return findings
