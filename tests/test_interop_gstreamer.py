"""GStreamer's `webrtcbin` (Debian's packages) publishing over WHIP and playing over WHEP, on both codec settings.

Debian 12's GStreamer has no whipsink/whepsrc, so tests/interop/gst_webrtc.py drives webrtcbin and does the HTTP
exchange itself, as a user of that GStreamer would. Publishing is judged by the capture stamps an aiortc viewer
decodes; playing by the stamps in the frames GStreamer decodes from our own agent's camera. Time to first frame is
printed (`pytest -s` shows it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.interop.gstreamer import CaseResult, missing, run_case_detailed
from tests.support.procs import Hub, seeded_hub

# One event loop for the module: its hubs (one per codec) are shared by the cases.
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=["vp8", "h264"])
async def codec_hub(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Hub]:
    """One seeded hub per `media.codec` setting, shared by the module's cases on that codec."""
    why_not = missing()  # `make test` installs Debian's GStreamer through `make system-deps`
    if why_not is not None:
        pytest.fail(why_not)
    codec = request.param
    # A WHIP session that sends nothing is ended after media.silence_seconds (5 s). Once, in a full run on a machine
    # losing a quarter of its CPU to its host, GStreamer's H264 publisher sent no frame within that; this hub waits
    # longer, so a slow start is not taken for silence (silence itself: tests/test_publisher_silence.py).
    env = {"PORCHLIGHT_MEDIA__CODEC": codec, "PORCHLIGHT_MEDIA__SILENCE_SECONDS": "20"}
    async with seeded_hub(tmp_path_factory.mktemp(f"gst-hub-{codec}"), env) as hub:
        yield hub


def _report(direction: str, codec: str, result: CaseResult) -> None:
    first = f"{result.first_frame_seconds:.2f} s" if result.first_frame_seconds is not None else "none"
    print(f"\nGStreamer {direction} {codec}: {'ok' if result.ok else 'FAILED'}, first frame {first}; {result.detail}")


@pytest.mark.parametrize("direction", ["publish", "play"])
async def test_gstreamer(codec_hub: Hub, direction: str, tmp_path: Path) -> None:
    codec = codec_hub.env["PORCHLIGHT_MEDIA__CODEC"]
    result = await run_case_detailed(codec_hub, direction, codec, tmp_path)  # type: ignore[arg-type]
    _report(direction, codec, result)
    assert result.ok, f"GStreamer {direction} {codec}: {result.detail}\nhub log tail:\n{_hub_tail(codec_hub)}"


def _hub_tail(hub: Hub, lines: int = 15) -> str:
    assert hub.proc is not None
    return "\n".join(hub.proc.log().splitlines()[-lines:])
