"""Privacy masks end to end: the owner's polygons are blacked out by the camera's agent before encoding, and no
frame without the current masks reaches a viewer, for masks set before a view and changed during it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from tests.support.client import Api, Frame, Viewer
from tests.support.procs import running_agent, wait_until

CAM = "front-door"
# Relative rectangles below the capture stamp (the top sixth of the picture), over the colour bars.
LEFT = (0.05, 0.35, 0.45, 0.75)
RIGHT = (0.55, 0.35, 0.95, 0.75)
MARGIN = 6  # pixels kept away from a mask's edge when judging it (codecs smear edges a little)
DARK = 30


def _polygon(box: tuple[float, float, float, float]) -> dict[str, Any]:
    x0, y0, x1, y1 = box
    return {"points": [[x0, y0], [x1, y0], [x1, y1], [x0, y1]], "style": "black"}


def _inside(image: Any, box: tuple[float, float, float, float]) -> Any:
    height, width = image.shape[:2]
    x0, y0, x1, y1 = box
    return image[
        int(y0 * height) + MARGIN : int(y1 * height) - MARGIN, int(x0 * width) + MARGIN : int(x1 * width) - MARGIN
    ]


def _masked(frame: Frame, box: tuple[float, float, float, float]) -> bool:
    """Every pixel of the box (less a margin) is black, up to codec noise."""
    return int(_inside(frame.image, box).max()) <= DARK


def _bright(frame: Frame, box: tuple[float, float, float, float]) -> bool:
    """The box shows the picture (the colour bars are bright): it is not masked."""
    return float(np.mean(_inside(frame.image, box))) > 60


async def _set_masks(alice: Api, *boxes: tuple[float, float, float, float]) -> int:
    status, body = await alice.call("PUT", f"/api/cameras/{CAM}/masks", {"masks": [_polygon(b) for b in boxes]})
    assert status == 200, body
    return int(body["version"])


async def _applied(alice: Api, version: int) -> None:
    async def done() -> bool:
        status, body = await alice.call("GET", f"/api/cameras/{CAM}/masks")
        return status == 200 and body["version"] == version and body["applied"]

    await wait_until(done, 15, f"the agent to apply masks version {version}")


async def test_masked_pixels_never_leave_the_home(hub, tokens, login, tmp_path: Path) -> None:
    alice, olivia = await login("alice"), await login("olivia")
    async with running_agent(hub, CAM, tokens[CAM], tmp_path):
        # The owner's still picture (not a police view) shows the camera unmasked, for drawing on.
        async with alice.http.get(f"{hub.url}/api/cameras/{CAM}/snapshot") as response:
            assert response.status == 200 and response.content_type == "image/jpeg"
            still = cv2.imdecode(np.frombuffer(await response.read(), np.uint8), cv2.IMREAD_COLOR)
        assert still is not None and still.shape[1] <= 640
        async with olivia.http.get(f"{hub.url}/api/cameras/{CAM}/snapshot") as response:
            assert response.status == 403  # nobody else gets it

        first = await _set_masks(alice, LEFT)
        await _applied(alice, first)
        viewer = Viewer(olivia, CAM, keep_images=True)
        assert await viewer.watch("CASE-MASK", "masks test") == 201
        await viewer.wait_frames(15)
        assert all(_masked(f, LEFT) and _bright(f, RIGHT) for f in viewer.frames), "a frame left the left box bare"

        # Changed during the view: from the moment it is asked for, nothing captured shows the new box bare.
        changed_at_ms = time.time() * 1000
        second = await _set_masks(alice, RIGHT)
        await _applied(alice, second)
        seen = len(viewer.frames)
        await viewer.wait_frames(len(viewer.stamped()) + 15)
        later = [f for f in viewer.frames if f.stamp_ms is not None and f.stamp_ms >= changed_at_ms]
        assert len(later) >= 10 and len(viewer.frames) > seen
        bare = [f.stamp_ms for f in later if not _masked(f, RIGHT)]
        assert not bare, f"{len(bare)} frames captured after the change show the right box unmasked"
        assert all(_bright(f, LEFT) for f in later[-5:])  # the old box is shown again: the change took
        await viewer.close()
    # The change is on the owner's record (how many polygons; where they are stays private).
    status, body = await alice.call("GET", f"/api/audit/records?camera={CAM}")
    assert status == 200
    changes = [r["fields"] for r in body["records"] if r["fields"]["kind"] == "masks.changed"]
    assert [(c["version"], c["polygons"]) for c in changes] == [(first, 1), (second, 1)]
