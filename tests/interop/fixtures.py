"""The module-scoped rig fixture the interop test modules share, one hub per codec, and how each case's result
is printed (`pytest -s`) and attached to the test report (`record_property`, JUnit XML)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
import pytest_asyncio

from tests.interop.cases import Case, CaseResult, run_case
from tests.interop.rig import CODECS, Rig, interop_rig


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=CODECS)
async def rig(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Rig]:
    """A hub on each `media.codec` setting, with its officer and Chromium page, for every test of the module."""
    async with interop_rig(tmp_path_factory.mktemp(f"interop-{request.param}"), request.param) as started:
        yield started


async def check(rig: Rig, case: Case, record_property: Callable[[str, object], None]) -> CaseResult:
    """Run `case`, print and record its figures, then fail with its error if it failed."""
    result = await run_case(rig, case)
    print(result.line())
    record_property("interop_case", result.case)
    record_property("codec", result.codec)
    record_property("first_frame_ms", result.first_frame_ms)
    record_property("publish_ms", result.publish_ms)
    record_property("frames", result.frames)
    assert result.ok, f"{case.name} on a {rig.codec} hub: {result.error}"
    return result
