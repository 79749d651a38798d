"""Notifications in the resident's page (issue 16), in Chromium at desktop and phone widths.

What is real: the page's "Notify me" and "Turn off" (permission granted with the DevTools protocol's
Browser.grantPermissions, through Playwright), the service worker registered from /sw.js as a module, the web app
manifest, a push message delivered to that worker with the DevTools protocol (ServiceWorker.deliverPushMessage:
the browser's own push path from the event on, without the encryption, which tests/test_push.py covers), the
notification it shows (read back with registration.getNotifications()), and the hub approving the request when the
worker answers it with the resident's session.

What is not: headless Chromium here has no push service, so PushManager.subscribe never answers; the page's calls to
it are replaced by a stand-in that returns a subscription of the right shape (its endpoint a loopback URL, allowed
by notify.allow_loopback_push), so the page's wiring to the hub is tested, not Chromium's push service. Nor can a
test tap a notification's button: the worker runs the very function a notificationclick runs (`act`) when the
page asks it with a message naming the notification and the action, and that is what the test does.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Page, ViewportSize

from tests.conftest import PASSWORDS
from tests.support.browser import chromium
from tests.support.client import Api
from tests.support.pages import accessibility_problems, log_in, screenshot
from tests.support.procs import Hub, seeded_hub, wait_until

pytestmark = pytest.mark.asyncio(loop_scope="module")

WIDTHS: dict[str, ViewportSize] = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}

# The stand-in for the browser's push service (see the module doc): a subscription with real-looking keys.
FAKE_PUSH = """
(() => {
  const keys = {
    p256dh: 'BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM',
    auth: 'tBHItJI5svbpez7KI4CCXg',
  };
  let current = null;
  const make = () => ({
    endpoint: `http://127.0.0.1:9/push/${Math.random().toString(36).slice(2)}`,
    toJSON() { return { endpoint: this.endpoint, expirationTime: null, keys }; },
    async unsubscribe() { current = null; return true; },
  });
  PushManager.prototype.subscribe = async function () { current = current || make(); return current; };
  PushManager.prototype.getSubscription = async function () { return current; };
})();
"""


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def hub(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Hub]:
    env = {"PORCHLIGHT_NOTIFY__ALLOW_LOOPBACK_PUSH": "true"}
    async with seeded_hub(tmp_path_factory.mktemp("push-page-hub"), env) as instance:
        yield instance


async def _registration_id(page: Page, origin: str) -> tuple[Any, str]:
    """A DevTools session on the page and the service worker registration's id for `origin`."""
    cdp = await page.context.new_cdp_session(page)
    found: dict[str, str] = {}
    cdp.on(
        "ServiceWorker.workerRegistrationUpdated",
        lambda event: found.update(
            {r["scopeURL"]: r["registrationId"] for r in event["registrations"] if not r["isDeleted"]}
        ),
    )
    await cdp.send("ServiceWorker.enable")
    await wait_until(lambda: f"{origin}/" in found, 10, "the service worker's registration")
    return cdp, found[f"{origin}/"]


async def _ask(hub: Hub, camera: str, case: str) -> dict[str, Any]:
    officer = await Api(hub.url).login("sam", PASSWORDS["sam"])
    try:
        status, answer = await officer.call(
            "POST", f"/api/cameras/{camera}/requests", {"case": case, "reason": "a witness", "duration_seconds": 7200}
        )
        assert status == 201, answer
        request: dict[str, Any] = answer["request"]
        return request
    finally:
        await officer.close()


@pytest.mark.parametrize("width", list(WIDTHS))
async def test_notify_me_then_approve_from_the_notification(hub: Hub, width: str) -> None:
    async with chromium() as page:
        await page.set_viewport_size(WIDTHS[width])
        await page.context.grant_permissions(["notifications"], origin=hub.url)
        await page.add_init_script(FAKE_PUSH)
        await page.goto(f"{hub.url}/resident")
        await log_in(page, "alice", PASSWORDS["alice"])
        toggle = page.locator("#notify-toggle")
        await toggle.filter(has_text="Notify me").wait_for()
        manifest = await page.evaluate("fetch(document.querySelector('link[rel=manifest]').href).then(r => r.json())")
        assert (manifest["start_url"], manifest["display"]) == ("/resident", "standalone")
        await screenshot(page, f"notify-off-{width}")
        if width == "desktop":  # once is enough: the same controls at both widths (Tab walks the whole page)
            # The notification controls' own (the rest of the page is other tests' to judge).
            assert [p for p in await accessibility_problems(page) if "notify" in p] == []

        await toggle.click()
        await toggle.filter(has_text="Turn off").wait_for()
        assert "This device is told" in await page.locator("#notify-state").inner_text()
        alice = await Api(hub.url).login("alice", PASSWORDS["alice"])
        try:
            assert await alice.call("GET", "/api/push/subscriptions") == (200, {"subscriptions": 1})
            await page.locator("#notify").scroll_into_view_if_needed()
            await screenshot(page, f"notify-on-{width}")

            camera = "backyard"
            request = await _ask(hub, camera, f"CASE-{width}")
            active = "navigator.serviceWorker.ready.then(r => r.active && r.active.state === 'activated')"
            await wait_until(lambda: page.evaluate(active), 20, "the service worker to be active")
            cdp, registration = await _registration_id(page, hub.url)
            payload = {
                "type": "request", "request": request["id"], "camera": camera, "camera_name": "Backyard",
                "agency": "County Sheriff's Office", "case": request["case"], "reason": request["reason"],
                "duration_seconds": 7200, "expires_at": request["expires_at"], "urgent": False,
                "url": f"/resident#request-{request['id']}", "tag": f"request-{request['id']}",
            }  # fmt: skip
            await cdp.send(
                "ServiceWorker.deliverPushMessage",
                {"origin": hub.url, "registrationId": registration, "data": json.dumps(payload)},
            )
            shown = """navigator.serviceWorker.ready.then(r => r.getNotifications()).then(ns => ns.map(n => ({
                         title: n.title, body: n.body, actions: n.actions.map(a => a.action), tag: n.tag})))"""
            await wait_until(lambda: page.evaluate(shown), 20, "the notification")
            [notification] = await page.evaluate(shown)
            assert notification["title"] == "Officer asks to watch Backyard"
            assert notification["body"].startswith(
                f"County Sheriff's Office, case CASE-{width}: a witness. For 2 hours"
            )
            assert notification["actions"] == ["approve", "decline"]

            # Approve, as the notification's button would: the worker answers with the resident's session.
            outcome = await page.evaluate(
                """(tag) => new Promise((resolve) => {
                     navigator.serviceWorker.addEventListener('message', (e) => resolve(e.data.outcome), {once: true});
                     navigator.serviceWorker.ready.then((r) => r.active.postMessage(
                       {type: 'notification-action', tag, action: 'approve'}));
                   })""",
                notification["tag"],
            )
            assert outcome == {"answered": "approve", "status": 200}
            status, answer = await alice.call("GET", "/api/requests")
            assert status == 200
            assert {item["id"]: item["state"] for item in answer["requests"]}[request["id"]] == "approved"
            titles = [n["title"] for n in await page.evaluate(shown)]
            assert titles == ["Approved: County Sheriff's Office may watch Backyard for 2 hours."]
            # Undo the grant so the other width can ask again.
            assert (await alice.call("DELETE", f"/api/cameras/{camera}/grant"))[0] == 200

            await toggle.click()
            await toggle.filter(has_text="Notify me").wait_for()
            assert await alice.call("GET", "/api/push/subscriptions") == (200, {"subscriptions": 0})
        finally:
            await alice.close()
