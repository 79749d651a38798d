"""Helpers for driving the hub's pages in Chromium: second factors for test accounts, logging in through the
form, screenshots kept as test artifacts, and an accessibility check (labels and keyboard reachability)."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pyotp
from playwright.async_api import Locator, Page

from hub.store.sqlite import SqliteStore
from tests.support.procs import ROOT, Hub
from tests.support.secrets import SECRETS

# Screenshots land here (not committed: see .gitignore), or in $TEST_ARTIFACTS_DIR; CI can keep the folder as the
# run's artifacts. (Not a PORCHLIGHT_ variable: the hubs the tests start read every one of those as a setting.)
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS_DIR", ROOT / "test-artifacts"))


async def give_totp(hub: Hub, username: str) -> str:
    """Enrol a TOTP second factor for `username` straight in the hub's store; its secret."""
    config = hub.config()
    store = await SqliteStore.open(config.store.sqlite_path, default_max_grant_seconds=3600)
    try:
        account, _ = await store.find_account(username)
        secret = pyotp.random_base32()
        SECRETS.add(secret, "TOTP secret")  # no log may show it (issue 8)
        await store.set_totp(account.id, secret, enrolled=True)
        return secret
    finally:
        await store.close()


def code(secret: str, steps_ahead: int = 0) -> str:
    """The TOTP code for now, or for a later 30-second step (the hub accepts one step of drift: a second log-in
    in the same step uses the next step's code, since a code is never accepted twice)."""
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead)


async def log_in(page: Page, username: str, password: str, totp: str | None = None) -> None:
    """Fill and send the log-in form the page shows, and wait until it is gone."""
    SECRETS.add(password, "password")
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(password)
    if totp is not None:
        await page.get_by_label(re.compile("Code")).fill(totp)
    await page.get_by_role("button", name="Log in").click()
    await page.locator("#login-title").wait_for(state="detached")


async def screenshot(page: Page, name: str) -> Path:
    """Save a full-page screenshot as a test artifact; its path."""
    path = ARTIFACTS / f"{name}.png"  # Playwright makes the folder
    await page.screenshot(path=str(path), full_page=True)
    return path


_UNLABELLED = """
() => {
  const named = (el) => {
    if (el.getAttribute('aria-label') || el.getAttribute('aria-labelledby')) return true;
    if (el.labels && el.labels.length) return true;
    if (['BUTTON', 'A', 'SUMMARY'].includes(el.tagName)) return el.textContent.trim().length > 0;
    return el.getAttribute('title');
  };
  // checkVisibility: also false inside a closed <details>, whose content Chromium lays out but hides
  const visible = (el) => el.checkVisibility() && !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length);
  const all = 'input:not([type=hidden]), select, textarea, button, a[href], [role=img], video';
  return [...document.querySelectorAll(all)]
    .filter((el) => visible(el) && !named(el))
    .map((el) => el.outerHTML.slice(0, 120));
}
"""

_CONTROLS = """
() => {
  // checkVisibility: also false inside a closed <details>, whose content Chromium lays out but hides
  const visible = (el) => el.checkVisibility() && !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length);
  return [...document.querySelectorAll('input:not([type=hidden]), select, textarea, button, a[href], summary')]
    .filter((el) => visible(el) && !el.disabled)
    .map((el, i) => { el.dataset.a11yId = String(i); return String(i); });
}
"""


async def accessibility_problems(page: Page, max_tabs: int = 200) -> list[str]:
    """What a keyboard or screen-reader user would trip on: controls without an accessible name, and visible
    controls that Tab never reaches (each named by a snippet of its HTML)."""
    problems = [f"no label: {html}" for html in await page.evaluate(_UNLABELLED)]
    controls = set(await page.evaluate(_CONTROLS))
    reached: set[str] = set()
    await page.evaluate("() => document.activeElement && document.activeElement.blur()")
    for _ in range(max_tabs):
        await page.keyboard.press("Tab")
        focused = await page.evaluate("() => document.activeElement && document.activeElement.dataset.a11yId")
        if focused is not None:
            if focused in reached and reached >= controls:
                break
            reached.add(focused)
    for missing in sorted(controls - reached):
        html = await page.evaluate(f"() => document.querySelector('[data-a11y-id=\"{missing}\"]').outerHTML")
        problems.append(f"not reachable with Tab: {html[:120]}")
    return problems


async def is_focused(locator: Locator) -> bool:
    """Whether `locator` has the keyboard focus."""
    focused: bool = await locator.evaluate("el => el === document.activeElement")
    return focused


async def tab_to(page: Page, target: Locator, max_tabs: int = 60) -> None:
    """Press Tab until `target` has the focus (the page is used with the keyboard only)."""
    for _ in range(max_tabs):
        if await is_focused(target):
            return
        await page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {target} in {max_tabs} presses")


async def tab_once_to(page: Page, target: Locator) -> None:
    """The next Tab lands on `target` (a logical tab order)."""
    await page.keyboard.press("Tab")
    assert await is_focused(target), await page.evaluate("document.activeElement.outerHTML.slice(0, 200)")
