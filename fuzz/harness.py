"""Sending fuzz cases to a real hub and judging its answers; the leak figures read from its /metrics.

Cases are drawn by hypothesis in a worker process, in one thread, and sent from another over one keep-alive HTTP
connection, so the hub works on a case while the next is drawn, and the caller's process (where a real viewer
watches) is left alone. Hypothesis is only the generator here: a bad answer is written down with its offer and the
run goes on (no shrinking, which would replay thousands of requests against a hub that may be hung).
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import multiprocessing
import queue
import re
import resource
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiortc.sdp import SessionDescription
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from fuzz.offers import MAX_SDP_BYTES, WHEP, WHIP, Case, cases, real_offers, regressions

WATCHED = "front-door"  # the camera a real viewer watches throughout; WHEP cases ask to watch it too
UNWATCHED = "porch"  # no agent and nobody watching: a plain WHIP publisher's offer is parsed and applied
FUZZ_OFFICER = "sam"  # the WHEP cases' officer (the real viewer is another)
# The hub's limits, loosened so that every case reaches the offer checks instead of a rate limit or a cap.
HUB_ENV = {
    "PORCHLIGHT_LIMITS__OFFERS_PER_SOURCE": "1000000/minute",
    "PORCHLIGHT_LIMITS__OFFERS_PER_ACCOUNT": "1000000/minute",
    "PORCHLIGHT_LIMITS__PEERS_PER_OFFICER": "1000",
    "PORCHLIGHT_LIMITS__PEERS_TOTAL": "2000",
}
REQUEST_TIMEOUT = 30.0  # one case's answer: a hub that takes longer is hung, whatever the offer
MAX_FAILURES = 20  # after this many bad answers the run stops (the first ones say enough)
WORKER_MEMORY = 4 << 30  # bytes of address space for the process that draws and sends the cases
# What a client-facing message must never contain: traceback text and the words of Python's own exceptions.
LEAKY = re.compile(
    r"Traceback|File \"|Error\(|Exception|exception|line \d|NoneType|object|invalid literal|index out of range"
    r"|KeyError|ValueError|TypeError|AttributeError|IndexError|AssertionError|aiortc|aioice|\.py\b"
)
QUERY = "?case=F&reason=fuzz"


@dataclass(frozen=True)
class Credentials:
    """What the sender presents: the fuzzing officer's session token and the unwatched camera's device token."""

    officer: str
    device: str


@dataclass
class Tally:
    """What the hub answered, case by case."""

    statuses: Counter[tuple[str, str]] = field(default_factory=Counter)  # (target, status) -> cases
    messages: Counter[tuple[int, str, str]] = field(default_factory=Counter)  # (status, reason, message) -> cases
    failures: list[str] = field(default_factory=list)
    cases: int = 0
    still_valid: int = 0
    ended_early: int = 0  # still valid, but the hub had ended the session before the DELETE came
    reconnects: int = 0
    slowest: float = 0.0

    def by_status(self) -> str:
        """`201: n, 400: n, 413: n` over both endpoints."""
        totals: Counter[str] = Counter()
        for (_, status), count in self.statuses.items():
            totals[status] += count
        return ", ".join(f"{status}: {count}" for status, count in sorted(totals.items()))

    def by_target(self) -> str:
        """Per endpoint: `whep 400: n, ...; whip 400: n, ...`."""
        parts = []
        for target in (WHEP, WHIP):
            counts = sorted((s, n) for (t, s), n in self.statuses.items() if t == target)
            parts.append(f"{target} " + ", ".join(f"{s}: {n}" for s, n in counts))
        return "; ".join(parts)

    def add(self, other: Tally) -> None:
        """Count another run's cases in this one."""
        self.statuses.update(other.statuses)
        self.messages.update(other.messages)
        self.failures += other.failures
        self.cases += other.cases
        self.still_valid += other.still_valid
        self.ended_early += other.ended_early
        self.reconnects += other.reconnects
        self.slowest = max(self.slowest, other.slowest)

    def report(self, seconds: float) -> str:
        """What was sent and answered, in a few lines (the first says how many cases ran)."""
        lines = [
            f"fuzz: {self.cases} cases run: {self.by_status()}",
            f"  in {seconds:.1f} s ({self.cases / max(seconds, 1e-9):.0f}/s); {self.by_target()}",
            f"  still valid (201, answer checked, deleted at once): {self.still_valid}, of which the hub had ended"
            f" {self.ended_early} already (connection failed); slowest answer"
            f" {self.slowest:.2f} s; keep-alive reconnects {self.reconnects}; bad answers {len(self.failures)}",
            "  what the refusals said:",
        ]
        for (status, reason, message), count in sorted(self.messages.items(), key=lambda item: -item[1]):
            lines.append(f"    {count:7d} x {status} {reason}: {message}")
        lines += [f"  BAD: {failure}" for failure in self.failures]
        return "\n".join(lines)


class Failure(Exception):
    """The hub answered a case in a way it must not."""


class Sender:
    """Cases over one keep-alive HTTP connection to the hub, each answer judged; bad ones saved under `out`."""

    def __init__(self, port: int, credentials: Credentials, out: Path, prefix: str = "failure") -> None:
        self.port = port
        self.credentials = credentials
        self.out = out
        self.prefix = prefix  # saved offers are <prefix>-<n>-<target>.sdp
        self.tally = Tally()
        self._conn: http.client.HTTPConnection | None = None

    def close(self) -> None:
        """Close the connection (the hub's socket for it is then freed too)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def run(self, case: Case) -> None:
        """Send one case and judge the answer; a bad one is saved and counted, never raised."""
        self.tally.cases += 1
        began = time.monotonic()
        try:
            status = self._judge(case)
        except Failure as exc:
            status = "failed"
            self._save(case, str(exc))
        finally:
            self.tally.slowest = max(self.tally.slowest, time.monotonic() - began)
        self.tally.statuses[(case.target, status)] += 1

    def _path(self, case: Case) -> str:
        return f"/whep/{WATCHED}{QUERY}" if case.target == WHEP else f"/whip/{UNWATCHED}"

    def _token(self, case: Case) -> str:
        return self.credentials.officer if case.target == WHEP else self.credentials.device

    def _judge(self, case: Case) -> str:
        status, headers, body = self._post(case)
        if status == 201:
            self._check_answer(case, headers, body)
            self.tally.still_valid += 1
            return "201"
        if status == 415 and not case.sdp_typed:
            return "415"
        if status not in (400, 413):
            raise Failure(f"answered {status}: {body[:300]!r}")
        too_big = len(case.body) > MAX_SDP_BYTES
        if (status == 413) != too_big:
            raise Failure(f"answered {status} to a body of {len(case.body)} bytes (limit {MAX_SDP_BYTES})")
        self._check_refusal(status, headers, body)
        return str(status)

    def _check_refusal(self, status: int, headers: http.client.HTTPMessage, body: bytes) -> None:
        if headers.get_content_type() != "application/json":
            raise Failure(f"{status} with content type {headers.get_content_type()}: {body[:300]!r}")
        try:
            answer = json.loads(body)
        except ValueError:
            raise Failure(f"{status} with a body that is not JSON: {body[:300]!r}") from None
        if not isinstance(answer, dict) or set(answer) != {"reason", "message"}:
            raise Failure(f"{status} with a body other than reason and message: {body[:300]!r}")
        reason, message = answer["reason"], answer["message"]
        if not isinstance(reason, str) or not isinstance(message, str) or len(message) > 200:
            raise Failure(f"{status} with an odd reason or message: {body[:300]!r}")
        if LEAKY.search(message) or LEAKY.search(reason):
            raise Failure(f"{status} with internal detail in its message: {body[:300]!r}")
        self.tally.messages[(status, reason, message)] += 1

    def _check_answer(self, case: Case, headers: http.client.HTTPMessage, body: bytes) -> None:
        """A 201 must carry a well-formed SDP answer and a Location, which is then deleted at once."""
        location = headers.get("Location")
        if location is None or not location.startswith(self._path(case).split("?")[0] + "/"):
            raise Failure(f"201 with Location {location!r}")
        try:
            problem = answer_problem(body, "sendonly" if case.target == WHEP else "recvonly")
        finally:
            status, _, gone = self._request("DELETE", location, None, {"Authorization": f"Bearer {self._token(case)}"})
        if problem is not None:
            raise Failure(f"201 with a bad answer ({problem}): {body[:300]!r}")
        if status == 404 and b'"session_unknown"' in gone:
            # Its connection failed at once (no usable candidate, say) and the hub had already ended it.
            self.tally.ended_early += 1
        elif status != 200:
            raise Failure(f"DELETE of a fuzzed session answered {status}")

    def _post(self, case: Case) -> tuple[int, http.client.HTTPMessage, bytes]:
        headers = {"Content-Type": case.content_type, "Authorization": f"Bearer {self._token(case)}"}
        return self._request("POST", self._path(case), case, headers)

    def _request(
        self, method: str, path: str, case: Case | None, headers: dict[str, str]
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        """One request; once more on a new connection if a reused one turns out closed before any answer (the hub
        may close an idle keep-alive connection; a fresh connection that fails is the hub's failure)."""
        for attempt in (1, 2):
            reused = self._conn is not None
            conn = self._connect()
            try:
                conn.request(method, path, body=_body(case), headers=headers, encode_chunked=bool(case and case.chunks))
                response = conn.getresponse()
                body = response.read()
            except ConnectionError as exc:  # reset, refused, broken pipe, closed before an answer
                self.close()
                if reused and attempt == 1:
                    self.tally.reconnects += 1
                    continue
                raise Failure(f"connection failed ({type(exc).__name__})") from None
            except TimeoutError:
                self.close()
                raise Failure(f"no answer within {REQUEST_TIMEOUT:.0f} s") from None
            except http.client.HTTPException as exc:  # an answer that is not HTTP, or cut short
                self.close()
                raise Failure(f"a broken answer ({type(exc).__name__})") from None
            if response.will_close:
                self.close()
            return response.status, response.headers, body
        raise AssertionError("unreachable")

    def _connect(self) -> http.client.HTTPConnection:
        if self._conn is None:
            self._conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT)
        return self._conn

    def _save(self, case: Case, what: str) -> None:
        """Write the case's body and what went wrong under `out`; keep the message for the report."""
        n = len(self.tally.failures) + 1
        self.out.mkdir(parents=True, exist_ok=True)
        offer = self.out / f"{self.prefix}-{n}-{case.target}.sdp"
        offer.write_bytes(case.body)
        meta = {"what": what, "target": case.target, "content_type": case.content_type, "chunks": case.chunks}
        offer.with_suffix(".json").write_text(json.dumps({**meta, "steps": case.steps}, indent=2), encoding="utf-8")
        self.tally.failures.append(f"{what} (offer saved to {offer})")


def _body(case: Case | None) -> bytes | Iterator[bytes] | None:
    if case is None:
        return None
    if not case.chunks:
        return case.body
    step = max(1, -(-len(case.body) // case.chunks))
    return iter([case.body[i : i + step] for i in range(0, len(case.body), step)] or [b""])


def answer_problem(body: bytes, video_direction: str) -> str | None:
    """What is wrong with an SDP answer, or None if it is well formed (video in `video_direction`)."""
    try:
        text = body.decode("utf-8")
        parsed = SessionDescription.parse(text)
    except Exception as exc:  # whatever aiortc's parser trips on, the answer is not well formed
        return f"does not parse: {type(exc).__name__}"
    if not text.startswith("v=0\r\n"):
        return "does not start with v=0"
    videos = [m for m in parsed.media if m.kind == "video"]
    if not any(m.direction == video_direction and m.rtp.codecs for m in videos):
        return f"no {video_direction} video with a codec"
    for media in parsed.media:
        if media.ice is None or not media.ice.usernameFragment or not media.ice.password:
            return "no ICE credentials"
        if media.dtls is None or not media.dtls.fingerprints or media.dtls.role not in ("client", "server"):
            return "no DTLS fingerprint or role"
    return None


class _Stop(BaseException):
    """Ends the generator early (a BaseException, so hypothesis passes it on instead of shrinking)."""


def run_cases(sender: Sender, strategy: st.SearchStrategy[Case], count: int, seed: int) -> None:
    """Draw `count` cases (reproducibly from `seed`) and send them, one thread drawing while another sends.

    Stops early once `MAX_FAILURES` answers were bad. Blocking.
    """
    cases: queue.Queue[Case | None] = queue.Queue(maxsize=8)
    stop = threading.Event()

    def send() -> None:
        try:
            while (case := cases.get()) is not None:
                try:
                    sender.run(case)
                except Exception as exc:  # a bug of the fuzzer itself: say so and stop, the run proves nothing
                    sender.tally.failures.append(f"the sender failed: {exc!r}")
                    return
                if len(sender.tally.failures) >= MAX_FAILURES:
                    return
        finally:
            stop.set()

    # Drawing is slow on a busy 2-core machine and overlaps the sending: that is no health issue of the strategy.
    @hypothesis_seed(seed)
    @settings(
        max_examples=count,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(strategy)
    def draw(case: Case) -> None:
        while not stop.is_set():
            with contextlib.suppress(queue.Full):
                cases.put(case, timeout=0.2)
                return
        raise _Stop

    sending = threading.Thread(target=send, name="fuzz-sender")
    sending.start()
    try:
        with contextlib.suppress(_Stop):
            draw()
    finally:
        while sending.is_alive():
            with contextlib.suppress(queue.Full):
                cases.put(None, timeout=0.2)
        sending.join()


def campaign(port: int, credentials: Credentials, count: int, seed: int, out: Path, known: bool = True) -> Tally:
    """Make the real offers, send the offers known to have broken the hub once (`known`), then draw and send
    `count` cases; what the hub answered.

    Meant for a worker process of its own (see `worker`): hypothesis reseeds the global `random` while it
    draws, and the drawing would compete for the interpreter with the caller's real viewer.
    """
    # A runaway case (a generator bug) then ends this worker with a MemoryError and its traceback, instead of the
    # machine's OOM killer picking a process, perhaps the hub.
    hard = resource.getrlimit(resource.RLIMIT_AS)[1]
    soft = WORKER_MEMORY if hard == resource.RLIM_INFINITY else min(WORKER_MEMORY, hard)
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    base = asyncio.run(real_offers())
    sender = Sender(port, credentials, out, prefix=f"seed{seed}")
    try:
        for case in regressions(base) if known else []:
            sender.run(case)
        run_cases(sender, cases(base), count, seed)
    finally:
        sender.close()
    return sender.tally


def worker() -> ProcessPoolExecutor:
    """The process `campaign` runs in: spawned, not forked (the caller has threads and an event loop)."""
    return ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))


async def in_worker(
    pool: ProcessPoolExecutor, port: int, credentials: Credentials, count: int, seed: int, out: Path, known: bool = True
) -> Tally:
    """Run `campaign` in `pool`'s worker process, leaving this process's event loop free meanwhile."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(pool, campaign, port, credentials, count, seed, out, known)


@dataclass(frozen=True)
class Snapshot:
    """The hub's resources at one moment, from its /metrics."""

    peers: float
    viewers: float  # WHEP sessions registered: an ended one that stays registered is a leak too
    publishers: float
    tasks: float
    fds: float
    rss: float

    def __str__(self) -> str:
        return (
            f"peer connections {self.peers:.0f}, viewers {self.viewers:.0f}, publishers {self.publishers:.0f},"
            f" asyncio tasks {self.tasks:.0f}, open fds {self.fds:.0f}, RSS {self.rss / 2**20:.1f} MB"
        )

    def settled(self, before: Snapshot, margin: int) -> bool:
        """No more connections and sessions than `before`, and tasks and fds within `margin` of it."""
        return (
            self.peers <= before.peers
            and self.viewers <= before.viewers
            and self.publishers <= before.publishers
            and self.tasks <= before.tasks + margin
            and self.fds <= before.fds + margin
        )


async def snapshot(url: str) -> Snapshot:
    """Read the figures a leak would show in."""
    async with aiohttp.ClientSession() as http_session, http_session.get(f"{url}/metrics") as response:
        text = await response.text()

    def value(name: str) -> float:
        match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
        assert match, f"metric {name} not found"
        return float(match.group(1))

    return Snapshot(
        value("porchlight_peer_connections"),
        value("porchlight_viewers"),
        value("porchlight_publishers"),
        value("porchlight_asyncio_tasks"),
        value("process_open_fds"),
        value("process_resident_memory_bytes"),
    )


async def settled(url: str, before: Snapshot, margin: int, timeout: float) -> Snapshot:
    """Wait until the hub is back to `before` (see `Snapshot.settled`); AssertionError with the last figures if
    that does not happen within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        now = await snapshot(url)
        if now.settled(before, margin):
            return now
        if time.monotonic() > deadline:
            raise AssertionError(f"the hub did not settle within {timeout:.0f} s: before {before}; now {now}")
        await asyncio.sleep(0.2)


async def officer_token(url: str, username: str, password: str) -> str:
    """A session token for `Authorization: Bearer` (what a plain WHEP player presents)."""
    async with (
        aiohttp.ClientSession() as http_session,
        http_session.post(f"{url}/api/login", json={"username": username, "password": password}) as response,
    ):
        assert response.status == 200, await response.text()
        body: dict[str, Any] = await response.json()
    return str(body["token"])
