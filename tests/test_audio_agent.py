"""Issue 15: the agent sends a microphone only when asked. A real hub and a real agent process with
`--audio-source tone`; an aiortc viewer that asks for audio, its packets counted as they arrive."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.procs import Hub, running_agent, wait_until
from tests.test_audio_consent import CAMERA, PACKET_SECONDS, AudioViewer


async def _audio(owner: Any, on: bool) -> None:
    status, body = await owner.call("PUT", f"/api/cameras/{CAMERA}/grant/audio", {"audio": on})
    assert status == 200 and body["grant"]["audio"] is on, body


@pytest.mark.solo
async def test_the_agent_sends_audio_only_while_the_grant_allows_it(
    hub: Hub, tokens: dict[str, str], login: Any, tmp_path: Path
) -> None:
    owner = await login("alice")
    async with running_agent(hub, CAMERA, tokens[CAMERA], tmp_path, "--audio-source", "tone") as agent:
        viewer = AudioViewer(await login("olivia"), CAMERA)
        try:
            assert await viewer.watch() == 201
            # The seeded grant has no audio: video flows, the agent sends no sound (it was never told it may).
            await wait_until(lambda: len(viewer.frames) >= 20, 20, "video at the viewer")
            assert viewer.packets == []
            assert not agent.log_has("the owner shares audio")
            await _audio(owner, True)
            await agent.wait_log("the owner shares audio")
            await wait_until(lambda: len(viewer.packets) >= 25, 20, "the agent's audio at the viewer")
            await _audio(owner, False)
            off = time.monotonic()
            frames = len(viewer.frames)
            await agent.wait_log("the owner stopped sharing audio")
            await wait_until(lambda: len(viewer.frames) >= frames + 10, 20, "video to go on")
            assert viewer.audio_after(off + PACKET_SECONDS) == 0
            status, _ = await owner.call("DELETE", f"/api/cameras/{CAMERA}/grant")
            assert status == 200
            assert (await viewer.wait_end())["reason"] == "withdrawn"
        finally:
            await viewer.close()
