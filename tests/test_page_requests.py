"""Officers ask, owners answer, in two real Chromium browsers: an officer asks a camera's owner for access on the
officer page; the owner sees the request at once on the resident page (an urgent one prominently) and approves it
in one tap, and the officer then watches that camera for exactly the time asked; a declined request and an
unanswered one (which expires) open nothing. Every step is on the owner's audit record.

Real processes on loopback: a hub with second factors ON, a synthetic camera agent, Debian's Chromium.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Locator, Page, ViewportSize, expect

from tests.conftest import PASSWORDS
from tests.support.browser import chromium
from tests.support.client import Api, Viewer
from tests.support.pages import accessibility_problems, code, give_totp, log_in, screenshot
from tests.support.procs import Hub, running_agent, wait_until

FRONT, BACKYARD, PORCH = "front-door", "backyard", "porch"
NAMES = {FRONT: "Front door", BACKYARD: "Backyard", PORCH: "Porch"}
PROMPT_MS = 5_000  # "promptly": a live update, not a reload
PLAY_TIMEOUT_MS = 20_000
SHORT_TTL = 8.0  # seconds an unanswered request lives here (the expiry part)
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}

DECODING_JS = """
([camera, atLeast]) => {
  const video = document.querySelector(`.tile[data-camera="${camera}"] video`);
  return !!video && video.videoWidth > 0 && video.getVideoPlaybackQuality().totalVideoFrames >= atLeast;
}
"""
FRAMES_JS = """
(camera) => document.querySelector(`.tile[data-camera="${camera}"] video`).getVideoPlaybackQuality().totalVideoFrames
"""


def hub_settings(ttl: float) -> dict[str, str]:
    """Requests expire after `ttl` seconds; the scanner that expires them runs every 0.2 s."""
    return {
        "PORCHLIGHT_CONSENT__REQUEST_TTL_SECONDS": str(ttl),
        "PORCHLIGHT_AUDIT__EXPIRY_SCAN_SECONDS": "0.2",
    }


@pytest.fixture
def hub_mfa() -> bool:
    """Officers and admins log in with TOTP codes here (conftest's `hub` reads this)."""
    return True


@pytest.fixture
def hub_env() -> dict[str, str]:
    """Short-lived requests (conftest's `hub` reads this); a test that needs time to look parametrizes it."""
    return hub_settings(SHORT_TTL)


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


async def open_officer_page(page: Page, hub: Hub, totp: str) -> None:
    await page.goto(f"{hub.url}/officer")
    await log_in(page, "olivia", PASSWORDS["olivia"], totp)
    await expect(page.locator("#whoami")).to_contain_text("olivia")
    await expect(page.locator("#no-requests, #request-list li").first).to_be_visible()


async def open_resident_page(page: Page, hub: Hub, username: str) -> None:
    await page.goto(f"{hub.url}/resident")
    await log_in(page, username, PASSWORDS[username])
    await expect(page.locator("#whoami")).to_have_text(f"Logged in as {username}")
    await expect(page.locator("#pending-requests")).to_have_attribute("aria-busy", "false")
    await page.evaluate("window.__sameDocument = true")


async def ask(page: Page, camera: str, case: str, reason: str, seconds: int, urgent: bool) -> Locator:
    """Fill and send the ask form for `camera`; the new request's item under "My requests"."""
    await page.get_by_role("button", name=f"Ask for access to {NAMES[camera]}").click()
    form = page.locator("#ask-form")
    await expect(form).to_be_visible()
    # Focus moves into the form (on the reason when the last case number is filled in already).
    assert await form.evaluate("form => form.contains(document.activeElement)")
    await form.get_by_label("Case number").fill(case)
    await form.get_by_label("Why you need to watch").fill(reason)
    await form.get_by_label("For how long").select_option(str(seconds))
    await expect(form.locator("#ask-urgent-help")).to_contain_text("no emergency bypass")
    if urgent:
        await form.get_by_label("Urgent").check()
    await form.get_by_role("button", name="Send request").click()
    await expect(form).to_have_count(0)
    mine = page.locator("#request-list li[data-request]").filter(has_text=case).first
    await expect(mine).to_have_attribute("data-state", "pending")
    await expect(mine).to_be_focused()
    return mine


async def check_accessibility(page: Page, name: str) -> None:
    """Screenshots and the accessibility check at desktop and at phone width (no sideways scrolling there)."""
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        await page.set_viewport_size(size)
        await screenshot(page, f"{name}-{label}")
        assert await accessibility_problems(page) == [], (name, label)
        if label == "phone":
            overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{name} is {overflow}px wider than a phone screen"
    await page.set_viewport_size(DESKTOP)


async def kinds(api: Api, camera: str) -> list[dict[str, Any]]:
    """The fields of the camera's access.* and consent.* records, oldest first."""
    status, body = await api.call("GET", f"/api/audit/records?camera={camera}")
    assert status == 200, body
    items = sorted(body["records"], key=lambda item: item["seq"])
    return [item["fields"] for item in items if item["fields"]["kind"].startswith(("access.", "consent."))]


async def refused(api: Api, camera: str) -> str:
    """A WHEP request for `camera` is refused with 403; its reason."""
    viewer = Viewer(api, camera)
    try:
        assert await viewer.watch("C-REFUSED", "must not open") == 403, viewer.error
    finally:
        await viewer.close()
    assert viewer.error is not None
    return str(viewer.error["reason"])


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@pytest.mark.parametrize("hub_env", [hub_settings(120)], ids=["ttl-120s"])
async def test_ask_urgently_owner_approves_and_officer_watches(
    hub: Hub, tokens: dict[str, str], clients: list[Api], tmp_path: Path
) -> None:
    case, reason = "C-2024-0417", "Prowler seen in the back gardens"
    secret = await give_totp(hub, "olivia")
    alice = await api_login(hub, clients, "alice")
    async with (
        running_agent(hub, BACKYARD, tokens[BACKYARD], tmp_path),
        chromium() as officer,
        chromium() as resident,
    ):
        await resident.set_viewport_size(DESKTOP)
        await officer.set_viewport_size(DESKTOP)
        await open_resident_page(resident, hub, "alice")
        await expect(resident.locator("#pending-requests")).to_contain_text("No officer is waiting")
        await open_officer_page(officer, hub, code(secret))

        # Backyard is not opted in: it is offered for asking, not for watching; front door is the other way round.
        await expect(officer.locator(f'#ask-list li[data-ask="{BACKYARD}"]')).to_be_visible()
        await expect(officer.locator(f'#ask-list li[data-ask="{FRONT}"]')).to_have_count(0)
        await expect(officer.locator(f'#camera-list li[data-camera="{BACKYARD}"]')).to_have_count(0)
        mine = await ask(officer, BACKYARD, case, reason, 15 * 60, urgent=True)
        await expect(mine).to_contain_text("Waiting for the owner's answer")
        left = mine.locator(".request-left")
        await expect(left).to_have_text(re.compile(r"^\d+ min \d\d s$"))
        first = await left.inner_text()
        await expect(left).not_to_have_text(first, timeout=3_000)  # a live countdown
        await expect(officer.locator(f'#ask-list li[data-ask="{BACKYARD}"]')).to_contain_text("waiting")

        # Alice's open page shows it promptly, without a reload, marked urgent and announced.
        pending = resident.locator("#pending-requests li[data-request]")
        await expect(pending).to_have_count(1, timeout=PROMPT_MS)
        await expect(pending).to_have_class(re.compile(r"\burgent\b"))
        for text in ("Urgent", "olivia", "metro-pd", case, reason, "15 minutes", "Backyard"):
            await expect(pending).to_contain_text(text)
        await expect(pending.locator(".request-left")).to_have_text(re.compile(r"^\d+ min \d\d s$"))
        alert = resident.locator("#request-alert")
        await expect(alert).to_have_attribute("role", "alert")
        await expect(alert).to_contain_text("Urgent request: officer olivia")

        await check_accessibility(officer, "requests-officer-pending")
        await check_accessibility(resident, "requests-resident-pending")

        # One tap approves; the request moves to "Earlier requests".
        await resident.get_by_role("button", name="Approve olivia's request for Backyard").click()
        await expect(pending).to_have_count(0)
        earlier = resident.locator("#earlier-requests li[data-request]")
        await expect(earlier.first).to_have_attribute("data-state", "approved")
        await expect(resident.locator("#status")).to_contain_text("You approved the request of officer olivia")
        await expect(alert).to_be_empty()
        switch = resident.get_by_role("switch", name="Share Backyard with police")
        await expect(switch).to_be_checked()  # the grant shows as any sharing, with its Withdraw button

        # Olivia's page says so and lists backyard as watchable; she watches it.
        await expect(mine).to_have_attribute("data-state", "approved", timeout=PROMPT_MS)
        await expect(mine).to_contain_text("Approved by the owner at")
        await expect(officer.locator(f'#camera-list li[data-camera="{BACKYARD}"]')).to_be_visible(timeout=PROMPT_MS)
        await expect(officer.locator(f'#ask-list li[data-ask="{BACKYARD}"]')).to_have_count(0)
        await officer.get_by_role("button", name=f"Watch {NAMES[BACKYARD]}", exact=True).click()
        await officer.get_by_label("Reason for watching").fill(reason)
        await expect(officer.get_by_label("Case number")).to_have_value(case)
        await officer.get_by_role("button", name=f"Start watching {NAMES[BACKYARD]}").click()
        tile = officer.locator(f'.tile[data-camera="{BACKYARD}"]')
        await expect(tile).to_have_attribute("data-state", "playing", timeout=PLAY_TIMEOUT_MS)
        await officer.wait_for_function(DECODING_JS, arg=[BACKYARD, 1], timeout=PLAY_TIMEOUT_MS)
        seen = int(await officer.evaluate(FRAMES_JS, BACKYARD))
        await officer.wait_for_function(DECODING_JS, arg=[BACKYARD, seen + 10], timeout=PLAY_TIMEOUT_MS)
        assert await resident.evaluate("window.__sameDocument") is True, "the resident page reloaded"

    # The grant is exactly what was asked: olivia's agency, 15 minutes.
    status, body = await alice.call("GET", "/api/cameras")
    assert status == 200, body
    [grant] = [camera["grant"] for camera in body["cameras"] if camera["id"] == BACKYARD]
    assert grant["agencies"] == ["metro-pd"], grant
    assert abs(_ts(grant["ends_at"]) - _ts(grant["starts_at"]) - 900) <= 1, grant

    # On the record: asked, approved, then granted, with the case number.
    records = await kinds(alice, BACKYARD)
    order = [fields["kind"] for fields in records]
    asked, approved = order.index("access.requested"), order.index("access.approved")
    assert asked < approved < order.index("consent.granted", approved), order
    assert records[asked]["case"] == case and records[asked]["urgent"] is True, records[asked]
    assert records[approved]["case"] == case and records[approved]["duration_seconds"] == 900, records[approved]
    assert records[asked]["actor"]["username"] == "olivia", records[asked]


async def test_declined_and_unanswered_requests_open_nothing(hub: Hub, clients: list[Api]) -> None:
    secret = await give_totp(hub, "olivia")
    olivia = await api_login(hub, clients, "olivia", code(secret))
    ada = await api_login(hub, clients, "ada", code(await give_totp(hub, "ada")))
    status, body = await ada.call("PUT", "/api/policy", {"max_grant_seconds": 3600})
    assert status == 200, body
    bob = await api_login(hub, clients, "bob")
    alice = await api_login(hub, clients, "alice")

    async with chromium() as officer, chromium() as resident:
        await officer.set_viewport_size(DESKTOP)
        await resident.set_viewport_size(DESKTOP)
        await open_officer_page(officer, hub, code(secret, 1))  # a code is never accepted twice

        # The admin's cap of an hour: longer durations are shown but cannot be chosen.
        await officer.get_by_role("button", name=f"Ask for access to {NAMES[PORCH]}").click()
        durations = officer.locator("#ask-form").get_by_label("For how long")
        for seconds, enabled in ((900, True), (3600, True), (4 * 3600, False), (8 * 3600, False)):
            option = durations.locator(f'option[value="{seconds}"]')
            await (expect(option).to_be_enabled() if enabled else expect(option).to_be_disabled())
        await screenshot(officer, "requests-officer-ask-form")
        await officer.get_by_role("button", name="Cancel").click()
        await expect(officer.get_by_role("button", name=f"Ask for access to {NAMES[PORCH]}")).to_be_focused()

        # Declined (bob answers through the API): the officer's page says so; the camera stays closed.
        mine = await ask(officer, PORCH, "C-DECLINE-1", "Parcel theft follow-up", 3600, urgent=False)
        status, body = await bob.call("GET", "/api/requests")
        assert status == 200, body
        [request] = [r for r in body["requests"] if r["state"] == "pending"]
        assert (request["camera"], request["officer"], request["urgent"]) == (PORCH, "olivia", False), request
        status, body = await bob.call("POST", f"/api/requests/{request['id']}/decline")
        assert status == 200 and body["request"]["state"] == "declined", body
        status, body = await bob.call("POST", f"/api/requests/{request['id']}/approve")
        assert status == 409, body  # answered already
        await expect(mine).to_have_attribute("data-state", "declined", timeout=PROMPT_MS)
        await expect(mine).to_contain_text("Declined by the owner at")
        assert await refused(olivia, PORCH) == "no_grant"
        assert "access.declined" in [fields["kind"] for fields in await kinds(bob, PORCH)]

        # Unanswered: alice's page shows it, nobody answers, and both pages show it expired.
        await open_resident_page(resident, hub, "alice")
        mine = await ask(officer, BACKYARD, "C-EXPIRE-1", "Check the garden", 900, urgent=False)
        pending = resident.locator("#pending-requests li[data-request]")
        await expect(pending).to_have_count(1, timeout=PROMPT_MS)
        await expect(pending).not_to_have_class(re.compile(r"\burgent\b"))
        await expect(resident.locator("#request-alert")).to_be_empty()
        await expect(resident.locator("#status")).to_contain_text("New request: officer olivia")
        expiry_ms = int((SHORT_TTL + 5) * 1000)
        await expect(mine).to_have_attribute("data-state", "expired", timeout=expiry_ms)
        await expect(mine).to_contain_text("the owner did not answer in time")
        await expect(pending).to_have_count(0, timeout=expiry_ms)
        earlier = resident.locator("#earlier-requests li[data-request]").first
        await expect(earlier).to_have_attribute("data-state", "expired")
        await expect(earlier).to_contain_text("C-EXPIRE-1")
        assert await resident.evaluate("window.__sameDocument") is True, "the resident page reloaded"
        await screenshot(officer, "requests-officer-expired")
        await screenshot(resident, "requests-resident-expired")
        # The officer may ask again once it expired.
        await expect(officer.get_by_role("button", name=f"Ask for access to {NAMES[BACKYARD]}")).to_be_visible()

    assert await refused(olivia, BACKYARD) == "no_grant"
    status, body = await alice.call("POST", f"/api/requests/{await _last_id(alice)}/approve")
    assert status == 409, body  # too late

    async def expired_on_record() -> bool:
        return any(f["kind"] == "access.expired" and f["case"] == "C-EXPIRE-1" for f in await kinds(alice, BACKYARD))

    await wait_until(expired_on_record, 5, "the access.expired record")


async def _last_id(api: Api) -> int:
    status, body = await api.call("GET", "/api/requests")
    assert status == 200, body
    return int(body["requests"][0]["id"])
