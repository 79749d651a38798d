"""Issue 15 item 6: WHIP and WHEP from pages on other origins (CORS), for the origins `http.cors_origins` names.

A real Chromium page served by a second small server on another port publishes (WHIP, a device token) and plays
(WHEP, an officer's session token, then the session's events through an `EventSource`) with bearer tokens: it works
from the configured origin, and is blocked from another one and with the cookie. The headers themselves are checked
request by request against the same hub.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from yarl import URL

from tests.conftest import PASSWORDS
from tests.support.browser import chromium
from tests.support.client import Api
from tests.support.procs import Hub, free_port, seeded_hub
from tests.support.secrets import SECRETS

pytestmark = pytest.mark.asyncio(loop_scope="module")
CAMERA = "front-door"
PAGE = "<!doctype html><title>player on another origin</title><body></body>"


@dataclass
class Origins:
    allowed: str
    other: str


@pytest.fixture(scope="module")
def origins() -> Iterator[Origins]:
    yield Origins(f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def pages(origins: Origins) -> AsyncIterator[Origins]:
    """Two tiny page servers on other ports (other origins than the hub's): one configured, one not."""
    app = web.Application()

    async def page(request: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    app.router.add_get("/", page)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        for origin in (origins.allowed, origins.other):
            await web.TCPSite(runner, "127.0.0.1", URL(origin).port).start()
        yield origins
    finally:
        await runner.cleanup()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def hub(tmp_path_factory: pytest.TempPathFactory, origins: Origins) -> AsyncIterator[Hub]:
    """A hub that lets `origins.allowed` in, transcoding (the other suites mostly pass frames through)."""
    env = {
        "PORCHLIGHT_HTTP__CORS_ORIGINS": f'["{origins.allowed}"]',
        "PORCHLIGHT_MEDIA__FORWARDING": "transcode",
    }
    async with seeded_hub(tmp_path_factory.mktemp("cors-hub"), env) as instance:
        yield instance


@pytest_asyncio.fixture(loop_scope="module")
async def officer(hub: Hub) -> AsyncIterator[Api]:
    api = await Api(hub.url).login("olivia", PASSWORDS["olivia"])
    try:
        yield api
    finally:
        await api.close()


def session_token(api: Api) -> str:
    cookies = api.http.cookie_jar.filter_cookies(URL(api.base))
    return str(cookies["porchlight_session"].value)


def cors_headers(response: aiohttp.ClientResponse) -> dict[str, str]:
    return {name: value for name, value in response.headers.items() if name.lower().startswith("access-control-")}


async def test_preflight_answers(hub: Hub, origins: Origins) -> None:
    """A configured origin's preflight gets the methods of the route, the headers a client sends, a max age; another
    origin's, and any preflight outside WHIP and WHEP, gets no Access-Control header at all."""
    routes = {
        f"/whip/{CAMERA}": "OPTIONS, POST",
        f"/whip/{CAMERA}/some-session": "DELETE, OPTIONS, PATCH",
        f"/whep/{CAMERA}": "OPTIONS, POST",
        f"/whep/{CAMERA}/some-session": "DELETE, OPTIONS, PATCH",
        f"/whep/{CAMERA}/some-session/events": "GET, HEAD, OPTIONS, POST",
        f"/whep/{CAMERA}/some-session/events/stream": "DELETE, GET, HEAD, OPTIONS",
    }
    asking = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"}
    async with aiohttp.ClientSession() as http:
        for path, methods in routes.items():
            async with http.options(f"{hub.url}{path}", headers={"Origin": origins.allowed, **asking}) as response:
                assert response.status == 204, path
                assert cors_headers(response) == {
                    "Access-Control-Allow-Origin": origins.allowed,
                    "Access-Control-Allow-Methods": methods,
                    "Access-Control-Allow-Headers": "Authorization, Content-Type, If-Match",
                    "Access-Control-Max-Age": "600",
                }, path
                assert "Origin" in response.headers.getall("Vary", [])
            async with http.options(f"{hub.url}{path}", headers={"Origin": origins.other, **asking}) as response:
                assert cors_headers(response) == {}, path
        async with http.options(f"{hub.url}/api/login", headers={"Origin": origins.allowed, **asking}) as response:
            assert cors_headers(response) == {}


async def test_answers_carry_cors_headers_only_for_bearer_requests_from_configured_origins(
    hub: Hub, origins: Origins, officer: Api
) -> None:
    allowed = {"Origin": origins.allowed}
    expected = {
        "Access-Control-Allow-Origin": origins.allowed,
        "Access-Control-Expose-Headers": "Location, Link, ETag",
    }
    async with aiohttp.ClientSession() as http:
        # A refusal is readable by the page: why it was refused.
        wrong = {"Authorization": "Bearer not-a-token", "Content-Type": "application/sdp"}
        for path, reason in ((f"/whip/{CAMERA}", "device_token_invalid"), (f"/whep/{CAMERA}", "token_invalid")):
            async with http.post(f"{hub.url}{path}?case=C&reason=r", data="v=0", headers={**allowed, **wrong}) as r:
                assert (r.status, (await r.json())["reason"]) == (401, reason), path
                assert cors_headers(r) == expected, path
        # An officer's session token as a bearer from the configured origin gets through to the handler.
        bearer = {"Authorization": f"Bearer {session_token(officer)}"}
        async with http.post(f"{hub.url}/whep/nowhere?case=C&reason=r", headers={**allowed, **bearer}) as r:
            assert (r.status, (await r.json())["reason"]) == (404, "camera_unknown")
            assert cors_headers(r) == expected
        # Another origin: refused for where it comes from, and told nothing.
        async with http.post(f"{hub.url}/whep/nowhere", headers={"Origin": origins.other, **bearer}) as r:
            assert (r.status, (await r.json())["reason"]) == (403, "bad_origin")
            assert cors_headers(r) == {}
        # No Origin (not a browser, or same-origin): as before, no CORS headers.
        async with http.post(f"{hub.url}/whep/nowhere?case=C&reason=r", headers=bearer) as r:
            assert r.status == 404 and cors_headers(r) == {}
    # The cookie stays same-origin, even from a configured origin and even with a bearer token beside it.
    async with officer.http.post(
        f"{hub.url}/whep/nowhere?case=C&reason=r", headers={**allowed, **bearer, **officer.headers}
    ) as r:
        assert (r.status, (await r.json())["reason"]) == (403, "bad_origin")
        assert cors_headers(r) == {}
    # Routes other than WHIP and WHEP stay same-origin.
    async with aiohttp.ClientSession() as http:
        body = {"username": "olivia", "password": PASSWORDS["olivia"]}
        async with http.post(f"{hub.url}/api/login", json=body, headers=allowed) as r:
            assert (r.status, (await r.json())["reason"]) == (403, "bad_origin")
            assert cors_headers(r) == {}


async def test_plain_options_on_the_endpoints(hub: Hub) -> None:
    """A plain OPTIONS (not a preflight) names the methods and the body the endpoints take (RFC 9725 §4.1)."""
    async with aiohttp.ClientSession() as http:
        for path in (f"/whip/{CAMERA}", f"/whep/{CAMERA}"):
            async with http.options(f"{hub.url}{path}") as response:
                assert response.status == 204
                assert response.headers["Accept-Post"] == "application/sdp"
                assert response.headers["Allow"] == "OPTIONS, POST"


# Runs in the page on the other origin. Publishes its fake camera over WHIP, plays it over WHEP, subscribes to the
# session's events (POST, then an EventSource on the Location, as Medooze's WHEPClient does) and hangs up; every
# request with a bearer token. Returns what it saw; a blocked request is reported, not thrown.
PLAY_JS = """
async ({hub, camera, deviceToken, officerToken, withCookie}) => {
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const gathered = (pc) => new Promise((resolve, reject) => {
    if (pc.iceGatheringState === 'complete') return resolve();
    const timer = setTimeout(() => reject(new Error('ICE gathering did not complete in 5 s')), 5000);
    pc.addEventListener('icegatheringstatechange', () => {
      if (pc.iceGatheringState === 'complete') { clearTimeout(timer); resolve(); }
    });
  });
  const send = async (url, init) => {
    try {
      return await fetch(url, {...init, credentials: withCookie ? 'include' : 'same-origin'});
    } catch (error) {
      return {blocked: String(error)};
    }
  };
  const result = {};
  const media = await navigator.mediaDevices.getUserMedia({video: {width: 320, height: 240}, audio: false});
  const publisher = new RTCPeerConnection({iceServers: []});
  publisher.addTransceiver(media.getVideoTracks()[0], {direction: 'sendonly', streams: [media]});
  await publisher.setLocalDescription(await publisher.createOffer());
  await gathered(publisher);
  const whip = await send(`${hub}/whip/${camera}`, {
    method: 'POST',
    headers: {'Content-Type': 'application/sdp', 'Authorization': `Bearer ${deviceToken}`},
    body: publisher.localDescription.sdp,
  });
  if (whip.blocked) return {whipBlocked: whip.blocked};
  result.whipStatus = whip.status;
  const whipAnswer = await whip.text();
  if (whip.status !== 201) return {...result, whipAnswer};
  result.whipLocation = whip.headers.get('Location');
  await publisher.setRemoteDescription({type: 'answer', sdp: whipAnswer});

  const viewer = new RTCPeerConnection({iceServers: []});
  viewer.addTransceiver('video', {direction: 'recvonly'});
  await viewer.setLocalDescription(await viewer.createOffer());
  await gathered(viewer);
  const bearer = {'Authorization': `Bearer ${officerToken}`};
  const whep = await send(`${hub}/whep/${camera}?case=CASE-15&reason=cors%20test`, {
    method: 'POST', headers: {'Content-Type': 'application/sdp', ...bearer}, body: viewer.localDescription.sdp,
  });
  if (whep.blocked) return {...result, whepBlocked: whep.blocked};
  result.whepStatus = whep.status;
  const whepAnswer = await whep.text();
  if (whep.status !== 201) return {...result, whepAnswer};
  const location = new URL(whep.headers.get('Location'), `${hub}/whep/${camera}`);
  result.link = whep.headers.get('Link');
  await viewer.setRemoteDescription({type: 'answer', sdp: whepAnswer});
  const deadline = performance.now() + 20000;
  for (;;) {
    let frames = 0;
    (await viewer.getStats()).forEach((r) => {
      if (r.type === 'inbound-rtp' && r.kind === 'video') frames = r.framesDecoded;
    });
    result.framesDecoded = frames;
    if (frames >= 10 || performance.now() > deadline) break;
    await sleep(100);
  }

  const eventsRel = /<([^>]+)>;\\s*rel="urn:ietf:params:whep:ext:core:server-sent-events"/;
  const eventsUrl = new URL(result.link.match(eventsRel)[1], location);
  const subscribe = await send(eventsUrl, {
    method: 'POST', headers: {'Content-Type': 'application/json', ...bearer}, body: JSON.stringify(['end']),
  });
  result.subscribeStatus = subscribe.status;
  const source = new EventSource(new URL(subscribe.headers.get('Location'), eventsUrl));
  const ended = new Promise((resolve) => source.addEventListener('end', (event) => resolve(JSON.parse(event.data))));
  await new Promise((resolve) => { source.onopen = resolve; source.onerror = resolve; });
  const hangUp = await send(location, {method: 'DELETE', headers: bearer});
  result.hangUpStatus = hangUp.status;
  result.end = await Promise.race([ended, sleep(10000).then(() => null)]);
  source.close();
  const unpublish = await send(new URL(result.whipLocation, `${hub}/whip/${camera}`), {
    method: 'DELETE', headers: {'Authorization': `Bearer ${deviceToken}`},
  });
  result.unpublishStatus = unpublish.status;
  viewer.close();
  publisher.close();
  media.getTracks().forEach((track) => track.stop());
  return result;
}
"""


async def play_from(origin: str, hub: Hub, officer: Api, with_cookie: bool = False) -> dict[str, Any]:
    token = hub.seeded.tokens[CAMERA]  # type: ignore[attr-defined]
    officer_token = session_token(officer)
    SECRETS.add(officer_token, "session token")
    async with chromium("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream") as page:
        if with_cookie:  # the browser holds the hub's session cookie (a log-in on the hub's own page)
            await page.goto(f"{hub.url}/officer")
            await page.evaluate(
                """async (body) => { await fetch('/api/login', {method: 'POST',
                   headers: {'Content-Type': 'application/json'}, body: JSON.stringify(body)}); }""",
                {"username": "olivia", "password": PASSWORDS["olivia"]},
            )
        await page.goto(f"{origin}/")
        args = {
            "hub": hub.url,
            "camera": CAMERA,
            "deviceToken": token,
            "officerToken": officer_token,
            "withCookie": with_cookie,
        }
        result: dict[str, Any] = await page.evaluate(PLAY_JS, args)
        return result


async def test_a_page_on_a_configured_origin_publishes_and_plays(hub: Hub, pages: Origins, officer: Api) -> None:
    seen = await play_from(pages.allowed, hub, officer)
    assert seen.get("whipStatus") == 201 and seen.get("whepStatus") == 201, seen
    assert seen["framesDecoded"] >= 10, seen
    assert "server-sent-events" in seen["link"], seen  # Link was exposed to the page
    assert seen["subscribeStatus"] == 201, seen
    assert seen["end"] is not None and seen["end"]["reason"] == "viewer_left", seen
    assert (seen["hangUpStatus"], seen["unpublishStatus"]) == (200, 200), seen


async def test_a_page_on_another_origin_is_blocked(hub: Hub, pages: Origins, officer: Api) -> None:
    seen = await play_from(pages.other, hub, officer)
    assert "whipBlocked" in seen, seen
    assert await hub.metric("porchlight_publishers") == 0


async def test_a_request_with_the_cookie_is_blocked_from_a_configured_origin(
    hub: Hub, pages: Origins, officer: Api
) -> None:
    seen = await play_from(pages.allowed, hub, officer, with_cookie=True)
    assert "whipBlocked" in seen, seen
