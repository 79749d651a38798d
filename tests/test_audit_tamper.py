"""Tampering with the stored log is found by `porchlight audit verify`, which names the position, on both stores."""

from __future__ import annotations

import asyncio
import base64
import json
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from hub.audit.checkpoint import open_checkpoint
from hub.audit.merkle import leaf_hash, verify_inclusion
from hub.audit.record import Kind
from hub.audit.setup import open_audit, signer_for
from hub.cli import main
from hub.config import Config, load_config
from tests.support.redis_server import RedisServer

RECORDS = 12


class Log:
    """One audit log on one backend, with the raw edits an attacker with access to the store could make."""

    def __init__(self, tmp: Path, backend: str, server: RedisServer | None) -> None:
        self.backend = backend
        self.config_path = tmp / "hub.toml"
        self.prefix = f"t{uuid.uuid4().hex[:8]}:"
        store = f'kind = "redis"\nredis_url = "{server.url}"\nredis_prefix = "{self.prefix}"' if server else ""
        self.config_path.write_text(f'[store]\ndata_dir = "{tmp / "data"}"\n{store}\n', encoding="utf-8")
        self.server = server
        self.saved = tmp / "saved-checkpoint.txt"

    def config(self) -> Config:
        return load_config(self.config_path, env={})

    def cli(self, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
        """Run `porchlight audit ARGS`: its exit status and output (errors included)."""
        with pytest.raises(SystemExit) as exit_:
            main(["--config", str(self.config_path), "audit", *args])
        captured = capsys.readouterr()
        return int(exit_.value.code or 0), captured.out + captured.err

    # Raw access to the stored records, position by position: (body, signature) pairs.
    def _sqlite(self) -> sqlite3.Connection:
        return sqlite3.connect(self.config().store.data_dir / "audit.sqlite3", isolation_level=None)

    def _redis(self) -> redis.Redis:
        assert self.server is not None
        return redis.Redis.from_url(self.server.url, decode_responses=True)

    def _entry(self, position: int) -> str:
        entry = self._redis().lindex(f"{self.prefix}audit:log", position)
        assert isinstance(entry, str)
        return entry

    def alter(self, position: int, old: str, new: str) -> None:
        if self.server is None:
            with self._sqlite() as db:
                (body,) = db.execute("SELECT body FROM records WHERE position = ?", (position,)).fetchone()
                db.execute(
                    "UPDATE records SET body = ? WHERE position = ?",
                    (body.replace(old.encode(), new.encode()), position),
                )
        else:
            self._redis().lset(f"{self.prefix}audit:log", position, self._entry(position).replace(old, new))

    def delete(self, position: int) -> None:
        if self.server is None:
            with self._sqlite() as db:
                db.execute("DELETE FROM records WHERE position = ?", (position,))
        else:
            self._redis().lrem(f"{self.prefix}audit:log", 1, self._entry(position))

    def swap(self, first: int, second: int) -> None:
        if self.server is None:
            with self._sqlite() as db:
                rows = {
                    p: db.execute("SELECT body, signature FROM records WHERE position = ?", (p,)).fetchone()
                    for p in (first, second)
                }
                for here, there in ((first, second), (second, first)):
                    db.execute("UPDATE records SET body = ?, signature = ? WHERE position = ?", (*rows[there], here))
        else:
            client, key = self._redis(), f"{self.prefix}audit:log"
            a, b = self._entry(first), self._entry(second)
            client.lset(key, first, b)
            client.lset(key, second, a)

    def truncate(self, keep: int) -> None:
        if self.server is None:
            with self._sqlite() as db:
                db.execute("DELETE FROM records WHERE position >= ?", (keep,))
        else:
            self._redis().ltrim(f"{self.prefix}audit:log", 0, keep - 1)


async def _fill(config: Config) -> None:
    audit = await open_audit(config, "test", background=False)
    try:
        for i in range(RECORDS):
            await audit.append(Kind.VIEW_STARTED, {"camera": "cam", "case": f"C-{i}", "reason": "r", "request": None})
    finally:
        await audit.close()


@pytest.fixture(params=["sqlite", "redis"])
def log(request: pytest.FixtureRequest, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[Log]:
    server = request.getfixturevalue("redis_server") if request.param == "redis" else None
    made = Log(tmp_path, request.param, server)
    asyncio.run(_fill(made.config()))
    status, note = made.cli(capsys, "checkpoint")
    assert status == 0 and note.split("\n")[1] == str(RECORDS)
    made.saved.write_text(note, encoding="utf-8")
    yield made


def _verify(log: Log, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    return log.cli(capsys, "verify", "--checkpoint", str(log.saved))


def test_an_untouched_log_verifies(log: Log, capsys: pytest.CaptureFixture[str]) -> None:
    status, out = _verify(log, capsys)
    assert status == 0, out
    assert f"ok: {RECORDS} records" in out


TAMPERING: dict[str, tuple[Callable[[Log], None], list[str]]] = {
    "alter": (lambda log: log.alter(5, '"C-5"', '"C-X"'), ["position 5: altered"]),
    "delete": (lambda log: log.delete(4), ["position 4: deleted: record 4 is missing"]),
    "swap": (
        lambda log: log.swap(3, 7),
        ["position 3: reordered: holds record 7", "position 7: reordered: holds record 3"],
    ),
    "truncate": (lambda log: log.truncate(9), ["position 9: the log shrank", f"checkpoint has {RECORDS} records"]),
}


@pytest.mark.parametrize("kind", list(TAMPERING))
def test_tampering_is_found_and_placed(log: Log, capsys: pytest.CaptureFixture[str], kind: str) -> None:
    tamper, expected = TAMPERING[kind]
    tamper(log)
    status, out = _verify(log, capsys)
    assert status == 1, out
    assert "FAILED" in out
    for line in expected:
        assert line in out, out


def test_a_forged_checkpoint_is_refused(log: Log, capsys: pytest.CaptureFixture[str]) -> None:
    log.saved.write_text(log.saved.read_text(encoding="utf-8").replace(f"\n{RECORDS}\n", "\n3\n"), encoding="utf-8")
    status, out = _verify(log, capsys)
    assert status == 2
    assert "signature does not verify" in out


def test_prove_prints_proofs_that_check(log: Log, capsys: pytest.CaptureFixture[str]) -> None:
    status, out = log.cli(capsys, "prove", "--seq", "3")
    assert status == 0, out
    inclusion = json.loads(out)
    assert inclusion["seq"] == 3 and json.loads(inclusion["record"])["case"] == "C-3"
    verifier = signer_for(log.config()).verifier
    head = open_checkpoint(inclusion["checkpoint"], verifier)
    proof = [base64.b64decode(p) for p in inclusion["proof"]]
    verify_inclusion(leaf_hash(inclusion["record"].encode()), 3, head.size, proof, head.root)
    status, out = log.cli(capsys, "prove", "--from", "5")
    consistency = json.loads(out)
    assert status == 0 and (consistency["from"], consistency["to"]) == (5, RECORDS)
    status, _ = log.cli(capsys, "prove", "--seq", str(RECORDS + 5))
    assert status == 2
