"""Audio through the relay between hubs, with two real hubs on one real Redis: a plain WHIP publisher (video and
Opus, no control channel: the gates alone decide) on hub A, an officer on hub B who asked for audio. The camera's
audio crosses the relay while its grant allows audio; turned off on either hub, no packet reaches the viewer after
the call returned (packets judged by their arrival at an aiortc viewer whose audio receiver is tapped), the video
goes on, and turned on again the audio resumes for the same view."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PASSWORDS
from tests.support.client import Api
from tests.support.cluster import TwoHubs, two_hubs
from tests.support.procs import Hub, wait_until
from tests.test_audio_consent import PACKET_SECONDS, AudioViewer, Publisher

CAM = "front-door"


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[TwoHubs]:
    async with two_hubs(tmp_path, a_via_proxy=False) as hubs:
        yield hubs


async def _audio(owner: Api, on: bool) -> dict[str, Any]:
    status, body = await owner.call("PUT", f"/api/cameras/{CAM}/grant/audio", {"audio": on})
    assert status == 200, body
    assert body["grant"]["audio"] is on, body
    return body


async def _relays(hub: Hub, role: str) -> float:
    return await hub.metric(f'porchlight_relays{{role="{role}"}}')


async def _silenced(listener: AudioViewer, owner: Api) -> None:
    """Audio off through `owner`'s hub: confirmed by both hubs, no packet after the call returned, video goes on."""
    body = await _audio(owner, False)
    off = time.monotonic()
    assert body["gates"]["confirmed"] is True, body
    assert sorted(body["gates"]["hubs"]) == ["hub-a", "hub-b"], body
    frames_at_off = len(listener.frames)
    await wait_until(lambda: len(listener.frames) >= frames_at_off + 30, 20, "video to go on after audio off")
    # Nothing later than one packet interval after the call returned (a packet in flight may still land).
    assert listener.audio_after(off + PACKET_SECONDS) == 0, listener.audio_after(off)
    assert listener.audio_after(off) <= 1
    assert not listener.track_ended.is_set() and not listener.got_end.is_set()


@pytest.mark.solo
@pytest.mark.timeout(120)
async def test_audio_crosses_the_relay_only_while_the_grant_allows_it(cluster: TwoHubs) -> None:
    alice_a = await Api(cluster.a.url).login("alice", PASSWORDS["alice"])
    alice_b = await Api(cluster.b.url).login("alice", PASSWORDS["alice"])
    olivia = await Api(cluster.b.url).login("olivia", PASSWORDS["olivia"])
    publisher = Publisher(cluster.a, cluster.seeded.tokens[CAM])
    listener = AudioViewer(olivia, CAM)
    try:
        # Audio on before the plain publisher connects to A: only then is its audio taken.
        await _audio(alice_a, True)
        await publisher.start()
        assert publisher.audio_direction() == "recvonly"

        assert await listener.watch() == 201, listener.error
        assert await _relays(cluster.b, "asking") == 1  # B serves it through the relay from A
        await wait_until(lambda: len(listener.packets) >= 25, 20, "audio at the viewer on hub B")
        await wait_until(lambda: len(listener.frames) >= 10, 20, "video at the viewer on hub B")
        assert all(packet.packet.size > 0 for _, packet in listener.packets)

        # Off on the owning hub, on again through B, off on B: the same view throughout.
        await _silenced(listener, alice_a)
        heard = len(listener.packets)
        await _audio(alice_b, True)
        await wait_until(lambda: len(listener.packets) >= heard + 25, 20, "audio to resume through the relay")
        await _silenced(listener, alice_b)
        assert await listener.hang_up() == 200
    finally:
        await listener.close()
        await publisher.close()
        for api in (alice_a, alice_b, olivia):
            await api.close()
