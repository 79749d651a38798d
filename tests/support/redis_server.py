"""A real `redis-server` on loopback for tests, with the faults the hub must survive (stopped, killed, restarted).

Use it through a fixture that starts it and always stops it (`with RedisServer.running(tmp) as server:`).
By default nothing is persisted (no RDB snapshot, no AOF); `appendonly=True` keeps an AOF, fsynced on every
write, so data survives `kill()` and `restart()`. Its files and log go to the directory given.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.procs import free_port

START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


def redis_available() -> bool:
    return shutil.which("redis-server") is not None


def _command(port: int, *args: str, timeout: float = 1.0) -> bytes:
    """Send one command in RESP and return the first line of the answer."""
    request = f"*{len(args)}\r\n".encode() + b"".join(f"${len(a)}\r\n{a}\r\n".encode() for a in args)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        answer = b""
        while not answer.endswith(b"\r\n"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    return answer.strip()


@dataclass
class RedisProcess:
    """One redis-server process on 127.0.0.1:`port` (a data node or a sentinel), its files and log in `workdir`."""

    workdir: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None, "redis-server is not running"
        return self.proc.pid

    def _launch(self, args: list[str]) -> None:
        """Start redis-server with `args` (its output into the log) and wait (bounded) until it answers PING."""
        assert self.proc is None or self.proc.poll() is not None, "redis-server is already running"
        self.workdir.mkdir(parents=True, exist_ok=True)
        with (self.workdir / "redis.log").open("ab") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}: {self.log()[-2000:]}")
            with contextlib.suppress(OSError):
                answer = _command(self.port, "PING", timeout=0.5)
                if answer == b"+PONG" or answer.startswith(b"-NOAUTH"):
                    return
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server on {self.port} did not answer PING within {START_TIMEOUT:.0f}s")
            time.sleep(0.02)

    def stop(self) -> None:
        """SIGTERM (after SIGCONT, in case it is paused), wait; SIGKILL if it does not end in time."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGCONT)
            proc.terminate()
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(STOP_TIMEOUT)

    def pause(self) -> None:
        """SIGSTOP: connections stay open but nothing answers (a hung or overloaded Redis)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT after `pause`."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL: the process dies at once and its connections are reset; data not on disk is gone."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(STOP_TIMEOUT)

    def log(self) -> str:
        path = self.workdir / "redis.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""


@dataclass
class RedisServer(RedisProcess):
    """A data server for one test: no persistence unless `appendonly`, a password if given."""

    appendonly: bool = False
    # With a password, clients must AUTH (the URL carries it); `flushall` and the like are then unavailable.
    password: str | None = None

    @classmethod
    @contextlib.contextmanager
    def running(cls, workdir: Path, *, appendonly: bool = False) -> Iterator[RedisServer]:
        """Start a server and stop it on the way out, whatever happened in between."""
        server = cls(workdir, appendonly=appendonly)
        try:
            server.start()
            yield server
        finally:
            server.stop()

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password is not None else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server and wait (bounded) until it answers PING."""
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.workdir)]
        args += ["--save", ""]
        args += ["--appendonly", "yes", "--appendfsync", "always"] if self.appendonly else ["--appendonly", "no"]
        if self.password is not None:
            args += ["--requirepass", self.password]
        self._launch(args)

    def restart(self) -> None:
        """Stop (if still running) and start again on the same port."""
        self.stop()
        self.start()

    def flushall(self) -> None:
        assert _command(self.port, "FLUSHALL") == b"+OK"
