"""Players nobody on the project wrote, on a hub of each codec: WHEP from a Chromium page by hand and with Medooze's
WHEPClient, watching our own agent and FFmpeg's WHIP stream, judged by the frames the page decodes and the capture
stamp in one it shows. See tests/interop/cases.py."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.interop.cases import PLAYERS, Case
from tests.interop.fixtures import check, rig
from tests.interop.rig import Rig

__all__ = ["rig"]
pytestmark = pytest.mark.asyncio(loop_scope="module")


# A page playing our agent's camera by hand is tests/test_chromium_playback.py already (both codecs); bench.interop
# runs it with the rest.
SUITE = [case for case in PLAYERS if case.name != "chromium-whep-by-hand/agent"]


@pytest.mark.parametrize("case", SUITE, ids=[case.name for case in SUITE])
async def test_player(rig: Rig, case: Case, record_property: Callable[[str, object], None]) -> None:
    await check(rig, case, record_property)
