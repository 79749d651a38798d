"""Cameras for the interop cases: FFmpeg's WHIP muxer in its own process, or our own agent."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from tests.interop.rig import AGENT_CAMERA, PLAIN_CAMERA, Rig
from tests.support.procs import Proc, running_agent, spawn, wait_until
from tests.support.secrets import SECRETS

PUBLISH_TIMEOUT = 10.0


@dataclass
class Feed:
    """A camera publishing to the rig's hub: which camera, the process, and how long it took to start sending."""

    camera: str
    proc: Proc
    publish_ms: float | None = None


def _failed(proc: Proc) -> bool:
    return proc.proc.returncode is not None


@contextlib.asynccontextmanager
async def ffmpeg_feed(rig: Rig, audio: bool = False, name: str = "ffmpeg") -> AsyncIterator[Feed]:
    """FFmpeg publishing stamped H264 (and Opus with `audio`) to the rig's plain camera (see `ffmpeg_publishing`)."""
    async with ffmpeg_publishing(rig.hub.url, PLAIN_CAMERA, rig.tokens[PLAIN_CAMERA], rig.tmp, audio, name) as feed:
        yield feed


@contextlib.asynccontextmanager
async def ffmpeg_publishing(
    hub_url: str, camera: str, token: str, tmp: Path, audio: bool = False, name: str = "ffmpeg"
) -> AsyncIterator[Feed]:
    """FFmpeg publishing stamped H264 (and Opus with `audio`) to `camera`; stopped (WHIP DELETE) on exit.

    Raises AssertionError with FFmpeg's log when it exits or has not sent its first packets within
    PUBLISH_TIMEOUT seconds (the hub refused its offer, or a handshake failed).
    """
    token_file = tmp / f"{name}-{camera}.token"
    SECRETS.add(token, "device token")
    token_file.write_text(token, encoding="utf-8")
    url = f"{hub_url}/whip/{camera}"
    args = ["-m", "tests.interop.ffmpeg_whip", "--url", url, "--token-file", str(token_file)]
    if audio:
        args.append("--audio")
    began = time.perf_counter()
    proc = await spawn(name, args, tmp / f"{name}-{time.time_ns()}.log")
    feed = Feed(camera, proc)
    try:
        try:
            await wait_until(
                lambda: _failed(proc) or proc.log_has(r"(?m)^publishing$"), PUBLISH_TIMEOUT, "FFmpeg to publish"
            )
        except AssertionError as exc:
            raise AssertionError(f"{exc}; FFmpeg's log:\n{proc.log()[-3000:]}") from None
        if _failed(proc):
            raise AssertionError(f"FFmpeg exited with {proc.proc.returncode}:\n{proc.log()[-3000:]}")
        feed.publish_ms = (time.perf_counter() - began) * 1000
        yield feed
    finally:
        code = await proc.stop(timeout=10)
        if code not in (0, -15) and feed.publish_ms is not None:
            # It published and then failed (or hung on its DELETE): part of the result.
            raise AssertionError(f"FFmpeg ended with {code}:\n{proc.log()[-3000:]}")


@contextlib.asynccontextmanager
async def agent_feed(rig: Rig) -> AsyncIterator[Feed]:
    """Our own agent on the agent camera, connected to the hub's control channel (it publishes when asked)."""
    camera = AGENT_CAMERA
    # A directory of its own: `running_agent` waits for "hub says hello" in a log that an earlier agent of the
    # same camera would already have written to.
    workdir = rig.tmp / f"agent-{time.time_ns()}"
    workdir.mkdir()
    async with running_agent(rig.hub, camera, rig.tokens[camera], workdir) as agent:
        yield Feed(camera, agent)
