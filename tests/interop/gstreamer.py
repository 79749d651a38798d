"""GStreamer `webrtcbin` against a hub, from the project's side: start the client script, feed it, judge it.

The GStreamer scripts (tests/interop/gst_*.py) run under Debian's /usr/bin/python3, where python3-gi and the
GStreamer bindings live; this module runs in the project's venv, starts them as subprocesses and ends them.

- `publish`: the script publishes over WHIP frames that this side draws and stamps with their capture time
  (device_agent.stamp) and writes to its stdin as raw BGR; an aiortc viewer (tests/support/client.py) reads the
  stamps in what it decodes.
- `play`: our own agent feeds the camera; the script plays it over WHEP with the officer's session token as its
  bearer token and writes what it decodes back as raw BGR through a pipe, where this side reads the stamps.

`run_case` runs one of them against a running hub and answers (ok, first_frame_seconds); `bench/interop.py` uses
it for its table, tests/test_interop_gstreamer.py for the suite.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import aiohttp
import numpy as np

from device_agent.sources import SyntheticSource
from device_agent.stamp import read_stamp
from tests.support.client import Api, Viewer
from tests.support.procs import ROOT, Hub, Proc, running_agent, wait_until
from tests.support.secrets import SECRETS

GST_PYTHON = "/usr/bin/python3"
HERE = Path(__file__).resolve().parent
WEBRTC_SCRIPT = HERE / "gst_webrtc.py"
CAMERA = "front-door"  # the demo's opted-in camera
OFFICER = ("olivia", "olivia-demo-pass")
WIDTH, HEIGHT, FPS = 640, 480, 15
# The test hub gathers only 127.0.0.1 (`media.loopback`), and libnice skips loopback unless told to use it.
LOCAL = ["--local-address", "127.0.0.1"]
STAMPED_FRAMES = 10  # stamped frames a case must decode to pass
FRESH_SECONDS = 3.0  # a decoded frame's stamp must be at most this old when it arrives
Direction = Literal["publish", "play"]

_PROBE = """
import gi
for namespace, version in {namespaces!r}:
    gi.require_version(namespace, version)
from gi.repository import Gst
Gst.init(None)
missing = [e for e in {elements!r} if Gst.ElementFactory.find(e) is None]
print(" ".join(missing))
"""
# What the WebRTC cases need (Debian: plugins-base/-good/-bad/-ugly, gstreamer1.0-nice, gstreamer1.0-libav) and the
# introspection data the scripts import (python3-gst-1.0, gir1.2-gst-plugins-bad-1.0, gir1.2-nice-0.1).
ELEMENTS = ("webrtcbin", "nicesrc", "dtlssrtpenc", "vp8enc", "vp8dec", "x264enc", "avdec_h264", "rawvideoparse")
NAMESPACES = (("Gst", "1.0"), ("GstSdp", "1.0"), ("GstWebRTC", "1.0"), ("Nice", "0.1"))


def missing(elements: tuple[str, ...] = ELEMENTS, namespaces: tuple[tuple[str, str], ...] = NAMESPACES) -> str | None:
    """Why GStreamer interop cannot run here (Debian packages absent), or None when it can."""
    if not Path(GST_PYTHON).exists():
        return f"{GST_PYTHON} not found"
    try:
        probe = subprocess.run(
            [GST_PYTHON, "-c", _PROBE.format(elements=elements, namespaces=namespaces)],
            capture_output=True,
            text=True,
            timeout=60,
            env=gst_env(),
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"GStreamer probe failed: {exc}"
    if probe.returncode != 0:
        why = probe.stderr.strip().splitlines()[-1:] or ["?"]
        return f"GStreamer bindings missing (make system-deps): {why[0]}"
    absent = probe.stdout.strip()
    return f"GStreamer elements missing: {absent} (make system-deps)" if absent else None


def gst_env() -> dict[str, str]:
    """The environment for Debian's python: ours without the venv's Python settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON") and k != "VIRTUAL_ENV"}
    env.pop("GST_DEBUG", None)
    return env


async def spawn_gst(name: str, script: Path, args: list[str], log_path: Path, **kwargs: object) -> Proc:
    """Start `script` under Debian's python with stdout and stderr to `log_path` (scanned for secrets)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as out:
        proc = await asyncio.create_subprocess_exec(
            GST_PYTHON,
            str(script),
            *args,
            stdout=out,
            stderr=out,
            cwd=ROOT,
            env=gst_env(),
            **kwargs,  # type: ignore[arg-type]
        )
    SECRETS.watch(log_path, alive=lambda: proc.returncode is None)
    return Proc(name, proc, log_path)


async def feed_stamped(writer: asyncio.StreamWriter, width: int = WIDTH, height: int = HEIGHT, fps: int = FPS) -> None:
    """Write stamped raw BGR frames (the agent's synthetic pattern) to `writer` at `fps` until cancelled or the
    reader goes away."""
    source = SyntheticSource(width, height, "gstreamer")
    period = 1 / fps
    next_at = time.monotonic()
    try:
        while True:
            image = await source.read()
            writer.write(image.tobytes())
            await writer.drain()
            next_at += period
            # Catch up after a stall instead of bursting frames with stale stamps.
            next_at = max(next_at, time.monotonic() - period)
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
    except (BrokenPipeError, ConnectionResetError):
        pass
    finally:
        source.close()


def write_secret(path: Path, value: str) -> Path:
    """A file readable only by us holding `value` (tokens go to clients by file, never on a command line)."""
    path.touch(mode=0o600)
    path.write_text(value, encoding="utf-8")
    return path


@dataclass
class StampReader:
    """Raw BGR frames read from a pipe, with the stamps found in them."""

    width: int = WIDTH
    height: int = HEIGHT
    frames: int = 0
    stamps: list[tuple[float, int]] = field(default_factory=list)  # (received at, stamp ms)
    new_frame: asyncio.Event = field(default_factory=asyncio.Event)

    async def read(self, reader: asyncio.StreamReader) -> None:
        """Read frames until the writer closes its end."""
        size = self.width * self.height * 3
        with contextlib.suppress(asyncio.IncompleteReadError):
            while True:
                data = await reader.readexactly(size)
                image = np.frombuffer(data, np.uint8).reshape(self.height, self.width, 3)
                self.frames += 1
                stamp = read_stamp(image)
                if stamp is not None:
                    self.stamps.append((time.time(), stamp))
                self.new_frame.set()


@dataclass
class CaseResult:
    """One GStreamer case: whether enough fresh stamped frames were decoded, how soon, and why not."""

    ok: bool
    first_frame_seconds: float | None
    detail: str = ""


def fresh(stamps: list[tuple[float, int]]) -> bool:
    """Every stamp decoded was captured at most FRESH_SECONDS before it arrived (and not in the future)."""
    return all(-0.5 <= received - stamp / 1000 <= FRESH_SECONDS for received, stamp in stamps)


async def officer_token(hub_url: str, username: str, password: str) -> str:
    """A session token for `username`, as a WHEP player holds it (the log-in answer's `token`)."""
    SECRETS.add(password, "password")
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{hub_url}/api/login", json={"username": username, "password": password}) as response,
    ):
        assert response.status == 200, await response.text()
        answer = await response.json()
    SECRETS.add_json(answer)
    return str(answer["token"])


@contextlib.asynccontextmanager
async def gst_publisher(hub_url: str, camera_id: str, token: str, codec: str, tmp: Path) -> AsyncIterator[Proc]:
    """GStreamer publishing stamped frames over WHIP to `camera_id`; stopped (and its feed ended) on exit."""
    token_file = write_secret(tmp / f"gst-whip-{camera_id}.token", token)
    args = ["publish", f"{hub_url}/whip/{camera_id}", "--token-file", str(token_file), "--codec", codec]
    args += ["--width", str(WIDTH), "--height", str(HEIGHT), "--fps", str(FPS), *LOCAL]
    proc = await spawn_gst(
        f"gst-publish-{codec}", WEBRTC_SCRIPT, args, tmp / f"gst-publish-{codec}.log", stdin=asyncio.subprocess.PIPE
    )
    assert proc.proc.stdin is not None
    feeder = asyncio.create_task(feed_stamped(proc.proc.stdin))
    try:
        yield proc
    finally:
        feeder.cancel()
        await asyncio.gather(feeder, return_exceptions=True)
        await proc.stop()


@contextlib.asynccontextmanager
async def gst_player(
    hub_url: str, camera_id: str, token: str, codec: str, tmp: Path
) -> AsyncIterator[tuple[Proc, StampReader]]:
    """GStreamer playing `camera_id` over WHEP, its decoded frames read back for stamps; stopped on exit."""
    token_file = write_secret(tmp / f"gst-whep-{camera_id}.token", token)
    read_fd, write_fd = os.pipe()
    url = f"{hub_url}/whep/{camera_id}?case=GST-1&reason=interop"
    args = ["play", url, "--token-file", str(token_file), "--codec", codec, "--raw-fd", str(write_fd)]
    args += ["--width", str(WIDTH), "--height", str(HEIGHT), *LOCAL]
    try:
        proc = await spawn_gst(
            f"gst-play-{codec}", WEBRTC_SCRIPT, args, tmp / f"gst-play-{codec}.log", pass_fds=(write_fd,)
        )
    finally:
        os.close(write_fd)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**24)
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(read_fd, "rb", buffering=0)
    )
    frames = StampReader()
    reading = asyncio.create_task(frames.read(reader))
    try:
        yield proc, frames
    finally:
        await proc.stop()
        reading.cancel()
        await asyncio.gather(reading, return_exceptions=True)
        transport.close()


def _tail(proc: Proc, lines: int = 8) -> str:
    return " | ".join(proc.log().strip().splitlines()[-lines:])


async def run_publish(hub: Hub, codec: str, tmp: Path, token: str, timeout: float = 20.0) -> CaseResult:
    """GStreamer publishes to CAMERA (no agent of ours connected); an aiortc viewer must decode fresh stamps."""
    started = time.time()
    async with gst_publisher(hub.url, CAMERA, token, codec, tmp) as proc:
        try:
            await wait_until(
                lambda: proc.log_has(r"^posted \d+") or proc.proc.returncode is not None, 15, "a WHIP answer"
            )
        except AssertionError:
            return CaseResult(False, None, f"no WHIP answer: {_tail(proc)}")
        if not proc.log_has(r"^posted 201"):
            return CaseResult(False, None, f"WHIP refused: {_tail(proc)}")
        api = await Api(hub.url).login(*OFFICER)
        viewer = Viewer(api, CAMERA)
        try:
            status = await viewer.watch(case="GST-1", reason="interop")
            if status != 201:
                return CaseResult(False, None, f"viewer refused {status}: {viewer.error}; {_tail(proc)}")
            try:
                await viewer.wait_frames(STAMPED_FRAMES, timeout=timeout)
            except AssertionError as exc:
                state = f"viewer {viewer.pc.connectionState}, events {viewer.events}"
                return CaseResult(
                    False, None, f"{exc} ({len(viewer.frames)} decoded; {state}); publisher: {_tail(proc)}"
                )
            first = next(f for f in viewer.frames if f.stamp_ms is not None)
            stamps = [(f.received_at, f.stamp_ms) for f in viewer.frames if f.stamp_ms is not None]
            seconds = first.received_at - started
            if not fresh(stamps):
                return CaseResult(False, seconds, f"stale stamps at the viewer: {stamps[:3]}")
            return CaseResult(True, seconds, f"{len(stamps)} stamped frames")
        finally:
            await viewer.close()
            await api.close()


async def run_play(hub: Hub, codec: str, tmp: Path, device_token: str, timeout: float = 20.0) -> CaseResult:
    """Our agent feeds CAMERA; GStreamer plays it over WHEP and must decode fresh stamps."""
    token = await officer_token(hub.url, *OFFICER)
    async with running_agent(hub, CAMERA, device_token, tmp):
        started = time.time()
        async with gst_player(hub.url, CAMERA, token, codec, tmp) as (proc, frames):
            with contextlib.suppress(AssertionError):  # judged below, with what did come
                await wait_until(
                    lambda: len(frames.stamps) >= STAMPED_FRAMES or proc.proc.returncode is not None,
                    timeout,
                    f"{STAMPED_FRAMES} stamped frames",
                )
            if len(frames.stamps) < STAMPED_FRAMES:
                return CaseResult(False, None, f"{frames.frames} frames, {len(frames.stamps)} stamped: {_tail(proc)}")
            seconds = frames.stamps[0][0] - started
            if not fresh(frames.stamps):
                return CaseResult(False, seconds, f"stale stamps at GStreamer: {frames.stamps[:3]}")
            return CaseResult(True, seconds, f"{len(frames.stamps)} stamped frames of {frames.frames}")


async def run_case_detailed(hub: Hub, direction: Direction, codec: str, tmp: Path) -> CaseResult:
    """One GStreamer case against `hub` (started from the demo's seed, with no agent on CAMERA)."""
    tokens: dict[str, str] = hub.seeded.tokens  # type: ignore[attr-defined]
    await asyncio.to_thread(tmp.mkdir, parents=True, exist_ok=True)
    if direction == "publish":
        return await run_publish(hub, codec, tmp, tokens[CAMERA])
    return await run_play(hub, codec, tmp, tokens[CAMERA])


async def run_case(hub: Hub, direction: Direction, codec: str, tmp: Path) -> tuple[bool, float | None]:
    """(ok, first_frame_seconds) of one GStreamer case: `direction` "publish" (GStreamer -> WHIP -> an aiortc
    viewer) or "play" (our agent -> WHEP -> GStreamer), `codec` "vp8" or "h264", against a running `hub` seeded
    with the demo (`hub.seeded` set, as tests/conftest.py's `hub` fixture does) and no agent connected on CAMERA.
    First frame: seconds from starting the GStreamer client to the first stamped frame decoded."""
    result = await run_case_detailed(hub, direction, codec, tmp)
    return result.ok, result.first_frame_seconds
