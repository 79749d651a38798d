"""The resident page in a real Chromium: sharing a camera for a time box with the keyboard only (and withdrawing),
who is watching now (live, without a reload), the viewing history built from the checked audit records, and the
page's look and accessibility at desktop and phone width.

Real processes on loopback: the seeded hub, a synthetic camera agent, an officer's aiortc WHEP viewer.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Locator, Page, ViewportSize, expect

from tests.conftest import PASSWORDS
from tests.support.browser import chromium
from tests.support.client import Api, Viewer
from tests.support.pages import (
    ARTIFACTS,
    accessibility_problems,
    is_focused,
    log_in,
    screenshot,
    tab_once_to,
    tab_to,
)
from tests.support.procs import Hub, running_agent

FRONT, BACKYARD = "front-door", "backyard"
CASE, REASON = "CASE-RES-1", "stolen bicycle"
TIMEOUT_MS = 20_000
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}

Login = Callable[[str], Awaitable[Api]]


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _section(page: Page, camera: str) -> Locator:
    return page.locator(f'section[data-camera="{camera}"]')


async def _open_as(page: Page, hub: Hub, username: str) -> None:
    """Open the resident page, log in through its form, and wait until every camera's history is checked."""
    await page.goto(f"{hub.url}/resident")
    await log_in(page, username, PASSWORDS[username])
    await expect(page.locator("#whoami")).to_have_text(f"Logged in as {username}", timeout=TIMEOUT_MS)
    checkpoints = page.locator("section.camera [data-checkpoint]")  # under each camera's Details (closed)
    await expect(checkpoints.first).to_be_attached(timeout=TIMEOUT_MS)
    for checkpoint in await checkpoints.all():
        await expect(checkpoint).to_have_attribute("data-checkpoint", "verified", timeout=TIMEOUT_MS)


async def _grant(api: Api, camera: str) -> dict[str, Any] | None:
    status, body = await api.call("GET", "/api/cameras")
    assert status == 200, body
    [found] = [c for c in body["cameras"] if c["id"] == camera]
    grant: dict[str, Any] | None = found["grant"]
    return grant


@pytest.mark.timeout(90)
async def test_opt_in_for_an_hour_and_withdraw_with_the_keyboard(hub: Hub, login: Login) -> None:
    alice = await login("alice")
    assert await _grant(alice, BACKYARD) is None
    async with chromium() as page:
        await page.set_viewport_size(DESKTOP)
        await _open_as(page, hub, "alice")
        backyard = _section(page, BACKYARD)
        switch = backyard.get_by_role("switch", name="Share Backyard with police")
        await expect(switch).not_to_be_checked()
        await expect(backyard.locator(".consent-state")).to_have_attribute("data-consent", "none")

        # Switch on, every agency, no sound, then one tap on "1 hour" shares: keys only.
        await tab_to(page, switch)
        await page.keyboard.press("Space")
        chooser = backyard.locator("form.chooser")
        await expect(chooser).to_be_visible()
        scope = backyard.get_by_label("Which agencies may watch")
        await tab_once_to(page, scope)
        await expect(scope).to_have_value("all")
        # Sound is a consent of its own, off unless the owner ticks it: the next stop, left unticked.
        sound = backyard.get_by_role("checkbox", name="Share sound too")
        await tab_once_to(page, sound)
        await expect(sound).not_to_be_checked()
        # The quick time boxes, one tap each; a day says "1 day", a week "7 days" (one unit for durations).
        await expect(backyard.locator("button.quick-box")).to_have_text(
            ["1 hour", "8 hours", "1 day", "7 days", re.compile(r"^Until the pilot ends")]
        )
        start = backyard.get_by_role("button", name="Share Backyard for 1 hour")
        await tab_once_to(page, start)
        asked_at = time.time()
        await page.keyboard.press("Enter")

        # The countdown shows, counts down every second, and agrees with the hub's grant.
        countdown = backyard.locator(".countdown")
        await expect(countdown).to_be_visible(timeout=TIMEOUT_MS)
        await expect(switch).to_be_checked()
        await expect(backyard.locator(".consent-state")).to_have_attribute("data-consent", "shared")
        # The switch and its text agree: on, "Shared", with the time left.
        await expect(backyard.locator(".switch-state")).to_have_text(re.compile(r"^Shared · \d+ min \d+ s left$"))
        first = int(await countdown.get_attribute("data-seconds-left") or "-1")
        assert 3590 <= first <= 3600, first
        assert "left" in await countdown.inner_text()
        await page.wait_for_function(
            "([el, first]) => Number(el.dataset.secondsLeft) < first",
            arg=[await countdown.element_handle(), first],
            timeout=5_000,
        )
        grant = await _grant(alice, BACKYARD)
        assert grant is not None and grant["live"] and grant["agencies"] is None, grant
        assert abs(_ts(grant["ends_at"]) - (asked_at + 3600)) < 10, grant
        shown_end = await countdown.get_attribute("data-ends")
        assert shown_end is not None and abs(_ts(shown_end) - _ts(grant["ends_at"])) < 3, (shown_end, grant)
        await screenshot(page, "resident-opted-in")

        # "+1 hour": the same consent until an hour after its end.
        await backyard.get_by_role("button", name="Share Backyard for one hour more").click()
        await expect(page.locator("#status")).to_contain_text("shared for 1 hour more", timeout=TIMEOUT_MS)
        longer = await _grant(alice, BACKYARD)
        assert longer is not None and abs(_ts(longer["ends_at"]) - _ts(grant["ends_at"]) - 3600) < 10, longer
        await expect(countdown).to_have_attribute("data-ends", longer["ends_at"])

        # Stop: the same big switch, with the keyboard.
        await tab_to(page, switch)
        await page.keyboard.press("Space")
        await expect(backyard.locator(".consent-state")).to_have_attribute(
            "data-consent", "withdrawn", timeout=TIMEOUT_MS
        )
        # At once: the hub says so the moment the page does.
        grant = await _grant(alice, BACKYARD)
        assert grant is not None and grant["revoked_at"] is not None and not grant["live"], grant
        await expect(switch).not_to_be_checked()
        await expect(countdown).to_have_count(0)
        await expect(page.locator("#status")).to_contain_text("Withdrawn")
        assert await is_focused(switch)
        # The history shows both consent events.
        consent_rows = backyard.locator("table.consent-history tbody tr")
        await expect(consent_rows).to_have_count(3, timeout=TIMEOUT_MS)
        await expect(consent_rows.first).to_contain_text("You withdrew consent")
        await expect(consent_rows.nth(1)).to_contain_text("You opted in until")
        await expect(backyard.locator(".switch-state")).to_have_text("Not shared")

        # The admin ends the pilot: the open page says so and opting in is off; nothing stays shared.
        ada = await login("ada")
        status, body = await ada.call("POST", "/api/pilot/end")
        assert status == 200, body
        await expect(page.locator("#pilot")).to_have_attribute("data-pilot", "over", timeout=TIMEOUT_MS)
        await expect(page.locator("#pilot")).to_contain_text("opting in is off")
        await expect(switch).to_be_disabled()
        await expect(_section(page, FRONT).get_by_role("switch")).to_be_disabled()
        await expect(backyard.locator("form.chooser")).to_have_count(0)
        # Its consent ended with the pilot (issue 14 item 2): the page says so, and that a new pilot shares nothing.
        front_state = _section(page, FRONT).locator(".consent-state")
        await expect(front_state).to_have_attribute("data-consent", "pilot-ended")
        await expect(front_state).to_contain_text("A new pilot starts with no camera shared")


@pytest.mark.timeout(120)
async def test_sees_who_watches_live_and_the_view_in_the_history(
    hub: Hub, tokens: dict[str, str], login: Login, tmp_path: Path
) -> None:
    async with running_agent(hub, FRONT, tokens[FRONT], tmp_path), chromium() as page:
        await page.set_viewport_size(DESKTOP)
        await _open_as(page, hub, "alice")
        front = _section(page, FRONT)
        watching = front.locator(".watching")
        await expect(watching).to_contain_text("No one is watching", timeout=TIMEOUT_MS)
        await expect(front.locator(".camera-state")).to_have_attribute("data-state", "idle", timeout=TIMEOUT_MS)
        await page.evaluate("window.__sameDocument = true")

        olivia = await login("olivia")
        viewer = Viewer(olivia, FRONT)
        try:
            assert await viewer.watch(CASE, REASON) == 201, viewer.error
            await viewer.wait_frames(3, timeout=20)
            officer = watching.locator('li[data-officer="olivia"]')
            await expect(officer).to_be_visible(timeout=TIMEOUT_MS)
            for text in ("olivia", "metro-pd", CASE, "Watching since"):
                await expect(officer).to_contain_text(text)
            await expect(front.locator(".camera-state")).to_have_attribute(
                "data-state", "streaming", timeout=TIMEOUT_MS
            )
            ongoing = front.locator("table.history tr.open")
            await expect(ongoing).to_contain_text(CASE, timeout=TIMEOUT_MS)
            await expect(ongoing).to_contain_text("Still watching")
            await screenshot(page, "resident-watched")
            assert await viewer.hang_up() == 200
        finally:
            await viewer.close()

        await expect(officer).to_have_count(0, timeout=TIMEOUT_MS)
        await expect(watching).to_contain_text("No one is watching")
        row = front.locator("table.history tbody tr[data-view]").filter(has_text=CASE)
        await expect(row).to_have_attribute("data-ended-by", "viewer_left", timeout=TIMEOUT_MS)
        await expect(row).to_have_attribute("data-status", "verified")
        await expect(row.locator('td[data-label="How it ended"]')).to_have_text("The officer hung up")
        await expect(row.locator('td[data-label="Officer"]')).to_have_text("olivia")
        await expect(row.locator('td[data-label="Agency"]')).to_have_text("metro-pd")
        await expect(row.locator('td[data-label="Case number"]')).to_have_text(CASE)
        await expect(row.locator('td[data-label="Reason"]')).to_have_text(REASON)
        await expect(row.locator('td[data-label="Started"] time')).to_have_count(1)
        await expect(row.locator('td[data-label="Ended"] time')).to_have_count(1)
        await expect(row.locator('td[data-label="Duration"]')).to_have_text(
            re.compile(r"^(\d+ (s|min)|\d+ min \d+ s|less than a second)$")
        )
        # The same view on the hub's record: the page's start and end are the record's.
        alice = await login("alice")
        status, body = await alice.call("GET", f"/api/audit/records?camera={FRONT}")
        assert status == 200, body
        [ended] = [i["fields"] for i in body["records"] if i["fields"]["kind"] == "view.ended"]
        assert ended["case"] == CASE and ended["ended_by"] == "viewer_left"
        assert await row.locator('td[data-label="Started"] time').get_attribute("datetime") == ended["started"]
        assert await row.locator('td[data-label="Ended"] time').get_attribute("datetime") == ended["ended"]
        assert await page.evaluate("window.__sameDocument") is True, "the page reloaded"


@pytest.mark.timeout(120)
async def test_looks_and_accessibility_at_desktop_and_phone_width(
    hub: Hub, tokens: dict[str, str], login: Login, tmp_path: Path
) -> None:
    olivia = await login("olivia")
    async with running_agent(hub, FRONT, tokens[FRONT], tmp_path):
        viewer = Viewer(olivia, FRONT)
        try:
            assert await viewer.watch(CASE, REASON) == 201, viewer.error
            await viewer.wait_frames(3, timeout=20)
            assert await viewer.hang_up() == 200
        finally:
            await viewer.close()
    refused = Viewer(olivia, BACKYARD)
    try:
        assert await refused.watch("CASE-RES-2", "noise") == 403
    finally:
        await refused.close()

    async with chromium() as page:
        for name, size in (("desktop", DESKTOP), ("phone", PHONE)):
            await page.set_viewport_size(size)
            if name == "desktop":
                await _open_as(page, hub, "alice")
            front, backyard = _section(page, FRONT), _section(page, BACKYARD)
            await expect(page.locator("section.camera")).to_have_count(2)
            # The first screen: each camera's state, whether it is shared and for how long, who watches, and its
            # big switch; on a phone the first camera's switch and who watches it show without scrolling.
            await page.evaluate("document.querySelectorAll('details').forEach((d) => { d.open = false; })")
            if await backyard.get_by_role("button", name="Cancel").is_visible():
                await backyard.get_by_role("button", name="Cancel").click()
            await page.evaluate("window.scrollTo(0, 0)")
            await expect(front.get_by_role("switch", name=re.compile("^Share Front door with police"))).to_be_checked()
            await expect(front.locator(".switch-state")).to_contain_text("Shared ·")
            first = page.locator("section.camera").first
            for part in (".camera-state", "input[role=switch]", ".switch-state", ".watching"):
                box = await first.locator(part).bounding_box()
                assert box is not None and box["y"] + box["height"] <= size["height"], (name, part, box)
            await page.screenshot(path=str(ARTIFACTS / f"resident-{name}-first-screen.png"))
            for summary in await page.locator("details.camera-details > summary").all():
                await summary.click()
            await expect(front.locator("table.history tbody tr[data-view]")).to_have_count(1, timeout=TIMEOUT_MS)
            await expect(front.locator("tr[data-view]")).to_have_attribute("data-ended-by", "viewer_left")
            await expect(backyard.locator("tr.denied")).to_contain_text("Refused: the camera was not opted in")
            await expect(front.locator(".countdown")).to_be_visible()
            await expect(page.locator("#mfa-notice")).to_be_visible()
            masks = front.get_by_role("link", name="Privacy masks for Front door")
            assert await masks.get_attribute("href") == "/resident/masks?camera=front-door"
            # The chooser open, limited to chosen agencies: its controls are checked too.
            switch = backyard.get_by_role("switch")
            if not await switch.is_checked():
                await switch.check()
            await backyard.get_by_label("Which agencies may watch").select_option("some")
            await expect(backyard.get_by_label("Metro Police Department (metro-pd)")).to_be_visible()
            await screenshot(page, f"resident-{name}")
            if name == "phone":
                overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                assert overflow <= 0, f"the page is {overflow}px wider than a phone screen"
                # Where the camera is, from this phone's position ("Use my location"), saved for the officers' map.
                await page.context.grant_permissions(["geolocation"], origin=hub.url)
                await page.context.set_geolocation({"latitude": 51.501, "longitude": -0.142})
                await backyard.get_by_role("button", name="Use my location").click()
                await expect(backyard.get_by_label("Latitude")).to_have_value("51.501000")
                await backyard.get_by_role("button", name="Save position").click()
                await expect(page.locator("#status")).to_contain_text("Backyard's position is saved")
                status, body = await (await login("alice")).call("GET", "/api/cameras")
                assert status == 200, body
                [saved] = [c["location"] for c in body["cameras"] if c["id"] == BACKYARD]
                assert saved == {"lat": 51.501, "lon": -0.142}, saved
            assert await accessibility_problems(page) == []
