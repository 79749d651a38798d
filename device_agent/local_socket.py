"""The agent's local control socket: how `porchlight-agent pause|resume|status` reaches the running agent.

A Unix socket in the agent's state directory (`control.sock` unless `--control-socket` names another path), mode
0600 in a directory of mode 0700, and a connecting process must run as the agent's user (or root): checked with
SO_PEERCRED. No hub, network or log-in is involved.

The protocol is one JSON object per line each way. Request: `{"command": "pause" | "resume" | "toggle" |
"status"}`. Answer: `{"ok": true, "camera": "...", "paused": bool, "publishing": bool}`, or `{"ok": false,
"error": "..."}` for a request it could not understand. Several requests may share one connection.

Paths longer than a socket address can hold (107 bytes) are reached through `/proc/self/fd/<dir>/<name>`, as
systemd does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import struct
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

COMMANDS = ("pause", "resume", "toggle", "status")
MAX_LINE = 1024
CLIENT_TIMEOUT = 10.0
_MAX_SUN_PATH = 107  # sockaddr_un.sun_path is 108 bytes with the terminating NUL

Handler = Callable[[str], Awaitable[dict[str, Any]]]


class SocketInUse(OSError):
    """Another process answers on the socket's path (another agent for the same state directory)."""


class LocalControlError(Exception):
    """The agent could not be reached or answered with an error; the message says which."""


@contextlib.contextmanager
def _addressable(path: Path) -> Iterator[str]:
    """A path for bind/connect: `path` itself, or through its directory's descriptor when too long."""
    if len(os.fsencode(path)) <= _MAX_SUN_PATH:
        yield str(path)
        return
    fd = os.open(path.parent, os.O_PATH | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{fd}/{path.name}"
    finally:
        os.close(fd)


def connect(path: Path, timeout: float = CLIENT_TIMEOUT) -> socket.socket:
    """A connected (blocking, with `timeout`) socket to the agent at `path`, however long the path."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        with _addressable(path) as address:
            sock.connect(address)
    except BaseException:
        sock.close()
        raise
    return sock


class LocalControlServer:
    """Serves the socket at `path`; each request goes to `handle(command)`, whose dict is the answer."""

    def __init__(self, path: Path, handle: Handler) -> None:
        self.path = path
        self._handle = handle
        self._server: asyncio.Server | None = None
        self._clients: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    async def start(self) -> None:
        """Bind and listen (mode 0600); SocketInUse if another agent answers there, OSError if it cannot bind."""
        directory = self.path.parent
        if not directory.exists():
            directory.mkdir(parents=True, mode=0o700)
        self._remove_stale()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            with _addressable(self.path) as address:
                sock.bind(address)
            os.chmod(self.path, 0o600)
            sock.listen(8)
            sock.setblocking(False)
            self._server = await asyncio.start_unix_server(self._serve, sock=sock, limit=MAX_LINE)
        except BaseException:
            sock.close()
            raise

    def _remove_stale(self) -> None:
        """Remove a socket file left by an agent that died; SocketInUse if one still answers on it."""
        if not self.path.is_socket():
            return
        try:
            connect(self.path, 1.0).close()
        except (ConnectionRefusedError, FileNotFoundError):
            self.path.unlink(missing_ok=True)
            return
        raise SocketInUse(f"another agent answers on its control socket {self.path}")

    async def close(self) -> None:
        """Stop listening, end open connections and remove the socket file."""
        if self._server is None:
            return
        self._server.close()
        for writer in self._clients.values():
            writer.close()  # their reads end (not cancelled: asyncio would log a cancelled connection handler)
        await asyncio.gather(*self._clients, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None
        self.path.unlink(missing_ok=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._clients[task] = writer
        try:
            if not _same_user(writer):
                logger.warning("local control: refused a connection from another user")
                return
            while line := await reader.readline():
                writer.write((json.dumps(await self._answer(line)) + "\n").encode())
                await writer.drain()
        except (ValueError, asyncio.LimitOverrunError):
            logger.warning("local control: a request line over %d bytes; connection closed", MAX_LINE)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except Exception:
            logger.exception("local control: request failed")
        finally:
            self._clients.pop(task, None)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _answer(self, line: bytes) -> dict[str, Any]:
        try:
            request = json.loads(line)
        except ValueError:
            return {"ok": False, "error": "not JSON"}
        command = request.get("command") if isinstance(request, dict) else None
        if command not in COMMANDS:
            return {"ok": False, "error": f"command must be one of {', '.join(COMMANDS)}"}
        return {"ok": True, **await self._handle(command)}


def _same_user(writer: asyncio.StreamWriter) -> bool:
    """Whether the peer runs as this process's user or as root (the socket's mode should already ensure it)."""
    sock = writer.get_extra_info("socket")
    if sock is None:
        return False
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid in (os.getuid(), 0)


def request(path: Path, command: str, timeout: float = CLIENT_TIMEOUT) -> dict[str, Any]:
    """Send one command to the agent listening at `path` and return its answer (blocking).

    FileNotFoundError or ConnectionRefusedError when no agent listens there; LocalControlError for any other
    failure or an error answer."""
    if command not in COMMANDS:
        raise LocalControlError(f"unknown command {command!r}")
    with connect(path, timeout) as sock, sock.makefile("rwb") as stream:
        stream.write((json.dumps({"command": command}) + "\n").encode())
        stream.flush()
        line = stream.readline(MAX_LINE * 64)
    if not line:
        raise LocalControlError("the agent closed the connection without answering")
    try:
        answer = json.loads(line)
    except ValueError as exc:
        raise LocalControlError("the agent's answer is not JSON") from exc
    if not isinstance(answer, dict) or not answer.get("ok"):
        error = answer.get("error") if isinstance(answer, dict) else None
        raise LocalControlError(f"the agent refused: {error or 'no reason given'}")
    return answer
