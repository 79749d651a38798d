"""The interop matrix: publishers and players nobody on the project wrote, each run against a rig (one hub on one
codec) and judged by frames decoded at a viewer, with its time to first frame.

Publishers (judged by an aiortc viewer, tests/support/client.py `Viewer`, of a logged-in officer):
  ffmpeg-h264, ffmpeg-h264-opus   FFmpeg 8's WHIP muxer through PyAV (libx264 baseline, zerolatency; Opus)
  chromium-whip-by-hand           a page: getUserMedia (fake camera and microphone), WHIP with fetch
  chromium-whip-whipclient        the same tracks through Medooze's whip-whep WHIPClient
Players (in the interop page, judged by frames it presents and decodes, and the capture stamp in one of them):
  chromium-whep-by-hand/agent, chromium-whep-whepclient/agent     watching our own agent
  chromium-whep-by-hand/ffmpeg, chromium-whep-whepclient/ffmpeg   watching FFmpeg's stream

`first_frame_ms` is from the viewer's WHEP POST (publishers: the aiortc viewer's; players: the page's) to its
first decoded frame; `publish_ms` from starting a publisher to its media flowing (FFmpeg: first packet sent; a
page: its connection `connected`). GStreamer's cases come from tests/interop/gstreamer.py (`gstreamer_cases`;
their first frame counts from the GStreamer client's start).
"""

from __future__ import annotations

import asyncio
import importlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from tests.interop.browser import call, picture_stamp, summary
from tests.interop.feeds import Feed, agent_feed, ffmpeg_feed
from tests.interop.rig import PLAIN_CAMERA, Rig
from tests.support.client import Viewer
from tests.support.procs import wait_until

FIRST_FRAME_TIMEOUT = 5.0  # from the WHEP POST: a keyframe request is answered within a second or two (black tile)
FRAMES = 15  # decoded frames that make a case pass (one second of the cameras' 15 fps)
MORE_FRAMES_TIMEOUT = 5.0  # after the first
JOIN_AFTER_FRAMES = 30  # a page's viewer joins once the page has sent this many frames (a second of its camera)
STAMP_AGE_MS = 5000  # a stamped frame shown this long after capture is stale (the stream is stuck or replayed)


@dataclass
class CaseResult:
    """One case on one codec: passed or why not, and its times."""

    case: str
    codec: str
    ok: bool = False
    publish_ms: float | None = None
    first_frame_ms: float | None = None
    frames: int = 0  # decoded at the judging viewer
    stamped: int = 0  # of which carried a readable capture stamp (0 where the source stamps none)
    seconds: float = 0.0  # the case's whole run
    error: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        """One line for a test's output."""
        first = f"{self.first_frame_ms:.0f} ms" if self.first_frame_ms is not None else "none"
        publish = f", publish {self.publish_ms:.0f} ms" if self.publish_ms is not None else ""
        verdict = "pass" if self.ok else f"FAIL: {(self.error or '').splitlines()[0][:200]}"
        return f"interop {self.case} [{self.codec}]: first frame {first}{publish}, {self.frames} frames; {verdict}"

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


Run = Callable[[Rig, CaseResult], Awaitable[None]]


@dataclass(frozen=True)
class Case:
    """A named client run: `role` is "publisher" or "player"; `run` fills a CaseResult, raising on failure."""

    name: str
    role: str
    run: Run


async def run_case(rig: Rig, case: Case) -> CaseResult:
    """Run one case on the rig; never raises for the case's own failure (it is in `error`)."""
    result = CaseResult(case.name, rig.codec)
    began = time.perf_counter()
    try:
        await case.run(rig, result)
        result.ok = True
    except Exception as exc:  # a failed case, whatever broke: recorded, and the next case runs
        result.error = f"{type(exc).__name__}: {exc}"
    result.seconds = time.perf_counter() - began
    return result


# ---- the judging viewer (publishers) ----


async def _decoded(viewer: Viewer, count: int, timeout: float) -> bool:
    """Wait until `viewer` decoded `count` frames; False after `timeout` seconds."""

    async def enough() -> None:
        while len(viewer.frames) < count:
            viewer.new_frame.clear()
            await viewer.new_frame.wait()

    try:
        await asyncio.wait_for(enough(), timeout)
    except TimeoutError:
        return False
    return True


async def judge_with_viewer(rig: Rig, camera: str, result: CaseResult, stamped: bool) -> None:
    """An officer's aiortc viewer watches `camera`: it must decode FRAMES frames (with capture stamps when the
    publisher stamps them, none older than STAMP_AGE_MS), the first within FIRST_FRAME_TIMEOUT of its POST."""
    viewer = Viewer(rig.officer, camera)
    try:
        began = time.time()  # as the viewer's frames note their arrival
        status = await viewer.watch(case="INTEROP-1", reason="interop test")
        if status != 201:
            raise AssertionError(f"WHEP answered {status}: {viewer.error}")
        if not await _decoded(viewer, 1, FIRST_FRAME_TIMEOUT):
            raise AssertionError(
                f"no frame decoded within {FIRST_FRAME_TIMEOUT:.0f} s of the WHEP POST (viewer ICE "
                f"{viewer.pc.iceConnectionState}, events {viewer.events})"
            )
        result.first_frame_ms = (viewer.frames[0].received_at - began) * 1000
        enough = await _decoded(viewer, FRAMES, MORE_FRAMES_TIMEOUT)
        result.frames = len(viewer.frames)
        stamps = [(f.received_at, f.stamp_ms) for f in viewer.frames if f.stamp_ms is not None]
        result.stamped = len(stamps)
        if not enough:
            raise AssertionError(f"{result.frames} frames decoded, wanted {FRAMES} ({MORE_FRAMES_TIMEOUT:.0f} s more)")
        if stamped:
            if len(stamps) < FRAMES // 2:
                raise AssertionError(f"only {len(stamps)} of {result.frames} frames carried a readable stamp")
            ages = [received * 1000 - stamp for received, stamp in stamps]
            result.detail["stamp_age_ms"] = {"min": min(ages), "max": max(ages)}
            if max(ages) > STAMP_AGE_MS or min(ages) < -50:
                raise AssertionError(f"frames shown {min(ages):.0f}..{max(ages):.0f} ms after their capture")
        hang_up = await viewer.hang_up()
        if hang_up != 200:
            raise AssertionError(f"the viewer's DELETE answered {hang_up}")
    finally:
        await viewer.close()


# ---- publishers ----


def _ffmpeg(audio: bool) -> Run:
    async def run(rig: Rig, result: CaseResult) -> None:
        async with ffmpeg_feed(rig, audio=audio) as feed:
            result.publish_ms = feed.publish_ms
            await judge_with_viewer(rig, feed.camera, result, stamped=True)

    return run


async def _encoded(rig: Rig, frames: int) -> bool:
    """Whether the page's publisher has encoded `frames` video frames."""
    stats = await call(rig.page, "publisherStats")
    return int(stats.get("outbound-rtp:video", {}).get("framesEncoded") or 0) >= frames


def _page_publisher(function: str) -> Run:
    async def run(rig: Rig, result: CaseResult) -> None:
        answer = await call(rig.page, function, {"url": rig.whip_url(PLAIN_CAMERA), "token": rig.tokens[PLAIN_CAMERA]})
        result.detail["publish"] = answer
        try:
            if answer.get("status") != 201 or "error" in answer:
                raise AssertionError(f"the page could not publish: {summary(answer)}")
            result.publish_ms = answer.get("connectedMs")
            # The viewer comes later, as an officer does: its first frame then needs a keyframe the hub asks the
            # publisher for (a browser sends one at the start, then next to none unless asked).
            await wait_until(lambda: _encoded(rig, JOIN_AFTER_FRAMES), 10, "the page to send a second of video")
            await judge_with_viewer(rig, PLAIN_CAMERA, result, stamped=False)
        except AssertionError as exc:
            # What the publisher saw (keyframes sent, PLIs received) says why a viewer got nothing.
            stats = await call(rig.page, "publisherStats")
            raise AssertionError(f"{exc}\npublisher's stats: {stats}") from None
        finally:
            stopped = await call(rig.page, "stopPublishing")
            result.detail["stop"] = stopped
        if stopped.get("deleteStatus") != 200:
            raise AssertionError(f"the publisher's DELETE answered {stopped.get('deleteStatus')}: {summary(stopped)}")

    return run


# ---- players ----


def _page_player(function: str, feed_kind: str) -> Run:
    async def run(rig: Rig, result: CaseResult) -> None:
        feed_of = agent_feed if feed_kind == "agent" else ffmpeg_feed
        async with feed_of(rig) as feed:
            await _play(rig, result, function, feed)

    return run


async def _play(rig: Rig, result: CaseResult, function: str, feed: Feed) -> None:
    result.publish_ms = feed.publish_ms
    answer = await call(
        rig.page,
        function,
        {
            "url": rig.whep_url(feed.camera),
            "token": rig.officer_token,
            "frames": FRAMES,
            "ms": (FIRST_FRAME_TIMEOUT + MORE_FRAMES_TIMEOUT) * 1000,
        },
    )
    try:
        result.first_frame_ms = answer.get("firstFrameMs")
        result.frames = int(answer.get("framesDecoded") or 0)
        result.detail["play"] = {key: value for key, value in answer.items() if key != "picture"}
        if answer.get("status") != 201 or "error" in answer:
            raise AssertionError(f"the page could not play: {summary(answer)}")
        if result.first_frame_ms is None or result.first_frame_ms > FIRST_FRAME_TIMEOUT * 1000:
            raise AssertionError(f"no frame within {FIRST_FRAME_TIMEOUT:.0f} s of the WHEP POST: {summary(answer)}")
        if answer.get("presented", 0) < FRAMES or result.frames < FRAMES:
            raise AssertionError(f"the page decoded too few frames (wanted {FRAMES}): {summary(answer)}")
        stamp = picture_stamp(answer)
        if stamp is None:
            raise AssertionError("the picture the page showed carries no readable capture stamp")
        result.stamped = 1
        age = time.time() * 1000 - stamp
        result.detail["stamp_age_ms"] = age
        if not 0 <= age < STAMP_AGE_MS:
            raise AssertionError(f"the page showed a frame captured {age:.0f} ms ago")
    finally:
        stopped = await call(rig.page, "stopPlaying")
        result.detail["stop"] = stopped
    if stopped.get("deleteStatus") != 200:
        raise AssertionError(f"the player's DELETE answered {stopped.get('deleteStatus')}: {summary(stopped)}")


PUBLISHERS = [
    Case("ffmpeg-h264", "publisher", _ffmpeg(audio=False)),
    Case("ffmpeg-h264-opus", "publisher", _ffmpeg(audio=True)),
    Case("chromium-whip-by-hand", "publisher", _page_publisher("publishByHand")),
    Case("chromium-whip-whipclient", "publisher", _page_publisher("publishWithWhipClient")),
]
PLAYERS = [
    Case("chromium-whep-by-hand/agent", "player", _page_player("playByHand", "agent")),
    Case("chromium-whep-whepclient/agent", "player", _page_player("playWithWhepClient", "agent")),
    Case("chromium-whep-by-hand/ffmpeg", "player", _page_player("playByHand", "ffmpeg")),
    Case("chromium-whep-whepclient/ffmpeg", "player", _page_player("playWithWhepClient", "ffmpeg")),
]

# GStreamer's cases live in another module (tests/interop/gstreamer.py, run under Debian's python3 through
# subprocesses). Its hook: `run_case_detailed(hub, direction, codec, tmp)` with direction "publish" or "play",
# against a hub whose `seeded` holds the demo's tokens and no agent on its camera (front-door, our PLAIN_CAMERA),
# answering an object with `ok`, `first_frame_seconds` (from starting the GStreamer client) and `detail`.
GSTREAMER_MODULE = "tests.interop.gstreamer"
GSTREAMER_CASES = (("gstreamer-whip", "publisher", "publish"), ("gstreamer-whep/agent", "player", "play"))


def _gstreamer(module: Any, direction: str) -> Run:
    async def run(rig: Rig, result: CaseResult) -> None:
        workdir = rig.tmp / f"gst-{direction}-{time.time_ns()}"
        outcome = await module.run_case_detailed(rig.hub, direction, rig.codec, workdir)
        seconds = outcome.first_frame_seconds
        result.first_frame_ms = seconds * 1000 if seconds is not None else None
        result.detail["first_frame_from"] = "the GStreamer client's start"
        result.detail["gstreamer"] = outcome.detail
        if not outcome.ok:
            raise AssertionError(f"GStreamer: {outcome.detail}")

    return run


def gstreamer_cases() -> list[Case]:
    """GStreamer's cases, or none while tests/interop/gstreamer.py does not provide `run_case_detailed`."""
    try:
        module = importlib.import_module(GSTREAMER_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name != GSTREAMER_MODULE:
            raise
        return []
    if not hasattr(module, "run_case_detailed"):
        return []
    return [Case(name, role, _gstreamer(module, direction)) for name, role, direction in GSTREAMER_CASES]


def all_cases() -> list[Case]:
    """The whole matrix for one codec: ours, then GStreamer's."""
    return [*PUBLISHERS, *PLAYERS, *gstreamer_cases()]
