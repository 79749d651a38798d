"""Debian's chromium driven by Playwright, with the flags that work on these machines (see DESIGN.md)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import BrowserContext, Page, async_playwright

CHROMIUM = "/usr/lib/chromium/chromium"  # the real binary; /usr/bin/chromium is a wrapper script

# Playwright 1.65's own `--disable-features=...` (playwright-core, server/chromium/chromiumSwitches.ts). Chromium
# honours only the last --disable-features switch, so that one is dropped with `ignore_default_args` and its list is
# passed again, merged with ours, as the only one. `chromium()` checks the browser's real command line.
PLAYWRIGHT_DISABLED_FEATURES = (
    "AvoidUnnecessaryBeforeUnloadCheckSync",
    "DestroyProfileOnBrowserClose",
    "HttpsUpgrades",
    "HttpsFirstBalancedModeAutoEnable",
    "LensOverlay",
    "MediaRouter",
    "PaintHolding",
    "ThirdPartyStoragePartitioning",
    "AvoidCorsURLLoaderRestartOnRedirect",
    "TcpPortRandomizationWin",
    "OptimizationHints",
    "NetworkTimeServiceQuerying",
    "AimEnabled",
    "PreconnectToSearch",
    "msForceBrowserSignIn",
    "msEdgeUpdateLaunchServicesPreferredVersion",
)
PLAYWRIGHT_DISABLE_FEATURES_ARG = "--disable-features=" + ",".join(PLAYWRIGHT_DISABLED_FEATURES)
# Host candidates as real 127.0.0.1 addresses, not mDNS names that nothing here resolves.
OUR_DISABLED_FEATURES = ("WebRtcHideLocalIpsWithMdns",)
DISABLE_FEATURES_ARG = "--disable-features=" + ",".join(PLAYWRIGHT_DISABLED_FEATURES + OUR_DISABLED_FEATURES)

ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--allow-loopback-in-peer-connection",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    "--mute-audio",
    "--autoplay-policy=no-user-gesture-required",
    # Loopback only: every name but 127.0.0.1 and localhost fails to resolve.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
    DISABLE_FEATURES_ARG,
]


@contextlib.asynccontextmanager
async def chromium(*extra_args: str) -> AsyncIterator[Page]:
    """A page in a fresh headless chromium with its own temporary profile; everything closed on exit.

    Fails (never skips) when Debian's chromium is missing: `make test` installs it.
    """
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} not found: install Debian's package (`make system-deps`, or apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="porchlight-chromium-") as profile:
        async with async_playwright() as playwright:
            context = await playwright.chromium.launch_persistent_context(
                profile,
                executable_path=CHROMIUM,
                headless=True,
                args=[*ARGS, *extra_args],
                ignore_default_args=[PLAYWRIGHT_DISABLE_FEATURES_ARG],
            )
            try:
                await _check_one_disable_features(context)
                page = context.pages[0] if context.pages else await context.new_page()
                yield page
            finally:
                await context.close()


async def _check_one_disable_features(context: BrowserContext) -> None:
    """The browser got exactly one --disable-features, ours (a Playwright upgrade changes its default switch)."""
    page = await context.new_page()
    try:
        await page.goto("chrome://version")
        command_line = await page.inner_text("#command_line")
    finally:
        await page.close()
    switches = [arg for arg in command_line.split(" --") if arg.startswith("disable-features=")]
    assert switches == [DISABLE_FEATURES_ARG.removeprefix("--")], (
        f"chromium got --disable-features switches {switches}; Playwright's default changed: "
        "update PLAYWRIGHT_DISABLED_FEATURES from its chromiumSwitches"
    )
