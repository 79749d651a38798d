"""Issue 15: audio only with its own consent. A real hub process, a real aiortc WHIP publisher sending video and
Opus audio (a plain publisher: no control channel, so the gate alone decides), and aiortc WHEP viewers that ask
for audio. Audio is judged as packets arrive at the viewer (its receiver tapped, nothing decoded), against the
moment the owner's call returned."""

from __future__ import annotations

import asyncio
import fractions
import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import av
import numpy as np
import pytest
from aiortc import (
    AudioStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
    VideoStreamTrack,
)
from aiortc.sdp import SessionDescription

from hub.media.audio_tap import AudioPacket, tap_audio
from tests.support.client import Api, Viewer
from tests.support.procs import Hub, wait_until
from tests.support.secrets import SECRETS

CAMERA = "front-door"
PACKET_SECONDS = 0.020  # Opus packets every 20 ms


class ToneTrack(AudioStreamTrack):
    """A 440 Hz tone in 20 ms frames, paced in real time (aiortc's own AudioStreamTrack is silence)."""

    def __init__(self) -> None:
        super().__init__()
        self._samples = 0
        self._t0: float | None = None

    async def recv(self) -> av.AudioFrame:
        rate, count = 48000, 960
        if self._t0 is None:
            self._t0 = time.monotonic()
        wait = self._t0 + self._samples / rate - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)  # real-time pacing of a live source, as a microphone delivers
        t = (np.arange(count) + self._samples) / rate
        pcm = (np.sin(2 * math.pi * 440 * t) * 8000).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = rate, self._samples, fractions.Fraction(1, rate)
        self._samples += count
        return frame


@dataclass
class Publisher:
    """A standard WHIP publisher: video and Opus audio, sendonly."""

    hub: Hub
    token: str
    pc: RTCPeerConnection = field(default_factory=lambda: RTCPeerConnection(RTCConfiguration(iceServers=[])))
    answer: str = ""

    async def start(self) -> None:
        self.pc.addTransceiver(VideoStreamTrack(), direction="sendonly")
        self.pc.addTransceiver(ToneTrack(), direction="sendonly")
        await self.pc.setLocalDescription(await self.pc.createOffer())
        SECRETS.add_sdp(self.pc.localDescription.sdp)
        api = Api(self.hub.url)
        try:
            async with api.http.post(
                f"{self.hub.url}/whip/{CAMERA}",
                data=self.pc.localDescription.sdp,
                headers={"Content-Type": "application/sdp", "Authorization": f"Bearer {self.token}"},
            ) as response:
                self.answer = await response.text()
                assert response.status == 201, self.answer
        finally:
            await api.close()
        SECRETS.add_sdp(self.answer)
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=self.answer, type="answer"))

    def audio_direction(self) -> str | None:
        """How the hub answered the offer's audio."""
        audio = [m for m in SessionDescription.parse(self.answer).media if m.kind == "audio"]
        return audio[0].direction if audio else None

    async def close(self) -> None:
        await self.pc.close()


@dataclass
class AudioViewer(Viewer):
    """A WHEP viewer whose offer also receives audio (the audio section first, as browsers put it); its audio
    receiver is tapped, so each packet is counted with the moment it arrived."""

    with_audio: bool = True
    packets: list[tuple[float, AudioPacket]] = field(default_factory=list)

    async def watch(self, case: str = "CASE-1", reason: str = "test") -> int:
        if self.with_audio:
            audio = self.pc.addTransceiver("audio", direction="recvonly")
            tap_audio(audio.receiver, lambda packet: self.packets.append((time.monotonic(), packet)))
        return await super().watch(case, reason)

    def audio_after(self, moment: float) -> int:
        return sum(1 for arrived, _ in self.packets if arrived > moment)


@pytest.fixture
async def publishing(hub: Hub, tokens: dict[str, str]) -> AsyncIterator[Publisher]:
    publisher = Publisher(hub, tokens[CAMERA])
    yield publisher
    await publisher.close()


async def _audio(owner: Api, on: bool) -> dict[str, Any]:
    status, body = await owner.call("PUT", f"/api/cameras/{CAMERA}/grant/audio", {"audio": on})
    assert status == 200, body
    assert body["grant"]["audio"] is on and body["gates"]["confirmed"] is True
    return body


async def _records(owner: Api, kind: str) -> list[dict[str, Any]]:
    status, body = await owner.call("GET", f"/api/audit/records?camera={CAMERA}&limit=1000")
    assert status == 200, body
    return [r["fields"] for r in body["records"] if r["fields"]["kind"] == kind]


def _audio_metric(reason: str) -> str:
    """The /metrics sample of audio packets the gate decided on with `reason`."""
    return f'porchlight_audio_packets_total{{reason="{reason}"}}'


async def _view_ends(owner: Api, count: int) -> list[dict[str, Any]]:
    """The last `count` view.ended records, once they are on the record (it is written after the view ends)."""
    found: list[dict[str, Any]] = []

    async def written() -> bool:
        found[:] = await _records(owner, "view.ended")
        return len(found) >= count

    await wait_until(written, 20, f"{count} view.ended records")
    return found[-count:]


async def test_audio_is_off_unless_the_owner_turns_it_on(hub: Hub, login: Any, publishing: Publisher) -> None:
    """The seeded grant has no audio: the plain publisher's audio is answered inactive (not even received), and a
    viewer asking for audio gets video only. An opt-in says `audio: false` unless asked; `audio` is validated."""
    owner = await login("alice")
    status, body = await owner.call("GET", "/api/cameras")
    assert [c["grant"]["audio"] for c in body["cameras"] if c["id"] == CAMERA] == [False]
    await publishing.start()
    assert publishing.audio_direction() == "inactive"
    viewer = AudioViewer(await login("olivia"), CAMERA)
    try:
        assert await viewer.watch() == 201
        # A second of video: audio, had it been forwarded, would be 50 packets by now.
        await wait_until(lambda: len(viewer.frames) >= 30, 20, "video at the viewer")
        assert viewer.packets == []
        assert await viewer.hang_up() == 200
    finally:
        await viewer.close()
    assert [r["audio_packets"] for r in await _view_ends(owner, 1)] == [0]
    status, body = await owner.call("POST", f"/api/cameras/{CAMERA}/grant", {"audio": "yes"})
    assert status == 400 and body["reason"] == "bad_audio"
    status, body = await owner.call("POST", f"/api/cameras/{CAMERA}/grant", {"duration_seconds": 600})
    assert status == 201 and body["grant"]["audio"] is False
    status, body = await owner.call("PUT", "/api/cameras/backyard/grant/audio", {"audio": True})
    assert status == 409 and body["reason"] == "not_opted_in"  # never opted in: nothing to add audio to
    status, body = await (await login("bob")).call("PUT", f"/api/cameras/{CAMERA}/grant/audio", {"audio": True})
    assert status in (403, 404)  # not the owner


@pytest.mark.solo
async def test_audio_off_mid_view_silences_within_a_packet_while_video_goes_on(
    hub: Hub, login: Any, publishing: Publisher
) -> None:
    owner = await login("alice")
    status, body = await owner.call("POST", f"/api/cameras/{CAMERA}/grant", {"duration_seconds": 600, "audio": True})
    assert status == 201 and body["grant"]["audio"] is True
    await publishing.start()
    assert publishing.audio_direction() == "recvonly"
    listener = AudioViewer(await login("olivia"), CAMERA)
    deaf = AudioViewer(await login("olivia"), CAMERA, with_audio=False)
    try:
        assert await listener.watch() == 201
        assert await deaf.watch() == 201
        await wait_until(lambda: len(listener.packets) >= 25, 20, "audio at the viewer")
        assert all(packet.packet.size > 0 for _, packet in listener.packets)
        # Each packet sent is counted in /metrics as the gate's `ok`, like frames.
        assert await hub.metric(_audio_metric("ok")) >= 25
        assert await hub.metric(_audio_metric("audio_off")) == 0
        await _audio(owner, False)
        off = time.monotonic()
        frames_at_off = len(listener.frames)
        await wait_until(lambda: len(listener.frames) >= frames_at_off + 10, 20, "video to go on after audio off")
        # Nothing later than one packet interval after the call returned (what was in flight may still land).
        assert listener.audio_after(off + PACKET_SECONDS) == 0
        assert listener.audio_after(off) <= 1
        # The publisher's packets go on arriving and are refused: counted as `audio_off`, and `ok` stands still.
        sent = await hub.metric(_audio_metric("ok"))
        refused = await hub.metric(_audio_metric("audio_off"))

        async def refusing() -> bool:
            return await hub.metric(_audio_metric("audio_off")) >= refused + 10

        await wait_until(refusing, 10, "audio packets refused as audio_off")
        assert await hub.metric(_audio_metric("ok")) == sent
        # On again: audio resumes for the same view, no renegotiation.
        heard = len(listener.packets)
        await _audio(owner, True)
        await wait_until(lambda: len(listener.packets) >= heard + 10, 20, "audio to resume")
        # A withdrawal ends both: the view ends, nothing more arrives.
        status, _ = await owner.call("DELETE", f"/api/cameras/{CAMERA}/grant")
        assert status == 200
        withdrawn = time.monotonic()
        assert (await listener.wait_end())["reason"] == "withdrawn"
        await wait_until(listener.track_ended.is_set, 10, "the video track to end")
        assert listener.audio_after(withdrawn + PACKET_SECONDS) == 0
        assert deaf.packets == []
    finally:
        await listener.close()
        await deaf.close()
    ended = await _view_ends(owner, 2)
    assert sorted(r["audio_packets"] > 0 for r in ended) == [False, True]
    assert [r["audio"] for r in await _records(owner, "consent.audio")] == [False, True]
    assert (await _records(owner, "consent.granted"))[-1]["audio"] is True


async def test_no_audio_reaches_a_viewer_while_the_grant_has_none(hub: Hub, login: Any, publishing: Publisher) -> None:
    """The publisher's audio is taken (audio was on when it connected) but turned off before anyone watches: a
    viewer asking for audio gets none, though the hub receives it, while its video flows."""
    owner = await login("alice")
    status, _ = await owner.call("POST", f"/api/cameras/{CAMERA}/grant", {"duration_seconds": 600, "audio": True})
    assert status == 201
    await publishing.start()
    assert publishing.audio_direction() == "recvonly"
    await _audio(owner, False)
    viewer = AudioViewer(await login("olivia"), CAMERA)
    try:
        assert await viewer.watch() == 201
        await wait_until(lambda: len(viewer.frames) >= 30, 20, "video at the viewer")
        assert viewer.packets == []
        assert await viewer.hang_up() == 200
    finally:
        await viewer.close()
    assert [r["audio_packets"] for r in await _view_ends(owner, 1)] == [0]
