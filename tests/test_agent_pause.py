"""Issue 14, item 3: the owner's pause at the camera, which needs no hub and no log-in.

Unit level: the pause state and its file, the track's check before every frame, the local socket, the button hook
and the CLI without an agent. The agent against the minimal in-test hub of tests/test_agent.py (real WebSocket,
WHIP and aiortc). End to end: a real hub process, a real agent process, an officer watching, and the owner running
`porchlight-agent pause` as a subprocess with no credentials at all; then with the hub down.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import sqlite3
import stat
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest
from aiohttp.test_utils import TestServer
from aiortc.mediastreams import MediaStreamError

from device_agent import local_socket
from device_agent.agent import Agent
from device_agent.cli import main as agent_main
from device_agent.config import PAUSE_FILE, SOCKET_NAME, AgentConfig
from device_agent.pause import PauseState, read_paused
from device_agent.sources import SyntheticSource
from device_agent.stamp import read_stamp
from device_agent.track import CameraTrack
from hub.app import create_app, open_store
from hub.config import load_config
from hub.demo import seed
from hub.keys import AUDIT, STORE, STREAMS
from tests.support.client import Viewer
from tests.support.procs import ROOT, Hub, free_port, running_agent, start_agent, wait_until
from tests.test_agent import WAIT, Events, MiniHub, _config, _EventLog

CAM = "front-door"


# The pause state and the track ------------------------------------------------------------------------------


def test_the_pause_is_kept_in_a_file_and_an_unreadable_one_counts_as_paused(tmp_path: Path) -> None:
    path = tmp_path / "state" / PAUSE_FILE
    pause = PauseState(path)
    assert not pause.paused and not path.exists()
    seen: list[tuple[bool, bool]] = []
    # Memory first: a listener runs (and the capture loop would see the flag) before the file is written.
    pause.listen(lambda paused: seen.append((paused, read_paused(path))))
    assert pause.set(True) and seen == [(True, False)]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["paused"] is True
    assert PauseState(path).paused, "a restart comes back paused"
    assert not pause.set(True) and seen == [(True, False)]  # no change, no listener call
    assert pause.toggle() is False and not PauseState(path).paused
    for broken in ("", "{", '{"paused": "no"}', "[]", '{"since": "x"}'):
        path.write_text(broken)
        assert PauseState(path).paused, f"{broken!r} read as not paused"  # fail closed
    path.unlink()
    assert not PauseState(path).paused


class _PausingSource:
    """A source whose read is interrupted by the owner's pause (the frame it was taking must not leave)."""

    def __init__(self, pause: PauseState) -> None:
        self.pause = pause
        self.reads = 0

    async def read(self) -> np.ndarray:
        self.reads += 1
        if self.reads == 2:
            self.pause.set(True)
        return np.zeros((240, 320, 3), np.uint8)

    def close(self) -> None:
        pass


async def test_the_track_checks_the_pause_before_every_frame_and_after_each_capture() -> None:
    pause = PauseState(None)
    track = CameraTrack(SyntheticSource(320, 240), fps=30, pause=pause)
    await track.recv()
    pause.set(True)
    with pytest.raises(MediaStreamError):
        await track.recv()
    assert track.frames == 1 and track.readyState == "ended"

    pause = PauseState(None)
    source = _PausingSource(pause)
    track = CameraTrack(source, fps=30, pause=pause)
    await track.recv()
    with pytest.raises(MediaStreamError):
        await track.recv()  # paused while this frame was being read
    assert (source.reads, track.frames) == (2, 1)


# The local socket -------------------------------------------------------------------------------------------


async def test_the_local_socket_speaks_json_lines_to_its_own_user_only(tmp_path: Path) -> None:
    commands: list[str] = []

    async def handle(command: str) -> dict[str, Any]:
        commands.append(command)
        return {"paused": command == "pause"}

    # A path longer than a socket address holds (107 bytes) works too.
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    for path in (tmp_path / "s" / SOCKET_NAME, deep / SOCKET_NAME):
        server = local_socket.LocalControlServer(path, handle)
        await server.start()
        try:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.is_socket()
            assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
            assert await asyncio.to_thread(local_socket.request, path, "pause") == {"ok": True, "paused": True}
            assert await asyncio.to_thread(local_socket.request, path, "status") == {"ok": True, "paused": False}
            with pytest.raises(local_socket.LocalControlError, match="command must be one of"):
                await asyncio.to_thread(_raw_request, path, b'{"command": "explode"}\n')
            with pytest.raises(local_socket.SocketInUse):
                await local_socket.LocalControlServer(path, handle).start()
        finally:
            await server.close()
        assert not path.exists()
    assert commands == ["pause", "status", "pause", "status"]
    # A socket left by an agent that died is replaced.
    stale = tmp_path / "stale.sock"
    with socket.socket(socket.AF_UNIX) as dead:
        dead.bind(str(stale))
    server = local_socket.LocalControlServer(stale, handle)
    await server.start()
    assert (await asyncio.to_thread(local_socket.request, stale, "status"))["ok"]
    await server.close()
    with pytest.raises(FileNotFoundError):
        local_socket.request(stale, "status")


def _raw_request(path: Path, line: bytes) -> dict[str, Any]:
    with local_socket.connect(path) as sock:
        sock.sendall(line)
        answer = json.loads(sock.makefile("rb").readline())
    if not answer["ok"]:
        raise local_socket.LocalControlError(answer["error"])
    return dict(answer)


# The agent against the minimal hub ------------------------------------------------------------------------------


@pytest.fixture
def events() -> Iterator[Events]:
    """The agent's log lines (and the minimal hub's requests) in order."""
    events = Events()
    handler = _EventLog(events)
    logger = logging.getLogger("device_agent")
    logger.addHandler(handler)
    yield events
    logger.removeHandler(handler)


@pytest.fixture
async def mini(events: Events) -> AsyncIterator[MiniHub]:
    hub = MiniHub(events)
    await hub.start()
    yield hub
    await hub.close()


@pytest.fixture
async def agents() -> AsyncIterator[list[tuple[asyncio.Event, asyncio.Task[None], Agent]]]:
    """Agents run in this process; each shut down (and finished) when the test ends."""
    running: list[tuple[asyncio.Event, asyncio.Task[None], Agent]] = []
    yield running
    for shutdown, task, _ in running:
        shutdown.set()
        await asyncio.wait_for(task, WAIT)


def _start(running: list[tuple[asyncio.Event, asyncio.Task[None], Agent]], config: AgentConfig) -> Agent:
    agent, shutdown = Agent(config), asyncio.Event()
    running.append((shutdown, asyncio.create_task(agent.run(shutdown)), agent))
    return agent


def _sent(events: Events, kind: str) -> int:
    """How many messages of this type the agent sent the minimal hub."""
    return sum(1 for k, d in events.items if k == "state" and json.loads(d).get("type") == kind)


async def _command(config: AgentConfig, command: str) -> dict[str, Any]:
    assert config.socket_path is not None
    return await asyncio.to_thread(local_socket.request, config.socket_path, command)


async def test_a_pause_stops_the_frames_at_once_then_tells_the_hub_and_holds_whatever_it_says(
    mini: MiniHub, events: Events, agents: list[Any], tmp_path: Path
) -> None:
    config = _config(mini.url, state_dir=tmp_path / "state")
    agent = _start(agents, config)
    await events.wait_for("connect", "cam-1")
    await mini.send({"type": "publish", "watchers": 1})
    track = await asyncio.wait_for(mini.tracks.get(), WAIT)
    for _ in range(5):
        await asyncio.wait_for(track.recv(), WAIT)

    answer = await _command(config, "pause")
    returned_ms = time.time_ns() // 1_000_000
    assert answer["paused"] is True and answer["camera"] == "cam-1" and answer["persisted"] is True
    stamps = []
    with pytest.raises(MediaStreamError):
        while True:  # every frame still in flight, until the track ends
            frame = await asyncio.wait_for(track.recv(), WAIT)
            stamps.append(read_stamp(frame.to_ndarray(format="bgr24")))  # type: ignore[union-attr]
    late = [s for s in stamps if s is not None and s >= returned_ms]
    assert not late, f"{len(late)} frame(s) captured after the pause returned reached the hub"
    await events.wait_for("delete", "cam-1")
    await events.wait(lambda: _sent(events, "paused") == 1)
    # The WHIP session was torn down before the hub was told (it was not asked).
    assert events.index("log", "paused at the camera: publishing nothing") < events.index("delete")
    assert read_paused(tmp_path / "state" / PAUSE_FILE)

    # Whatever the hub says, nothing is published, and no still picture leaves.
    await mini.send({"type": "publish", "watchers": 2})
    await events.wait_for("log", "refused: paused at the camera")
    await mini.send({"type": "snapshot", "id": "s1"})
    await events.wait(lambda: any('"error": "paused at the camera"' in d for k, d in events.items if k == "state"))
    assert events.count("post") == 1 and not agent.publishing

    # A hub that missed it (a reconnect) is told again.
    await mini.stop()
    await events.wait_for("log", "cannot reach hub")
    await mini.start()
    await events.wait_for("connect", count=2)
    await events.wait(lambda: _sent(events, "paused") == 2)

    # Resumed: publishing when asked again (the real hub asks only once the owner opted in again).
    answer = await _command(config, "resume")
    assert answer["paused"] is False
    await events.wait(lambda: _sent(events, "resumed") == 1)
    assert (await _command(config, "status"))["paused"] is False
    await mini.send({"type": "publish", "watchers": 1})
    await events.wait_for("post", count=2)
    track = await asyncio.wait_for(mini.tracks.get(), WAIT)
    await asyncio.wait_for(track.recv(), WAIT)


async def test_the_pause_survives_a_restart_and_a_hub_is_told_at_once(
    mini: MiniHub, events: Events, agents: list[Any], tmp_path: Path
) -> None:
    config = _config(mini.url, state_dir=tmp_path / "state")
    first = _start(agents, config)
    await events.wait_for("connect", "cam-1")
    assert (await _command(config, "toggle"))["paused"] is True
    shutdown, task, _ = agents.pop()
    shutdown.set()
    await asyncio.wait_for(task, WAIT)
    assert first.paused and not config.socket_path.exists()  # type: ignore[union-attr]

    second = _start(agents, config)
    assert second.paused
    await events.wait_for("connect", count=2)
    await events.wait(lambda: _sent(events, "paused") == 2)
    await mini.send({"type": "publish", "watchers": 1})
    await events.wait_for("log", "refused: paused at the camera")
    assert events.count("post") == 0


BUTTON = """
import pathlib, sys, time
here = pathlib.Path(sys.argv[1])
runs = here / "runs"
run = int(runs.read_text()) + 1 if runs.exists() else 1
runs.write_text(str(run))
if run == 1:
    print("pause", flush=True)
    print("  Nonsense  ", flush=True)
    while not (here / "go").exists():  # the owner's finger, held until the test lets go
        time.sleep(0.02)
    print(" RESUME ", flush=True)
    sys.exit(3)  # the button reader crashes: the agent starts it again
print("toggle", flush=True)
while True:
    time.sleep(1)
"""


async def test_a_button_command_drives_the_pause_and_is_restarted(
    events: Events, agents: list[Any], tmp_path: Path
) -> None:
    script = tmp_path / "button.py"
    script.write_text(BUTTON)
    with socket.socket() as s:  # a hub nobody answers at: the button needs none
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    config = _config(dead, state_dir=tmp_path / "state", button_command=(sys.executable, str(script), str(tmp_path)))
    agent = _start(agents, config)
    await events.wait(lambda: agent.paused)
    await events.wait_for("log", "printed 'nonsense'; ignored")
    (tmp_path / "go").touch()
    await events.wait_for("log", "resumed at the camera")
    await events.wait_for("log", "button command exited with 3")
    await events.wait(lambda: (tmp_path / "runs").read_text() == "2" and agent.paused)
    assert read_paused(tmp_path / "state" / PAUSE_FILE)


def test_the_cli_without_a_running_agent_sets_the_state_it_starts_with(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    assert agent_main(["status", "--state-dir", str(state)]) == 0
    assert capsys.readouterr().out == "no agent running (not paused when it starts)\n"
    assert agent_main(["pause", "--state-dir", str(state)]) == 0
    assert "it will start paused" in capsys.readouterr().out
    assert read_paused(state / PAUSE_FILE)
    assert agent_main(["resume", "--state-dir", str(state)]) == 0
    assert not read_paused(state / PAUSE_FILE)
    with pytest.raises(SystemExit):
        agent_main(["pause"])  # which camera?
    with pytest.raises(SystemExit):
        agent_main(["pause", "--camera", "../etc"])  # not a plain name: no default directory for it


# End to end: a real hub, a real agent, the real CLI ---------------------------------------------------------


async def _owner_runs(command: str, state_dir: Path) -> tuple[int, str]:
    """`porchlight-agent <command>` as its own process, with no credentials of any kind in its environment."""
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), "HOME": str(state_dir.parent)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "device_agent", command, "--state-dir", str(state_dir),
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, stdin=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), WAIT)
    return proc.returncode or 0, out.decode()


def _records(hub: Hub) -> list[dict[str, Any]]:
    with sqlite3.connect(hub.config().store.data_dir / "audit.sqlite3") as db:
        return [json.loads(body) for (body,) in db.execute("SELECT body FROM records ORDER BY position")]


def _withdrawn_by_the_camera(hub: Hub) -> list[dict[str, Any]]:
    return [r for r in _records(hub) if r["kind"] == "consent.withdrawn" and r.get("via") == "camera"]


async def test_the_owner_pauses_at_the_camera_with_no_credentials_while_an_officer_watches(
    hub: Hub, tokens: dict[str, str], login: Any, tmp_path: Path
) -> None:
    state = tmp_path / "agent-state"
    async with running_agent(hub, CAM, tokens[CAM], tmp_path, "--state-dir", str(state)) as agent:
        viewer = Viewer(await login("olivia"), CAM)
        assert await viewer.watch() == 201, viewer.error
        await viewer.wait_frames(10)

        code, out = await _owner_runs("pause", state)
        returned = time.time()
        assert code == 0 and f"camera {CAM}: paused" in out, out
        event = await viewer.wait_end()
        assert event["reason"] == "withdrawn"
        await viewer.track_ended.wait()
        late = [s for s in viewer.stamped() if s >= returned * 1000]
        assert not late, f"{len(late)} frame(s) captured after the pause returned reached the officer"
        # On the record, as the camera's own act: no account, no address.
        await wait_until(lambda: _withdrawn_by_the_camera(hub), 10, "the withdrawal to be recorded")
        (record,) = _withdrawn_by_the_camera(hub)
        assert record["camera"] == CAM and "source" not in record and "account" not in record
        await agent.wait_log("publishing stopped \\(paused at the camera\\)")
        await viewer.close()
        # The owner's page shows the camera paused at the device.
        resident = await login("alice")
        status, body = await resident.call("GET", "/api/cameras")
        assert [c["status"] for c in body["cameras"] if c["id"] == CAM] == ["paused"], body

        # Resumed: able to publish again, but nothing is shared until the owner opts in again.
        code, out = await _owner_runs("resume", state)
        assert code == 0 and "not paused" in out, out
        await agent.wait_log("resumed at the camera")
        status, body = await resident.call("GET", "/api/cameras")
        (camera,) = [c for c in body["cameras"] if c["id"] == CAM]
        assert status == 200 and not camera["grant"]["live"] and camera["grant"]["revoked_at"], camera
        refused = Viewer(await login("olivia"), CAM)
        assert await refused.watch() == 403
        await refused.close()

        # Paused again, then opted in again: the hub asks, the camera refuses.
        assert (await _owner_runs("pause", state))[0] == 0
        assert hub.proc is not None
        await hub.proc.wait_log("no consent to withdraw for the pause")
        assert len(_withdrawn_by_the_camera(hub)) == 1, "a grant already withdrawn was withdrawn again"
        status, body = await resident.call("POST", f"/api/cameras/{CAM}/grant", {"duration_seconds": 600})
        assert status == 201, body
        waiting = Viewer(await login("olivia"), CAM)
        assert await waiting.watch() == 201, waiting.error
        await agent.wait_log("refused: paused at the camera")
        assert agent.log().count("publishing started") == 1 and not waiting.frames
        await waiting.hang_up()
        await waiting.close()

        # Resumed once more (the owner's new opt-in stands): the next officer's view gets video.
        assert (await _owner_runs("resume", state))[0] == 0
        await agent.wait_log_count("resumed at the camera", 2)
        again = Viewer(await login("olivia"), CAM)
        assert await again.watch() == 201, again.error
        await again.wait_frames(5)
        await again.close()


async def test_a_pause_with_the_hub_down_holds_across_a_restart_and_is_withdrawn_when_the_hub_returns(
    hub: Hub, tokens: dict[str, str], tmp_path: Path
) -> None:
    state = tmp_path / "agent-state"
    async with running_agent(hub, CAM, tokens[CAM], tmp_path, "--state-dir", str(state)) as agent:
        await hub.stop()
        await agent.wait_log("cannot reach hub")
        code, out = await _owner_runs("pause", state)
        assert code == 0 and "paused" in out, out
        await agent.wait_log("paused at the camera: publishing nothing")
    # The agent restarts (a reboot) while the hub is still down: it comes back paused.
    restarted = await start_agent(hub, CAM, tokens[CAM], tmp_path, "--state-dir", str(state))
    try:
        await restarted.wait_log("since before this start")
        assert not _withdrawn_by_the_camera(hub)
        await hub.start()
        await wait_until(lambda: _withdrawn_by_the_camera(hub), 20, "the returning hub to withdraw the grant")
        assert hub.proc is not None and hub.proc.log_has("paused at the camera by its owner")
    finally:
        await restarted.stop()


# The hub's side, in this process: the ControlLink's flag (what the owner's page can show) and the withdrawal.


async def test_the_hub_marks_the_link_paused_and_withdraws_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "hub.media.control")
    env = {"PORCHLIGHT_STORE__DATA_DIR": str(tmp_path / "data"), "PORCHLIGHT_MEDIA__LOOPBACK": "true"}
    config = load_config(env=env)
    store = await open_store(config)
    try:
        seeded = await seed(store)
    finally:
        await store.close()
    server = TestServer(create_app(config), host="127.0.0.1", port=free_port())
    await server.start_server()
    app = server.app
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(
                f"http://127.0.0.1:{server.port}/control/{CAM}",
                headers={"Authorization": f"Bearer {seeded.tokens[CAM]}"},
            ) as ws,
        ):
            await wait_until(lambda: app[STREAMS].stream(CAM).control is not None, 10, "the link")
            link = app[STREAMS].stream(CAM).control
            assert link is not None and not link.paused
            assert (await app[STORE].get_grant(CAM)).revoked_at is None  # type: ignore[union-attr]
            await ws.send_json({"type": "paused"})
            await wait_until(lambda: link.paused, 10, "the hub to mark the link paused")
            await wait_until(_revoked(app), 10, "the grant to be withdrawn")
            await ws.send_json({"type": "paused"})  # as on a reconnect: nothing more to withdraw
            await wait_until(lambda: "no consent to withdraw for the pause" in caplog.text, 10, "the second pause")
            await ws.send_json({"type": "resumed"})
            await wait_until(lambda: not link.paused, 10, "the hub to mark the link resumed")
            assert (await app[STORE].get_grant(CAM)).revoked_at is not None  # type: ignore[union-attr]
        records = [r.fields() for r in await app[AUDIT].read(0, app[AUDIT].leaf_count())]
        withdrawn = [r for r in records if r["kind"] == "consent.withdrawn"]
        assert len(withdrawn) == 1 and withdrawn[0]["via"] == "camera" and withdrawn[0]["camera"] == CAM
    finally:
        await server.close()


def _revoked(app: Any) -> Any:
    async def check() -> bool:
        grant = await app[STORE].get_grant(CAM)
        return grant is not None and grant.revoked_at is not None

    return check
