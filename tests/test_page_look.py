"""One look across pages (issue 16): every page in Chromium, at desktop and phone width, in the system's light and
dark schemes. Each wears the same bar of pages, follows the scheme (its background and text change with it, and
every visible text keeps its contrast), loads every asset it asks for (style sheets, scripts, the favicon: no 404,
no console error, no policy violation), and passes the pages' accessibility checks: contrast in every scheme and
width, labels and Tab reach in the dark scheme (the pages' own tests check them in the light one). The screenshots
land in test-artifacts/look-<page>-<width>-<scheme>.png.

One hub and one Chromium for the module; each page is opened (and logged in, where it needs it) once, then shown
four ways (and its log-in form, where it has one, in both schemes).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

import aiohttp
import pytest
import pytest_asyncio
from playwright.async_api import BrowserContext, ConsoleMessage, Page, Request, Response, ViewportSize, expect

from tests.conftest import PASSWORDS
from tests.support.browser import chromium
from tests.support.pages import accessibility_problems, log_in, screenshot
from tests.support.procs import Hub, seeded_hub

pytestmark = pytest.mark.asyncio(loop_scope="module")

TIMEOUT_MS = 15_000
WIDTHS: dict[str, ViewportSize] = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
Scheme = Literal["light", "dark"]
SCHEMES: tuple[Scheme, ...] = ("light", "dark")
NAV = [
    ("Home", "/"),
    ("Residents", "/resident"),
    ("Officers", "/officer"),
    ("Administrators", "/admin"),
    ("Transparency", "/transparency"),
]


@dataclass(frozen=True)
class Shown:
    """A page as the test opens it: its path, who logs in (None: a public page), what shows it is ready, and which
    link of the bar of pages is marked as the current one."""

    name: str
    path: str
    user: str | None
    ready: str
    current: str


PAGES = [
    Shown("index", "/", None, "main li", "Home"),
    Shown("resident", "/resident", "alice", 'section[data-camera="front-door"]', "Residents"),
    Shown("officer", "/officer", "olivia", "#app", "Officers"),
    Shown("admin", "/admin", "ada", '#account-rows tr[data-username="ada"]', "Administrators"),
    Shown("masks", "/resident/masks?camera=front-door", "alice", "#camera-title", "Residents"),
    Shown("transparency", "/transparency", None, "main svg", "Transparency"),
]

# Every visible piece of text whose contrast with what is behind it falls short of WCAG 2's AA level: 4.5:1, or 3:1
# for large text (24px, or 18.66px bold). The background is found by compositing the element's and its ancestors'
# background colours over the canvas; text over an image or gradient is left out (it cannot be computed), as are
# disabled controls (WCAG exempts them) and text moved off screen for screen readers.
CONTRAST = """
(canvas) => {
  const parse = (c) => {
    const m = c && c.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return null;
    const p = m[1].split(/[\\s,/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const over = (top, under) => [0, 1, 2].map((i) => top[3] * top[i] + (1 - top[3]) * under[i]).concat([1]);
  const lum = (c) => {
    const ch = c.slice(0, 3).map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * ch[0] + 0.7152 * ch[1] + 0.0722 * ch[2];
  };
  const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
  const background = (el) => {
    const layers = [];
    for (let node = el; node && node.nodeType === 1; node = node.parentElement) {
      const style = getComputedStyle(node);
      if (style.backgroundImage !== 'none') return null;
      const c = parse(style.backgroundColor);
      if (c && c[3] > 0) { layers.push(c); if (c[3] === 1) break; }
    }
    let bg = canvas.concat([1]);
    for (const layer of layers.reverse()) bg = over(layer, bg);
    return bg;
  };
  const ownText = (el) => {
    if (['INPUT', 'SELECT', 'TEXTAREA'].includes(el.tagName)) {
      return ['hidden', 'checkbox', 'radio', 'range', 'color'].includes(el.type) ? '' : (el.value || '');
    }
    return [...el.childNodes].filter((n) => n.nodeType === 3).map((n) => n.textContent).join('').trim();
  };
  const problems = [];
  for (const el of document.querySelectorAll('body *')) {
    const text = ownText(el);
    if (!text || el.closest(':disabled, [aria-disabled="true"], video, option')) continue;
    if (!el.checkVisibility({ visibilityProperty: true, opacityProperty: true })) continue;  // closed <details> too
    const rect = el.getBoundingClientRect();
    if (rect.width <= 1 || rect.height <= 1 || rect.right <= 0 || rect.bottom + scrollY <= 0) continue;
    const style = getComputedStyle(el);
    const svgText = el instanceof SVGElement;
    const fg = parse(svgText ? style.fill : style.color);
    const bg = background(svgText ? el.ownerSVGElement || el : el);
    if (!fg || !bg) continue;
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    const needed = large ? 3 : 4.5;
    const got = ratio(over(fg, bg), bg);
    if (got < needed) {
      const tag = `<${el.tagName.toLowerCase()} class="${el.getAttribute('class') || ''}">`;
      const behind = `rgb(${bg.slice(0, 3).map(Math.round).join(', ')})`;
      problems.push(`${got.toFixed(2)}:1 < ${needed}:1 for ${tag} ${JSON.stringify(text.slice(0, 40))}` +
        ` (${svgText ? style.fill : style.color} on ${behind})`);
    }
  }
  return problems;
}
"""

# What the page's own background and text colours are (the root's, as the canvas shows them).
COLOURS = """
() => {
  const style = getComputedStyle(document.documentElement);
  return [style.backgroundColor, style.color, style.colorScheme];
}
"""
BLUR = "() => document.activeElement && document.activeElement.blur()"


@dataclass
class Trouble:
    """What went wrong while a page loaded: failed assets, console errors (policy violations among them)."""

    problems: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> None:
        """Collect from `page`'s events from now on."""
        page.on("response", self._response)
        page.on("requestfailed", self._failed)
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"uncaught error: {error}"))

    def _response(self, response: Response) -> None:
        # The API's answers are the pages' business (a 401 before logging in is how a page learns to show its form).
        if response.status >= 400 and not _is_api(response.url):
            self.problems.append(f"{response.status} for {response.url}")

    def _failed(self, request: Request) -> None:
        if not _is_api(request.url):
            self.problems.append(f"failed: {request.url} ({request.failure})")

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error" and not _is_api(message.location.get("url", "")):
            self.problems.append(f"console error: {message.text}")


def _is_api(url: str) -> bool:
    return urlsplit(url).path.startswith(("/api/", "/whep/"))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def hub(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Hub]:
    """One seeded hub for every page (second factors off: each role logs in with its password)."""
    async with seeded_hub(tmp_path_factory.mktemp("look-hub")) as instance:
        yield instance


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[BrowserContext]:
    """One Chromium for every page; each test opens its own tab with no cookies."""
    async with chromium() as first:
        yield first.context


@pytest_asyncio.fixture(loop_scope="module")
async def tab(browser: BrowserContext) -> AsyncIterator[Page]:
    await browser.clear_cookies()
    page = await browser.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    try:
        yield page
    finally:
        await page.close()


async def _open(page: Page, hub: Hub, shown: Shown) -> list[str]:
    """Open the page; where it asks for a log-in, judge its form in both schemes at phone width, then log in. What
    is wrong with the form."""
    await page.goto(hub.url + shown.path)
    problems: list[str] = []
    if shown.user is not None:
        await expect(page.locator("#login-title")).to_be_visible(timeout=TIMEOUT_MS)
        await page.set_viewport_size(WIDTHS["phone"])
        for scheme in SCHEMES:
            await page.emulate_media(color_scheme=scheme)
            await screenshot(page, f"look-{shown.name}-login-phone-{scheme}")
            problems += [f"log-in {scheme}: {problem}" for problem in await _scheme_problems(page, scheme)]
            problems += [f"log-in {scheme}: {problem}" for problem in await page.evaluate(CONTRAST, _canvas(scheme))]
        await page.set_viewport_size(WIDTHS["desktop"])
        await log_in(page, shown.user, PASSWORDS[shown.user])
        await expect(page.locator("#whoami")).to_contain_text(shown.user, timeout=TIMEOUT_MS)
    await expect(page.locator(shown.ready).first).to_be_visible(timeout=TIMEOUT_MS)
    await expect(page.locator('[aria-busy="true"]')).to_have_count(0, timeout=TIMEOUT_MS)
    return problems


async def _nav_problems(page: Page, hub: Hub, shown: Shown) -> list[str]:
    """How the page's bar of pages differs from the one every page carries."""
    nav = page.locator("header nav.site-nav")
    if await nav.count() != 1:
        return [f"{await nav.count()} bars of pages in the header"]
    links = await nav.locator("a").evaluate_all(
        "links => links.map((a) => [a.textContent.trim(), a.href, a.getAttribute('aria-current')])"
    )
    problems = []
    if [(name, href) for name, href, _ in links] != [(name, hub.url + path) for name, path in NAV]:
        problems.append(f"bar of pages: {links}")
    current = [name for name, _, mark in links if mark is not None]
    if current != [shown.current]:
        problems.append(f"current page marked: {current}, not {shown.current}")
    return problems


async def _icon_problems(page: Page, hub: Hub) -> list[str]:
    """The page links an icon the hub serves, as an image; /favicon.ico answers too."""
    problems = []
    hrefs = await page.locator('link[rel="icon"]').evaluate_all("links => links.map((link) => link.href)")
    if not hrefs:
        problems.append("no <link rel=icon>")
    async with aiohttp.ClientSession() as http:
        for url in [*hrefs, hub.url + "/favicon.ico"]:
            if not url.startswith(hub.url):
                problems.append(f"icon {url[:40]}: not the hub's")
                continue
            async with http.get(url) as response:
                kind = response.headers.get("Content-Type", "")
                if response.status != 200 or not kind.startswith("image/"):
                    problems.append(f"icon {url}: {response.status} {kind}")
    return problems


async def _scheme_problems(page: Page, scheme: Scheme) -> list[str]:
    """The page follows the scheme: a light background with dark text, or the other way round."""
    background, text, color_scheme = await page.evaluate(COLOURS)
    transparent = background.replace(" ", "").endswith(",0)")  # the canvas shows through
    dark_background = (scheme == "dark" and color_scheme != "normal") if transparent else _luminance(background) < 0.2
    dark_text = _luminance(text) < 0.2
    if (scheme == "dark") != dark_background or dark_background == dark_text:
        return [f"{scheme} scheme: {text} on {background} (color-scheme {color_scheme!r})"]
    return []


def _luminance(css: str) -> float:
    red, green, blue = (int(float(part)) for part in css[css.index("(") + 1 : css.index(")")].split(",")[:3])
    return (0.2126 * red + 0.7152 * green + 0.0722 * blue) / 255


@pytest.mark.timeout(120)
@pytest.mark.parametrize("shown", PAGES, ids=[shown.name for shown in PAGES])
async def test_page_looks_right_in_both_schemes_and_widths(hub: Hub, tab: Page, shown: Shown) -> None:
    trouble = Trouble()
    trouble.watch(tab)
    await tab.set_viewport_size(WIDTHS["desktop"])
    try:
        problems = await _open(tab, hub, shown)
    except AssertionError as exc:
        raise AssertionError("\n".join([str(exc), *trouble.problems])) from None
    problems += [*await _nav_problems(tab, hub, shown), *await _icon_problems(tab, hub)]
    for width, viewport in WIDTHS.items():
        await tab.set_viewport_size(viewport)
        for scheme in SCHEMES:
            await tab.emulate_media(color_scheme=scheme)
            where = f"{width} {scheme}: "
            await tab.evaluate(BLUR)  # the keyboard checks leave a focus ring where they ended
            await screenshot(tab, f"look-{shown.name}-{width}-{scheme}")
            problems += [where + problem for problem in await _scheme_problems(tab, scheme)]
            problems += [where + problem for problem in await tab.evaluate(CONTRAST, _canvas(scheme))]
            if (width, scheme) == ("desktop", "dark"):
                # Labels and Tab reach, in the scheme the pages' own tests do not show (they judge light, both widths).
                problems += [where + problem for problem in await accessibility_problems(tab)]
    problems += trouble.problems
    assert not problems, "\n".join(problems)


def _canvas(scheme: Scheme) -> list[int]:
    """Chromium's canvas colour under a page that paints no background of its own."""
    return [255, 255, 255] if scheme == "light" else [18, 18, 18]


async def test_the_contrast_check_finds_faint_text(tab: Page) -> None:
    """The check itself: grey on grey, and light text on a light field in the dark scheme, are caught; large text
    needs less; a disabled button is exempt."""
    await tab.set_content(
        '<body style="background: #16181b; color: #e6e6e6"><p id="ok">fine</p>'
        '<p style="color: #777; background: #888">faint</p>'
        "<select><option>light on white</option></select><style>select { background: #fff; color: #e6e6e6 }</style>"
        '<p style="font-size: 30px; color: #6a6a6a">large, 3.3:1</p><button disabled style="color: #333">off</button>'
    )
    problems = await tab.evaluate(CONTRAST, _canvas("dark"))
    assert len(problems) == 2 and '"faint"' in problems[0] and '"light on white"' in problems[1], problems


async def test_icons_are_served_from_their_folder_only(hub: Hub) -> None:
    """/icons/ serves the SVG and PNG files of web/icons and nothing else: no other kind of file, no way out."""
    async with aiohttp.ClientSession() as http:
        for path, status in [
            ("/icons/porchlight.svg", 200),
            ("/favicon.ico", 200),
            ("/icons/nothing.svg", 404),
            ("/icons/%2e%2e%2fcss%2fporchlight.css", 404),
            ("/icons/..%2f..%2fpyproject.toml", 404),
            ("/icons/.hidden.svg", 404),
        ]:
            async with http.get(hub.url + path) as response:
                assert response.status == status, path
                if status == 200:
                    assert response.headers["Content-Type"] == "image/svg+xml", path
                    assert "Porchlight" in await response.text()
