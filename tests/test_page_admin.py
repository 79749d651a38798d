"""The admin page in Chromium, against a real hub with second factors ON.

An officer watches a real camera (a synthetic agent and an aiortc WHEP viewer) while the admin page, logged in with
a TOTP code, shows her view live, disables her account or ends her session; the pilot window is extended and ended
through the page's forms and confirmations; accounts are created, are never locked by failed log-ins (there is
nothing to unlock) and have their second factor reset. The hub's own API is the judge of every change.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Locator, Page, ViewportSize, expect

from hub.demo import Seeded
from hub.timefmt import parse_time
from tests.conftest import PASSWORDS
from tests.support.browser import chromium
from tests.support.client import Api, Viewer
from tests.support.pages import accessibility_problems, code, give_totp, log_in, screenshot
from tests.support.procs import Hub, running_agent

FRONT = "front-door"
CASE, REASON = "C-2024-117", "burglary in progress"
END_REASON = "Case C-2024-117 closed: the suspect is in custody"
PAGE_TIMEOUT_MS = 15_000
PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1280, "height": 900}

# A time (Unix ms) as a datetime-local value in the browser's own time zone.
LOCAL_INPUT_JS = """
(ms) => {
  const d = new Date(ms);
  const two = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())}T` +
    `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}
"""


@pytest.fixture
def hub_mfa() -> bool:
    """Officers and admins log in with TOTP codes here (conftest's `hub` reads this)."""
    return True


def _tokens(hub: Hub) -> dict[str, str]:
    seeded: Seeded = hub.seeded  # type: ignore[attr-defined]
    return seeded.tokens


@contextlib.asynccontextmanager
async def admin_page(hub: Hub) -> AsyncIterator[Page]:
    """Chromium on /admin, logged in as ada with her code, with the accounts table filled."""
    secret = await give_totp(hub, "ada")
    async with chromium() as page:
        page.set_default_timeout(PAGE_TIMEOUT_MS)
        await page.goto(f"{hub.url}/admin")
        await log_in(page, "ada", PASSWORDS["ada"], code(secret))
        await expect(account_row(page, "ada")).to_be_visible()
        yield page


@contextlib.asynccontextmanager
async def officer(hub: Hub, username: str = "olivia") -> AsyncIterator[Api]:
    """An API client logged in as an officer with a fresh second factor."""
    secret = await give_totp(hub, username)
    api = Api(hub.url)
    try:
        yield await api.login(username, PASSWORDS[username], code(secret))
    finally:
        await api.close()


@contextlib.asynccontextmanager
async def admin_api(hub: Hub) -> AsyncIterator[Api]:
    """An API client logged in as ada with a fresh second factor."""
    secret = await give_totp(hub, "ada")
    api = Api(hub.url)
    try:
        yield await api.login("ada", PASSWORDS["ada"], code(secret))
    finally:
        await api.close()


@contextlib.asynccontextmanager
async def watching(api: Api) -> AsyncIterator[Viewer]:
    """A real WHEP view of the front door that has played a few frames."""
    viewer = Viewer(api, FRONT)
    try:
        assert await viewer.watch(CASE, REASON) == 201, viewer.error
        await viewer.wait_frames(3, timeout=20)
        yield viewer
    finally:
        await viewer.close()


def account_row(page: Page, username: str) -> Locator:
    return page.locator(f'#account-rows tr[data-username="{username}"]')


def live_row(page: Page, username: str) -> Locator:
    return page.locator(f'#live-rows tr[data-officer="{username}"]')


@contextlib.asynccontextmanager
async def resident(hub: Hub) -> AsyncIterator[Api]:
    """Alice's API client: any logged-in account reads the pilot, and a resident needs no second factor."""
    api = Api(hub.url)
    try:
        yield await api.login("alice", PASSWORDS["alice"])
    finally:
        await api.close()


async def _pilot(api: Api) -> dict[str, Any]:
    """GET /api/pilot: {pilot, policy}."""
    status, body = await api.call("GET", "/api/pilot")
    assert status == 200, body
    assert isinstance(body, dict)
    return body


async def _check_page(page: Page, name: str) -> None:
    """Screenshot and accessibility check at desktop width, then at phone width."""
    await page.set_viewport_size(DESKTOP)
    await screenshot(page, f"{name}-desktop")
    assert await accessibility_problems(page) == []
    await page.set_viewport_size(PHONE)
    await screenshot(page, f"{name}-phone")
    assert await accessibility_problems(page) == []
    await page.set_viewport_size(DESKTOP)


async def test_disabling_an_officer_ends_her_view(hub: Hub, tmp_path: Path) -> None:
    hub = hub
    async with (
        officer(hub) as olivia,
        running_agent(hub, FRONT, _tokens(hub)[FRONT], tmp_path),
        admin_page(hub) as page,
        watching(olivia) as viewer,
    ):
        # Her view shows up without a reload.
        row = live_row(page, "olivia")
        await expect(row).to_contain_text(CASE)
        await expect(row).to_contain_text(FRONT)
        await expect(row).to_contain_text("metro-pd")

        began = time.time()
        await account_row(page, "olivia").get_by_role("button", name="Disable olivia").click()
        dialog = page.locator("#confirm")
        await expect(dialog).to_contain_text("ends this person's live views at once")
        await dialog.get_by_role("button", name="Disable olivia").click()

        event = await viewer.wait_end()
        assert (event["type"], event["reason"]) == ("end", "account_disabled")
        cut = parse_time(event["at"])
        assert began - 1 <= cut <= time.time()
        await asyncio.wait_for(viewer.track_ended.wait(), 10)
        late = [stamp for stamp in viewer.stamped() if stamp >= cut * 1000]
        assert not late, f"{len(late)} frames captured after the account was disabled reached the viewer"

        status, body = await olivia.call("GET", "/api/me")
        assert status == 401, body

        await expect(account_row(page, "olivia").locator(".account-state")).to_have_text("disabled")
        await expect(page.locator("#status")).to_contain_text("olivia is disabled")
        await expect(page.locator("#live-empty")).to_be_visible()
        await expect(row).to_have_count(0)


async def test_pilot_window_and_ending_it(hub: Hub) -> None:
    hub = hub
    async with resident(hub) as alice, admin_page(hub) as page:
        before = await _pilot(alice)
        assert before["pilot"]["state"] == "running"
        target = int(parse_time(before["pilot"]["ends_at"])) + 3 * 86400
        await expect(page.locator("#pilot-state")).to_contain_text("Running")
        await page.get_by_label("Pilot ends").fill(await page.evaluate(LOCAL_INPUT_JS, target * 1000))
        await page.get_by_role("button", name="Save pilot window").click()
        await expect(page.locator("#status")).to_contain_text("Pilot window saved")
        after = await _pilot(alice)
        assert parse_time(after["pilot"]["ends_at"]) == target
        assert abs(parse_time(after["pilot"]["starts_at"]) - parse_time(before["pilot"]["starts_at"])) < 1
        assert after["pilot"]["state"] == "running"

        # The consent cap is never longer than the pilot: the form says so next to its field, and so does the hub.
        length_days = (target - parse_time(before["pilot"]["starts_at"])) / 86400
        amount = page.get_by_label("Maximum consent time box")
        await amount.fill(str(int(length_days) + 2))
        await page.get_by_label("Unit").select_option(label="days")
        await page.get_by_role("button", name="Save maximum").click()
        await expect(page.locator("#policy-amount-error")).to_contain_text("At most the pilot's length")
        await expect(amount).to_have_attribute("aria-invalid", "true")
        await expect(amount).to_be_focused()
        async with admin_api(hub) as ada:
            status, body = await ada.call("PUT", "/api/policy", {"max_grant_seconds": (length_days + 1) * 86400})
            assert (status, body["reason"]) == (400, "bad_policy"), body
            assert body["message"].startswith("max_grant_seconds:")

        # The consent cap, in days.
        await page.get_by_label("Maximum consent time box").fill("2")
        await page.get_by_label("Unit").select_option(label="days")
        await page.get_by_role("button", name="Save maximum").click()
        await expect(page.locator("#policy-now")).to_have_text("2 days")
        assert (await _pilot(alice))["policy"]["max_grant_seconds"] == 2 * 86400
        await expect(amount).not_to_have_attribute("aria-invalid", "true")

        # A pilot window shorter than the cap lowers the cap to the window's length, and the page says so.
        starts = parse_time(after["pilot"]["starts_at"])
        await page.get_by_label("Pilot ends").fill(await page.evaluate(LOCAL_INPUT_JS, (starts + 86400) * 1000))
        await page.get_by_role("button", name="Save pilot window").click()
        await expect(page.locator("#status")).to_contain_text("The longest opt-in is lowered to the pilot's length")
        await expect(page.locator("#policy-now")).to_have_text("1 day")
        after = await _pilot(alice)
        assert after["policy"]["max_grant_seconds"] == 86400

        # Asked first; the dialog opens on Cancel, and Enter there cancels: nothing changes.
        dialog = page.locator("#confirm")
        await page.get_by_role("button", name="End the pilot now").click()
        await expect(dialog).to_be_visible()
        await expect(dialog).to_contain_text("Every live view ends at once")
        await expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
        await page.keyboard.press("Enter")
        await expect(dialog).to_be_hidden()
        await expect(page.locator("#status")).to_have_text("The pilot was not ended.")
        unchanged = await _pilot(alice)
        assert unchanged["pilot"] == after["pilot"]

        await page.get_by_role("button", name="End the pilot now").click()
        await dialog.get_by_role("button", name="Yes, end the pilot now").click()
        await expect(page.locator("#pilot-state")).to_contain_text("Over")
        await expect(page.locator("#status")).to_contain_text("The pilot is over")
        ended = await _pilot(alice)
        assert ended["pilot"]["state"] == "over"
        assert parse_time(ended["pilot"]["ends_at"]) <= time.time()


async def test_accounts_create_never_locked_reset(hub: Hub) -> None:
    hub = hub
    await give_totp(hub, "olivia")
    async with admin_page(hub) as page:
        # An agency, then an officer in it.
        await page.get_by_label("Agency id").fill("harbor-pd")
        await page.get_by_label("Agency name").fill("Harbor Police")
        await page.get_by_role("button", name="Add agency").click()
        await expect(page.locator("#agency-rows")).to_contain_text("Harbor Police")

        await page.locator("#new-username").fill("oscar")
        await page.locator("#new-password").fill("oscar-pass-1")
        await page.get_by_label("Role").select_option("officer")
        await page.get_by_label("Agency", exact=True).select_option("harbor-pd")
        await page.get_by_role("button", name="Create account").click()
        await expect(page.locator("#status")).to_have_text("Account oscar created.")
        oscar = account_row(page, "oscar")
        await expect(oscar).to_contain_text("harbor-pd")
        await expect(oscar.locator(".account-state")).to_have_text("active")
        await expect(oscar.locator(".account-mfa")).to_have_text("not enrolled")

        # Wrong passwords (more than once used to lock it) lock nothing: the page has no locked state, no unlock.
        async with aiohttp.ClientSession() as http:
            for _ in range(6):
                body = {"username": "oscar", "password": "not-the-password"}
                async with http.post(f"{hub.url}/api/login", json=body) as response:
                    assert response.status == 401, await response.text()
            await page.get_by_role("button", name="Refresh accounts").click()
            await expect(oscar.locator(".account-state")).to_have_text("active")
            await expect(oscar.get_by_role("button", name="Unlock oscar")).to_have_count(0)

            body = {"username": "oscar", "password": "oscar-pass-1"}
            async with http.post(f"{hub.url}/api/login", json=body) as response:
                assert response.status == 200, await response.text()
                assert (await response.json())["mfa"] == "enrol"

        # Olivia lost her phone.
        olivia = account_row(page, "olivia")
        await expect(olivia.locator(".account-mfa")).to_have_text("enrolled")
        await olivia.get_by_role("button", name="Reset second factor of olivia").click()
        dialog = page.locator("#confirm")
        await expect(dialog).to_contain_text("next log-in")
        await dialog.get_by_role("button", name="Reset second factor").click()
        await expect(olivia.locator(".account-mfa")).to_have_text("not enrolled")
        await expect(page.locator("#status")).to_contain_text("olivia's second factor is reset")


async def test_end_a_live_session(hub: Hub, tmp_path: Path) -> None:
    hub = hub
    async with (
        officer(hub) as olivia,
        running_agent(hub, FRONT, _tokens(hub)[FRONT], tmp_path),
        admin_page(hub) as page,
        watching(olivia) as viewer,
    ):
        row = live_row(page, "olivia")
        await expect(row).to_contain_text(CASE)
        await expect(page.locator("#m-viewers")).to_have_text("1")
        await expect(page.locator("#health-ready")).to_have_text("ready")
        await _check_page(page, "admin")

        # Ending asks for a reason: Cancel ends nothing; an empty reason is refused next to its field.
        end = row.get_by_role("button", name="End olivia's session on front-door")
        dialog = page.locator("#reason-dialog")
        await end.click()
        await expect(dialog).to_be_visible()
        reason = dialog.get_by_label("Reason")
        await expect(reason).to_be_focused()
        await dialog.get_by_role("button", name="Cancel").click()
        await expect(dialog).to_be_hidden()
        await expect(page.locator("#status")).to_contain_text("olivia's view of front-door goes on")
        await expect(row).to_have_count(1)
        await end.click()
        await dialog.get_by_role("button", name="End the view").click()
        await expect(page.locator("#reason-text-error")).to_contain_text("Enter a reason")
        await expect(reason).to_have_attribute("aria-invalid", "true")
        await expect(reason).to_have_attribute("aria-describedby", re.compile("reason-text-error"))
        await _check_dialog(page, "admin-end-reason")
        await reason.fill(END_REASON)
        await dialog.get_by_role("button", name="End the view").click()

        event = await viewer.wait_end()
        assert (event["type"], event["reason"], event.get("note")) == ("end", "ended_by_admin", END_REASON)
        await expect(page.locator("#status")).to_contain_text("Ended olivia's view of front-door")
        await expect(page.locator("#live-empty")).to_be_visible()
        await expect(dialog).to_be_hidden()

    # The reason is on the record, with the officer whose view it was.
    async with admin_api(hub) as ada:
        status, body = await ada.call("GET", "/api/audit/records?kind=session.ended")
        assert status == 200, body
        [ended] = [item["fields"] for item in body["records"]]
        assert (ended["reason"], ended["officer"]["username"], ended["camera"]) == (END_REASON, "olivia", FRONT)


async def _check_dialog(page: Page, name: str) -> None:
    """Screenshots of an open dialog at desktop and phone width (the Tab check runs on the page behind it)."""
    await page.set_viewport_size(DESKTOP)
    await screenshot(page, f"{name}-desktop")
    await page.set_viewport_size(PHONE)
    await screenshot(page, f"{name}-phone")
    await page.set_viewport_size(DESKTOP)
