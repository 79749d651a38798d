"""The admin's audit viewer: records filtered by camera, officer, kind and time on the hub (`GET /api/audit/records`
with `officer`, `kind`, `from`, `to`), and checked in Chromium before they are shown: each record's signature, its
inclusion proof against the signed checkpoint of its page, and that its signed fields match the filter. A record
altered on its way to the page (the hub's answer changed in flight) is shown FAILED, as is one that does not match.

A real seeded hub (second factors on); its seed and the log-ins here write the records.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Page, Route, expect

from hub.timefmt import iso
from tests.conftest import PASSWORDS
from tests.support.browser import chromium
from tests.support.client import Api
from tests.support.pages import accessibility_problems, code, give_totp, log_in, screenshot
from tests.support.procs import Hub, seeded_hub

pytestmark = pytest.mark.asyncio(loop_scope="module")
FRONT = "front-door"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def hub(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Hub]:
    """One seeded hub with second factors on, for the module; olivia has logged in once (a login.ok of hers)."""
    async with seeded_hub(tmp_path_factory.mktemp("admin-audit"), mfa=True) as instance:
        await _write_records(instance)
        yield instance


async def _write_records(hub: Hub) -> None:
    """Records of several kinds (the seed writes none): log-ins, an agency, two accounts, the policy, and alice's
    camera shared, withdrawn and shared again."""
    secret = await give_totp(hub, "olivia")
    olivia = await Api(hub.url).login("olivia", PASSWORDS["olivia"], code(secret))
    await olivia.close()
    secret = await give_totp(hub, "ada")
    ada = await Api(hub.url).login("ada", PASSWORDS["ada"], code(secret))
    alice = await Api(hub.url).login("alice", PASSWORDS["alice"])
    try:
        calls = [
            (ada, "POST", "/api/agencies", {"id": "harbor-pd", "name": "Harbor Police"}),
            (ada, "POST", "/api/accounts", {"username": "hank", "password": "hank-pass-1", "role": "officer",
                                            "agency": "harbor-pd"}),
            (ada, "POST", "/api/accounts", {"username": "rita", "password": "rita-pass-1", "role": "resident"}),
            (ada, "PUT", "/api/policy", {"max_grant_seconds": 2 * 86400}),
            (alice, "DELETE", f"/api/cameras/{FRONT}/grant", None),
            (alice, "POST", f"/api/cameras/{FRONT}/grant", {"duration_seconds": 3600}),
        ]  # fmt: skip
        for api, method, path, body in calls:
            status, answer = await api.call(method, path, body)
            assert status in (200, 201), (path, answer)
    finally:
        await ada.close()
        await alice.close()


@pytest_asyncio.fixture(loop_scope="module")
async def ada(hub: Hub) -> AsyncIterator[Api]:
    secret = await give_totp(hub, "ada")
    api = await Api(hub.url).login("ada", PASSWORDS["ada"], code(secret, 1))
    try:
        yield api
    finally:
        await api.close()


async def _records(api: Api, query: str) -> tuple[list[dict[str, Any]], Any]:
    status, body = await api.call("GET", f"/api/audit/records?{query}")
    assert status == 200, body
    return [item["fields"] for item in body["records"]], body["next"]


async def test_the_hub_filters_by_officer_kind_time_and_camera(hub: Hub, ada: Api) -> None:
    everything, _ = await _records(ada, "")
    assert len(everything) > 5

    mine, _ = await _records(ada, "officer=olivia")
    assert mine and all("olivia" in {(f.get("actor") or {}).get("username")} for f in mine)
    assert {f["kind"] for f in mine} >= {"login.ok"}

    consent, _ = await _records(ada, f"kind=consent.*&camera={FRONT}")
    assert consent and all(f["kind"].startswith("consent.") and f["camera"] == FRONT for f in consent)
    exact, _ = await _records(ada, "kind=consent.granted")
    assert exact and {f["kind"] for f in exact} == {"consent.granted"}

    middle = everything[len(everything) // 2]["time"]
    later, _ = await _records(ada, f"from={middle}")
    earlier, _ = await _records(ada, f"to={middle}")
    assert later and earlier
    assert all(f["time"] >= middle for f in later) and all(f["time"] < middle for f in earlier)
    assert not (await _records(ada, f"from={iso(time.time() + 3600)}"))[0]

    # A page of one: the cursor goes on from the record given.
    first, cursor = await _records(ada, "kind=account.*&limit=1")
    assert len(first) == 1 and cursor == first[0]["seq"]
    second, _ = await _records(ada, f"kind=account.*&limit=1&after={cursor}")
    assert second[0]["seq"] > cursor and second[0]["kind"].startswith("account.")

    refused = [("kind=view.looked", "bad_kind"), ("from=yesterday", "bad_from"), ("from=100&to=50", "bad_to")]
    for query, reason in refused:
        status, body = await ada.call("GET", f"/api/audit/records?{query}")
        assert (status, body["reason"]) == (400, reason), query

    alice = await Api(hub.url).login("alice", PASSWORDS["alice"])
    try:
        status, body = await alice.call("GET", f"/api/audit/records?camera={FRONT}&kind=view.*")
        assert (status, body["reason"]) == (403, "wrong_role"), body  # filters are for admins
    finally:
        await alice.close()


async def _open(page: Page, hub: Hub) -> None:
    secret = await give_totp(hub, "ada")
    await page.goto(f"{hub.url}/admin")
    await log_in(page, "ada", PASSWORDS["ada"], code(secret))
    await expect(page.locator('#audit-officer option[value="olivia"]')).to_have_count(1)
    await expect(page.locator(f'#audit-camera option[value="{FRONT}"]')).to_have_count(1)


async def test_the_page_shows_only_verified_matching_records(hub: Hub) -> None:
    async with chromium() as page:
        page.set_default_timeout(15_000)
        await _open(page, hub)
        await page.get_by_label("Officer").select_option("olivia")
        await page.get_by_label("Kind").select_option("login.ok")
        await page.get_by_role("button", name="Show records").click()
        rows = page.locator("#audit-rows tr")
        await expect(page.locator("#audit-summary")).to_contain_text("All 1 verified")
        await expect(rows).to_have_count(1)
        await expect(rows.first).to_have_attribute("data-status", "verified")
        await expect(rows.first).to_contain_text("olivia (officer, metro-pd)")

        # A camera and a family: every consent record of the front door, each verified.
        await page.get_by_role("button", name="Clear the filter").click()
        await page.get_by_label("Camera", exact=True).select_option(FRONT)
        await page.get_by_label("Kind").select_option("consent.*")
        await page.get_by_role("button", name="Show records").click()
        await expect(page.locator("#audit-summary")).to_contain_text(f"matching camera {FRONT}, kind consent.*")
        await expect(page.locator("#audit-summary")).to_contain_text("verified")
        assert await rows.count() >= 1
        for status in await rows.evaluate_all("rows => rows.map((r) => r.dataset.status)"):
            assert status == "verified"

        # A bad time range is refused next to its field.
        await page.get_by_label("From").fill("2030-01-02T00:00:00")
        await page.get_by_label("Until").fill("2030-01-01T00:00:00")
        await page.get_by_role("button", name="Show records").click()
        until = page.get_by_label("Until")
        await expect(page.locator("#audit-to-error")).to_have_text("The end must be after the start.")
        await expect(until).to_have_attribute("aria-invalid", "true")
        await expect(until).to_be_focused()

        for label, size in (("desktop", {"width": 1280, "height": 800}), ("phone", {"width": 390, "height": 844})):
            await page.set_viewport_size(size)  # type: ignore[arg-type]
            await page.locator("#audit-title").scroll_into_view_if_needed()
            await screenshot(page, f"admin-audit-{label}")
            assert await accessibility_problems(page) == [], label


async def test_an_altered_or_unasked_record_is_shown_failed(hub: Hub) -> None:
    async def alter(route: Route) -> None:
        response = await route.fetch()
        body = await response.json()
        records = body["records"]
        # The first record's text is changed (its signature and proof no longer match it); the second is swapped
        # for a record of another kind, genuine but not what was asked for (its own proof, its own signature).
        records[0]["record"] = records[0]["record"].replace('"kind":"', '"kind":"x')
        await route.fulfill(response=response, body=json.dumps(body))

    async def unasked(route: Route) -> None:
        url = route.request.url.replace("kind=login.ok", "kind=consent.granted")
        response = await route.fetch(url=url)
        await route.fulfill(response=response)

    async with chromium() as page:
        page.set_default_timeout(15_000)
        await _open(page, hub)
        await page.route("**/api/audit/records?*kind=account.created*", alter)
        await page.route("**/api/audit/records?*kind=login.ok*", unasked)
        await page.get_by_label("Kind").select_option("account.created")
        await page.get_by_role("button", name="Show records").click()
        first = page.locator("#audit-rows tr").first
        await expect(first).to_have_attribute("data-status", "failed")
        await expect(first).to_contain_text("FAILED")
        await expect(page.locator("#audit-summary")).to_contain_text("FAILED verification")

        await page.get_by_label("Kind").select_option("login.ok")
        await page.get_by_role("button", name="Show records").click()
        first = page.locator("#audit-rows tr").first
        await expect(first).to_have_attribute("data-status", "failed")
        await expect(first).to_contain_text("not what was asked for: its kind is consent.granted")
        await screenshot(page, "admin-audit-failed-desktop")
