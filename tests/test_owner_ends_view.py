"""A camera's owner stops one officer's view without withdrawing from everyone: from the resident page ("Stop this
view", in Chromium), the view ends at once and the officer is told "ended_by_owner"; another officer's view of the
same camera plays on and the camera stays shared; the end is on the record with the owner as its actor; the same
officer may start again. Nobody else can end a view of that camera (another owner, a view of another camera).

Real processes on loopback: the seeded hub, a synthetic camera agent, two officers' aiortc WHEP viewers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from playwright.async_api import expect

from tests.conftest import PASSWORDS
from tests.support.browser import chromium
from tests.support.client import Api, Viewer
from tests.support.pages import log_in, screenshot
from tests.support.procs import Hub, running_agent

FRONT = "front-door"
TIMEOUT_MS = 20_000
Login = Callable[[str], Awaitable[Api]]


@pytest.mark.timeout(120)
async def test_the_owner_ends_one_officers_view_and_the_other_watches_on(
    hub: Hub, tokens: dict[str, str], login: Login, tmp_path: Path
) -> None:
    olivia, sam, bob = await login("olivia"), await login("sam"), await login("bob")
    async with running_agent(hub, FRONT, tokens[FRONT], tmp_path), chromium() as page:
        first, second = Viewer(olivia, FRONT), Viewer(sam, FRONT)
        again = Viewer(olivia, FRONT)
        try:
            assert await first.watch("CASE-OWN-1", "burglary") == 201, first.error
            assert await second.watch("CASE-OWN-2", "burglary") == 201, second.error
            await first.wait_frames(3)
            await second.wait_frames(3)

            await page.set_viewport_size({"width": 390, "height": 844})
            await page.goto(f"{hub.url}/resident")
            await log_in(page, "alice", PASSWORDS["alice"])
            officer = page.locator('section[data-camera="front-door"] li[data-officer="olivia"]')
            await expect(officer).to_be_visible(timeout=TIMEOUT_MS)
            viewer_id = await officer.get_attribute("data-viewer")
            assert viewer_id

            # Nobody but the owner, and only for a view of that camera.
            status, body = await bob.call("DELETE", f"/api/cameras/{FRONT}/views/{viewer_id}")
            assert (status, body["reason"]) == (404, "not_found"), body
            alice = await login("alice")
            status, body = await alice.call("DELETE", f"/api/cameras/backyard/views/{viewer_id}")
            assert (status, body["reason"]) == (404, "view_unknown"), body
            assert not first.got_end.is_set()

            await screenshot(page, "owner-ends-view-before-phone")
            await officer.get_by_role("button", name="Stop officer olivia's view of Front door").click()
            end = await first.wait_end()
            assert end["reason"] == "ended_by_owner", end
            await expect(page.locator("#status")).to_contain_text("You ended officer olivia's view of Front door")
            await expect(officer).to_have_count(0, timeout=TIMEOUT_MS)
            await screenshot(page, "owner-ends-view-after-phone")

            # The other officer watches on; the camera stays shared.
            await second.wait_frames(len(second.stamped()) + 5)
            assert not second.got_end.is_set()
            status, body = await alice.call("GET", "/api/cameras")
            [front] = [c for c in body["cameras"] if c["id"] == FRONT]
            assert front["grant"]["live"] and [w["officer"] for w in front["watching"]] == ["sam"], front

            # On the record, the owner as its actor; the officer may start again (a new view, on the record too).
            status, body = await alice.call("GET", f"/api/audit/records?camera={FRONT}")
            ended = [r["fields"] for r in body["records"] if r["fields"]["kind"] == "session.ended"]
            assert len(ended) == 1 and ended[0]["actor"]["username"] == "alice", ended
            assert ended[0]["ended_by"] == "ended_by_owner" and ended[0]["officer"]["username"] == "olivia"
            views = [r["fields"] for r in body["records"] if r["fields"]["kind"] == "view.ended"]
            assert [v["ended_by"] for v in views] == ["ended_by_owner"], views
            assert await again.watch("CASE-OWN-1", "burglary, again") == 201, again.error
            await again.wait_frames(3)
        finally:
            for viewer in (first, second, again):
                await viewer.close()


async def test_officer_words_say_the_owner_ended_it(hub: Hub) -> None:
    """The officer's tile says it in words (officer-words.js, run in Chromium)."""
    async with chromium() as page:
        await page.goto(f"{hub.url}/officer")
        words = await page.evaluate(
            "async () => (await import('/js/officer-words.js')).endedWords('ended_by_owner', '2026-01-01T12:00:00Z')"
        )
    assert words.startswith("The owner ended your view at "), words
