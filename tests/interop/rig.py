"""What every interop case runs against: a hub process on one `media.codec` setting, the owners' opt-ins, a
logged-in officer, and one headless Chromium with fake camera and microphone showing the interop page.

The tests hold one rig per codec per module (tests/test_interop_*.py); `python -m bench.interop` one per codec.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from playwright.async_api import Page

from tests.conftest import PASSWORDS
from tests.interop.browser import interop_page
from tests.support.browser import chromium
from tests.support.client import Api
from tests.support.procs import Hub
from tests.support.secrets import SECRETS

# Plain WHIP publishers (FFmpeg, Chromium pages) publish this camera; our own agent feeds the other. Both belong
# to alice, who opts both in when the rig starts.
PLAIN_CAMERA = "front-door"
AGENT_CAMERA = "backyard"
OWNER = "alice"
OFFICER = "olivia"
CODECS = ("vp8", "h264")
# Chromium's stand-ins for a camera and a microphone, granted without a prompt (what a browser asks for by default).
FAKE_DEVICES = ("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream")


@dataclass
class Rig:
    """A running hub on one codec, an officer's sessions on it, and a Chromium page on its origin."""

    hub: Hub
    codec: str
    tmp: Path
    tokens: dict[str, str]  # device tokens by camera
    officer: Api  # logged in (cookie and CSRF token) for the aiortc viewers
    officer_token: str  # the same session's token, for players that send `Authorization: Bearer`
    page: Page  # the interop page (tests/interop/web), same origin as the hub, no cookie of its own

    def whip_url(self, camera: str) -> str:
        return f"{self.hub.url}/whip/{camera}"

    def whep_url(self, camera: str, case: str = "INTEROP-1") -> str:
        # Case and reason in the query string: plain WHEP players send nothing else.
        return f"{self.hub.url}/whep/{camera}?case={case}&reason=interop%20test"


async def _login(hub: Hub, username: str) -> tuple[Api, str]:
    """An API session of `username` and its session token (for a bearer client)."""
    api = Api(hub.url)
    async with api.http.post(
        f"{hub.url}/api/login", json={"username": username, "password": PASSWORDS[username]}
    ) as response:
        assert response.status == 200, await response.text()
        answer = await response.json()
    SECRETS.add_json(answer)
    api.csrf = answer["csrf_token"]
    return api, answer["token"]


async def opt_in(hub: Hub, owner: str, cameras: tuple[str, ...], seconds: int = 3600) -> None:
    """The owner opts each camera in (all agencies) through the API, as the resident page does."""
    api, _ = await _login(hub, owner)
    try:
        for camera in cameras:
            status, body = await api.call("POST", f"/api/cameras/{camera}/grant", {"duration_seconds": seconds})
            assert status in (200, 201), f"{owner} could not opt {camera} in: {status} {body}"
    finally:
        await api.close()


@contextlib.asynccontextmanager
async def interop_rig(tmp: Path, codec: str, env: dict[str, str] | None = None) -> AsyncIterator[Rig]:
    """Start everything a case needs on `codec`; all of it stopped on exit. `env`: more hub settings."""
    hub = Hub(tmp, env={"PORCHLIGHT_MEDIA__CODEC": codec, **(env or {})})
    hub.write_config()
    seeded = await hub.seed()
    hub.seeded = seeded  # type: ignore[attr-defined]  # as tests/conftest.py's `hub` (GStreamer's cases read it)
    await hub.start()
    try:
        await opt_in(hub, OWNER, (PLAIN_CAMERA, AGENT_CAMERA))
        officer, token = await _login(hub, OFFICER)
        try:
            async with chromium(*FAKE_DEVICES) as page:
                await interop_page(page, hub.url)
                yield Rig(hub, codec, tmp, seeded.tokens, officer, token, page)
        finally:
            await officer.close()
    finally:
        await hub.stop()
