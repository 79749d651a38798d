"""Publishers nobody on the project wrote, on a hub of each codec, judged by an officer's aiortc viewer: FFmpeg 8's
WHIP muxer (H264, with and without Opus) and Chromium pages (fake camera and microphone) doing WHIP by hand and
with Medooze's WHIPClient. See tests/interop/cases.py."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.interop.cases import PUBLISHERS, Case
from tests.interop.fixtures import check, rig
from tests.interop.rig import Rig

__all__ = ["rig"]
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.mark.parametrize("case", PUBLISHERS, ids=[case.name for case in PUBLISHERS])
async def test_publisher(rig: Rig, case: Case, record_property: Callable[[str, object], None]) -> None:
    await check(rig, case, record_property)
