"""Debian's chromium driven by Playwright, with the flags that work on these machines (see DESIGN.md)."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import os
import tempfile
import threading
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, BrowserContext, Page, Playwright, async_playwright

from tests.support.procs import START_TIMEOUT, free_port

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


class SharedChromium:
    """One Chromium per test process (and per set of extra switches), launched on first use and left running, from
    which `chromium()` takes a fresh browser context for each page: launching a browser costs ~2 s of CPU, a
    context a fraction of it. The browsers live on an event loop of their own in a thread (each test has its own
    loop); pages reach them over the DevTools protocol. `close()` ends them all."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._playwright: Playwright | None = None
        self._browsers: dict[tuple[str, ...], tuple[Browser, str]] = {}

    def endpoint(self, extra_args: tuple[str, ...]) -> str:
        """The DevTools address of the browser launched with `extra_args` (launched now if it is not running).
        Blocking: call it through `asyncio.to_thread`."""
        with self._lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                self._thread = threading.Thread(target=self._loop.run_forever, name="chromium", daemon=True)
                self._thread.start()
            known = self._browsers.get(extra_args)
            if known is None or not known[0].is_connected():
                future = asyncio.run_coroutine_threadsafe(self._launch(extra_args), self._loop)
                known = self._browsers[extra_args] = future.result(timeout=START_TIMEOUT)
            return known[1]

    async def _launch(self, extra_args: tuple[str, ...]) -> tuple[Browser, str]:
        if self._playwright is None:
            self._playwright = await async_playwright().start()
        port = free_port()
        browser = await self._playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[*ARGS, *extra_args, f"--remote-debugging-port={port}"],
            ignore_default_args=[PLAYWRIGHT_DISABLE_FEATURES_ARG],
        )
        context = await browser.new_context()
        try:
            await _check_one_disable_features(context)
        finally:
            await context.close()
        return browser, f"http://127.0.0.1:{port}"

    async def _close(self) -> None:
        for browser, _ in self._browsers.values():
            with contextlib.suppress(Exception):  # one that died is closed already; the others still get closed
                await browser.close()
        self._browsers.clear()
        if self._playwright is not None:
            await self._playwright.stop()
            self._playwright = None

    def close(self) -> None:
        """End every browser and the thread."""
        with self._lock:
            if self._loop is None or self._thread is None:
                return
            asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(timeout=START_TIMEOUT)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=START_TIMEOUT)
            self._loop.close()
            self._loop = self._thread = None


# The test process's shared browsers (tests/conftest.py sets it for the session); unset (a benchmark run outside
# pytest), `chromium()` launches a browser of its own for each page.
SHARED: contextvars.ContextVar[SharedChromium | None] = contextvars.ContextVar("shared_chromium", default=None)


def _check_installed() -> None:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} not found: install Debian's package (`make system-deps`, or apt-get install chromium)")


@contextlib.asynccontextmanager
async def chromium(*extra_args: str) -> AsyncIterator[Page]:
    """A page in a fresh browser context of headless chromium (the test process's shared browser for these
    switches, see `SharedChromium`, else a browser of its own with a temporary profile); everything the page
    opened is closed on exit.

    Fails (never skips) when Debian's chromium is missing: `make test` installs it.
    """
    _check_installed()
    shared = SHARED.get()
    if shared is None:
        async with _own_chromium(*extra_args) as page:
            yield page
        return
    endpoint = await asyncio.to_thread(shared.endpoint, tuple(extra_args))
    async with async_playwright() as playwright:
        browser = await playwright.chromium.connect_over_cdp(endpoint)
        try:
            context = await browser.new_context()
            try:
                yield await context.new_page()
            finally:
                await context.close()
        finally:
            await browser.close()  # only disconnects: the shared browser runs on


@contextlib.asynccontextmanager
async def _own_chromium(*extra_args: str) -> AsyncIterator[Page]:
    """A page in a browser of its own with its own temporary profile; everything closed on exit."""
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
