"""An admin ends an officer's live view with a reason: the reason is required and capped, reaches the officer's page
(her tile says "Ended by an administrator: <reason>") through the session's WHEP `end` event, and is on the
session.ended record.

Real processes: a seeded hub with second factors on, a synthetic camera agent, the officer's page in Chromium.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import expect

from tests.conftest import PASSWORDS
from tests.support.browser import chromium
from tests.support.client import Api
from tests.support.pages import code, give_totp, screenshot
from tests.support.procs import Hub, running_agent, seeded_hub, wait_until
from tests.test_page_officer import open_officer_page, start_watching

pytestmark = pytest.mark.asyncio(loop_scope="module")
FRONT = "front-door"
REASON = "Wrong camera for case C-7: watch the corner shop's instead"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def hub(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Hub]:
    """One seeded hub with second factors on, for the module."""
    async with seeded_hub(tmp_path_factory.mktemp("end-view-reason"), mfa=True) as instance:
        yield instance


@pytest_asyncio.fixture(loop_scope="module")
async def ada(hub: Hub) -> AsyncIterator[Api]:
    secret = await give_totp(hub, "ada")
    api = await Api(hub.url).login("ada", PASSWORDS["ada"], code(secret))
    try:
        yield api
    finally:
        await api.close()


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ({}, "missing"),
        ({"reason": "   "}, "blank"),
        ({"reason": "x" * 201}, "over 200 characters"),
        ({"reason": "case \u202e7-C"}, "a text-direction override"),
        ({"reason": 7}, "not text"),
    ],
)
async def test_a_reason_is_required_and_capped(ada: Api, body: dict[str, object], why: str) -> None:
    status, answer = await ada.call("DELETE", "/api/live/no-such-view", body)
    assert (status, answer["reason"]) == (400, "bad_reason"), why
    assert answer["message"].startswith("reason"), answer  # the page puts it next to the reason's field


async def test_the_officer_page_says_why_and_the_record_keeps_it(hub: Hub, ada: Api, tmp_path: Path) -> None:
    seeded = hub.seeded  # type: ignore[attr-defined]
    async with running_agent(hub, FRONT, seeded.tokens[FRONT], tmp_path), chromium() as page:
        page.set_default_timeout(20_000)
        await open_officer_page(page, hub)
        await start_watching(page, FRONT, "C-7", "a look at the street")
        status, body = await ada.call("GET", "/api/live")
        assert status == 200, body
        [view] = body["views"]

        status, body = await ada.call("DELETE", f"/api/live/{view['id']}", {"reason": REASON})
        assert status == 200, body
        tile = page.locator(f'.tile[data-camera="{FRONT}"]')
        await expect(tile).to_contain_text(f"Ended by an administrator: {REASON}", timeout=15_000)
        await expect(tile).to_have_attribute("data-state", "ended")
        await screenshot(page, "officer-ended-by-admin-desktop")
        await page.set_viewport_size({"width": 390, "height": 844})
        await screenshot(page, "officer-ended-by-admin-phone")

    async def recorded() -> bool:
        status, body = await ada.call("GET", "/api/audit/records?kind=session.ended")
        return status == 200 and len(body["records"]) == 1

    await wait_until(recorded, 10, "the session.ended record")
    status, body = await ada.call("GET", "/api/audit/records?kind=session.ended")
    [fields] = [item["fields"] for item in body["records"]]
    assert fields["reason"] == REASON
    assert (fields["officer"]["username"], fields["camera"], fields["actor"]["username"]) == ("olivia", FRONT, "ada")
