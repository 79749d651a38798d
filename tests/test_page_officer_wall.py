"""The officer's video wall in Chromium, with real video from synthetic camera agents: layouts (remembered), a tile
enlarged and full screen, the overlay naming the officer, the case and the time over the video, as many tiles as
the hub's limit of views per officer and no more, "Watch now" on an approved request, a warning before a grant
ends, and what happens when a look ends: a fault retries by itself, a consent ending never does.

One hub (limit of 2 views per officer; a camera that stops publishing ends its viewers after 4 s) and two agents.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Page, ViewportSize, expect

from tests.conftest import PASSWORDS
from tests.support.browser import chromium
from tests.support.client import Api
from tests.support.pages import accessibility_problems, log_in, screenshot
from tests.support.procs import Hub, Proc, seeded_hub, start_agent, wait_until

pytestmark = pytest.mark.asyncio(loop_scope="module")

FRONT, PORCH, BACKYARD = "front-door", "porch", "backyard"
PLAY_MS = 20_000
WIDTHS: dict[str, ViewportSize] = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
CLOCK = re.compile(r"\d{1,2}:\d{2}:\d{2}")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def hub(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Hub]:
    env = {"PORCHLIGHT_LIMITS__PEERS_PER_OFFICER": "2", "PORCHLIGHT_MEDIA__PUBLISH_TIMEOUT_SECONDS": "4"}
    async with seeded_hub(tmp_path_factory.mktemp("wall-hub"), env) as instance:
        yield instance


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def agents(hub: Hub, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, Proc]]:
    """Front door's and porch's agents, connected; each stopped at the end (a test may restart one)."""
    tmp = tmp_path_factory.mktemp("wall-agents")
    running: dict[str, Proc] = {}
    try:
        for camera in (FRONT, PORCH):
            running[camera] = await start_agent(hub, camera, hub.seeded.tokens[camera], tmp)  # type: ignore[attr-defined]
        for agent in running.values():
            await agent.wait_log("hub says hello")
        yield running
    finally:
        for agent in running.values():
            await agent.stop()


@pytest_asyncio.fixture(loop_scope="module")
async def tab(hub: Hub) -> AsyncIterator[Page]:
    async with chromium() as page:
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.goto(f"{hub.url}/officer")
        await log_in(page, "olivia", PASSWORDS["olivia"])
        await expect(page.locator("#whoami")).to_contain_text("olivia")
        yield page
        assert errors == [], errors


@pytest_asyncio.fixture(loop_scope="module")
async def api(hub: Hub) -> AsyncIterator[dict[str, Api]]:
    made = {name: Api(hub.url) for name in ("alice", "bob", "olivia")}
    for name, client in made.items():
        await client.login(name, PASSWORDS[name])
    yield made
    for client in made.values():
        await client.close()


async def playing(page: Page, camera: str) -> None:
    """The tile decodes frames, and more keep coming."""
    tile = page.locator(f'.tile[data-camera="{camera}"]')
    await expect(tile).to_have_attribute("data-state", "playing", timeout=PLAY_MS)
    frames = (
        "([c, n]) => { const v = document.querySelector(`.tile[data-camera='${c}'] video`);"
        " return !!v && v.getVideoPlaybackQuality().totalVideoFrames >= n; }"
    )
    await page.wait_for_function(frames, arg=[camera, 1], timeout=PLAY_MS)
    seen = await tile.locator("video").evaluate("v => v.getVideoPlaybackQuality().totalVideoFrames")
    await page.wait_for_function(frames, arg=[camera, seen + 5], timeout=PLAY_MS)


async def watch(page: Page, name: str, case: str, reason: str) -> None:
    await page.get_by_role("button", name=f"Watch {name}", exact=True).click()
    await page.get_by_label("Case number").fill(case)
    await page.get_by_label("Reason for watching").fill(reason)
    await page.get_by_role("button", name=f"Start watching {name}").click()


async def no_viewers(hub: Hub) -> None:
    await wait_until(lambda: _viewers(hub, 0), 10, "the hub to have no viewer left")


async def _viewers(hub: Hub, count: int) -> bool:
    return await hub.metric("porchlight_viewers") == count


async def test_the_wall(hub: Hub, agents: dict[str, Proc], tab: Page, api: dict[str, Api]) -> None:
    await no_viewers(hub)
    status, body = await api["alice"].call("POST", f"/api/cameras/{BACKYARD}/grant", {"duration_seconds": 3600})
    assert status == 201, body
    await watch(tab, "Front door", "C-2024-0117", "Reported break-in in progress")
    await playing(tab, FRONT)
    front = tab.locator(f'.tile[data-camera="{FRONT}"]')

    # The overlay over the video: who watches, the case, and the time, ticking each second.
    overlay = front.locator(".tile-overlay")
    await expect(overlay).to_contain_text("olivia")
    await expect(overlay).to_contain_text("Case C-2024-0117")
    clock = overlay.locator(".overlay-clock")
    await expect(clock).to_have_text(CLOCK)
    first = await clock.inner_text()
    await expect(clock).not_to_have_text(first, timeout=3_000)
    video_box, overlay_box = await front.locator("video").bounding_box(), await overlay.bounding_box()
    assert video_box and overlay_box
    assert (
        video_box["y"] <= overlay_box["y"]
        and overlay_box["y"] + overlay_box["height"] <= video_box["y"] + video_box["height"]
    )

    # An approved request: "Watch now" starts the look with the request's case and reason. The owner granted
    # 110 s: the tile warns that consent ends within 2 minutes.
    status, body = await api["olivia"].call(
        "POST", f"/api/cameras/{PORCH}/requests", {"case": "C-77", "reason": "Parcel thefts", "duration_seconds": 110}
    )
    assert status == 201, body
    status, body = await api["bob"].call("POST", f"/api/requests/{body['request']['id']}/approve")
    assert status == 200, body
    await tab.get_by_role("button", name="Watch Porch now").click()
    await playing(tab, PORCH)
    porch = tab.locator(f'.tile[data-camera="{PORCH}"]')
    await expect(porch.locator(".tile-overlay")).to_contain_text("Case C-77")
    await expect(tab.get_by_role("button", name="Watch Porch now")).to_have_count(0)
    await expect(porch.locator(".tile-warning")).to_have_text(re.compile(r"^Consent ends in 1 min \d\d s$"))

    # The hub's limit of views per officer (2 here) is the wall's: a third is not started.
    await expect(tab.locator("#wall-count")).to_have_text("Watching 2 of at most 2 at once.")
    await watch(tab, "Backyard", "C-2024-0117", "Check the back of the house")
    await expect(tab.locator("#watch-error")).to_have_text("You can watch up to 2 cameras at once. Stop one first.")
    await expect(tab.locator(f'.tile[data-camera="{BACKYARD}"]')).to_have_count(0)
    await tab.get_by_role("button", name="Cancel").click()

    # Layouts: 1, 2x2, 3x3, remembered in this browser.
    wall = tab.locator("#grid")
    await expect(wall).to_have_attribute("data-layout", "2x2")
    one = tab.get_by_role("button", name="One tile per row")
    await one.click()
    await expect(one).to_have_attribute("aria-pressed", "true")
    await expect(wall).to_have_attribute("data-layout", "1")
    await tab.get_by_role("button", name="3 by 3").click()
    await expect(wall).to_have_attribute("data-layout", "3x3")
    for label, size in WIDTHS.items():
        await tab.set_viewport_size(size)
        await tab.locator("#watching").scroll_into_view_if_needed()
        await screenshot(tab, f"officer-wall-3x3-{label}")
        assert await accessibility_problems(tab) == [], label
    await tab.set_viewport_size(WIDTHS["desktop"])
    await tab.get_by_role("button", name="2 by 2").click()

    # Enlarged: the porch takes the wall; back to the wall.
    await porch.get_by_role("button", name="Enlarge Porch").click()
    await expect(front).to_be_hidden()
    big = await porch.locator("video").bounding_box()
    assert big and big["width"] > 900
    for label, size in WIDTHS.items():
        await tab.set_viewport_size(size)
        await screenshot(tab, f"officer-wall-enlarged-{label}")
    await tab.set_viewport_size(WIDTHS["desktop"])
    await porch.get_by_role("button", name="Back to the wall").click()
    await expect(front).to_be_visible()

    # Full screen: the tile (with its overlay), not the bare video.
    await front.get_by_role("button", name="Full screen: Front door").click()
    await tab.wait_for_function("() => document.fullscreenElement?.dataset.camera === 'front-door'")
    await expect(front.locator(".tile-overlay")).to_be_visible()
    await screenshot(tab, "officer-wall-fullscreen-desktop")
    await front.get_by_role("button", name="Leave full screen: Front door").click()
    await tab.wait_for_function("() => document.fullscreenElement === null")
    await playing(tab, FRONT)

    # Remembered: the page again, the same layout.
    await tab.get_by_role("button", name="3 by 3").click()
    await tab.reload()
    await expect(tab.locator("#whoami")).to_contain_text("olivia")
    await expect(tab.locator("#grid")).to_have_attribute("data-layout", "3x3")
    await no_viewers(hub)  # the page that went away hung up


async def test_a_fault_retries_a_consent_ending_never_does(
    hub: Hub, agents: dict[str, Proc], tab: Page, api: dict[str, Api], tmp_path: Path
) -> None:
    await no_viewers(hub)
    await watch(tab, "Front door", "C-31", "Follow-up on a reported theft")
    await playing(tab, FRONT)
    front = tab.locator(f'.tile[data-camera="{FRONT}"]')

    # The camera goes away: the hub ends the look (no video), the tile says so and tries again by itself.
    await agents[FRONT].stop()
    await expect(front.locator(".tile-state")).to_have_text(re.compile(r"Trying again in \d+ s"), timeout=15_000)
    await expect(front.get_by_role("button", name="Retry Front door now")).to_be_visible()
    await screenshot(tab, "officer-wall-retrying-desktop")
    agents[FRONT] = await start_agent(hub, FRONT, hub.seeded.tokens[FRONT], tmp_path)  # type: ignore[attr-defined]
    await agents[FRONT].wait_log("hub says hello")
    await playing(tab, FRONT)  # back without a click

    # The owner withdraws: the tile says why, offers no retry, and tries nothing.
    status, body = await api["alice"].call("DELETE", f"/api/cameras/{FRONT}/grant")
    assert status == 200, body
    await expect(front).to_have_attribute("data-state", "ended", timeout=5_000)
    await expect(front.locator(".ended-reason")).to_have_text(re.compile(r"^The owner withdrew consent at "))
    await expect(front.get_by_role("button", name="Retry Front door now")).to_be_hidden()
    await expect(front.locator(".tile-state")).to_have_text("Stopped.")
    await no_viewers(hub)
    views = await hub.metric("porchlight_viewers")
    await tab.wait_for_timeout(3_000)  # the observation window: no new look starts by itself
    assert await hub.metric("porchlight_viewers") == views == 0
    await expect(front).to_have_attribute("data-state", "ended")
    await screenshot(tab, "officer-wall-withdrawn-desktop")
