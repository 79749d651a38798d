"""Never logging anyone out silently, in a real Chromium: the page warns before the session ends and "Stay logged
in" keeps it; once it has ended the log-in form says why; a withdrawal that failed for want of a log-in says it was
NOT done and is done, with no further click, right after logging in again. At phone and desktop width, with
screenshots and the pages' accessibility checks.

One seeded hub process with a short idle limit (12 s): the warning comes 4 s before the end.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from playwright.async_api import Page, Route, expect

from tests.conftest import PASSWORDS
from tests.support.browser import chromium
from tests.support.client import Api
from tests.support.pages import accessibility_problems, log_in, screenshot
from tests.support.procs import Hub

IDLE = 12
TIMEOUT_MS = 20_000
Login = Callable[[str], Awaitable[Api]]


@pytest.fixture
def hub_env() -> dict[str, str]:
    return {"PORCHLIGHT_AUTH__IDLE_SECONDS": str(IDLE)}


async def _grant(api: Api, camera: str) -> dict[str, Any] | None:
    status, body = await api.call("GET", "/api/cameras")
    assert status == 200, body
    [found] = [c for c in body["cameras"] if c["id"] == camera]
    grant: dict[str, Any] | None = found["grant"]
    return grant


async def _open(page: Page, hub: Hub, username: str) -> None:
    await page.goto(f"{hub.url}/resident")
    await log_in(page, username, PASSWORDS[username])
    await expect(page.locator("#whoami")).to_have_text(f"Logged in as {username}", timeout=TIMEOUT_MS)
    await expect(page.locator("section.camera").first).to_be_visible(timeout=TIMEOUT_MS)


@pytest.mark.timeout(120)
async def test_warned_before_the_end_kept_by_a_click_and_told_why_after(hub: Hub) -> None:
    async with chromium() as page:
        await page.set_viewport_size({"width": 1280, "height": 800})
        await _open(page, hub, "bob")  # bob shares nothing: nothing keeps his session alive but himself
        warning = page.locator("#session-warning")
        await expect(warning).to_be_visible(timeout=TIMEOUT_MS)
        await expect(warning).to_contain_text(re.compile(r"You will be logged out at \d"))
        await screenshot(page, "sessions-warning-desktop")
        assert await accessibility_problems(page) == []
        await warning.get_by_role("button", name="Stay logged in").click()
        await expect(warning).to_be_hidden()
        await expect(page.locator("#status")).to_contain_text("You stay logged in")
        # Nothing more: it warns again, then the session ends and the log-in form says why.
        await expect(warning).to_be_visible(timeout=TIMEOUT_MS)
        why = page.locator("#login-why")
        await expect(why).to_have_text(
            f"Your session ended after {IDLE} seconds without activity. Log in again to go on.", timeout=TIMEOUT_MS
        )
        await screenshot(page, "sessions-ended-idle-desktop")


@pytest.mark.timeout(120)
async def test_a_withdrawal_without_a_log_in_says_not_withdrawn_and_is_done_after_log_in(
    hub: Hub, login: Login
) -> None:
    async with chromium() as page:
        await page.set_viewport_size({"width": 390, "height": 844})

        # No live stream (a proxy that buffers it): the page learns of nothing until it acts.
        async def refuse(route: Route) -> None:
            await route.abort()

        await page.route("**/api/events", refuse)
        await _open(page, hub, "alice")
        front = page.locator('section[data-camera="front-door"]')
        switch = front.get_by_role("switch", name=re.compile("^Share Front door with police"))
        await expect(switch).to_be_checked(timeout=TIMEOUT_MS)

        # An administrator ends alice's session (disabling and enabling her account); she does not know.
        ada = await login("ada")
        status, body = await ada.call("GET", "/api/accounts")
        [alice_id] = [a["id"] for a in body["accounts"] if a["username"] == "alice"]
        for action in ("disable", "enable"):
            status, body = await ada.call("POST", f"/api/accounts/{alice_id}/{action}")
            assert status == 200, body

        await switch.click()  # stop sharing: refused for want of a log-in
        pending = page.locator(".login-pending")
        await expect(pending).to_have_text(
            "NOT withdrawn: log in to withdraw consent for Front door. It is withdrawn as soon as you log in.",
            timeout=TIMEOUT_MS,
        )
        await expect(page.locator("#login-why")).to_have_text(
            "An administrator ended your session. Log in again to go on."
        )
        grant = await _grant(ada, "front-door")
        assert grant is not None and grant["live"], grant  # really not withdrawn yet
        await screenshot(page, "sessions-not-withdrawn-phone")
        assert await accessibility_problems(page) == []

        await log_in(page, "alice", PASSWORDS["alice"])  # and nothing else
        await expect(page.locator("#status")).to_contain_text(
            "as you asked before logging in: no one can watch Front door now", timeout=TIMEOUT_MS
        )
        grant = await _grant(ada, "front-door")
        assert grant is not None and grant["revoked_at"] is not None and not grant["live"], grant
        await expect(switch).not_to_be_checked(timeout=TIMEOUT_MS)
        await expect(front.locator(".switch-state")).to_have_text("Not shared")
        await screenshot(page, "sessions-withdrawn-after-log-in-phone")
