"""Secrets the test suite creates or sees, the log files it captures, and a scan of those logs for both.

Issue 8: the logs captured during the whole suite hold no password, token, cookie, TOTP secret or ICE password.
`SECRETS` is the session's registry. The test helpers register every secret they make or are handed (passwords,
session, CSRF and device tokens, cookies, TOTP secrets, `a=ice-pwd:` values of SDP) and every log file they
capture (hub, agent and redis-server output, the in-process log); `observe()` adds whatever any aiohttp client of
the test process sends or receives. tests/conftest.py scans each log as it grows (as fixtures finish and after
each test, so a directory that tmp-path retention removes has been read first) and fails the run on a leak.

Some leaks need no registry: `PATTERNS` flags SDP `ice-pwd` lines, `Authorization: Bearer` values, cookie
headers with values, session and device tokens by their prefix, credentials in URLs and signer keys.
Only logs are scanned: the stores hold token hashes and TOTP secrets by design.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from hub.auth.tokens import DEVICE_TOKEN_PREFIX, SESSION_TOKEN_PREFIX

# Shorter values would match ordinary words (wrong passwords like "no" that tests try); the hub refuses
# passwords under 8 characters and every generated secret is far longer.
MIN_LENGTH = 8

# Keys of JSON bodies (requests and answers) whose string values are secrets.
SECRET_KEYS = frozenset({"password", "token", "csrf_token", "secret"})

_ICE_PWD = re.compile(r"^a=ice-pwd:(\S+)", re.MULTILINE)
# An ICE password as RFC 8839 spells it (22 to 256 ice-chars); mutated offers from the fuzz tests carry others.
_ICE_CHARS = re.compile(r"[A-Za-z0-9+/]{22,256}")
_TOKEN_CHARS = r"[A-Za-z0-9_-]"

PATTERNS: Mapping[str, re.Pattern[str]] = {
    # An SDP line (or a dump of one) carrying the ICE password; the word alone in an error message is fine.
    "ice-pwd line": re.compile(r"(?i)ice[-_]?pwd['\"]?\s*[:=]\s*['\"]?[A-Za-z0-9+/]{4,}"),
    # A credential has digits, capitals or underscores; "Bearer authentication-required" is prose.
    "Bearer credential": re.compile(r"\b(?i:bearer)\s+(?=\S*[0-9_A-Z])[A-Za-z0-9._~+/-]{16,}"),
    "cookie header": re.compile(r"(?i)\b(?:set-)?cookie['\"]?\s*[:=]\s*['\"]?[^\s=;'\"]+=[^\s;'\"]{8,}"),
    "session cookie": re.compile(r"porchlight_session=[^\s;'\"]{8,}"),
    "session token": re.compile(rf"(?<![A-Za-z0-9]){SESSION_TOKEN_PREFIX}{_TOKEN_CHARS}{{32,}}"),
    "device token": re.compile(rf"(?<![A-Za-z0-9]){DEVICE_TOKEN_PREFIX}{_TOKEN_CHARS}{{32,}}"),
    "credentials in a URL": re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@]*:[^/\s@]+@"),
    "signer key": re.compile(r"PRIVATE\+KEY\+|-----BEGIN [A-Z ]*PRIVATE KEY-----"),
}

# Whole lines that may name a secret: `porchlight demo` prints its demo log-ins on purpose (hub/demo.py `_banner`:
# the account table and a curl example), on stdout rather than in a log record, and tests/test_demo.py asks for it.
ALLOWED_LINES = (
    re.compile(r"^  [a-z]+ +\S+ +(?:resident|officer|admin)\b[^\n]*$"),
    re.compile(r"^Try: curl -c jar -H 'Content-Type: application/json' -d '\{[^\n]*\}' \S+/api/login$"),
)


@dataclass(frozen=True)
class Leak:
    """One secret or pattern found in a log: where, what kind, and the line with the secret masked."""

    path: Path
    line: int
    what: str
    text: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.what}: {self.text}"


def variants(value: str) -> set[str]:
    """The forms a secret takes in a log line: as is, URL-encoded, inside a JSON string."""
    return {value, quote(value, safe=""), json.dumps(value)[1:-1]}


def _mask(line: str, start: int, end: int, what: str) -> str:
    masked = f"{line[:start]}<{what}>{line[end:]}"
    return masked if len(masked) <= 240 else masked[:240] + "..."


# Characters of tokens, ICE passwords and most passwords; a secret is looked up by a window of its longest run.
_RUN = re.compile(r"[A-Za-z0-9_+/-]+")
_LONG_RUN = re.compile(rf"[A-Za-z0-9_+/-]{{{MIN_LENGTH},}}")


class SecretIndex:
    """Secrets (variant -> kind) indexed so a scan costs about the same for ten secrets or ten thousand.

    A secret whose longest run of token characters is at least `MIN_LENGTH` long can only occur in a text inside
    one of the text's maximal runs; so the text's distinct runs are slid over once, looking up each window of
    `MIN_LENGTH` characters, and only the secrets found that way are searched for. The few others (passwords with
    spaces or punctuation) are searched for directly.
    """

    def __init__(self, secrets: Mapping[str, str] | None = None) -> None:
        self.by_window: dict[str, dict[str, str]] = {}
        self.loose: dict[str, str] = {}
        for value, kind in (secrets or {}).items():
            self.add(value, kind)

    def __len__(self) -> int:
        return len(self.loose) + sum(len(group) for group in self.by_window.values())

    def add(self, value: str, kind: str) -> None:
        longest = max(_RUN.findall(value), key=len, default="")
        if len(longest) >= MIN_LENGTH:
            self.by_window.setdefault(longest[:MIN_LENGTH], {}).setdefault(value, kind)
        else:
            self.loose.setdefault(value, kind)

    def candidates(self, text: str) -> dict[str, str]:
        """The secrets that may occur in `text` (every one that does, and a few that do not)."""
        found = dict(self.loose)
        if self.by_window:
            for run in set(_LONG_RUN.findall(text)):
                for i in range(len(run) - MIN_LENGTH + 1):
                    group = self.by_window.get(run[i : i + MIN_LENGTH])
                    if group:
                        found.update(group)
        return found


def scan_text(text: str, secrets: Mapping[str, str] | SecretIndex, path: Path, first_line: int = 1) -> list[Leak]:
    """Every line of `text` holding one of `secrets` (variant -> kind) or matching a pattern, except allowed ones."""
    index = secrets if isinstance(secrets, SecretIndex) else SecretIndex(secrets)
    hits: list[tuple[int, int, str]] = []
    for value, kind in index.candidates(text).items():
        start = text.find(value)
        while start != -1:
            hits.append((start, start + len(value), kind))
            start = text.find(value, start + 1)
    for what, pattern in PATTERNS.items():
        hits.extend((m.start(), m.end(), what) for m in pattern.finditer(text))
    leaks: list[Leak] = []
    for start, end, what in sorted(hits):
        line_start = text.rfind("\n", 0, start) + 1
        line_end = text.find("\n", start)
        line = text[line_start : len(text) if line_end == -1 else line_end]
        if any(allowed.match(line) for allowed in ALLOWED_LINES):
            continue
        number = first_line + text.count("\n", 0, start)
        leaks.append(Leak(path, number, what, _mask(line, start - line_start, end - line_start, what)))
    return leaks


def _always() -> bool:
    return True


@dataclass
class _Log:
    path: Path
    alive: Callable[[], bool]  # whether something may still write to it
    offset: int = 0  # bytes scanned so far (whole lines only while it is alive)
    lines: int = 0
    done: bool = False  # read to its end after its writer finished
    gone: bool = False  # removed before it was read to its end


@dataclass
class Registry:
    """The session's secrets (value -> kind) and captured log files, scanned incrementally."""

    secrets: dict[str, str] = field(default_factory=dict)
    logs: dict[Path, _Log] = field(default_factory=dict)
    leaks: list[Leak] = field(default_factory=list)
    roots: list[Path] = field(default_factory=list)  # where `finish` also looks for unregistered *.log files
    scan_seconds: float = 0.0
    index: SecretIndex = field(default_factory=SecretIndex)
    _active: dict[Path, _Log] = field(default_factory=dict)
    # A pytest-xdist controller's view of its workers' scans (see `absorb`).
    workers: dict[str, float] = field(default_factory=dict)
    worker_leaks: list[str] = field(default_factory=list)

    def add(self, value: object, kind: str) -> None:
        """Remember a secret, unless it cannot be told from ordinary log text: not a string, shorter than
        `MIN_LENGTH`, a lowercase word ("whatever", a wrong password a test tries) or a run of a few characters."""
        if not isinstance(value, str) or len(value) < MIN_LENGTH or value in self.secrets:
            return
        if (value.isalpha() and value.islower()) or len(set(value)) < 4:
            return
        self.secrets[value] = kind
        for form in variants(value):
            self.index.add(form, kind)

    def add_sdp(self, sdp: object) -> None:
        """Remember the ICE passwords of an SDP offer or answer."""
        if isinstance(sdp, bytes):
            sdp = sdp.decode("utf-8", "replace")
        if isinstance(sdp, str) and "ice-pwd" in sdp:
            for match in _ICE_PWD.finditer(sdp):
                if _ICE_CHARS.fullmatch(match.group(1)):
                    self.add(match.group(1), "ICE password")

    def add_json(self, body: object, depth: int = 0) -> None:
        """Remember the values of secret keys ("password", "token", ...) anywhere in a decoded JSON body."""
        if depth > 6:
            return
        if isinstance(body, dict):
            for key, value in body.items():
                if key in SECRET_KEYS:
                    self.add(value, key)
                else:
                    self.add_json(value, depth + 1)
        elif isinstance(body, list):
            for item in body:
                self.add_json(item, depth + 1)

    def watch(self, path: Path, alive: Callable[[], bool] = _always) -> None:
        """Scan the log file at `path` from now on; `alive` says whether something still writes to it."""
        path = Path(path).resolve()
        log = self.logs.get(path)
        if log is None:
            log = self.logs[path] = _Log(path, alive)
        else:
            log.alive = alive  # reopened (a restarted process appends): go on from where the scan got to
            log.done = log.gone = False
        self._active[path] = log

    def scan_pending(self) -> None:
        """Read what each active log gained since the last scan; a log nobody writes any more is read to its end
        and dropped from the active set."""
        if not self._active:
            return
        started = time.perf_counter()
        for path, log in list(self._active.items()):
            finished = not log.alive()
            self._scan(log, to_end=finished)
            log.done = finished and not log.gone
            if finished or log.gone:
                del self._active[path]
        self.scan_seconds += time.perf_counter() - started

    def _scan(self, log: _Log, to_end: bool) -> None:
        try:
            with log.path.open("rb") as file:
                file.seek(log.offset)
                data = file.read()
        except FileNotFoundError:
            log.gone = True
            return
        if not to_end:
            data = data[: data.rfind(b"\n") + 1]  # a line still being written waits for the next scan
        if not data:
            return
        text = data.decode("utf-8", "replace")
        self.leaks.extend(scan_text(text, self.index, log.path, log.lines + 1))
        log.offset += len(data)
        log.lines += text.count("\n")

    def finish(self, roots: Iterable[Path] = ()) -> None:
        """The final scan: every registered log to its end, and any other `*.log` file under `roots`."""
        started = time.perf_counter()
        for root in roots:
            for path in sorted(Path(root).rglob("*.log")):
                if path.is_file() and path.resolve() not in self.logs:
                    self.watch(path)
        for log in self.logs.values():
            if not log.done and not log.gone:
                self._scan(log, to_end=True)
                log.done = not log.gone
        self._active.clear()
        self.scan_seconds += time.perf_counter() - started

    def report(self) -> dict[str, Any]:
        """What this process found, for the pytest-xdist controller (secrets masked in the leaks' text)."""
        return {
            "files": len(self.logs),
            "secrets": len(self.secrets),
            "gone": sum(log.gone for log in self.logs.values()),
            "seconds": self.scan_seconds,
            "leaks": [str(leak) for leak in self.leaks],
        }

    def absorb(self, report: Mapping[str, Any]) -> None:
        """Add a pytest-xdist worker's report to this (the controller's) totals."""
        for key in ("files", "secrets", "gone", "seconds"):
            self.workers[key] = self.workers.get(key, 0) + report[key]
        self.worker_leaks.extend(report["leaks"])

    @property
    def failed(self) -> bool:
        return bool(self.leaks or self.worker_leaks)

    def summary(self) -> str:
        """One line for the end of the run (never containing a secret)."""
        gone = sum(log.gone for log in self.logs.values()) + self.workers.get("gone", 0)
        files = len(self.logs) + self.workers.get("files", 0)
        secrets = max(len(self.secrets), self.workers.get("secrets", 0))
        head = f"log scan: {files} files, {secrets} secrets checked"
        tail = f" ({gone} removed before they could be read)" if gone else ""
        took = f"; scanning took {self.scan_seconds + self.workers.get('seconds', 0):.2f}s"
        leaks = len(self.leaks) + len(self.worker_leaks)
        if not leaks:
            return f"{head}, no leaks{tail}{took}"
        return f"{head}, {leaks} LEAKS{tail}{took}"


SECRETS = Registry()


def observe(registry: Registry = SECRETS) -> Callable[[], None]:
    """Register what every aiohttp client in this process sends and receives: JSON bodies' secret keys, SDP ICE
    passwords, Bearer and cookie headers, cookies set. Observation only: nothing is changed on the way. Returns
    the function that undoes it.

    This reaches the tests that talk to a hub with their own client (aiohttp's TestClient, a bare session),
    not only through tests/support/client.py.
    """
    import aiohttp

    original_request = aiohttp.ClientSession._request
    original_read = aiohttp.ClientResponse.read

    async def _request(self: aiohttp.ClientSession, method: str, url: Any, **kwargs: Any) -> aiohttp.ClientResponse:
        _note_request(registry, kwargs)
        response = await original_request(self, method, url, **kwargs)
        for morsel in response.cookies.values():
            registry.add(morsel.value, "cookie")
        return response

    async def read(self: aiohttp.ClientResponse) -> bytes:
        body = await original_read(self)
        _note_body(registry, self.content_type, body)
        return body

    aiohttp.ClientSession._request = _request  # type: ignore[method-assign,assignment]
    aiohttp.ClientResponse.read = read  # type: ignore[method-assign]

    def undo() -> None:
        aiohttp.ClientSession._request = original_request  # type: ignore[method-assign]
        aiohttp.ClientResponse.read = original_read  # type: ignore[method-assign]

    return undo


def _note_request(registry: Registry, kwargs: Mapping[str, Any]) -> None:
    registry.add_json(kwargs.get("json"))
    data = kwargs.get("data")
    if isinstance(data, str | bytes):
        registry.add_sdp(data)
    for name, value in dict(kwargs.get("headers") or {}).items():
        if not isinstance(value, str):
            continue
        if name.lower() == "authorization":
            registry.add(value.split(" ", 1)[-1], "Authorization")
        elif name.lower() == "cookie":
            for pair in value.split(";"):
                registry.add(pair.partition("=")[2].strip(), "cookie")
        elif name.lower() == "x-csrf-token":
            registry.add(value, "csrf_token")


def _note_body(registry: Registry, content_type: str, body: bytes) -> None:
    if content_type == "application/sdp":
        registry.add_sdp(body)
    elif content_type == "application/json" and any(f'"{key}"'.encode() in body for key in SECRET_KEYS):
        with contextlib.suppress(ValueError):  # not ours to judge: the test reading it will say
            registry.add_json(json.loads(body))
