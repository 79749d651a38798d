"""The gate alone decides for publishers nobody here wrote (issue 15: "nothing regresses").

FFmpeg's WHIP muxer and GStreamer's webrtcbin have no control channel: nobody can tell them to stop, and they keep
sending after consent ends. A withdrawal, a grant running out and the pilot's end must still stop the video at
every viewer at once, judged by the capture stamps their frames carry, and refuse the next viewer.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from hub.timefmt import parse_time
from tests.interop.feeds import ffmpeg_publishing
from tests.interop.gstreamer import gst_publisher
from tests.support.client import Api, Viewer
from tests.support.procs import Hub, wait_until

CAM = "front-door"  # opted in by the seed; no agent of ours is connected, so a plain WHIP publisher may publish
Publish = Callable[[Hub, str, Path], contextlib.AbstractAsyncContextManager[Any]]


@contextlib.asynccontextmanager
async def ffmpeg(hub: Hub, token: str, tmp: Path) -> AsyncIterator[None]:
    async with ffmpeg_publishing(hub.url, CAM, token, tmp):
        yield


@contextlib.asynccontextmanager
async def gstreamer(hub: Hub, token: str, tmp: Path) -> AsyncIterator[None]:
    async with gst_publisher(hub.url, CAM, token, "vp8", tmp) as proc:
        await wait_until(lambda: proc.log_has(r"(?m)^posted 201"), 20, "GStreamer's WHIP answer")
        yield


async def withdraw(login: Callable[[str], Awaitable[Api]]) -> tuple[float, str]:
    owner = await login("alice")
    began = time.time()
    status, body = await owner.call("DELETE", f"/api/cameras/{CAM}/grant")
    assert status == 200, body
    return began, "withdrawn"


async def run_out(login: Callable[[str], Awaitable[Api]]) -> tuple[float, str]:
    owner = await login("alice")
    status, body = await owner.call("POST", f"/api/cameras/{CAM}/grant", {"duration_seconds": 2})
    assert status == 201, body
    return parse_time(body["grant"]["ends_at"]), "grant_expired"


async def end_pilot(login: Callable[[str], Awaitable[Api]]) -> tuple[float, str]:
    admin = await login("ada")
    began = time.time()
    status, body = await admin.call("POST", "/api/pilot/end")
    assert status == 200, body
    return began, "pilot_over"


ENDINGS = {"withdrawal": withdraw, "expiry": run_out, "pilot-end": end_pilot}
# Every ending with FFmpeg; GStreamer (slower to start) with the withdrawal: the gate, not the publisher, decides.
CASES = [pytest.param(ffmpeg, ending, id=f"ffmpeg-{name}") for name, ending in ENDINGS.items()]
CASES.append(pytest.param(gstreamer, withdraw, id="gstreamer-withdrawal"))


@pytest.mark.parametrize(("publish", "ending"), CASES)
async def test_consent_ends_the_video_of_a_publisher_with_no_control_channel(
    hub: Hub, tokens: dict[str, str], login: Any, tmp_path: Path, publish: Publish, ending: Any
) -> None:
    officer = await login("olivia")
    async with publish(hub, tokens[CAM], tmp_path):
        viewer = Viewer(officer, CAM)
        try:
            assert await viewer.watch() == 201, viewer.error
            await viewer.wait_frames(10, timeout=20)
            assert viewer.stamped(), "the publisher's frames carry capture stamps"
            cutoff, reason = await ending(login)
            event = await viewer.wait_end(timeout=15)
            assert event["reason"] == reason
            await viewer.track_ended.wait()
            late = [stamp for stamp in viewer.stamped() if stamp >= cutoff * 1000]
            assert not late, f"{len(late)} frames captured after consent ended reached the viewer"
            # The publisher is still sending (nobody can tell it to stop): the gate refuses the next viewer.
            again = Viewer(officer, CAM)
            assert await again.watch() == 403
            assert again.error is not None and again.error["reason"] == reason
            await again.close()
        finally:
            await viewer.close()
