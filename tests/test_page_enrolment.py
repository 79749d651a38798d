"""Enrolment codes in Chromium (issue 14, item 6): the admin page issues one and shows it once; the officer's
first log-in asks for it before the QR code, refuses a wrong one, and enrols with the right one. A real hub with
second factors on; its API is the judge."""

from __future__ import annotations

import pyotp
import pytest
from playwright.async_api import expect

from tests.conftest import PASSWORDS
from tests.support.browser import chromium
from tests.support.client import Api
from tests.support.enrolment import keep_secret
from tests.support.pages import accessibility_problems, code, give_totp, log_in, screenshot
from tests.support.procs import Hub

PAGE_TIMEOUT_MS = 15_000


@pytest.fixture
def hub_mfa() -> bool:
    """Officers and admins log in with TOTP codes here (conftest's `hub` reads this)."""
    return True


async def test_admin_issues_a_code_and_the_officer_enrols_with_it(hub: Hub) -> None:
    secret = await give_totp(hub, "ada")
    async with chromium() as admin, chromium() as officer:
        admin.set_default_timeout(PAGE_TIMEOUT_MS)
        officer.set_default_timeout(PAGE_TIMEOUT_MS)
        await admin.goto(f"{hub.url}/admin")
        await log_in(admin, "ada", PASSWORDS["ada"], code(secret))
        row = admin.locator('#account-rows tr[data-username="olivia"]')
        await expect(row.locator(".account-mfa")).to_have_text("not enrolled")
        # Residents and enrolled accounts get no such button.
        for username in ("alice", "ada"):
            other = admin.locator(f'#account-rows tr[data-username="{username}"]')
            await expect(other.get_by_role("button", name=f"Issue enrolment code {username}")).to_have_count(0)

        await row.get_by_role("button", name="Issue enrolment code olivia").click()
        box = admin.locator("#enrolment-code-box")
        await expect(box).to_be_visible()
        await expect(admin.locator("#enrolment-code-text")).to_contain_text("olivia")
        enrolment_code = keep_secret((await admin.locator("#enrolment-code").inner_text()).strip())
        assert len(enrolment_code) == 11 and enrolment_code[5] == "-"
        await screenshot(admin, "enrolment-code-issued")
        await admin.get_by_role("button", name="Done: hide the code").click()
        await expect(box).to_be_hidden()
        await expect(admin.locator("#enrolment-code")).to_have_text("")  # shown once: the page keeps nothing

        # Olivia's first log-in: the password alone leads to the enrolment-code form, not to a QR code.
        await officer.goto(f"{hub.url}/officer")
        await log_in(officer, "olivia", PASSWORDS["olivia"])
        field = officer.get_by_label("Enrolment code")
        await expect(field).to_be_focused()
        await expect(officer.locator("#totp-secret")).to_have_count(0)
        assert await accessibility_problems(officer) == []
        await field.fill("AAAAA-AAAAA")
        await officer.get_by_role("button", name="Continue").click()
        await expect(officer.get_by_role("alert")).to_contain_text("does not work")
        await expect(officer.locator("#totp-secret")).to_have_count(0)

        await field.fill(enrolment_code.lower())  # typed loosely: case does not matter
        await officer.get_by_role("button", name="Continue").click()
        key = officer.locator("#totp-secret")
        await expect(key).to_be_visible()
        totp_secret = keep_secret((await key.inner_text()).strip())
        await officer.get_by_label("Code from the app").fill(pyotp.TOTP(totp_secret).now())
        await officer.get_by_role("button", name="Confirm").click()
        await expect(officer.locator("#enrol-title")).to_have_count(0)
        await screenshot(officer, "enrolled-with-code")

        await admin.get_by_role("button", name="Refresh accounts").click()
        await expect(row.locator(".account-mfa")).to_have_text("enrolled")

    # The hub agrees: olivia logs in with her new second factor; the code was used up.
    api = Api(hub.url)
    try:
        await api.login("olivia", PASSWORDS["olivia"], code(totp_secret, steps_ahead=1))
        status, me = await api.call("GET", "/api/me")
        assert status == 200 and me["account"]["mfa_enrolled"] is True
    finally:
        await api.close()
