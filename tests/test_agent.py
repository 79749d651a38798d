"""The camera agent against a minimal in-test hub: real WebSockets, real WHIP, real aiortc peers on loopback."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from aiohttp import WSCloseCode, web
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription

from device_agent import control
from device_agent.agent import Agent
from device_agent.config import AgentConfig, ConfigError, parse_size
from device_agent.sources import SourceError, SourceSpec, open_source, parse_source
from device_agent.stamp import read_stamp
from device_agent.whip import WhipError, WhipPublisher
from porchlight_rtc.ice import enable_loopback, rtc_configuration

REPO = Path(__file__).resolve().parent.parent
TOKEN = "good-token-1234567890"
WAIT = 10.0  # upper bound on any single wait; tests normally finish far sooner
StartAgent = Callable[[AgentConfig], "asyncio.Task[None]"]
AgentProcess = tuple[asyncio.subprocess.Process, list[str]]


@pytest.fixture(autouse=True, scope="module")
def _loopback() -> None:
    enable_loopback()


class Events:
    """An ordered record of what happened (hub requests and agent log lines), with bounded waiting."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []
        self._changed = asyncio.Event()

    def add(self, kind: str, detail: str = "") -> None:
        self.items.append((kind, detail))
        self._changed.set()
        self._changed = asyncio.Event()

    def index(self, kind: str, contains: str = "") -> int:
        return next(i for i, (k, d) in enumerate(self.items) if k == kind and contains in d)

    def count(self, kind: str, contains: str = "") -> int:
        return sum(1 for k, d in self.items if k == kind and contains in d)

    async def wait(self, predicate: Callable[[], bool], timeout: float = WAIT) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"condition not met; events: {self.items[-15:]}")
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                continue

    async def wait_for(self, kind: str, contains: str = "", count: int = 1) -> None:
        await self.wait(lambda: self.count(kind, contains) >= count)


@dataclass
class MiniHub:
    """A minimal hub: /control/{camera} WebSocket and WHIP /whip/{camera}, answered by a real aiortc peer."""

    events: Events
    token: str = TOKEN
    port: int = 0
    sockets: list[web.WebSocketResponse] = field(default_factory=list)
    sessions: dict[str, RTCPeerConnection] = field(default_factory=dict)
    tracks: asyncio.Queue[MediaStreamTrack] = field(default_factory=asyncio.Queue)
    offers: list[str] = field(default_factory=list)
    attempts: list[float] = field(default_factory=list)
    runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.token}"

    async def control(self, request: web.Request) -> web.StreamResponse:
        self.attempts.append(time.monotonic())
        if not self._authorized(request):
            self.events.add("rejected")
            raise web.HTTPUnauthorized(text=json.dumps({"error": "bad token"}), content_type="application/json")
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets.append(ws)
        camera = request.match_info["camera"]
        await ws.send_json({"type": "hello", "camera_id": camera, "hub": "test"})
        self.events.add("connect", camera)
        try:
            async for msg in ws:
                self.events.add("state", msg.data)
        finally:
            self.sockets.remove(ws)
            self.events.add("disconnect", camera)
        return ws

    async def whip(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            raise web.HTTPUnauthorized()
        camera = request.match_info["camera"]
        if camera == "forbidden":
            return web.json_response({"reason": "camera not opted in"}, status=403)
        assert request.content_type == "application/sdp"
        offer = await request.text()
        self.offers.append(offer)
        self.events.add("post", camera)
        pc = RTCPeerConnection(rtc_configuration([]))
        pc.on("track", self.tracks.put_nowait)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        resource = uuid.uuid4().hex
        self.sessions[resource] = pc
        headers = {"Location": f"{camera}/{resource}"}  # relative on purpose: resolved against the request URL
        return web.Response(status=201, text=pc.localDescription.sdp, content_type="application/sdp", headers=headers)

    async def delete(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            raise web.HTTPUnauthorized()
        pc = self.sessions.pop(request.match_info["resource"], None)
        if pc is None:
            raise web.HTTPNotFound()
        await pc.close()
        self.events.add("delete", request.match_info["camera"])
        return web.Response(status=200)

    async def redirect(self, request: web.Request) -> web.Response:
        target = "/loop/whip/" if request.match_info["prefix"] == "loop" else "/whip/"
        raise web.HTTPTemporaryRedirect(target + request.match_info["camera"])

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/control/{camera}", self.control)
        app.router.add_post("/whip/{camera}", self.whip)
        app.router.add_delete("/whip/{camera}/{resource}", self.delete)
        app.router.add_post("/{prefix:old|loop}/whip/{camera}", self.redirect)
        app.on_shutdown.append(self._close_sockets)
        return app

    async def _close_sockets(self, app: web.Application) -> None:
        for ws in list(self.sockets):
            await ws.close(code=WSCloseCode.GOING_AWAY)

    async def start(self) -> None:
        self.runner = web.AppRunner(self.app(), shutdown_timeout=1.0)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", self.port)
        await site.start()
        self.port = self.runner.addresses[0][1]

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    async def close(self) -> None:
        await self.stop()
        for pc in self.sessions.values():
            await pc.close()
        self.sessions.clear()

    async def send(self, message: dict[str, object] | str) -> None:
        text = message if isinstance(message, str) else json.dumps(message)
        await self.sockets[-1].send_str(text)

    def states(self) -> list[bool]:
        return [json.loads(d)["publishing"] for k, d in self.events.items if k == "state"]


class _EventLog(logging.Handler):
    def __init__(self, events: Events) -> None:
        super().__init__(logging.DEBUG)
        self.events = events

    def emit(self, record: logging.LogRecord) -> None:
        self.events.add("log", f"{record.levelname} {record.getMessage()}")


@pytest.fixture
def events() -> Iterator[Events]:
    events = Events()
    handler = _EventLog(events)
    logger = logging.getLogger("device_agent")
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.DEBUG)
    yield events
    logger.removeHandler(handler)
    logger.setLevel(old_level)


@pytest.fixture
async def mini_hub(events: Events) -> AsyncIterator[MiniHub]:
    hub = MiniHub(events)
    await hub.start()
    yield hub
    await hub.close()


def _config(*hubs: str, **overrides: object) -> AgentConfig:
    settings: dict[str, object] = {
        "hubs": hubs,
        "camera_id": "cam-1",
        "token": TOKEN,
        "width": 320,
        "height": 240,
        "loopback": True,
        "max_backoff": 1.0,
    }
    settings.update(overrides)
    return AgentConfig(**settings)  # type: ignore[arg-type]


@pytest.fixture
async def run_agent() -> AsyncIterator[StartAgent]:
    """Start agents in this process; each is shut down (and must finish) when the test ends."""
    running: list[tuple[asyncio.Event, asyncio.Task[None]]] = []

    def start(config: AgentConfig) -> asyncio.Task[None]:
        shutdown = asyncio.Event()
        task = asyncio.create_task(Agent(config).run(shutdown))
        running.append((shutdown, task))
        return task

    yield start
    for shutdown, task in running:
        shutdown.set()
        await asyncio.wait_for(task, WAIT)


async def _frames(track: MediaStreamTrack, count: int) -> list[np.ndarray]:
    frames = []
    for _ in range(count):
        frame = await asyncio.wait_for(track.recv(), WAIT)
        frames.append(frame.to_ndarray(format="bgr24"))  # type: ignore[union-attr]
    return frames


def _assert_recent(frames: list[np.ndarray], within_ms: int = 2000) -> None:
    now = time.time_ns() // 1_000_000
    stamps = [s for s in map(read_stamp, frames) if s is not None]
    assert len(stamps) >= len(frames) - 1, "received frames carry readable capture stamps"
    assert stamps == sorted(stamps)
    assert all(0 <= now - s <= within_ms for s in stamps), (now, stamps)


@pytest.mark.parametrize("codec", ["vp8", "h264"])
async def test_publishes_only_when_asked_and_stops_on_stop(
    mini_hub: MiniHub, events: Events, run_agent: StartAgent, codec: str
) -> None:
    run_agent(_config(mini_hub.url, codec=codec))
    await events.wait_for("connect", "cam-1")
    await events.wait(lambda: mini_hub.states() == [False])

    # Everything but "publish" leaves the camera dark.
    await mini_hub.send({"type": "watchers", "watchers": 0})
    await mini_hub.send("{not json")
    await mini_hub.send({"type": "publish"})  # no watcher count: malformed, fail closed
    await mini_hub.send({"type": "teleport"})
    await events.wait_for("log", "ignoring unknown control message type teleport")
    assert events.count("post") == 0

    await mini_hub.send({"type": "publish", "watchers": 2})
    await events.wait_for("post", "cam-1")
    assert events.index("log", "watching; starting to publish") < events.index("post")
    assert events.index("log", "WARNING camera cam-1: 2 officer(s) watching") < events.index("post")
    offer = mini_hub.offers[-1]
    # Both codecs offered, the preferred one first: the hub takes its own preference (hub.media.codecs).
    first, second = ("VP8/90000", "H264/90000") if codec == "vp8" else ("H264/90000", "VP8/90000")
    assert -1 < offer.index(first) < offer.index(second)
    assert "m=audio" not in offer  # video only

    track = await asyncio.wait_for(mini_hub.tracks.get(), WAIT)
    assert track.kind == "video"
    _assert_recent(await _frames(track, 8))
    await events.wait_for("log", "publishing started")
    await events.wait(lambda: mini_hub.states() == [False, True])

    await mini_hub.send({"type": "publish", "watchers": 3})  # already publishing: no second session
    await mini_hub.send({"type": "stop", "reason": "owner withdrew"})
    await events.wait_for("delete", "cam-1")
    await events.wait_for("log", "publishing stopped (hub asked: owner withdrew)")
    await events.wait(lambda: mini_hub.states() == [False, True, False])
    assert events.count("post") == 1


async def test_wrong_token_is_retried_with_backoff(mini_hub: MiniHub, events: Events, run_agent: StartAgent) -> None:
    task = run_agent(_config(mini_hub.url, token="wrong-token"))
    await events.wait_for("rejected", count=4)
    assert not task.done()
    gaps = [b - a for a, b in zip(mini_hub.attempts, mini_hub.attempts[1:], strict=False)]
    assert gaps[2] > gaps[0]  # the delay grows
    assert events.count("log", "HTTP 401 (bad device token)") >= 3
    assert "wrong-token" not in " ".join(d for _, d in events.items)

    mini_hub.token = "wrong-token"  # the operator fixes the hub side; the agent gets in without a restart
    await events.wait_for("connect", "cam-1")
    assert not task.done()


async def test_reconnects_after_hub_restart(mini_hub: MiniHub, events: Events, run_agent: StartAgent) -> None:
    run_agent(_config(mini_hub.url))
    await events.wait_for("connect")
    await mini_hub.send({"type": "publish", "watchers": 1})
    await events.wait_for("log", "publishing started")

    await mini_hub.stop()
    await events.wait_for("log", "publishing stopped (control channel closed)")
    await events.wait_for("log", "cannot reach hub")
    await mini_hub.start()  # same port
    await events.wait_for("connect", count=2)
    assert events.count("post") == 1  # nothing is published until the new hub asks


async def test_falls_back_to_the_next_hub(mini_hub: MiniHub, events: Events, run_agent: StartAgent) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    run_agent(_config(dead, mini_hub.url))
    await events.wait_for("connect")
    assert events.index("log", "cannot reach hub") < events.index("connect")


async def test_whip_redirects_and_errors(mini_hub: MiniHub, events: Events) -> None:
    track = _SilentTrack()
    publisher = WhipPublisher(f"{mini_hub.url}/old", "cam-r", TOKEN, rtc_configuration([]))
    await publisher.start(track)
    assert publisher.resource is not None and publisher.resource.startswith(f"{mini_hub.url}/whip/cam-r/")
    await publisher.stop()
    await publisher.stop()  # idempotent
    assert events.count("delete", "cam-r") == 1

    refused = WhipPublisher(mini_hub.url, "forbidden", TOKEN, rtc_configuration([]))
    with pytest.raises(WhipError) as info:
        await refused.start(_SilentTrack())
    assert info.value.status == 403 and info.value.reason == "camera not opted in"

    looping = WhipPublisher(f"{mini_hub.url}/loop", "cam-l", TOKEN, rtc_configuration([]))
    with pytest.raises(WhipError, match="redirects"):
        await looping.start(_SilentTrack())


class _SilentTrack(MediaStreamTrack):
    kind = "video"

    async def recv(self) -> av.VideoFrame:
        await asyncio.Event().wait()  # never produces: these tests only exercise signalling
        raise AssertionError


@pytest.fixture
async def agent_process(mini_hub: MiniHub, tmp_path: Path) -> AsyncIterator[AgentProcess]:
    """`python -m device_agent` as a real process; killed at the end if the test did not stop it."""
    env = {**os.environ, "PORCHLIGHT_DEVICE_TOKEN": TOKEN, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    args = ["--hub", mini_hub.url, "--camera", "cam-p", "--loopback", "--size", "320x240", "--max-backoff", "1",
            "--state-dir", str(tmp_path / "state")]  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "device_agent", *args, cwd=tmp_path, env=env,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    lines: list[str] = []

    async def pump() -> None:
        assert proc.stderr is not None
        async for raw in proc.stderr:
            line = raw.decode(errors="replace").rstrip()
            lines.append(line)
            mini_hub.events.add("stderr", line)

    reader = asyncio.create_task(pump())
    yield proc, lines
    if proc.returncode is None:
        proc.kill()
    await asyncio.wait_for(proc.wait(), WAIT)
    await asyncio.wait_for(reader, WAIT)


async def test_subprocess_exits_cleanly_on_sigterm(
    mini_hub: MiniHub, events: Events, agent_process: AgentProcess
) -> None:
    proc, lines = agent_process
    await events.wait_for("connect", "cam-p")
    await mini_hub.send({"type": "publish", "watchers": 1})
    await events.wait_for("stderr", "publishing started")
    track = await asyncio.wait_for(mini_hub.tracks.get(), WAIT)
    _assert_recent(await _frames(track, 3))

    proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(proc.wait(), WAIT) == 0
    await events.wait_for("delete", "cam-p")
    await events.wait_for("stderr", "publishing stopped")
    watching = next(i for i, line in enumerate(lines) if "watching" in line and "WARNING" in line)
    assert watching < next(i for i, line in enumerate(lines) if "publishing started" in line)
    assert not any(TOKEN in line for line in lines)


# Smaller pieces: the protocol, backoff, configuration and file sources.


def test_parse_control_messages() -> None:
    assert control.parse_message('{"type": "publish", "watchers": 2}') == control.Publish(2)
    assert control.parse_message('{"type": "stop", "reason": "a\\nb"}') == control.Stop("a?b")
    assert control.parse_message('{"type": "hello", "camera_id": "c"}') == control.Hello("c")
    assert control.parse_message('{"type": "x"}') == control.Unknown("x")
    for bad in ("[]", "nope", '{"type": 1}', '{"type": "publish", "watchers": -1}',
                '{"type": "watchers", "watchers": true}'):  # fmt: skip
        with pytest.raises(control.MalformedMessage):
            control.parse_message(bad)
    assert json.loads(control.state_message(True)) == {"type": "state", "publishing": True}


def test_backoff_grows_to_cap_and_resets() -> None:
    backoff = control.Backoff(start=0.2, factor=2, cap=1.0)
    delays = [backoff.next() for _ in range(6)]
    assert 0.1 <= delays[0] <= 0.2 and 0.2 <= delays[1] <= 0.4 and all(0.5 <= d <= 1.0 for d in delays[3:])
    backoff.reset()
    assert backoff.next() <= 0.2


def test_config_validation() -> None:
    assert parse_size("640x480") == (640, 480)
    assert "token" not in repr(_config("http://h")).lower().replace("token=", "")
    assert TOKEN not in repr(_config("http://h"))
    for bad in ({"fps": 0}, {"fps": 61}, {"width": 100}, {"height": 241}, {"codec": "av1"}, {"token": ""},
                {"hubs": ()}, {"hubs": ("ftp://h",)}, {"ice_servers": ("http://x",)}):  # fmt: skip
        with pytest.raises(ConfigError):
            _config("http://h", **bad)
    assert parse_source("webcam:0") == SourceSpec("webcam", "0")
    assert parse_source("rtsp://user:pw@cam/live").label == "rtsp cam/live"
    for bad_source in ("webcam:x", "file:", "http://x", "rtsp://"):
        with pytest.raises(ValueError):
            parse_source(bad_source)


async def test_file_source_loops_and_missing_file_fails(tmp_path: Path) -> None:
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 15, (160, 120))
    for i in range(3):
        writer.write(np.full((120, 160, 3), i * 80, np.uint8))
    writer.release()
    source = await open_source(parse_source(f"file:{path}"), 320, 240, "file")
    try:
        frames = [await source.read() for _ in range(7)]  # more than the file holds: it loops
    finally:
        source.close()
    assert all(f.shape == (240, 320, 3) for f in frames)
    with pytest.raises(SourceError, match=r"cannot open file nope\.mp4"):
        await open_source(parse_source(f"file:{tmp_path / 'nope.mp4'}"), 320, 240, "file")


def test_parse_viewers() -> None:
    viewer = {"id": "v1", "officer": "olivia", "agency": "metro-pd", "case": "C-1", "since": "2026-01-01T00:00:00Z"}
    parsed = control.parse_message(json.dumps({"type": "watchers", "watchers": 1, "viewers": [viewer]}))
    assert parsed == control.Watchers(1, (control.Viewer("v1", "olivia", "metro-pd", "C-1", "2026-01-01T00:00:00Z"),))
    for bad in ({"viewers": "x"}, {"viewers": [{"officer": "no id"}]}, {"viewers": [3]}):
        with pytest.raises(control.MalformedMessage):
            control.parse_message(json.dumps({"type": "publish", "watchers": 1, **bad}))


def _viewer(viewer_id: str, officer: str, case: str) -> dict[str, str]:
    return {"id": viewer_id, "officer": officer, "agency": "metro-pd", "case": case, "since": "2026-01-01T00:00:00Z"}


async def test_the_owner_hears_who_starts_and_stops_watching(
    mini_hub: MiniHub, events: Events, run_agent: StartAgent, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = tmp_path / "watch-events.txt"
    script = (
        "import os; open(os.environ['OUT'], 'a').write(' '.join(os.environ['PORCHLIGHT_' + k] for k in "
        "('WATCH_EVENT', 'CAMERA', 'OFFICER', 'AGENCY', 'CASE')) + '\\n')"
    )
    monkeypatch.setenv("OUT", str(record))  # the command inherits the agent's environment
    run_agent(_config(mini_hub.url, on_watch=(sys.executable, "-c", script)))
    await events.wait_for("connect", "cam-1")
    first, second = _viewer("v1", "olivia", "C-1"), _viewer("v2", "sam", "C-2")
    await mini_hub.send({"type": "publish", "watchers": 1, "viewers": [first]})
    await events.wait_for("post", "cam-1")
    # Told before anything was captured or sent.
    assert events.index("log", "officer olivia (metro-pd) started watching") < events.index("post")
    await mini_hub.send({"type": "watchers", "watchers": 2, "viewers": [first, second]})
    await events.wait_for("log", "officer sam (metro-pd) started watching")
    await mini_hub.send({"type": "watchers", "watchers": 1, "viewers": [second]})
    await events.wait_for("log", "officer olivia (metro-pd) ended watching")
    await mini_hub.send({"type": "stop", "reason": "no viewers"})
    await events.wait_for("log", "officer sam (metro-pd) ended watching")

    def lines() -> list[str]:
        return record.read_text().splitlines() if record.exists() else []

    await events.wait(lambda: len(lines()) == 4)
    assert sorted(lines()) == sorted([
        "started cam-1 olivia metro-pd C-1", "started cam-1 sam metro-pd C-2",
        "ended cam-1 olivia metro-pd C-1", "ended cam-1 sam metro-pd C-2",
    ])  # fmt: skip
    assert not any("C-1" in d for k, d in events.items if k == "log")  # the case goes to the command only
