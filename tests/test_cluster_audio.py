"""Issue 15, audio as its own consent, on two hubs sharing a real Redis: the owner turns audio off through hub B
while an officer listens on hub A, which streams the camera. The call returns once hub A confirmed its gates closed
to audio; from then no audio packet reaches the viewer (judged by arrival times at an aiortc viewer whose audio
receiver is tapped), its video goes on, and turned back on through B the audio resumes for the same view.

The publisher is a plain WHIP publisher (video and Opus, no control channel): the gate alone decides.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from hub.routing.redis import CLOSURES
from hub.store.redis import RedisStore
from tests.conftest import PASSWORDS
from tests.support.client import Api
from tests.support.cluster import TwoHubs, two_hubs
from tests.support.procs import wait_until
from tests.test_audio_consent import PACKET_SECONDS, AudioViewer, Publisher

CAM = "front-door"


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[TwoHubs]:
    async with two_hubs(tmp_path) as hubs:
        yield hubs


@contextlib.asynccontextmanager
async def closures(cluster: TwoHubs) -> AsyncIterator[list[dict[str, Any]]]:
    """The hubs' withdrawal confirmations on the Redis bus ({camera, version, node}), as they are published."""
    store = await RedisStore.open(cluster.redis.url, default_max_grant_seconds=7 * 86400)
    seen: list[dict[str, Any]] = []
    subscribed = asyncio.Event()

    async def follow() -> None:
        async for message in store.subscribe_raw(CLOSURES):
            if message.get("kind") == "subscribed":
                subscribed.set()
            else:
                seen.append(message)

    task = asyncio.create_task(follow())
    try:
        await asyncio.wait_for(subscribed.wait(), 10)
        yield seen
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await store.close()


async def _audio(owner: Api, on: bool) -> dict[str, Any]:
    status, body = await owner.call("PUT", f"/api/cameras/{CAM}/grant/audio", {"audio": on})
    assert status == 200, body
    assert body["grant"]["audio"] is on, body
    return body


async def _grant_audio(api: Api) -> bool:
    status, body = await api.call("GET", "/api/cameras")
    assert status == 200, body
    [camera] = [c for c in body["cameras"] if c["id"] == CAM]
    return bool(camera["grant"]["audio"])


@pytest.mark.solo
@pytest.mark.timeout(90)
async def test_audio_off_through_hub_b_silences_the_view_on_hub_a(cluster: TwoHubs) -> None:
    alice_a = await Api(cluster.a.url).login("alice", PASSWORDS["alice"])
    alice_b = await Api(cluster.b.url).login("alice", PASSWORDS["alice"])
    olivia = await Api(cluster.a.url).login("olivia", PASSWORDS["olivia"])
    publisher = Publisher(cluster.a, cluster.seeded.tokens[CAM])
    listener = AudioViewer(olivia, CAM)
    store = await RedisStore.open(cluster.redis.url, default_max_grant_seconds=7 * 86400)
    try:
        # Audio on (through B) before the plain publisher connects to A: only then is its audio taken.
        await _audio(alice_b, True)

        async def a_knows() -> bool:
            return await _grant_audio(alice_a)

        await wait_until(a_knows, 10, "hub A to hold the grant with audio")
        await publisher.start()
        assert publisher.audio_direction() == "recvonly"
        owner = await store.camera_owner(CAM)
        assert owner is not None and owner[0] == "hub-a", owner  # A streams the camera; B does not

        assert await listener.watch() == 201, listener.error
        await wait_until(lambda: len(listener.packets) >= 25, 20, "audio at the viewer on hub A")
        await wait_until(lambda: len(listener.frames) >= 10, 20, "video at the viewer on hub A")

        async with closures(cluster) as confirmations:
            body = await _audio(alice_b, False)
            off = time.monotonic()
            # Confirmed, not a lease bound: hub A, which carries the view, saw its gates closed to audio.
            assert body["gates"]["confirmed"] is True, body
            version = body["grant"]["version"]
            await wait_until(lambda: confirmations, 5, "hub A's confirmation on the bus")
            assert {"camera": CAM, "version": version, "node": "hub-a"} in confirmations, confirmations
            # B applies its own change too and says so (every hub does; only the carriers are waited for).
            assert {c["node"] for c in confirmations} <= {"hub-a", "hub-b"}, confirmations
        frames_at_off = len(listener.frames)
        await wait_until(lambda: len(listener.frames) >= frames_at_off + 30, 20, "video to go on after audio off")
        # Nothing later than one packet interval after the call returned (a packet in flight may still land).
        assert listener.audio_after(off + PACKET_SECONDS) == 0, listener.audio_after(off)
        assert listener.audio_after(off) <= 1
        assert not listener.track_ended.is_set() and not listener.got_end.is_set()

        # On again through B: audio resumes for the same view on A, without renegotiation.
        heard = len(listener.packets)
        await _audio(alice_b, True)
        await wait_until(lambda: len(listener.packets) >= heard + 25, 20, "audio to resume on hub A")
        assert await listener.hang_up() == 200
    finally:
        await listener.close()
        await publisher.close()
        await store.close()
        for api in (alice_a, alice_b, olivia):
            await api.close()
