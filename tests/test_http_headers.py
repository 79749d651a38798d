"""Issue 14 item 12: one set of security headers on every answer of the hub (pages, assets, API JSON, errors,
WHEP refusals, metrics, event streams), the pages' CSP in a header that forbids framing, and HSTS only when the hub
says it is served over HTTPS. Against real hub processes."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import aiohttp
from aiohttp import web
from multidict import CIMultiDictProxy

from tests.conftest import PASSWORDS
from tests.support.browser import chromium
from tests.support.client import Api
from tests.support.pages import log_in
from tests.support.procs import Hub, free_port

COMMON = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _check(what: str, headers: CIMultiDictProxy[str] | Mapping[str, str], hsts: bool = False) -> str:
    """Assert the common set on one answer; its CSP."""
    for name, value in COMMON.items():
        assert headers.get(name) == value, (what, name, headers.get(name))
    permissions = headers.get("Permissions-Policy", "")
    for feature in ("camera=()", "microphone=()", "geolocation=(self)"):
        assert feature in permissions, (what, permissions)
    csp = headers.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp, (what, csp)
    assert ("Strict-Transport-Security" in headers) is hsts, (what, headers.get("Strict-Transport-Security"))
    return csp


async def _get(http: aiohttp.ClientSession, url: str, **kwargs: object) -> tuple[int, CIMultiDictProxy[str]]:
    async with http.get(url, **kwargs) as response:  # type: ignore[arg-type]
        await response.read()
        return response.status, response.headers


async def test_every_kind_of_answer_carries_the_headers(hub: Hub, login) -> None:
    alice: Api = await login("alice")
    olivia: Api = await login("olivia")
    async with aiohttp.ClientSession() as http:
        for path in ("/", "/resident", "/resident/masks", "/officer", "/admin"):
            status, headers = await _get(http, hub.url + path)
            csp = _check(path, headers)
            assert status == 200 and headers["Content-Type"].startswith("text/html")
            # What the pages need, and nothing from elsewhere.
            for directive in ("script-src 'self'", "connect-src 'self'", "media-src 'self' blob:", "img-src 'self'"):
                assert directive in csp, (path, csp)
        for path, status_wanted in [
            ("/js/resident.js", 200),
            ("/css/porchlight.css", 200),
            ("/healthz", 200),
            ("/metrics", 200),
            ("/api/transparency", 200),
            ("/no/such/page", 404),
            ("/js/nothing.js", 404),
            ("/api/cameras", 401),  # no log-in
        ]:
            status, headers = await _get(http, hub.url + path)
            assert status == status_wanted, path
            assert _check(path, headers).startswith("default-src 'none'; base-uri")  # loads nothing at all
        status, headers = await _get(http, hub.url + "/transparency")
        policy = _check("/transparency", headers)  # its own policy: the hub's style sheets and icon, no inline style
        assert status == 200 and "style-src 'self';" in policy and "unsafe-inline" not in policy
        async with http.post(f"{hub.url}/api/login", json={"username": "alice", "password": "wrong-password"}) as r:
            assert r.status == 401
            _check("failed log-in", r.headers)
    # A WHEP refusal (no case number), the API's JSON, and an event stream as it opens.
    async with olivia.http.post(
        f"{hub.url}/whep/front-door", data="v=0", headers={"Content-Type": "application/sdp", **olivia.headers}
    ) as response:
        assert response.status == 400
        _check("WHEP refusal", response.headers)
    status, headers = await _get(alice.http, f"{hub.url}/api/me")
    assert status == 200
    _check("/api/me", headers)
    async with alice.http.get(f"{hub.url}/api/events") as response:
        assert response.status == 200 and response.content_type == "text/event-stream"
        _check("event stream", response.headers)


async def test_hsts_only_when_served_over_https(tmp_path: Path) -> None:
    secure = Hub(tmp_path, env={"PORCHLIGHT_HTTP__SECURE_COOKIES": "true"})
    secure.write_config()
    await secure.start()
    try:
        async with aiohttp.ClientSession() as http:
            for path in ("/", "/healthz", "/no/such/page"):
                _, headers = await _get(http, secure.url + path)
                _check(path, headers, hsts=True)
                assert headers["Strict-Transport-Security"].startswith("max-age=")
    finally:
        await secure.stop()


# In a real Chromium: the pages load under the header's policy without a violation, and no other site can frame
# them. ---------------------------------------------------------------------------------------------------------

RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
  (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
"""
PAGES = [("/resident", "alice"), ("/resident/masks?camera=front-door", "alice"), ("/officer", "olivia"),
         ("/admin", "ada"), ("/", None)]  # fmt: skip


async def test_pages_load_under_the_policy_and_cannot_be_framed(hub: Hub, tmp_path: Path) -> None:
    async def framing_page(_: web.Request) -> web.Response:
        return web.Response(text=f'<iframe src="{hub.url}/resident"></iframe>', content_type="text/html")

    framing = web.Application()
    framing.router.add_get("/", framing_page)
    runner = web.AppRunner(framing)
    await runner.setup()
    other_port = free_port()
    await web.TCPSite(runner, "127.0.0.1", other_port).start()
    try:
        async with chromium() as page:
            console: list[str] = []
            page.on("console", lambda message: console.append(message.text))
            await page.add_init_script(RECORD_VIOLATIONS)
            for path, username in PAGES:
                await page.goto(hub.url + path)
                if username is not None and await page.get_by_label("Username").count():
                    await log_in(page, username, PASSWORDS[username])
                await page.wait_for_load_state("networkidle")
                assert await page.evaluate("window.__csp") == [], path
                await page.evaluate("fetch('/api/logout', {method: 'POST'}).catch(() => null)")
                await page.context.clear_cookies()
            assert not [text for text in console if "Content Security Policy" in text], console
            # Another origin (localhost on another port) frames the resident page: the browser refuses.
            await page.goto(f"http://localhost:{other_port}/")
            await page.wait_for_load_state("networkidle")
            [framed] = [frame for frame in page.frames if frame is not page.main_frame]
            assert not framed.url.startswith(hub.url), framed.url
            assert any("frame-ancestors" in text or "X-Frame-Options" in text for text in console), console
    finally:
        await runner.cleanup()
