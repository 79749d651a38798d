"""The owner's privacy-mask editor in a real Chromium: a rectangle added with the keyboard only, saved, confirmed by
the camera (the page shows pending, then applied) and dark in every frame an officer receives; polygons drawn
with the pointer (finished with the button, and by clicking the first point), saved where they were clicked; and
the page's look and accessibility at desktop and phone width.

Real processes on loopback: the seeded hub, a synthetic camera agent, an officer's aiortc WHEP viewer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from playwright.async_api import Page, ViewportSize, expect

from tests.conftest import PASSWORDS
from tests.support.browser import chromium
from tests.support.client import Api, Frame, Viewer
from tests.support.pages import accessibility_problems, is_focused, log_in, screenshot, tab_once_to, tab_to
from tests.support.procs import Hub, running_agent

CAM, NAME = "front-door", "Front door"
TIMEOUT_MS = 20_000
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}
# The keyboard rectangle, in percent (left, top, width, height), and as relative corners (x0, y0, x1, y1).
RECT = (55, 40, 35, 30)
RECT_BOX = (0.55, 0.40, 0.90, 0.70)
UNMASKED_BOX = (0.05, 0.40, 0.45, 0.70)
MARGIN = 6  # pixels kept away from a box's edge when judging it (codecs smear edges a little)
DARK = 30  # codec noise on black

Login = Callable[[str], Awaitable[Api]]

# Every state the "applied" line shows, in order (installed before saving, so a short "pending" is not missed).
RECORD_APPLY_STATES = """
() => {
  const box = document.getElementById('apply-state');
  window.applyStates = [box.dataset.state];
  new MutationObserver(() => {
    const last = window.applyStates[window.applyStates.length - 1];
    if (box.dataset.state !== last) window.applyStates.push(box.dataset.state);
  }).observe(box, { attributes: true, attributeFilter: ['data-state'] });
}
"""


async def _open(page: Page, hub: Hub) -> None:
    """Open alice's mask page for the front door, log in through its form, and wait for the camera's picture."""
    await page.goto(f"{hub.url}/resident/masks?camera={CAM}")
    await log_in(page, "alice", PASSWORDS["alice"])
    await expect(page.locator("#camera-title")).to_have_text(f"Privacy masks for {NAME}", timeout=TIMEOUT_MS)
    await expect(page.locator("#whoami")).to_have_text("Logged in as alice")
    picture = page.locator("#picture")
    await expect(picture).to_be_visible(timeout=TIMEOUT_MS)
    assert await picture.evaluate("img => img.naturalWidth > 0 && img.src.startsWith('blob:')")
    await expect(page.locator("#apply-state")).to_have_attribute("data-state", "none", timeout=TIMEOUT_MS)


async def _wait_applied(page: Page) -> list[str]:
    """Wait until the page says the camera applies the saved masks; the states its line went through."""
    line = page.locator("#apply-state")
    await expect(line).to_have_attribute("data-state", "applied", timeout=TIMEOUT_MS)
    await expect(line).to_have_text("Applied: masked areas never leave your home.")
    states: list[str] = await page.evaluate("window.applyStates")
    return states


async def _masks(alice: Api) -> dict[str, Any]:
    status, body = await alice.call("GET", f"/api/cameras/{CAM}/masks")
    assert status == 200, body
    masks: dict[str, Any] = body
    return masks


def _close(points: list[list[float]], expected: list[tuple[float, float]], within: float) -> bool:
    return len(points) == len(expected) and all(
        abs(x - ex) <= within and abs(y - ey) <= within for (x, y), (ex, ey) in zip(points, expected, strict=True)
    )


def _inside(image: Any, box: tuple[float, float, float, float]) -> Any:
    height, width = image.shape[:2]
    x0, y0, x1, y1 = box
    return image[
        int(y0 * height) + MARGIN : int(y1 * height) - MARGIN, int(x0 * width) + MARGIN : int(x1 * width) - MARGIN
    ]


def _dark(frame: Frame) -> bool:
    return int(_inside(frame.image, RECT_BOX).max()) <= DARK


def _shown(frame: Frame) -> bool:
    return float(np.mean(_inside(frame.image, UNMASKED_BOX))) > 60


@pytest.mark.timeout(90)
async def test_keyboard_rectangle_is_dark_for_officers(
    hub: Hub, tokens: dict[str, str], login: Login, tmp_path: Path
) -> None:
    alice, olivia = await login("alice"), await login("olivia")
    async with running_agent(hub, CAM, tokens[CAM], tmp_path), chromium() as page:
        await page.set_viewport_size(DESKTOP)
        await _open(page, hub)
        await expect(page.locator("#mask-list")).to_contain_text("No masks yet")

        # The rectangle, with the keyboard only: Tab into the form, type the numbers, Tab to "Add rectangle".
        await tab_to(page, page.get_by_label("Left (%)", exact=True))
        await page.keyboard.type(str(RECT[0]))
        for label, value in zip(("Top (%)", "Width (%)", "Height (%)"), RECT[1:], strict=True):
            await tab_once_to(page, page.get_by_label(label, exact=True))
            await page.keyboard.type(str(value))
        style = page.get_by_label("Style of the rectangle")
        await tab_once_to(page, style)
        await expect(style).to_have_value("black")  # Black out
        await tab_once_to(page, page.get_by_role("button", name="Add rectangle"))
        await page.keyboard.press("Enter")
        mask = page.locator('.mask-item[data-mask="1"]')
        await expect(mask.get_by_role("heading", name="Mask 1")).to_be_visible()
        rows = mask.locator("tbody tr")
        await expect(rows).to_have_count(4)
        await expect(rows.nth(0).locator("td")).to_have_text(["1", "55.0", "40.0"])
        await expect(rows.nth(2).locator("td")).to_have_text(["3", "90.0", "70.0"])
        await expect(page.locator("#overlay text")).to_have_text(["Mask 1"])
        await expect(page.locator("#dirty")).to_contain_text("unsaved changes")

        # Save (still the keyboard): the page says the video is held, then that the camera applies the masks.
        await page.evaluate(RECORD_APPLY_STATES)
        await tab_to(page, page.get_by_role("button", name="Save masks"))
        await page.keyboard.press("Enter")
        states = await _wait_applied(page)
        assert states[0] == "none" and "pending" in states and states.index("pending") < states.index("applied"), states
        await expect(page.locator("#dirty")).to_have_text("No unsaved changes.")

        body = await _masks(alice)
        assert body["applied"] is True and len(body["masks"]) == 1, body
        [saved] = body["masks"]
        x0, y0, x1, y1 = RECT_BOX
        assert saved["style"] == "black"
        assert _close(saved["points"], [(x0, y0), (x1, y0), (x1, y1), (x0, y1)], 0.01), saved

        # What an officer receives: the rectangle is black in every frame; the rest of the picture is not.
        viewer = Viewer(olivia, CAM, keep_images=True)
        try:
            assert await viewer.watch("CASE-MASK-PAGE", "masks page test") == 201, viewer.error
            await viewer.wait_frames(15)
            frames = [f for f in viewer.frames if f.image is not None]
            assert len(frames) >= 15
            assert all(_dark(f) for f in frames), "a frame shows the masked rectangle"
            assert all(_shown(f) for f in frames), "the unmasked area is dark too"
        finally:
            await viewer.close()


@pytest.mark.timeout(90)
async def test_pointer_polygons_and_accessibility(
    hub: Hub, tokens: dict[str, str], login: Login, tmp_path: Path
) -> None:
    alice = await login("alice")
    async with running_agent(hub, CAM, tokens[CAM], tmp_path), chromium() as page:
        await page.set_viewport_size(DESKTOP)
        await _open(page, hub)

        async def click(x: float, y: float) -> None:
            """Click at (x, y) relative to the picture's box (scrolled whole into view: buttons clicked since may
            have scrolled the page)."""
            picture = page.locator("#picture")
            await picture.evaluate("img => img.scrollIntoView({block: 'center'})")
            box = await picture.bounding_box()
            assert box is not None
            await page.mouse.click(box["x"] + x * box["width"], box["y"] + y * box["height"])

        # A blurred quadrilateral: four clicks, a stray one undone, "Finish polygon".
        quad = [(0.10, 0.75), (0.35, 0.72), (0.30, 0.95), (0.08, 0.90)]
        await page.get_by_label("Style of the new mask").select_option("blur")
        for x, y in quad:
            await click(x, y)
        await click(0.5, 0.5)
        await expect(page.locator("#draw-state")).to_contain_text("5 points")
        await page.get_by_role("button", name="Undo last point").click()
        await expect(page.locator("#draw-state")).to_contain_text("4 points")
        await page.get_by_role("button", name="Finish polygon").click()
        # A blacked-out triangle, closed by clicking its first point again.
        triangle = [(0.60, 0.80), (0.90, 0.80), (0.75, 0.95)]
        await page.get_by_label("Style of the new mask").select_option("black")
        for x, y in [*triangle, triangle[0]]:
            await click(x, y)
        await expect(page.locator("#draw-state")).to_contain_text("Not drawing")
        await expect(page.locator("#overlay text")).to_have_text(["Mask 1", "Mask 2"])
        await expect(page.locator("#overlay g.mask.blur")).to_have_count(1)
        await expect(page.get_by_label("Style of mask 1")).to_have_value("blur")
        await expect(page.get_by_label("Style of mask 2")).to_have_value("black")

        # Deleting is undone by "Discard changes" until saved.
        await page.get_by_role("button", name="Delete mask 2").click()
        await expect(page.locator(".mask-item")).to_have_count(1)
        await page.get_by_role("button", name="Discard changes").click()
        await expect(page.locator(".mask-item")).to_have_count(0)
        await expect(page.locator("#mask-list")).to_contain_text("No masks yet")
        # Draw again, the same (faster: keep the styles), and save.
        await page.get_by_label("Style of the new mask").select_option("blur")
        for x, y in quad:
            await click(x, y)
        await page.get_by_role("button", name="Finish polygon").click()
        await page.get_by_label("Style of the new mask").select_option("black")
        for x, y in [*triangle, triangle[0]]:
            await click(x, y)
        await expect(page.locator(".mask-item")).to_have_count(2)

        await page.evaluate(RECORD_APPLY_STATES)
        await page.get_by_role("button", name="Save masks").click()
        states = await _wait_applied(page)
        assert "pending" in states, states
        body = await _masks(alice)
        assert body["applied"] is True and len(body["masks"]) == 2, body
        first, second = body["masks"]
        assert first["style"] == "blur" and _close(first["points"], quad, 0.02), first
        assert second["style"] == "black" and _close(second["points"], triangle, 0.02), second

        # A rectangle that would end outside the picture is refused, in plain words, at the field at fault.
        for label, value in (("Left (%)", "80"), ("Top (%)", "10"), ("Width (%)", "30"), ("Height (%)", "10")):
            await page.get_by_label(label, exact=True).fill(value)
        await page.get_by_role("button", name="Add rectangle").click()
        await expect(page.locator("#rect-error")).to_contain_text("must end inside the picture")
        assert await is_focused(page.get_by_label("Width (%)", exact=True))
        await expect(page.locator(".mask-item")).to_have_count(2)

        # Look and accessibility, with the picture and masks present.
        await screenshot(page, "masks-desktop")
        assert await accessibility_problems(page) == []
        await page.set_viewport_size(PHONE)
        await expect(page.locator("#picture")).to_be_visible()
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"the page scrolls sideways at phone width ({width} px)"
        await screenshot(page, "masks-phone")
        assert await accessibility_problems(page) == []


@pytest.mark.timeout(60)
async def test_offline_camera_and_unknown_camera(hub: Hub, login: Login) -> None:
    """Without its agent: no picture (said in plain words), masks can still be typed in and saved, and the page says
    the video stays held until the camera reconnects and confirms; a camera not hers offers her own instead."""
    alice = await login("alice")
    async with chromium() as page:
        await page.set_viewport_size(PHONE)
        await page.goto(f"{hub.url}/resident/masks?camera=nope")
        await log_in(page, "alice", PASSWORDS["alice"])
        await expect(page.locator("#camera-choice")).to_contain_text('No camera "nope" among your cameras')
        await page.get_by_role("link", name=f"Privacy masks for {NAME}").click()
        await expect(page.locator("#camera-title")).to_have_text(f"Privacy masks for {NAME}", timeout=TIMEOUT_MS)
        await expect(page.locator("#snap-state")).to_contain_text("not connected", timeout=TIMEOUT_MS)
        await expect(page.locator("#picture")).to_be_hidden()
        await expect(page.locator("#camera-state")).to_have_attribute("data-online", "false")

        for label, value in zip(("Left (%)", "Top (%)", "Width (%)", "Height (%)"), RECT, strict=True):
            await page.get_by_label(label, exact=True).fill(str(value))
        await page.get_by_role("button", name="Add rectangle").click()
        await page.get_by_role("button", name="Save masks").click()
        line = page.locator("#apply-state")
        await expect(line).to_have_attribute("data-state", "offline", timeout=TIMEOUT_MS)
        await expect(line).to_contain_text("Officers see nothing from this camera until your camera reconnects")
        body = await _masks(alice)
        assert body["applied"] is False and len(body["masks"]) == 1, body
        await screenshot(page, "masks-offline-phone")
        assert await accessibility_problems(page) == []
