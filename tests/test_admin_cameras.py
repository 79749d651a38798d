"""The admin's camera list: `GET /api/admin/cameras` (admins only) and its table on the admin page.

A real seeded hub (second factors on) and a synthetic camera agent: the list names each camera's owner, whether
its agent is connected to this hub, whether it applies its owner's masks (the version the agent confirmed), and
its consent (live with its agencies and audio, then withdrawn), as the store and this hub's gates say; the page
shows the same in Chromium at desktop and phone width, with its accessibility checks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import expect

from tests.conftest import PASSWORDS
from tests.support.browser import chromium
from tests.support.client import Api
from tests.support.pages import accessibility_problems, code, give_totp, log_in, screenshot
from tests.support.procs import Hub, running_agent, seeded_hub, wait_until

FRONT, BACKYARD = "front-door", "backyard"
pytestmark = pytest.mark.asyncio(loop_scope="module")
SQUARE = {"points": [[0.1, 0.1], [0.4, 0.1], [0.4, 0.4], [0.1, 0.4]], "style": "black"}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def hub(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Hub]:
    """One seeded hub with second factors on, for the module."""
    async with seeded_hub(tmp_path_factory.mktemp("admin-cameras"), mfa=True) as instance:
        yield instance


async def _admin(hub: Hub) -> Api:
    secret = await give_totp(hub, "ada")
    return await Api(hub.url).login("ada", PASSWORDS["ada"], code(secret))


async def _cameras(ada: Api) -> dict[str, dict[str, Any]]:
    status, body = await ada.call("GET", "/api/admin/cameras")
    assert status == 200, body
    assert body["single_hub"] is True
    return {camera["id"]: camera for camera in body["cameras"]}


async def test_the_list_says_owner_agent_masks_and_consent(hub: Hub, tmp_path: Path) -> None:
    ada, alice = await _admin(hub), await Api(hub.url).login("alice", PASSWORDS["alice"])
    try:
        status, body = await alice.call("GET", "/api/admin/cameras")
        assert (status, body["reason"]) == (403, "wrong_role"), body

        cameras = await _cameras(ada)
        back = cameras[BACKYARD]
        assert back["owner"]["username"] == "alice"
        assert (back["status"], back["agent"]["connected"], back["agent"]["where"]) == ("offline", False, "none")
        assert back["consent"]["state"] == "none"
        assert cameras[FRONT]["consent"]["state"] == "live"
        assert cameras[FRONT]["consent"]["grant"]["agencies"] is None
        assert cameras[FRONT]["consent"]["grant"]["audio"] is False

        seeded = hub.seeded  # type: ignore[attr-defined]
        async with running_agent(hub, FRONT, seeded.tokens[FRONT], tmp_path):
            status, body = await alice.call("PUT", f"/api/cameras/{FRONT}/masks", {"masks": [SQUARE]})
            assert status == 200, body
            version = body["version"]

            async def applied() -> bool:
                front = (await _cameras(ada))[FRONT]
                return bool(front["masks"]["applied"])

            await wait_until(applied, 15, "the agent to confirm the masks")
            front = (await _cameras(ada))[FRONT]
            assert front["agent"] == {"connected": True, "where": "here", "hub": None}
            assert front["status"] == "idle"  # connected, nobody watching: it sends nothing
            assert front["masks"] == {"count": 1, "version": version, "confirmed": version, "applied": True}

            await _page(hub, "admin-cameras")

        status, body = await alice.call("DELETE", f"/api/cameras/{FRONT}/grant")
        assert status == 200, body
        front = (await _cameras(ada))[FRONT]
        assert front["consent"]["state"] == "withdrawn"
        assert front["consent"]["grant"]["revoked_at"] is not None
        assert (front["status"], front["agent"]["connected"]) == ("offline", False)
    finally:
        await ada.close()
        await alice.close()


async def _page(hub: Hub, name: str) -> None:
    """The admin page's camera table in Chromium, at desktop and phone width."""
    secret = await give_totp(hub, "ada")
    async with chromium() as page:
        page.set_default_timeout(15_000)
        await page.goto(f"{hub.url}/admin")
        await log_in(page, "ada", PASSWORDS["ada"], code(secret))
        front = page.locator(f'#camera-rows tr[data-camera="{FRONT}"]')
        await expect(front).to_contain_text("alice")
        await expect(front.locator(".camera-agent")).to_have_text("connected to this hub")
        await expect(front.locator(".camera-masks")).to_contain_text("1 mask, applied (version")
        await expect(front.locator(".camera-consent")).to_contain_text("Shared until")
        await expect(front.locator(".camera-consent")).to_contain_text("every agency; video only")
        back = page.locator(f'#camera-rows tr[data-camera="{BACKYARD}"]')
        await expect(back.locator(".camera-agent")).to_have_text("not connected")
        await expect(back.locator(".camera-consent")).to_have_text("Not shared in this pilot.")
        for label, size in (("desktop", {"width": 1280, "height": 800}), ("phone", {"width": 390, "height": 844})):
            await page.set_viewport_size(size)  # type: ignore[arg-type]
            await page.locator("#cameras-title").scroll_into_view_if_needed()
            await screenshot(page, f"{name}-{label}")
            assert await accessibility_problems(page) == [], label
