"""Issue 15, audio as its own consent, on the resident page in a real Chromium: the "share sound too" tick at opt-in
(off unless ticked), the sound switch on a live grant, the summary's words agreeing with the hub's grant, and the
history saying "audio heard" or "video only" for each view. Screenshots at a phone's and a desktop's width are
kept in the test's tmp_path.

Real processes on loopback: the seeded hub, a plain WHIP publisher sending video and Opus (aiortc), officers'
aiortc WHEP viewers that ask for audio.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Locator, Page, ViewportSize, expect

from tests.conftest import PASSWORDS
from tests.support.browser import chromium
from tests.support.client import Api
from tests.support.pages import accessibility_problems, log_in
from tests.support.procs import Hub, wait_until
from tests.test_audio_consent import AudioViewer, Publisher

FRONT, BACKYARD = "front-door", "backyard"
TIMEOUT_MS = 20_000
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}

Login = Callable[[str], Awaitable[Api]]


def _section(page: Page, camera: str) -> Locator:
    return page.locator(f'section[data-camera="{camera}"]')


async def _open_as(page: Page, hub: Hub, username: str) -> None:
    """Open the resident page, log in through its form, and wait until every camera's history is checked."""
    await page.goto(f"{hub.url}/resident")
    await log_in(page, username, PASSWORDS[username])
    await expect(page.locator("#whoami")).to_have_text(f"Logged in as {username}", timeout=TIMEOUT_MS)
    checkpoints = page.locator("section.camera [data-checkpoint]")
    await expect(checkpoints.first).to_be_attached(timeout=TIMEOUT_MS)
    for summary in await page.locator("section.camera details.camera-details > summary").all():
        await summary.click()  # each camera's history is under its Details
    await expect(checkpoints.first).to_be_visible()
    for checkpoint in await checkpoints.all():
        await expect(checkpoint).to_have_attribute("data-checkpoint", "verified", timeout=TIMEOUT_MS)


async def _grant(api: Api, camera: str) -> dict[str, Any]:
    status, body = await api.call("GET", "/api/cameras")
    assert status == 200, body
    [found] = [c for c in body["cameras"] if c["id"] == camera]
    grant: dict[str, Any] = found["grant"]
    return grant


async def _shows_audio(page: Page, api: Api, camera: str, audio: bool) -> None:
    """The page's summary and sound switch say `audio`, and so does the hub's grant (still live: the video goes on)."""
    section = _section(page, camera)
    summary = section.locator(".consent-state")
    await expect(summary).to_have_attribute("data-consent", "shared", timeout=TIMEOUT_MS)
    await expect(summary).to_have_attribute("data-audio", str(audio).lower(), timeout=TIMEOUT_MS)
    await expect(summary).to_contain_text("Video and sound" if audio else "Video only")
    await expect(summary).not_to_contain_text("Video only" if audio else "Video and sound")
    switch = section.get_by_role("switch", name=f"Share sound from {'Front door' if camera == FRONT else 'Backyard'}")
    if audio:
        await expect(switch).to_be_checked()
    else:
        await expect(switch).not_to_be_checked()
    await expect(switch).to_be_enabled()
    grant = await _grant(api, camera)
    assert grant["audio"] is audio and grant["live"] is True, grant


async def _shots(page: Page, tmp_path: Path, name: str, camera: str) -> None:
    """Screenshots at a phone's and a desktop's width, of the whole page and of the camera's section (to look at the
    audio controls up close); at the phone's, nothing wider than the screen and every control labelled and
    reachable. Back at the desktop's width afterwards."""
    for width, size in (("phone", PHONE), ("desktop", DESKTOP)):
        await page.set_viewport_size(size)
        await page.screenshot(path=str(tmp_path / f"{name}-{width}.png"), full_page=True)
        await _section(page, camera).screenshot(path=str(tmp_path / f"{name}-{width}-{camera}.png"))
        if width == "phone":
            overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"the page is {overflow}px wider than a phone screen"
            assert await accessibility_problems(page) == []


@pytest.mark.timeout(120)
async def test_sound_at_opt_in_and_on_a_live_grant(hub: Hub, login: Login, tmp_path: Path) -> None:
    alice = await login("alice")
    async with chromium() as page:
        await page.set_viewport_size(DESKTOP)
        await _open_as(page, hub, "alice")
        # The seeded grant shares video only.
        await _shows_audio(page, alice, FRONT, False)

        # Opt in with "share sound too": off until ticked.
        backyard = _section(page, BACKYARD)
        await backyard.get_by_role("switch", name="Share Backyard with police").check()
        tick = backyard.get_by_role("checkbox", name="Share sound too")
        await expect(tick).to_be_visible()
        await expect(tick).not_to_be_checked()
        await tick.check()
        await _shots(page, tmp_path, "audio-chooser", BACKYARD)
        await backyard.get_by_role("button", name="Share Backyard for 1 hour").click()
        await _shows_audio(page, alice, BACKYARD, True)
        await _shots(page, tmp_path, "audio-shared", BACKYARD)

        # The sound switch off and on again on the live grant; the video stays shared throughout.
        sound = backyard.get_by_role("switch", name="Share sound from Backyard too")
        await sound.uncheck()
        await _shows_audio(page, alice, BACKYARD, False)
        await expect(page.locator("#status")).to_contain_text("video only")
        await _shots(page, tmp_path, "audio-off", BACKYARD)
        await sound.check()
        await _shows_audio(page, alice, BACKYARD, True)
        await expect(page.locator("#status")).to_contain_text("shared too")

        # Withdrawn, then opted in again without the tick: video only.
        await backyard.get_by_role("switch", name="Share Backyard with police").uncheck()
        await expect(backyard.locator(".consent-state")).to_have_attribute(
            "data-consent", "withdrawn", timeout=TIMEOUT_MS
        )
        await expect(backyard.get_by_role("switch", name="Share sound from Backyard too")).to_have_count(0)
        await backyard.get_by_role("switch", name="Share Backyard with police").check()
        await expect(backyard.get_by_role("checkbox", name="Share sound too")).not_to_be_checked()
        await backyard.get_by_role("button", name="Share Backyard for 1 hour").click()
        await _shows_audio(page, alice, BACKYARD, False)

        # The record names each change in the history, in the page's words.
        rows = backyard.locator("table.consent-history tbody tr")
        await expect(rows.filter(has_text="stopped sharing sound (video only)")).to_have_count(1, timeout=TIMEOUT_MS)
        await expect(rows.filter(has_text="shared sound too")).to_have_count(1)
        await expect(rows.filter(has_text="with sound")).to_have_count(1)


async def _view(api: Api, *, audio_heard: bool) -> None:
    """One view of the front door by an aiortc viewer that asks for audio: a second of video, and audio or none."""
    viewer = AudioViewer(api, FRONT)
    try:
        assert await viewer.watch("CASE-AUDIO-1" if audio_heard else "CASE-AUDIO-2", "noise") == 201, viewer.error
        if audio_heard:
            await wait_until(lambda: len(viewer.packets) >= 25, 20, "audio at the viewer")
        await wait_until(lambda: len(viewer.frames) >= 30, 20, "video at the viewer")
        if not audio_heard:
            assert viewer.packets == []
        assert await viewer.hang_up() == 200
    finally:
        await viewer.close()


@pytest.mark.timeout(120)
async def test_history_says_whether_a_view_heard_audio(
    hub: Hub, login: Login, tokens: dict[str, str], tmp_path: Path
) -> None:
    alice, olivia = await login("alice"), await login("olivia")
    publisher = Publisher(hub, tokens[FRONT])
    async with chromium() as page:
        await page.set_viewport_size(DESKTOP)
        await _open_as(page, hub, "alice")
        front = _section(page, FRONT)
        # Sound on from the page before the camera connects (a plain publisher's audio is taken only then).
        await front.get_by_role("switch", name="Share sound from Front door too").check()
        await _shows_audio(page, alice, FRONT, True)
        try:
            await publisher.start()
            assert publisher.audio_direction() == "recvonly"
            await _view(olivia, audio_heard=True)
            await front.get_by_role("switch", name="Share sound from Front door too").uncheck()
            await _shows_audio(page, alice, FRONT, False)
            await _view(olivia, audio_heard=False)
        finally:
            await publisher.close()

        heard = front.locator("table.history tbody tr[data-view]").filter(has_text="CASE-AUDIO-1")
        deaf = front.locator("table.history tbody tr[data-view]").filter(has_text="CASE-AUDIO-2")
        await expect(heard).to_have_attribute("data-audio", "audio heard", timeout=TIMEOUT_MS)
        await expect(deaf).to_have_attribute("data-audio", "video only", timeout=TIMEOUT_MS)
        # In a column of its own: how the view ended is unchanged.
        await expect(heard.locator('td[data-label="Sound"]')).to_have_text("Audio heard")
        await expect(deaf.locator('td[data-label="Sound"]')).to_have_text("Video only")
        for row in (heard, deaf):
            await expect(row.locator('td[data-label="How it ended"]')).to_have_text("The officer hung up")
        for row in (heard, deaf):
            await expect(row).to_have_attribute("data-status", "verified", timeout=TIMEOUT_MS)
        # The page's words are the record's: audio packets sent to the view, or none.
        status, body = await alice.call("GET", f"/api/audit/records?camera={FRONT}&limit=1000")
        assert status == 200, body
        ended = {
            r["fields"]["case"]: r["fields"]["audio_packets"]
            for r in body["records"]
            if r["fields"]["kind"] == "view.ended"
        }
        assert ended["CASE-AUDIO-1"] > 0 and ended["CASE-AUDIO-2"] == 0, ended
        await _shots(page, tmp_path, "audio-history", FRONT)
