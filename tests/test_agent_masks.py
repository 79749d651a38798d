"""Privacy masks applied in the home, and the owner's still picture: the pure pieces, then the agent against the
minimal in-test hub of test_agent.py (real WebSockets, real WHIP, frames decoded by a real aiortc peer)."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from device_agent import control, snapshot
from device_agent.masks import MAX_MASKS, MAX_POINTS, LiveMasks, Mask, MaskError, MaskSet, apply_masks, parse_masks
from device_agent.sources import SourceSpec, SyntheticSource
from device_agent.stamp import read_stamp
from device_agent.track import CameraTrack
from tests import test_agent
from tests.test_agent import WAIT, Events, MiniHub, StartAgent, _config, _frames

# test_agent.py's fixtures, used here under the same names.
events = test_agent.events
mini_hub = test_agent.mini_hub
run_agent = test_agent.run_agent

Rect = tuple[float, float, float, float]  # x0, y0, x1, y1, relative
# Below the capture stamp's band (the top 1/6 of a 320x240 frame), on colour bars that are nowhere dark.
LEFT: Rect = (0.05, 0.3, 0.4, 0.7)
RIGHT: Rect = (0.55, 0.3, 0.95, 0.7)
CODEC_MARGIN = 6  # px eroded from a masked rectangle before judging it: codecs ring at sharp edges
DARK = 30


def _square(rect: Rect, style: str = "black") -> dict[str, Any]:
    x0, y0, x1, y1 = rect
    return {"points": [[x0, y0], [x1, y0], [x1, y1], [x0, y1]], "style": style}


def _polygon(points: list[tuple[float, float]], style: str = "black") -> Mask:
    return parse_masks([{"points": [list(p) for p in points], "style": style}])[0]


# The mask list: validation.


def test_parse_masks_accepts_the_protocol() -> None:
    masks = parse_masks([_square(LEFT), {"points": [[0, 0], [1, 0], [0.5, 1]], "style": "blur", "label": "x"}])
    assert masks == (
        Mask(((0.05, 0.3), (0.4, 0.3), (0.4, 0.7), (0.05, 0.7)), "black"),
        Mask(((0.0, 0.0), (1.0, 0.0), (0.5, 1.0)), "blur"),
    )
    assert parse_masks([]) == ()
    most = [[i / MAX_POINTS, (i % 2) / 2] for i in range(MAX_POINTS)]
    assert len(parse_masks([{"points": most, "style": "black"}] * MAX_MASKS)) == MAX_MASKS


TRIANGLE = [[0.1, 0.1], [0.9, 0.1], [0.5, 0.9]]


@pytest.mark.parametrize(
    "masks",
    [
        None,
        {"points": TRIANGLE, "style": "black"},  # not a list
        [{"points": TRIANGLE, "style": "black"}] * (MAX_MASKS + 1),
        ["nope"],
        [{"points": TRIANGLE}],  # no style
        [{"points": TRIANGLE, "style": "pixelate"}],
        [{"style": "black"}],
        [{"points": "0,0 1,0 1,1", "style": "black"}],
        [{"points": TRIANGLE[:2], "style": "black"}],
        [{"points": [[0.5, 0.5]] * (MAX_POINTS + 1), "style": "black"}],
        [{"points": [*TRIANGLE[:2], [0.5, 0.9, 0.1]], "style": "black"}],
        [{"points": [*TRIANGLE[:2], {"x": 0.5, "y": 0.9}], "style": "black"}],
        [{"points": [*TRIANGLE[:2], [True, 0.9]], "style": "black"}],
        [{"points": [*TRIANGLE[:2], ["0.5", 0.9]], "style": "black"}],
        [{"points": [*TRIANGLE[:2], [-0.01, 0.9]], "style": "black"}],
        [{"points": [*TRIANGLE[:2], [0.5, 1.01]], "style": "black"}],
        [{"points": [*TRIANGLE[:2], [math.nan, 0.5]], "style": "black"}],
        [{"points": [*TRIANGLE[:2], [math.inf, 0.5]], "style": "black"}],
        [{"points": TRIANGLE, "style": "black"}, {"points": TRIANGLE[:2], "style": "blur"}],  # all or nothing
    ],
)
def test_parse_masks_rejects_malformed(masks: object) -> None:
    with pytest.raises(MaskError):
        parse_masks(masks)


def test_control_messages_for_masks_and_snapshots() -> None:
    message = {"type": "masks", "version": 3, "masks": [_square(LEFT)]}
    assert control.parse_message(json.dumps(message)) == control.Masks(3, parse_masks([_square(LEFT)]))
    assert control.parse_message('{"type": "masks", "version": 0, "masks": []}') == control.Masks(0, ())
    for version in (None, -1, 1.5, True, "2", 2**53):
        with pytest.raises(control.MalformedMessage) as info:
            control.parse_message(json.dumps({"type": "masks", "version": version, "masks": []}))
        assert info.value.kind == "masks"
    with pytest.raises(control.MalformedMessage, match="masks version 4") as info:
        control.parse_message(json.dumps({"type": "masks", "version": 4, "masks": [{"points": TRIANGLE}]}))
    assert info.value.kind == "masks"

    assert control.parse_message('{"type": "snapshot", "id": "a b\\n"}') == control.Snapshot("a b\n")
    for request_id in (None, "", 7, "x" * (control.MAX_SNAPSHOT_ID + 1)):
        with pytest.raises(control.MalformedMessage):
            control.parse_message(json.dumps({"type": "snapshot", "id": request_id}))

    assert json.loads(control.masks_applied_message(3)) == {"type": "masks_applied", "version": 3}
    reply = json.loads(control.snapshot_message("r1", b"\xff\xd8jpeg"))
    assert reply["type"] == "snapshot" and reply["id"] == "r1" and base64.b64decode(reply["jpeg"]) == b"\xff\xd8jpeg"
    assert json.loads(control.snapshot_error_message("r1", "busy")) == {"type": "snapshot", "id": "r1", "error": "busy"}


# Masking pixels.


def _touched(points: list[tuple[float, float]], height: int, width: int, samples: int = 16) -> np.ndarray:
    """Reference: the pixels whose square shares area with the (convex or simple) polygon, by supersampling."""
    ys, xs = np.mgrid[0 : height * samples, 0 : width * samples]
    px, py = (xs + 0.5) / samples, (ys + 0.5) / samples
    corners = [(x * width, y * height) for x, y in points]
    inside = np.zeros(px.shape, np.bool_)
    for (x0, y0), (x1, y1) in zip(corners, corners[1:] + corners[:1], strict=True):
        crosses = (y0 <= py) != (y1 <= py)
        with np.errstate(divide="ignore", invalid="ignore"):
            at = x0 + (py - y0) * (x1 - x0) / (y1 - y0)
        inside ^= crosses & (px < at)
    return np.asarray(inside.reshape(height, samples, width, samples).any(axis=(1, 3)))


def _detailed(height: int, width: int) -> np.ndarray:
    """A picture full of fine detail: small coloured checks, noise and text."""
    rng = np.random.default_rng(7)
    ys, xs = np.mgrid[0:height, 0:width]
    checks = ((xs // 4 + ys // 4) % 2).astype(np.uint8)
    img = np.stack([checks * 200 + 30, (1 - checks) * 180 + 40, checks * 90 + 100], axis=2).astype(np.int16)
    img += rng.integers(-25, 25, img.shape, dtype=np.int16)
    picture = np.clip(img, 0, 255).astype(np.uint8)
    for row in range(3):
        cv2.putText(picture, "PORCHLIGHT 0123", (10, 60 + 70 * row), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (255, 255, 255), 2)
    return picture


@pytest.mark.parametrize(
    "points",
    [
        [(0.1234, 0.2345), (0.6789, 0.2345), (0.6789, 0.8123), (0.1234, 0.8123)],
        [(0.05, 0.95), (0.3333, 0.0721), (0.9411, 0.6172)],
        [(0.2, 0.2), (0.8, 0.2), (0.8, 0.8), (0.5, 0.45), (0.2, 0.8)],  # concave
    ],
)
def test_black_covers_every_pixel_the_polygon_touches(points: list[tuple[float, float]]) -> None:
    height, width = 120, 160
    image = np.random.default_rng(1).integers(60, 256, (height, width, 3), dtype=np.uint8)
    original = image.copy()
    masked = apply_masks(image, [_polygon(points)])
    touched = _touched(points, height, width)
    assert touched.sum() > 100
    assert (masked[touched] == 0).all(), "every pixel inside the polygon, edge pixels included, is black"
    far = cv2.dilate(touched.astype(np.uint8), np.ones((5, 5), np.uint8)) == 0  # > 2 px from the polygon
    assert (masked[far] == original[far]).all(), "pixels well outside are untouched"
    assert (image == original).all(), "the input frame is not modified"


def test_blur_removes_the_detail() -> None:
    height, width = 240, 320
    picture = _detailed(height, width)
    points = [(0.1, 0.15), (0.85, 0.1), (0.9, 0.85), (0.45, 0.6), (0.15, 0.9)]
    blurred = apply_masks(picture, [_polygon(points, "blur")])
    inside = cv2.erode(_touched(points, height, width).astype(np.uint8), np.ones((7, 7), np.uint8)) > 0

    def detail(img: np.ndarray) -> float:
        laplacian = cv2.Laplacian(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.CV_64F)
        return float(laplacian[inside].std())

    assert detail(blurred) <= 0.1 * detail(picture), (detail(blurred), detail(picture))
    # Not merely smoothed in place: the original's high-frequency content is gone from the masked pixels.
    high = picture.astype(np.float64) - cv2.GaussianBlur(picture, (0, 0), 2).astype(np.float64)
    left = blurred.astype(np.float64) - cv2.GaussianBlur(blurred, (0, 0), 2).astype(np.float64)
    assert np.abs(left[inside]).mean() <= 0.1 * np.abs(high[inside]).mean()
    far = cv2.dilate(_touched(points, height, width).astype(np.uint8), np.ones((5, 5), np.uint8)) == 0
    assert (blurred[far] == picture[far]).all()


@pytest.mark.parametrize(("height", "width"), [(120, 160), (240, 320), (480, 640), (720, 1280)])
def test_relative_coordinates_fit_any_frame_size(height: int, width: int) -> None:
    image = np.full((height, width, 3), 200, np.uint8)
    masked = apply_masks(image, parse_masks([_square((0.25, 0.5, 0.75, 1.0))]))
    ys, xs = np.nonzero((masked == 0).all(axis=2))
    # Exactly the pixels the rectangle covers, and at most 2 px more at each edge (the outline's reach).
    assert width // 4 - 2 <= xs.min() <= width // 4 and 3 * width // 4 - 1 <= xs.max() <= 3 * width // 4 + 1
    assert height // 2 - 2 <= ys.min() <= height // 2 and ys.max() == height - 1
    blacked = (masked == 0).all(axis=2)
    assert blacked[height // 2 :, width // 4 : 3 * width // 4].all()


def test_self_crossing_polygons_mask_all_they_wind_around() -> None:
    star = [
        (0.5 + 0.4 * math.cos(a), 0.5 - 0.4 * math.sin(a))
        for a in (math.pi / 2 + k * 4 * math.pi / 5 for k in range(5))
    ]
    masked = apply_masks(np.full((100, 100, 3), 255, np.uint8), [_polygon(star)])
    assert (masked[45:56, 45:56] == 0).all()  # the centre, wound around twice: OpenCV's even-odd rule misses it


def test_black_wins_over_an_overlapping_blur() -> None:
    picture = _detailed(240, 320)
    black, blur = _polygon([(0.2, 0.2), (0.6, 0.2), (0.6, 0.6)]), _polygon([(0.1, 0.1), (0.9, 0.1), (0.5, 0.9)], "blur")
    masked = apply_masks(picture, [blur, black])
    assert (masked[_touched([(0.2, 0.2), (0.6, 0.2), (0.6, 0.6)], 240, 320)] == 0).all()


def test_live_masks_confirm_once_frames_carry_them() -> None:
    confirmed: list[int] = []
    live = LiveMasks(confirmed.append)
    first = MaskSet(1, parse_masks([_square(LEFT)]))
    live.replace(first, producing=False)
    assert confirmed == [1] and live.current is first  # nothing is produced: in force at once

    second, third = MaskSet(2, ()), MaskSet(3, parse_masks([_square(RIGHT)]))
    live.replace(second, producing=True)
    live.produced(first)  # a frame masked with the old set confirms nothing
    assert confirmed == [1]
    live.replace(third, producing=True)  # superseded before any frame carried it
    live.produced(third)
    live.produced(third)
    assert confirmed == [1, 3]
    live.replace(MaskSet(4, ()), producing=True)
    live.idle()  # publishing stopped before a frame carried it: nothing will leave without it
    assert confirmed == [1, 3, 4]


async def test_the_track_masks_each_frame_with_one_set_and_confirms_after_producing_it() -> None:
    confirmed: list[int] = []
    live = LiveMasks(confirmed.append)
    track = CameraTrack(SyntheticSource(320, 240, "cam"), fps=30, masks=live)
    try:
        first = np.asarray((await track.recv()).to_ndarray(format="bgr24"), np.uint8)
        assert _lit(first, LEFT) and track.mask_version is None
        live.replace(MaskSet(1, parse_masks([_square(LEFT)])), producing=True)
        assert confirmed == []  # not before a frame carries them
        second = np.asarray((await track.recv()).to_ndarray(format="bgr24"), np.uint8)
        assert confirmed == [1] and track.mask_version == 1
        assert _dark(second, LEFT, margin=0) and _lit(second, RIGHT) and read_stamp(second) is not None
        raw = await track.still()
        assert _lit(raw, LEFT)  # the snapshot's picture is the raw one
    finally:
        track.stop()


async def test_a_frame_that_cannot_be_masked_is_not_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: MaskSet, image: np.ndarray) -> np.ndarray:
        raise cv2.error("out of memory")

    live = LiveMasks()
    live.replace(MaskSet(1, parse_masks([_square(LEFT)])), producing=False)
    monkeypatch.setattr(MaskSet, "apply", broken)
    track = CameraTrack(SyntheticSource(320, 240, "cam"), fps=30, masks=live)
    with pytest.raises(MediaStreamError):
        await track.recv()
    assert track.readyState == "ended" and track.frames == 0


def test_snapshot_encoding_scales_down_and_refuses_large(monkeypatch: pytest.MonkeyPatch) -> None:
    def decoded(jpeg: bytes) -> tuple[int, ...]:
        picture = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert picture is not None
        return tuple(picture.shape)

    picture = _detailed(720, 1280)
    assert decoded(snapshot.encode_snapshot(picture)) == (360, 640, 3)
    assert decoded(snapshot.encode_snapshot(picture[:240, :320])) == (240, 320, 3)
    monkeypatch.setattr(snapshot, "MAX_BYTES", 10_000)
    with pytest.raises(snapshot.SnapshotError, match="too large"):
        snapshot.encode_snapshot(picture)


# The agent against the minimal hub.


@pytest.fixture
def records() -> Iterator[list[logging.LogRecord]]:
    """The agent's log records, with their creation times."""

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            kept.append(record)

    kept: list[logging.LogRecord] = []
    handler = Keep(logging.DEBUG)
    logger = logging.getLogger("device_agent")
    logger.addHandler(handler)
    yield kept
    logger.removeHandler(handler)


def _from_agent(events: Events, kind: str) -> list[dict[str, Any]]:
    """The agent's messages of type `kind`, in order (the MiniHub records every agent message as "state")."""
    messages = (json.loads(detail) for event, detail in events.items if event == "state")
    return [message for message in messages if message.get("type") == kind]


async def _applied(events: Events, version: int) -> None:
    await events.wait(lambda: {"type": "masks_applied", "version": version} in _from_agent(events, "masks_applied"))


def _applied_at(records: list[logging.LogRecord], version: int) -> int:
    """Unix ms at which the agent logged that it confirms `version` (just before sending masks_applied)."""
    wanted = f"masks version {version} applied"
    return next(round(r.created * 1000) for r in records if wanted in r.getMessage())


def _box(frame: np.ndarray, rect: Rect, margin: int = CODEC_MARGIN) -> np.ndarray:
    height, width = frame.shape[:2]
    x0, y0, x1, y1 = rect
    return frame[
        math.ceil(y0 * height) + margin : int(y1 * height) - margin,
        math.ceil(x0 * width) + margin : int(x1 * width) - margin,
    ]


def _dark(frame: np.ndarray, rect: Rect, margin: int = CODEC_MARGIN) -> bool:
    return bool(_box(frame, rect, margin).max() <= DARK)


def _lit(frame: np.ndarray, rect: Rect) -> bool:
    return float(_box(frame, rect).max(axis=2).mean()) > 100


async def _publishing(mini_hub: MiniHub, events: Events) -> MediaStreamTrack:
    await mini_hub.send({"type": "publish", "watchers": 1})
    track = await asyncio.wait_for(mini_hub.tracks.get(), WAIT)
    await events.wait_for("log", "publishing started")
    return track


async def _frames_after(track: MediaStreamTrack, since_ms: int, count: int) -> list[np.ndarray]:
    """The next `count` frames whose capture stamp is later than `since_ms` (frames captured before are skipped)."""
    later: list[np.ndarray] = []
    for _ in range(count + 60):
        [frame] = await _frames(track, 1)
        stamp = read_stamp(frame)
        assert stamp is not None, "the masks leave the capture stamp alone"
        if stamp > since_ms:
            later.append(frame)
            if len(later) == count:
                return later
    raise AssertionError("too few frames captured after the moment")


@pytest.mark.parametrize("codec", ["vp8", "h264"])
async def test_masks_sent_before_publishing_are_applied_to_every_frame(
    mini_hub: MiniHub, events: Events, run_agent: StartAgent, codec: str
) -> None:
    run_agent(_config(mini_hub.url, codec=codec))
    await events.wait_for("connect", "cam-1")
    await mini_hub.send({"type": "masks", "version": 1, "masks": [_square(LEFT)]})
    await _applied(events, 1)  # confirmed at once: nothing is being produced
    track = await _publishing(mini_hub, events)
    for frame in await _frames(track, 12):
        assert _dark(frame, LEFT), _box(frame, LEFT).max()
        assert _lit(frame, RIGHT)
        assert read_stamp(frame) is not None
    assert _from_agent(events, "masks_applied") == [{"type": "masks_applied", "version": 1}]


async def test_a_mask_change_while_publishing_holds_for_every_frame_captured_after_it_is_confirmed(
    mini_hub: MiniHub, events: Events, run_agent: StartAgent, records: list[logging.LogRecord]
) -> None:
    run_agent(_config(mini_hub.url))
    await events.wait_for("connect", "cam-1")
    await mini_hub.send({"type": "masks", "version": 1, "masks": [_square(LEFT)]})
    await _applied(events, 1)
    track = await _publishing(mini_hub, events)
    assert all(_dark(frame, LEFT) for frame in await _frames(track, 5))

    await mini_hub.send({"type": "masks", "version": 2, "masks": [_square(RIGHT, "black")]})
    await _applied(events, 2)
    for frame in await _frames_after(track, _applied_at(records, 2), 12):
        assert _dark(frame, RIGHT), _box(frame, RIGHT).max()
        assert _lit(frame, LEFT)  # the set was swapped whole: the old mask is gone

    await mini_hub.send({"type": "masks", "version": 3, "masks": []})  # an empty list removes every mask
    await _applied(events, 3)
    for frame in await _frames_after(track, _applied_at(records, 3), 5):
        assert _lit(frame, LEFT) and _lit(frame, RIGHT)


async def test_a_malformed_masks_message_keeps_the_masks_in_force(
    mini_hub: MiniHub, events: Events, run_agent: StartAgent, records: list[logging.LogRecord]
) -> None:
    run_agent(_config(mini_hub.url))
    await events.wait_for("connect", "cam-1")
    await mini_hub.send({"type": "masks", "version": 1, "masks": [_square(LEFT)]})
    await _applied(events, 1)
    track = await _publishing(mini_hub, events)

    malformed = [
        {"type": "masks", "version": 2, "masks": [{"points": [[0, 0], [1, 0]], "style": "black"}]},
        {"type": "masks", "version": 3},
        {"type": "masks", "version": -4, "masks": []},
        {"type": "masks", "version": 5, "masks": [_square(RIGHT), {"points": TRIANGLE, "style": "erase"}]},
    ]
    for message in malformed:
        await mini_hub.send(message)
    await events.wait_for("log", "ERROR camera cam-1: masks", count=len(malformed))
    assert events.count("log", "still applying masks version 1") == len(malformed)
    last_error = max(round(r.created * 1000) for r in records if "still applying masks" in r.getMessage())
    for frame in await _frames_after(track, last_error, 8):
        assert _dark(frame, LEFT) and _lit(frame, RIGHT)
    assert _from_agent(events, "masks_applied") == [{"type": "masks_applied", "version": 1}]


async def test_masks_outlive_a_reconnect_of_the_control_channel(
    mini_hub: MiniHub, events: Events, run_agent: StartAgent
) -> None:
    run_agent(_config(mini_hub.url))
    await events.wait_for("connect", "cam-1")
    await mini_hub.send({"type": "masks", "version": 1, "masks": [_square(LEFT)]})
    await _applied(events, 1)
    await mini_hub.stop()
    await mini_hub.start()  # same port; this hub does not send the masks again
    await events.wait_for("connect", count=2)
    track = await _publishing(mini_hub, events)
    assert all(_dark(frame, LEFT) and _lit(frame, RIGHT) for frame in await _frames(track, 5))


def _picture(events: Events, request_id: str) -> np.ndarray:
    [reply] = [m for m in _from_agent(events, "snapshot") if m["id"] == request_id]
    picture = cv2.imdecode(np.frombuffer(base64.b64decode(reply["jpeg"]), np.uint8), cv2.IMREAD_COLOR)
    assert picture is not None, "the reply is a JPEG"
    return picture


async def _snapshot(mini_hub: MiniHub, events: Events, request_id: str) -> None:
    await mini_hub.send({"type": "snapshot", "id": request_id})
    await events.wait(lambda: any(m["id"] == request_id for m in _from_agent(events, "snapshot")))


async def test_snapshot_while_idle_and_while_publishing(
    mini_hub: MiniHub, events: Events, run_agent: StartAgent
) -> None:
    run_agent(_config(mini_hub.url, width=960, height=540))
    await events.wait_for("connect", "cam-1")
    await mini_hub.send({"type": "masks", "version": 1, "masks": [_square(LEFT)]})
    await _applied(events, 1)

    await _snapshot(mini_hub, events, "idle-1")
    idle = _picture(events, "idle-1")
    assert idle.shape == (360, 640, 3)  # scaled down to 640 px wide
    assert _lit(idle, LEFT)  # the raw picture: the owner's page draws the masks over it
    assert events.count("post") == 0  # a snapshot is not a publication

    track = await _publishing(mini_hub, events)
    assert all(_dark(frame, LEFT) for frame in await _frames(track, 3))
    await _snapshot(mini_hub, events, "live-1")
    live = _picture(events, "live-1")
    assert live.shape == (360, 640, 3) and _lit(live, LEFT)
    assert read_stamp(live) is not None  # taken from the running capture


async def test_snapshot_reports_a_source_that_cannot_open(
    mini_hub: MiniHub, events: Events, run_agent: StartAgent, tmp_path: Path
) -> None:
    run_agent(_config(mini_hub.url, source=SourceSpec("file", str(tmp_path / "missing.mp4"))))
    await events.wait_for("connect", "cam-1")
    await _snapshot(mini_hub, events, "s-1")
    assert _from_agent(events, "snapshot") == [{"type": "snapshot", "id": "s-1", "error": "camera source unavailable"}]
