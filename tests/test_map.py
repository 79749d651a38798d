"""The officer's map in Chromium: Leaflet drawing streets from the configured tile server (a local one here that
draws its PNG tiles with OpenCV and counts the requests), nearby cameras clustered, and asking every owner in a
circle drawn on it; the hub serving only its allow-list of the map library's files, and a CSP that lets images
come from the tile server's origin only.

One hub and one Chromium for the module; each test opens its own tab.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import aiohttp
import cv2
import numpy as np
import pytest
import pytest_asyncio
from aiohttp import web
from playwright.async_api import BrowserContext, Page, ViewportSize, expect

from tests.conftest import PASSWORDS
from tests.support.browser import chromium
from tests.support.client import Api
from tests.support.pages import accessibility_problems, log_in, screenshot
from tests.support.procs import Hub, seeded_hub, wait_until

pytestmark = pytest.mark.asyncio(loop_scope="module")

TIMEOUT_MS = 15_000
WIDTHS: dict[str, ViewportSize] = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
# Front door and backyard 15 m apart (one cluster at a street's zoom); the porch a street away.
PLACES = {"front-door": (52.37021, 4.89517), "backyard": (52.37030, 4.89530), "porch": (52.37110, 4.89600)}


class TileServer:
    """A tile server on loopback: every /{z}/{x}/{y}.png is a 256 px PNG drawn with OpenCV; requests counted."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def tile(self, request: web.Request) -> web.Response:
        z, x, y = (int(request.match_info[key]) for key in ("z", "x", "y"))
        self.requests.append(f"{z}/{x}/{y}")
        image = np.full((256, 256, 3), (225, 235, 240), np.uint8)
        cv2.line(image, (0, 128), (255, 128), (255, 255, 255), 14)  # a street across
        cv2.line(image, (128, 0), (128, 255), (255, 255, 255), 10)  # and one down
        cv2.rectangle(image, (0, 0), (255, 255), (180, 190, 200), 1)
        cv2.putText(image, f"{z}/{x}/{y}", (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (90, 90, 90), 1)
        ok, png = cv2.imencode(".png", image)
        assert ok
        return web.Response(body=png.tobytes(), content_type="image/png")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get(r"/{z:\d+}/{x:\d+}/{y:\d+}.png", self.tile)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def tiles() -> AsyncIterator[TileServer]:
    server = TileServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def hub(tmp_path_factory: pytest.TempPathFactory, tiles: TileServer) -> AsyncIterator[Hub]:
    """One seeded hub whose map loads tiles from the local tile server; cameras placed, backyard opted in."""
    env = {
        "PORCHLIGHT_MAP__TILE_URL": f"http://127.0.0.1:{tiles.port}/{{z}}/{{x}}/{{y}}.png",
        "PORCHLIGHT_MAP__ATTRIBUTION": "Test tiles, drawn with OpenCV",
    }
    async with seeded_hub(tmp_path_factory.mktemp("map-hub"), env) as instance:
        alice, bob = Api(instance.url), Api(instance.url)
        try:
            await alice.login("alice", PASSWORDS["alice"])
            await bob.login("bob", PASSWORDS["bob"])
            for owner, camera in ((alice, "front-door"), (alice, "backyard"), (bob, "porch")):
                lat, lon = PLACES[camera]
                status, body = await owner.call("PUT", f"/api/cameras/{camera}/location", {"lat": lat, "lon": lon})
                assert status == 200, body
            status, body = await alice.call("POST", "/api/cameras/backyard/grant", {"duration_seconds": 3600})
            assert status == 201, body
        finally:
            await alice.close()
            await bob.close()
        yield instance


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[BrowserContext]:
    async with chromium() as first:
        yield first.context


@pytest_asyncio.fixture(loop_scope="module")
async def tab(browser: BrowserContext) -> AsyncIterator[Page]:
    await browser.clear_cookies()
    page = await browser.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield page
    finally:
        await page.close()
    assert errors == [], errors


async def open_officer(page: Page, hub: Hub) -> None:
    await page.goto(f"{hub.url}/officer")
    await log_in(page, "olivia", PASSWORDS["olivia"])
    await expect(page.locator("#whoami")).to_contain_text("olivia")


async def test_vendor_files_are_an_allow_list_and_the_csp_names_the_tile_server(hub: Hub, tiles: TileServer) -> None:
    async with aiohttp.ClientSession() as http:
        for path, kind in (
            ("/vendor/leaflet/leaflet.js", "text/javascript"),
            ("/vendor/leaflet/leaflet.css", "text/css"),
            ("/vendor/leaflet/images/marker-icon.png", "image/png"),
            ("/vendor/leaflet.markercluster/leaflet.markercluster.js", "text/javascript"),
            ("/vendor/leaflet.markercluster/MarkerCluster.css", "text/css"),
        ):
            async with http.get(hub.url + path) as response:
                assert response.status == 200, path
                assert response.headers["Content-Type"].startswith(kind), path
        for path in (
            "/vendor/leaflet/package.json",
            "/vendor/leaflet/dist/leaflet.js",
            "/vendor/leaflet.markercluster/leaflet.markercluster-src.js",
            "/vendor/leaflet/../../../hub/app.py",
            "/vendor/.installed",
        ):
            async with http.get(hub.url + path) as response:
                assert response.status == 404, path
        async with http.get(hub.url + "/officer") as response:
            policy = response.headers["Content-Security-Policy"]
        img = re.search(r"img-src ([^;]*);", policy)
        assert img is not None and img.group(1).split() == [
            "'self'",
            "data:",
            "blob:",
            f"http://127.0.0.1:{tiles.port}",
        ]
        assert f"127.0.0.1:{tiles.port}" not in policy.replace(img.group(0), "")  # images only: no script, no fetch


async def test_streets_from_the_tile_server_and_nearby_cameras_clustered(
    hub: Hub, tiles: TileServer, tab: Page
) -> None:
    await open_officer(tab, hub)
    plot = tab.locator("#map-plot")
    await expect(plot).to_have_attribute("data-tiles", "yes")
    await expect(tab.locator("#map-tiles")).to_be_hidden()
    # Tiles are asked of the tile server and drawn (loaded, 256 px images).
    await wait_until(lambda: len(tiles.requests) > 0, 10, "tile requests at the tile server")
    loaded = plot.locator("img.leaflet-tile-loaded")
    await expect(loaded.first).to_be_visible()
    assert await loaded.first.evaluate("img => img.naturalWidth") == 256
    await expect(plot.locator(".leaflet-control-attribution")).to_contain_text("Test tiles, drawn with OpenCV")

    # Front door and backyard, 15 m apart, are one cluster of 2; activating it zooms in to each camera.
    cluster = plot.locator(".cluster")
    await expect(cluster).to_have_count(1)
    await expect(cluster).to_contain_text("2 cameras close together")
    for label, size in WIDTHS.items():
        await tab.set_viewport_size(size)
        await tab.evaluate("() => window.dispatchEvent(new Event('resize'))")
        await tab.locator("#map").scroll_into_view_if_needed()
        await screenshot(tab, f"map-clustered-{label}")
        assert await accessibility_problems(tab) == [], label
    await tab.set_viewport_size(WIDTHS["desktop"])
    await cluster.click()
    front = plot.locator('.point[data-camera="front-door"]')
    await expect(front).to_have_attribute("aria-label", "Front door on the map: watch")
    await expect(plot.locator('.point[data-camera="backyard"]')).to_contain_text(re.compile(r"59 min \d\d s left"))
    await tab.locator("#map").scroll_into_view_if_needed()
    await screenshot(tab, "map-zoomed-in-desktop")
    # A marker opens the watch form from the keyboard.
    await front.focus()
    await tab.keyboard.press("Enter")
    await expect(tab.get_by_role("heading", name="Watch Front door")).to_be_visible()
    await expect(plot.locator('.point[data-camera="porch"]')).to_have_count(0)  # not shared: not on my map


async def test_asking_every_owner_in_a_circle(hub: Hub, tab: Page) -> None:
    await open_officer(tab, hub)
    await expect(tab.locator(".cluster")).to_have_count(1)
    await tab.get_by_role("button", name="Ask every owner in an area…").click()
    radius = tab.get_by_label("Radius")
    await expect(radius).to_be_focused()
    await radius.evaluate("(input) => { input.value = '300'; input.dispatchEvent(new Event('input')); }")
    await expect(tab.locator("#area-radius-words")).to_have_text("300 m")
    # The centre where I click: the middle of the map, where the cameras are.
    box = await tab.locator("#map-plot").bounding_box()
    assert box is not None
    await tab.mouse.click(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.3)
    await expect(tab.locator("#area-where")).to_contain_text("300 m around it")
    await expect(tab.locator("path.area-circle")).to_have_count(1)
    await tab.get_by_role("button", name="Put the centre at the middle of the map").click()
    await tab.locator("#area-case").fill("C-4242")
    await tab.locator("#area-reason").fill("Bicycle thief seen heading north")
    for label, size in WIDTHS.items():
        await tab.set_viewport_size(size)
        await tab.locator("#area-box").scroll_into_view_if_needed()
        await screenshot(tab, f"map-area-form-{label}")
        assert await accessibility_problems(tab) == [], label
    await tab.set_viewport_size(WIDTHS["desktop"])
    await tab.get_by_role("button", name="Send to every owner in the circle").click()
    # Front door is open to olivia already and backyard opted in: only the porch's owner is asked.
    await expect(tab.locator("#status")).to_contain_text("sent to the owners of 1 camera in the circle")
    await expect(tab.locator("#status")).to_contain_text("2 more inside are open to you already")
    asked = tab.locator('#request-list li[data-state="pending"]')
    await expect(asked).to_have_count(1)
    await expect(asked).to_contain_text("Porch")
    await expect(asked).to_contain_text("C-4242")
    await expect(tab.locator("path.area-circle")).to_have_count(0)
    await expect(tab.locator("#area-open")).to_be_focused()
    await screenshot(tab, "map-area-sent-desktop")
