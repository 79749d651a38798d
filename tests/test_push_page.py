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
from tests.support.secrets import SECRETS
from tests.test_push import PushService, unb64url

pytestmark = pytest.mark.asyncio(loop_scope="module")

WIDTHS: dict[str, ViewportSize] = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}

# The stand-in for the browser's push service (see the module doc): a subscription with real-looking keys.
FAKE_PUSH = """
(() => {
  const keys = %(keys)s;
  let current = null;
  const make = () => ({
    endpoint: %(endpoint)s || `http://127.0.0.1:9/push/${Math.random().toString(36).slice(2)}`,
    toJSON() { return { endpoint: this.endpoint, expirationTime: null, keys }; },
    async unsubscribe() { current = null; return true; },
  });
  PushManager.prototype.subscribe = async function () { current = current || make(); return current; };
  PushManager.prototype.getSubscription = async function () { return current; };
})();
"""
STAND_IN_KEYS = {
    "p256dh": "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM",
    "auth": "tBHItJI5svbpez7KI4CCXg",
}


def fake_push(keys: dict[str, str] = STAND_IN_KEYS, endpoint: str | None = None) -> str:
    """The stand-in's script: these keys, this endpoint (None: a loopback address nothing answers on)."""
    return FAKE_PUSH % {"keys": json.dumps(keys), "endpoint": json.dumps(endpoint)}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def hub(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Hub]:
    env = {"PORCHLIGHT_NOTIFY__ALLOW_LOOPBACK_PUSH": "true"}
    async with seeded_hub(tmp_path_factory.mktemp("push-page-hub"), env) as instance:
        yield instance


async def _registration_id(page: Page, origin: str, errors: list[str] | None = None) -> tuple[Any, str]:
    """A DevTools session on the page and the service worker registration's id for `origin`; what the worker reports
    as errors from now on (a blocked icon, an exception) goes into `errors`."""
    cdp = await page.context.new_cdp_session(page)
    found: dict[str, str] = {}
    if errors is not None:
        cdp.on(
            "ServiceWorker.workerErrorReported",
            lambda event: errors.append(str(event["errorMessage"]["errorMessage"])),
        )
    cdp.on(
        "ServiceWorker.workerRegistrationUpdated",
        lambda event: found.update(
            {r["scopeURL"]: r["registrationId"] for r in event["registrations"] if not r["isDeleted"]}
        ),
    )
    await cdp.send("ServiceWorker.enable")
    await wait_until(lambda: f"{origin}/" in found, 10, "the service worker's registration")
    return cdp, found[f"{origin}/"]


SHOWN = """navigator.serviceWorker.ready.then(r => r.getNotifications()).then(ns => ns.map(n => ({
             title: n.title, body: n.body, actions: n.actions.map(a => a.action), tag: n.tag})))"""


async def _deliver(page: Page, cdp: Any, origin: str, registration: str, message: dict[str, Any]) -> None:
    """Deliver a push message to the worker with the DevTools protocol, and wait until its notification shows.
    Headless Chromium now and then drops a message delivered this way (about one run in four here, the worker
    running and reporting no error; delivered again it shows): it is delivered again until one shows. A message
    replaces the notification with its tag, so this never shows two."""
    for _ in range(5):
        await cdp.send(
            "ServiceWorker.deliverPushMessage",
            {"origin": origin, "registrationId": registration, "data": json.dumps(message)},
        )
        try:
            await wait_until(lambda: page.evaluate(SHOWN), 4, "the notification")
            return
        except AssertionError:
            continue
    raise AssertionError("no notification was shown for the push message delivered five times")


async def _tap(page: Page, tag: str, action: str) -> dict[str, Any]:
    """What a tap on the shown notification's `action` button does: the worker's outcome (see the module doc)."""
    outcome: dict[str, Any] = await page.evaluate(
        """([tag, action]) => new Promise((resolve) => {
             navigator.serviceWorker.addEventListener('message', (e) => resolve(e.data.outcome), {once: true});
             navigator.serviceWorker.ready.then(
               (r) => r.active.postMessage({type: 'notification-action', tag, action}));
           })""",
        [tag, action],
    )
    return outcome


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
        await page.add_init_script(fake_push())
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
            await _deliver(page, cdp, hub.url, registration, payload)
            [notification] = await page.evaluate(SHOWN)
            assert notification["title"] == "Officer asks to watch Backyard"
            assert notification["body"].startswith(
                f"County Sheriff's Office, case CASE-{width}: a witness. For 2 hours"
            )
            assert notification["actions"] == ["approve", "decline"]

            # Approve, as the notification's button would: a message without an answer token (an older hub's) is
            # answered with the resident's session.
            outcome = await _tap(page, notification["tag"], "approve")
            assert outcome == {"answered": "approve", "status": 200}
            status, answer = await alice.call("GET", "/api/requests")
            assert status == 200
            assert {item["id"]: item["state"] for item in answer["requests"]}[request["id"]] == "approved"
            titles = [n["title"] for n in await page.evaluate(SHOWN)]
            assert titles == ["Approved: sam (county-so) may watch Backyard for 2 hours."]
            # Undo the grant so the other width can ask again.
            assert (await alice.call("DELETE", f"/api/cameras/{camera}/grant"))[0] == 200

            await toggle.click()
            await toggle.filter(has_text="Notify me").wait_for()
            assert await alice.call("GET", "/api/push/subscriptions") == (200, {"subscriptions": 0})
        finally:
            await alice.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def push_service(hub: Hub) -> AsyncIterator[PushService]:
    """A push service on loopback that decrypts what the hub sends (tests/test_push.py), so the worker is handed
    the hub's own message, answer token and all."""
    service = PushService()
    await service.start()
    try:
        async with Api(hub.url).http as http, http.get(f"{hub.url}/api/push/key") as response:
            service.vapid_key = unb64url((await response.json())["key"])
        yield service
    finally:
        await service.stop()


@pytest.mark.parametrize("width", list(WIDTHS))
async def test_approve_from_the_notification_after_logging_out(hub: Hub, push_service: PushService, width: str) -> None:
    browser = push_service.add(f"alice-{width}")
    endpoint = push_service.endpoint(browser.name)
    SECRETS.add(endpoint, "push endpoint")
    async with chromium() as page:
        await page.set_viewport_size(WIDTHS[width])
        await page.context.grant_permissions(["notifications"], origin=hub.url)
        await page.add_init_script(fake_push(browser.keys(), endpoint))
        await page.goto(f"{hub.url}/resident")
        await log_in(page, "alice", PASSWORDS["alice"])
        toggle = page.locator("#notify-toggle")
        await toggle.filter(has_text="Notify me").click()
        await toggle.filter(has_text="Turn off").wait_for()
        active = "navigator.serviceWorker.ready.then(r => r.active && r.active.state === 'activated')"
        await wait_until(lambda: page.evaluate(active), 20, "the service worker to be active")
        errors: list[str] = []
        cdp, registration = await _registration_id(page, hub.url, errors)
        # The session ends (as an idle one does on a phone): POST /api/logout with the page's own session.
        logged_out = """fetch('/api/me').then(r => r.json())
                          .then(me => fetch('/api/logout', {method: 'POST', headers: {'X-CSRF-Token': me.csrf_token}}))
                          .then(() => fetch('/api/me')).then(r => r.status)"""
        assert await page.evaluate(logged_out) == 401

        request = await _ask(hub, "backyard", f"CASE-OUT-{width}")
        await wait_until(lambda: browser.messages, 10, "the hub's push message")
        message = {k: v for k, v in browser.messages[0].items() if not k.startswith("_")}
        assert message["request"] == request["id"] and message["answer_token"].startswith("pla_")
        SECRETS.add(message["answer_token"], "answer token")

        await _deliver(page, cdp, hub.url, registration, message)
        [shown] = await page.evaluate(SHOWN)
        assert shown["actions"] == ["approve", "decline"]
        assert await _tap(page, shown["tag"], "approve") == {"answered": "approve", "status": 200}
        alice = await Api(hub.url).login("alice", PASSWORDS["alice"])
        try:
            _, answer = await alice.call("GET", "/api/requests")
            assert {item["id"]: item["state"] for item in answer["requests"]}[request["id"]] == "approved"
            assert [n["title"] for n in await page.evaluate(SHOWN)] == [
                "Approved: sam (county-so) may watch Backyard for 2 hours."
            ]
            # The same message again (a second device's tap, a replay): refused, said so, the page opened at it.
            await page.evaluate(
                "navigator.serviceWorker.ready.then(r => r.getNotifications()).then(ns => ns.forEach(n => n.close()))"
            )
            await _deliver(page, cdp, hub.url, registration, message)
            outcome = await _tap(page, shown["tag"], "decline")
            assert outcome == {"answered": None, "status": 409, "reason": "answer_token_used", "opened": message["url"]}
            [said] = await page.evaluate(SHOWN)
            assert said["title"] == "Already answered"
            await page.wait_for_url(f"**{message['url']}")
            assert errors == []  # the worker's icons load (its policy allows them), nothing thrown
            # Undo the grant and this device's subscription, so the other width (and test) start afresh.
            assert (await alice.call("DELETE", "/api/cameras/backyard/grant"))[0] == 200
            assert await alice.call("DELETE", "/api/push/subscriptions", {"endpoint": endpoint}) == (
                200,
                {"deleted": True},
            )
        finally:
            await alice.close()
