"""The officer's page in Chromium: cameras opted in for me (list and map, with time left), live video from several
at once, and every tile stopping, with the reason in words, when consent ends (withdrawn, pilot over).

Real processes on loopback: a hub with second factors ON, synthetic camera agents, Debian's Chromium.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Page, ViewportSize, expect

from tests.conftest import PASSWORDS
from tests.support.browser import chromium
from tests.support.client import Api
from tests.support.pages import accessibility_problems, code, give_totp, log_in, screenshot
from tests.support.procs import Hub, running_agent, wait_until

FRONT, BACKYARD, PORCH = "front-door", "backyard", "porch"
NAMES = {FRONT: "Front door", BACKYARD: "Backyard", PORCH: "Porch"}
PLAY_TIMEOUT_MS = 20_000
END_TIMEOUT_MS = 5_000  # "within a few seconds" of the withdrawal / the pilot's end
CLOCK = r"\d{1,2}:\d{2}:\d{2}"  # local time with seconds, in any locale's 12 or 24 hour form

FRAMES_JS = """
(camera) => {
  const video = document.querySelector(`.tile[data-camera="${camera}"] video`);
  return video ? video.getVideoPlaybackQuality().totalVideoFrames : -1;
}
"""
DECODING_JS = """
([camera, atLeast]) => {
  const video = document.querySelector(`.tile[data-camera="${camera}"] video`);
  return !!video && video.videoWidth > 0 && video.getVideoPlaybackQuality().totalVideoFrames >= atLeast;
}
"""


@pytest.fixture
def hub_mfa() -> bool:
    """Officers and admins log in with TOTP codes here (conftest's `hub` reads this)."""
    return True


@pytest.fixture
async def clients(hub: Hub) -> AsyncIterator[list[Api]]:
    """API clients made by `api_login`; all closed afterwards."""
    made: list[Api] = []
    yield made
    for api in made:
        await api.close()


async def api_login(hub: Hub, clients: list[Api], username: str, totp: str | None = None) -> Api:
    api = Api(hub.url)
    clients.append(api)
    return await api.login(username, PASSWORDS[username], totp)


async def open_officer_page(page: Page, hub: Hub) -> None:
    """Olivia logs in on /officer with her password and a TOTP code."""
    secret = await give_totp(hub, "olivia")
    await page.goto(f"{hub.url}/officer")
    await log_in(page, "olivia", PASSWORDS["olivia"], code(secret))
    await expect(page.locator("#whoami")).to_contain_text("olivia")


async def viewers(hub: Hub, count: int) -> bool:
    return await hub.metric("porchlight_viewers") == count


async def frames(page: Page, camera: str) -> int:
    return int(await page.evaluate(FRAMES_JS, camera))


async def start_watching(page: Page, camera: str, case: str, reason: str) -> None:
    """Choose the camera in the list, fill the form, and wait (bounded) until its tile decodes frames."""
    name = NAMES[camera]
    await page.get_by_role("button", name=f"Watch {name}").click()
    await page.get_by_label("Case number").fill(case)
    await page.get_by_label("Reason for watching").fill(reason)
    await page.get_by_role("button", name=f"Start watching {name}").click()
    await wait_playing(page, camera)


async def wait_playing(page: Page, camera: str) -> None:
    """The tile plays: a decoded picture, and the decoded frame count still growing."""
    tile = page.locator(f'.tile[data-camera="{camera}"]')
    await expect(tile).to_have_attribute("data-state", "playing", timeout=PLAY_TIMEOUT_MS)
    await page.wait_for_function(DECODING_JS, arg=[camera, 1], timeout=PLAY_TIMEOUT_MS)
    seen = await frames(page, camera)
    await page.wait_for_function(DECODING_JS, arg=[camera, seen + 10], timeout=PLAY_TIMEOUT_MS)


async def assert_no_more_frames(page: Page, camera: str) -> None:
    """Over about a second after the end, not one more frame is decoded."""
    before = await frames(page, camera)
    await asyncio.sleep(1.0)  # the observation window itself, not a wait for a condition
    assert await frames(page, camera) == before


async def check_accessibility(page: Page, name: str) -> None:
    """Screenshots and the accessibility check at desktop and at phone width."""
    sizes: list[tuple[str, ViewportSize]] = [
        ("desktop", {"width": 1280, "height": 900}),
        ("phone", {"width": 390, "height": 844}),
    ]
    for label, size in sizes:
        await page.set_viewport_size(size)
        await screenshot(page, f"{name}-{label}")
        assert await accessibility_problems(page) == [], label


async def test_officer_sees_opted_in_cameras_and_watches_one(
    hub: Hub, tokens: dict[str, str], clients: list[Api], tmp_path: Path
) -> None:
    alice = await api_login(hub, clients, "alice")
    status, body = await alice.call("PUT", f"/api/cameras/{FRONT}/location", {"lat": 52.37021, "lon": 4.89517})
    assert status == 200, body
    status, body = await alice.call("PUT", f"/api/cameras/{BACKYARD}/location", {"lat": None})
    assert status == 200, body
    status, body = await alice.call("POST", f"/api/cameras/{BACKYARD}/grant", {"duration_seconds": 3600})
    assert status == 201, body  # opted in, without a position

    async with running_agent(hub, FRONT, tokens[FRONT], tmp_path), chromium() as page:
        await open_officer_page(page, hub)
        front = page.locator(f'#camera-list li[data-camera="{FRONT}"]')
        backyard = page.locator(f'#camera-list li[data-camera="{BACKYARD}"]')
        await expect(front).to_be_visible()
        await expect(backyard).to_contain_text("no position")
        await expect(page.locator(f'#camera-list li[data-camera="{PORCH}"]')).to_have_count(0)  # not opted in
        point = page.locator(f'#map .point[data-camera="{FRONT}"]')
        await expect(point).to_have_attribute("aria-label", f"{NAMES[FRONT]} on the map: watch")
        await expect(page.locator(f'#map .point[data-camera="{BACKYARD}"]')).to_have_count(0)
        await expect(page.locator("#map-note")).to_contain_text("no position): Backyard")
        # No tile server configured: the map says so, and asks none.
        await expect(page.locator("#map-plot")).to_have_attribute("data-tiles", "no")
        await expect(page.locator("#map-tiles")).to_have_text(re.compile("No tile server is configured"))
        await expect(page.locator("#map-plot img.leaflet-tile")).to_have_count(0)

        # A camera I may only ask for: its status is not mine to know, so the list never says "offline".
        porch = page.locator(f'#ask-list li[data-ask="{PORCH}"]')
        await expect(porch).to_contain_text("not shared with you")
        await expect(porch).not_to_contain_text("offline")

        # The time left counts down every second (backyard: an hour, less what has passed).
        left = backyard.locator(".time-left")
        await expect(left).to_have_text(re.compile(r"^59 min \d\d s left$"))
        first = await left.inner_text()
        await expect(left).not_to_have_text(first, timeout=3_000)

        # The map's point opens the watch form from the keyboard; both fields are required.
        await point.focus()
        await page.keyboard.press("Enter")
        await expect(page.get_by_role("heading", name=f"Watch {NAMES[FRONT]}")).to_be_visible()
        await expect(page.get_by_label("Case number")).to_be_focused()
        await page.get_by_label("Case number").fill("C-2024-0117")
        await page.get_by_role("button", name=f"Start watching {NAMES[FRONT]}").click()
        await expect(page.locator("#watch-error")).to_have_text("Enter the reason for watching.")
        await page.get_by_label("Reason for watching").fill("Reported break-in in progress")
        await page.get_by_role("button", name=f"Start watching {NAMES[FRONT]}").click()
        await wait_playing(page, FRONT)

        tile = page.locator(f'.tile[data-camera="{FRONT}"]')
        await expect(tile).to_contain_text("C-2024-0117")
        await expect(tile.locator(".tile-left")).to_have_text(re.compile(r"^7 h \d\d min \d\d s left$"))
        await check_accessibility(page, "officer-watching")
        await wait_playing(page, FRONT)  # still playing after all that

        # A refused request says why in words: the form for backyard is open when alice withdraws it.
        await page.get_by_role("button", name=f"Watch {NAMES[BACKYARD]}").click()
        await page.get_by_label("Reason for watching").fill("Check the back of the house")  # case kept from before
        status, body = await alice.call("DELETE", f"/api/cameras/{BACKYARD}/grant")
        assert status == 200, body
        await expect(backyard).to_have_count(0)  # gone from the list at once
        await page.get_by_role("button", name=f"Start watching {NAMES[BACKYARD]}").click()
        refused = page.locator(f'.tile[data-camera="{BACKYARD}"]')
        await expect(refused).to_have_attribute("data-state", "ended")
        await expect(refused.locator(".ended-reason")).to_have_text(
            "The hub refused: The owner has withdrawn consent for this camera."
        )
        await expect(tile).to_have_attribute("data-state", "playing")

        # Stop hangs up: the tile goes, and the hub has no viewer left.
        await page.get_by_role("button", name=f"Stop watching {NAMES[FRONT]}").click()
        await expect(tile).to_have_count(0)
        await wait_until(lambda: viewers(hub, 0), 5, "the hub to end the WHEP session")


async def test_withdrawal_stops_the_video_and_says_so(
    hub: Hub, tokens: dict[str, str], clients: list[Api], tmp_path: Path
) -> None:
    case = "C-2024-0211"
    alice = await api_login(hub, clients, "alice")
    async with running_agent(hub, FRONT, tokens[FRONT], tmp_path), chromium() as page:
        await open_officer_page(page, hub)
        await start_watching(page, FRONT, case, "Suspect seen on the street")

        # Alice withdraws (her page's controls are tested with that page; here the officer's side is).
        status, body = await alice.call("DELETE", f"/api/cameras/{FRONT}/grant")
        assert status == 200, body
        tile = page.locator(f'.tile[data-camera="{FRONT}"]')
        await expect(tile).to_have_attribute("data-state", "ended", timeout=END_TIMEOUT_MS)
        await expect(tile.locator(".ended-reason")).to_have_text(
            re.compile(rf"^The owner withdrew consent at {CLOCK}( [AP]M)?\.$")
        )
        await assert_no_more_frames(page, FRONT)
        # The camera is no longer offered.
        await expect(page.locator(f'#camera-list li[data-camera="{FRONT}"]')).to_have_count(0)
        await expect(page.locator("#no-cameras")).to_be_visible()
        await screenshot(page, "officer-withdrawn")

    async def history() -> list[dict[str, object]]:
        status, body = await alice.call("GET", f"/api/audit/records?camera={FRONT}")
        assert status == 200, body
        return [item["fields"] for item in body["records"] if item["fields"]["kind"].startswith("view.")]

    async def ended_on_record() -> bool:
        return any(fields["kind"] == "view.ended" for fields in await history())

    await wait_until(ended_on_record, 10, "the view.ended record")
    views = await history()
    started = [fields for fields in views if fields["kind"] == "view.started"]
    ended = [fields for fields in views if fields["kind"] == "view.ended"]
    assert [fields["case"] for fields in started] == [case], views
    assert [(fields["case"], fields["ended_by"]) for fields in ended] == [(case, "withdrawn")], views


async def test_pilot_end_stops_every_tile(hub: Hub, tokens: dict[str, str], clients: list[Api], tmp_path: Path) -> None:
    bob = await api_login(hub, clients, "bob")
    status, body = await bob.call("POST", f"/api/cameras/{PORCH}/grant", {"duration_seconds": 3600})
    assert status == 201, body
    alice = await api_login(hub, clients, "alice")
    for owner, camera, lat, lon in ((alice, FRONT, 52.37021, 4.89517), (bob, PORCH, 52.37105, 4.89311)):
        status, body = await owner.call("PUT", f"/api/cameras/{camera}/location", {"lat": lat, "lon": lon})
        assert status == 200, body
    ada = await api_login(hub, clients, "ada", code(await give_totp(hub, "ada")))

    async with (
        running_agent(hub, FRONT, tokens[FRONT], tmp_path),
        running_agent(hub, PORCH, tokens[PORCH], tmp_path),
        chromium() as page,
    ):
        await open_officer_page(page, hub)
        await start_watching(page, FRONT, "C-31", "Follow-up on a reported theft")
        await start_watching(page, PORCH, "C-31", "Follow-up on a reported theft")
        await wait_playing(page, FRONT)  # both at once
        await expect(page.locator("#grid .tile")).to_have_count(2)
        await expect(page.locator("#map .point")).to_have_count(2)
        await screenshot(page, "officer-two-tiles")

        status, body = await ada.call("POST", "/api/pilot/end")
        assert status == 200, body

        for camera in (FRONT, PORCH):
            tile = page.locator(f'.tile[data-camera="{camera}"]')
            await expect(tile).to_have_attribute("data-state", "ended", timeout=END_TIMEOUT_MS)
            await expect(tile.locator(".ended-reason")).to_have_text(
                re.compile(rf"^The pilot ended at {CLOCK}( [AP]M)?\.$")
            )
        for camera in (FRONT, PORCH):
            await assert_no_more_frames(page, camera)
        await expect(page.locator("#no-cameras")).to_have_text("The pilot is over, so no camera can be watched.")
        await screenshot(page, "officer-pilot-over")
