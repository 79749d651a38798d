"""The interop page in Chromium: tests/interop/web served under the hub's own origin by Playwright.

The page and Medooze's whip-whep (as npm installs it, no bundler) are answered by Playwright for
`{hub}/interop/...`, never by the hub: so the page's requests to `/whip` and `/whep` are same-origin (no CORS
involved), and it carries none of the hub's headers (its Permissions-Policy turns the camera off, its CSP allows
only the hub's own scripts). Its functions (`window.interop`, web/interop.js) publish and play by hand and with
WHIPClient / WHEPClient, and return statuses, timings and WebRTC stats.
"""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from playwright.async_api import Page, Route

from device_agent.stamp import read_stamp

WEB = Path(__file__).resolve().parent / "web"
PREFIX = "/interop/"
# What the page may load, and nothing else (node_modules holds only whip-whep, see web/package.json).
FILES = {
    "index.html": "text/html",
    "interop.js": "text/javascript",
    "node_modules/whip-whep/whip.js": "text/javascript",
    "node_modules/whip-whep/whep.js": "text/javascript",
}


class MissingPackages(RuntimeError):
    """tests/interop/web/node_modules is absent: `make interop-deps` (which `make test` runs) installs it."""


def check_installed() -> None:
    """Raise MissingPackages unless whip-whep is installed where the page loads it from."""
    missing = [name for name in FILES if not (WEB / name).is_file()]
    if missing:
        raise MissingPackages(
            f"{', '.join(missing)} missing under {WEB}: run `make interop-deps` (npm ci in tests/interop/web)"
        )


def install_packages() -> None:
    """`npm ci` in tests/interop/web when whip-whep is not installed (a fresh clone's benchmark run; `make test`
    runs `make interop-deps` instead)."""
    try:
        check_installed()
    except MissingPackages:
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=WEB, check=True)
        check_installed()


async def interop_page(page: Page, hub_url: str) -> None:
    """Serve the interop page under `hub_url` and open it in `page`; returns once `window.interop` is there."""
    check_installed()

    async def serve(route: Route) -> None:
        name = route.request.url.removeprefix(hub_url + PREFIX).split("?", 1)[0]
        if name not in FILES:
            await route.fulfill(status=404, body="not an interop file")
            return
        await route.fulfill(status=200, content_type=FILES[name], body=(WEB / name).read_bytes())

    await page.context.route(f"{hub_url}{PREFIX}**", serve)
    await page.goto(f"{hub_url}{PREFIX}index.html")
    await page.wait_for_function("() => window.interop !== undefined", timeout=10_000)


async def call(page: Page, function: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
    """`window.interop[function](arguments)` in the page; its answer."""
    answer: dict[str, Any] = await page.evaluate(
        "([name, args]) => window.interop[name](args)", [function, arguments or {}]
    )
    return answer


def picture_stamp(answer: dict[str, Any]) -> int | None:
    """The capture stamp (ms) in the picture a player's answer carries (a PNG data URL), if it has one."""
    data_url = answer.get("picture")
    if not data_url:
        return None
    raw = base64.b64decode(data_url.split(",", 1)[1])
    image = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR)
    return read_stamp(np.asarray(image, dtype=np.uint8)) if image is not None else None


def summary(answer: dict[str, Any]) -> str:
    """An answer without its picture, for failure messages."""
    return json.dumps({key: value for key, value in answer.items() if key != "picture"}, indent=1)[:4000]
