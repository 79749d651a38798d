"""A benchmark's worker process: JSON commands on its stdin, JSON lines from its stdout (bench.fanout, bench.city,
bench.cluster)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.procs import ROOT

LINE_LIMIT = 2**26  # a report line carries every latency sample of a window
STOP_TIMEOUT = 15.0


@dataclass
class Child:
    """A worker process: JSON commands on its stdin, JSON lines from its stdout (`opened`/`closed` lines go to
    `on_event`, the rest to `lines`)."""

    proc: asyncio.subprocess.Process
    on_event: Any = None
    lines: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    reader: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, module: str, args: list[str], log_path: Path, on_event: Any = None) -> Child:
        """Start `python -m module *args` in the repository; its stderr goes to `log_path`."""
        with log_path.open("ab") as log:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", module, *args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=log, cwd=ROOT, limit=LINE_LIMIT,
            )  # fmt: skip
        child = cls(proc, on_event)
        child.reader = asyncio.create_task(child._read())
        return child

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if message.get("type") in ("opened", "closed") and self.on_event is not None:
                self.on_event(message)
            else:
                await self.lines.put(message)
        await self.lines.put({"type": "exited"})

    def send(self, command: dict[str, Any]) -> None:
        """Write one command line (ignored when the worker is gone)."""
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.write((json.dumps(command) + "\n").encode())

    async def expect(self, kind: str, timeout: float) -> dict[str, Any]:
        """The next line, which must be of type `kind`, within `timeout` seconds."""
        try:
            message = await asyncio.wait_for(self.lines.get(), timeout)
        except TimeoutError:
            raise RuntimeError(f"worker {self.proc.pid}: no {kind!r} within {timeout:.0f}s") from None
        if message.get("type") != kind:
            raise RuntimeError(f"worker {self.proc.pid}: wanted {kind!r}, got {message.get('type')!r}")
        return message

    async def collect(self, command: dict[str, Any], kind: str, timeout: float) -> list[dict[str, Any]]:
        """Send `command`; the `kind` lines up to its `done`."""
        self.send(command)
        rows = []
        while (message := await self.expect_any(timeout))["type"] == kind:
            rows.append(message)
        if message["type"] != "done":
            raise RuntimeError(f"worker {self.proc.pid}: {command['cmd']} ended with {message['type']!r}")
        return rows

    async def expect_any(self, timeout: float) -> dict[str, Any]:
        """The next line, whatever its type, within `timeout` seconds."""
        try:
            return await asyncio.wait_for(self.lines.get(), timeout)
        except TimeoutError:
            raise RuntimeError(f"worker {self.proc.pid}: silent for {timeout:.0f}s") from None

    async def stop(self) -> None:
        """Ask it to exit; terminate, then kill, if it does not in time."""
        self.send({"cmd": "stop"})
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        for ending in (None, self.proc.terminate, self.proc.kill):
            if ending is not None and self.proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    ending()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.proc.wait(), STOP_TIMEOUT)
            if self.proc.returncode is not None:
                break
        if self.reader is not None:
            self.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.reader
