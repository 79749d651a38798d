"""The pages' words for a duration, in a real Chromium: one rule everywhere (issue 16: "7 days", never "168
hours"), from the module every page imports (web/js/time-words.js)."""

from __future__ import annotations

from tests.support.browser import chromium
from tests.support.procs import Hub

CASES = {
    90: "90 seconds",
    900: "15 minutes",
    3600: "1 hour",
    8 * 3600: "8 hours",
    86400: "1 day",
    2 * 86400: "2 days",
    7 * 86400: "7 days",
    36 * 3600: "36 hours",  # not a whole number of days
}


async def test_a_duration_reads_the_same_on_every_page(hub: Hub) -> None:
    async with chromium() as page:
        await page.goto(f"{hub.url}/resident")
        words = await page.evaluate(
            "async (cases) => { const m = await import('/js/time-words.js');"
            " return Object.fromEntries(cases.map((s) => [s, m.durationWords(s)])); }",
            list(CASES),
        )
    assert {int(seconds): text for seconds, text in words.items()} == CASES


CLOCKS = {
    0: "0 s",
    45: "45 s",
    185: "3 min 05 s",
    7 * 3600 + 245: "7 h 04 min 05 s",
    6 * 86400 + 86398: "6 d 23 h 59 min 58 s",
}


async def test_a_countdown_reads_the_same_on_every_page(hub: Hub) -> None:
    """Every page's clocks (grant and pilot countdowns, how long a view has run) share one rule."""
    async with chromium() as page:
        await page.goto(f"{hub.url}/officer")
        words = await page.evaluate(
            "async (cases) => { const m = await import('/js/time-words.js');"
            " return Object.fromEntries(cases.map((s) => [s, m.clock(s)])); }",
            list(CLOCKS),
        )
    assert {int(seconds): text for seconds, text in words.items()} == CLOCKS
