"""The pages on a cluster (issue 17), in a real Chromium against two hub processes on one real redis-server: the
camera's agent is on hub A; an officer on hub B's officer page watches it through B's relay; the owner on A's
resident page sees her watching; an admin on B's admin page sees the view (and which hub holds it) and ends it
with a reason; then the owner withdraws on B's resident page, which ends a second view and names both hubs.

One cluster, one agent and one browser for the module; each person has a browser context of their own (the hubs
share a host, so one cookie jar would make them one person).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, ViewportSize, async_playwright, expect

from tests.conftest import PASSWORDS
from tests.support.browser import ARGS, CHROMIUM, PLAYWRIGHT_DISABLE_FEATURES_ARG
from tests.support.cluster import Hubs, two_hubs
from tests.support.pages import accessibility_problems, log_in, screenshot
from tests.support.procs import Hub, running_agent

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(120)]

CAM, NAME = "front-door", "Front door"
CASE, REASON = "C-2025-0417", "Reported break-in next door"
END_REASON = "Wrong camera for case C-2025-0417"
TIMEOUT_MS = 20_000
# The officer's page says why a view ended within this of the end (it took ~7 s before the page heard the DTLS
# transport close: it waited for ICE to give up).
END_TIMEOUT_MS = 3_000
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}
CLOCK = r"\d{1,2}:\d{2}:\d{2}( [AP]M)?"  # local time with seconds, in any locale's 12 or 24 hour form

DECODING_JS = """
([camera, atLeast]) => {
  const video = document.querySelector(`.tile[data-camera="${camera}"] video`);
  return !!video && video.videoWidth > 0 && video.getVideoPlaybackQuality().totalVideoFrames >= atLeast;
}
"""
FRAMES_JS = """
(camera) => document.querySelector(`.tile[data-camera="${camera}"] video`).getVideoPlaybackQuality().totalVideoFrames
"""


@dataclass
class Scene:
    hubs: Hubs
    browser: Browser


@contextlib.asynccontextmanager
async def _browser() -> AsyncIterator[Browser]:
    """Debian's Chromium with tests/support/browser.py's flags, as a browser that makes contexts."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} not found: install Debian's package (`make system-deps`, or apt-get install chromium)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=ARGS, ignore_default_args=[PLAYWRIGHT_DISABLE_FEATURES_ARG]
        )
        try:
            yield browser
        finally:
            await browser.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def scene(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Scene]:
    """Hubs A and B, the camera's agent on A, and Chromium."""
    tmp = tmp_path_factory.mktemp("page-cluster")
    async with (
        two_hubs(tmp, a_via_proxy=False) as hubs,
        running_agent(hubs.a, CAM, hubs.seeded.tokens[CAM], tmp),
        _browser() as browser,
    ):
        yield Scene(hubs, browser)


@contextlib.asynccontextmanager
async def _person(scene: Scene, hub: Hub, path: str, username: str) -> AsyncIterator[Page]:
    """`username` logged in on `hub`'s page at `path`, in a browser context of their own."""
    context = await scene.browser.new_context(viewport=DESKTOP)
    try:
        page = await context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        await page.goto(f"{hub.url}{path}")
        await log_in(page, username, PASSWORDS[username])
        await expect(page.locator("#whoami")).to_contain_text(username)
        yield page
    finally:
        await context.close()


async def _check(page: Page, name: str, accessibility: bool = True) -> None:
    """Screenshots at desktop and phone size, and the accessibility check at each (unless the page's controls were
    checked at an earlier moment and are the same); back to desktop size."""
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        await page.set_viewport_size(size)
        await screenshot(page, f"cluster-{name}-{label}")
        if accessibility:
            assert await accessibility_problems(page) == [], (name, label)
    await page.set_viewport_size(DESKTOP)


async def _watch(page: Page) -> None:
    """The officer asks to watch the camera, for the case, and its tile plays: frames decode, and keep coming."""
    await page.get_by_role("button", name=f"Watch {NAME}").click()
    await page.get_by_label("Case number").fill(CASE)
    await page.get_by_label("Reason for watching").fill(REASON)
    await page.get_by_role("button", name=f"Start watching {NAME}").click()
    await expect(_tile(page)).to_have_attribute("data-state", "playing")
    await page.wait_for_function(DECODING_JS, arg=[CAM, 1], timeout=TIMEOUT_MS)
    seen = int(await page.evaluate(FRAMES_JS, CAM))
    await page.wait_for_function(DECODING_JS, arg=[CAM, seen + 10], timeout=TIMEOUT_MS)


def _tile(page: Page) -> Any:
    return page.locator(f'.tile[data-camera="{CAM}"]')


async def _relays(hub: Hub, role: str) -> float:
    return await hub.metric(f'porchlight_relays{{role="{role}"}}')


def _watcher(page: Page) -> Any:
    return page.locator(f'section[data-camera="{CAM}"] .watching li[data-officer="olivia"]')


async def test_an_officer_on_b_watches_a_camera_on_a_and_an_admin_on_b_ends_the_view(scene: Scene) -> None:
    a, b = scene.hubs.a, scene.hubs.b
    async with (
        _person(scene, b, "/officer", "olivia") as officer,
        _person(scene, a, "/resident", "alice") as owner,
        _person(scene, b, "/admin", "ada") as admin,
    ):
        await _watch(officer)
        # Through hub B's relay from hub A, the one that holds the camera's agent.
        assert (await _relays(b, "asking"), await _relays(a, "owner")) == (1, 1)
        await expect(_tile(officer)).to_contain_text(CASE)

        # The owner's page on A: who watches, as for a view on its own hub.
        watcher = _watcher(owner)
        for text in ("Officer olivia", "metro-pd", CASE, "Watching since"):
            await expect(watcher).to_contain_text(text)

        # The admin's page on B: the view, and the hub holding it (this one: the officer's browser reached it).
        row = admin.locator('#live-rows tr[data-officer="olivia"]')
        for text in (CASE, CAM, "metro-pd"):
            await expect(row).to_contain_text(text)
        await expect(row.locator('td[data-label="Hub"]')).to_have_text("this hub (hub-b)")
        # Its camera's agent, by the name of the hub it is on (not that hub's internal address).
        agent = admin.locator(f'#camera-rows tr[data-camera="{CAM}"] .camera-agent')
        await expect(agent).to_have_text("connected to another hub: hub-a")
        # Its health figures are its own: it says whose.
        await expect(admin.locator("#health-scope")).to_contain_text("This hub (hub-b) only")

        await _check(officer, "officer-watching")
        await _check(owner, "resident-watched")
        await _check(admin, "admin-live")

        # The admin ends it with a reason; the officer's page says why; nobody is listed any more.
        await row.get_by_role("button", name=f"End olivia's session on {CAM}").click()
        dialog = admin.locator("#reason-dialog")
        await dialog.get_by_label("Reason").fill(END_REASON)
        await dialog.get_by_role("button", name="End the view").click()
        await expect(admin.locator("#status")).to_contain_text(f"Ended olivia's view of {CAM}")
        await expect(_tile(officer)).to_have_attribute("data-state", "ended", timeout=END_TIMEOUT_MS)
        await expect(_tile(officer).locator(".ended-reason")).to_have_text(
            re.compile(rf"^Ended by an administrator: {END_REASON} \(at {CLOCK}\)\.$")
        )
        # Not "Consent: ended" (the camera is still shared), and not still counted as watching.
        await expect(_tile(officer).locator(".tile-consent")).to_be_hidden()
        await expect(officer.locator("#wall-count")).to_have_text(re.compile("^Watching 0 of"))
        await expect(watcher).to_have_count(0)
        await expect(owner.locator(f'section[data-camera="{CAM}"] .watching')).to_contain_text("No one is watching")
        await expect(admin.locator("#live-empty")).to_be_visible()
        await _check(officer, "officer-ended-by-admin")
        await _check(admin, "admin-ended", accessibility=False)  # the same controls, less one row's


async def test_the_owners_withdrawal_on_b_ends_the_view_and_names_both_hubs(scene: Scene) -> None:
    b = scene.hubs.b
    async with (
        _person(scene, b, "/officer", "olivia") as officer,
        _person(scene, b, "/resident", "alice") as owner,
    ):
        await _watch(officer)
        await expect(_watcher(owner)).to_contain_text(CASE)
        await _check(owner, "resident-on-b-watched")

        switch = owner.get_by_role("switch", name=re.compile(f"^Share {NAME} with police"))
        async with owner.expect_response(
            lambda r: r.request.method == "DELETE" and r.url.endswith(f"/api/cameras/{CAM}/grant")
        ) as answered:
            await switch.click()
        answer = await (await answered.value).json()
        # The view ended was on B, relayed from A: both carried the camera, and both confirm their gates closed.
        assert answer["views_ended"] == 1, answer
        assert sorted(answer["gates"]["hubs"]) == ["hub-a", "hub-b"], answer
        assert answer["gates"]["confirmed"] is True, answer

        await expect(_tile(officer)).to_have_attribute("data-state", "ended", timeout=END_TIMEOUT_MS)
        await expect(_tile(officer).locator(".ended-reason")).to_have_text(
            re.compile(rf"^The owner withdrew consent at {CLOCK}\.$")
        )
        await expect(_watcher(owner)).to_have_count(0)
        await expect(owner.locator(f'section[data-camera="{CAM}"] .consent')).to_contain_text("You withdrew consent")
        await _check(officer, "officer-withdrawn")
        await _check(owner, "resident-on-b-withdrawn")
