"""Passthrough packetizes each frame once per camera and writes it to every viewer (issue 18): real aiortc viewers
of one camera receive byte-identical RTP payloads (VP8 picture IDs included, which each aiortc sender numbers from
its own random start) under their own SSRC, sequence numbers and timestamps; a frame no viewer admits is never cut;
the sender's statistics count what was written; a viewer's NACK is answered from the writer's history over RTX."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiortc import RTCPeerConnection
from aiortc.rtp import RtpPacket

from hub.media.packetizer import Packetizer
from hub.media.rtp_writer import check_internals
from tests.conftest import PASSWORDS
from tests.support.client import Api, Viewer
from tests.support.inproc import InProcHub, inproc_hub
from tests.support.procs import running_agent, wait_until

CAM = "front-door"


class Recorded:
    """A viewer whose receiver notes every RTP packet that reaches it (after SRTP), by SSRC."""

    def __init__(self, api: Api) -> None:
        self.viewer = Viewer(api, CAM)
        self.packets: list[RtpPacket] = []

    async def watch(self) -> int:
        status = await self.viewer.watch()
        receiver = self.viewer.pc.getTransceivers()[0].receiver
        handle = receiver._handle_rtp_packet

        async def noted(packet: RtpPacket, arrival_time_ms: int) -> None:
            self.packets.append(packet)
            await handle(packet, arrival_time_ms)

        receiver._handle_rtp_packet = noted  # type: ignore[method-assign]
        return status

    def frames(self) -> set[tuple[bytes, ...]]:
        """Each whole frame received, as its packets' payloads in order."""
        frames: list[tuple[bytes, ...]] = []
        current: list[bytes] = []
        for packet in sorted(self.packets, key=lambda p: p.sequence_number):
            current.append(packet.payload)
            if packet.marker:
                frames.append(tuple(current))
                current = []
        return set(frames[1:])  # the first may have begun before the recording did


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[InProcHub]:
    async with inproc_hub(tmp_path) as running:
        yield running


async def test_every_viewer_gets_the_same_payloads_under_its_own_header(
    hub: InProcHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cut = {"frames": 0}
    pack = Packetizer.pack

    def counted(self: Packetizer, packet: Any) -> Any:
        cut["frames"] += 1
        return pack(self, packet)

    monkeypatch.setattr(Packetizer, "pack", counted)
    api = await Api(hub.url).login("olivia", PASSWORDS["olivia"])
    viewers = [Recorded(api) for _ in range(3)]
    try:
        async with running_agent(hub, CAM, hub.seeded.tokens[CAM], tmp_path):  # type: ignore[arg-type]
            assert await asyncio.gather(*(v.watch() for v in viewers)) == [201] * 3
            await asyncio.gather(*(v.viewer.wait_frames(15) for v in viewers))
            frames = [v.frames() for v in viewers]
            shared = frames[0] & frames[1] & frames[2]
            # The same frames, byte for byte, for all three (the VP8 descriptor's picture ID included).
            assert len(shared) >= 5, [len(f) for f in frames]
            # Each viewer its own RTP stream.
            assert len({v.packets[0].ssrc for v in viewers}) == 3
            assert len({v.packets[-1].timestamp for v in viewers}) == 3
            # Cut once per frame, not once per viewer: at most the frames the camera sent.
            sent = max(len(v.viewer.frames) for v in viewers)
            assert cut["frames"] <= sent + 5, (cut, sent)
            assert cut["frames"] * 2 < sum(len(v.viewer.frames) for v in viewers)
            # The sender's statistics (the view record's bytes) count what the writer wrote.
            live = list(hub.streams.stream(CAM).viewers.values())
            assert len(live) == 3
            for view in live:
                assert await view.bytes_sent() > 0
    finally:
        for v in viewers:
            await v.viewer.close()
        await api.close()


async def test_a_lost_packet_is_resent_over_rtx(hub: InProcHub, tmp_path: Path) -> None:
    api = await Api(hub.url).login("olivia", PASSWORDS["olivia"])
    recorded = Recorded(api)
    try:
        async with running_agent(hub, CAM, hub.seeded.tokens[CAM], tmp_path):  # type: ignore[arg-type]
            assert await recorded.watch() == 201
            await recorded.viewer.wait_frames(5)
            ssrc = recorded.packets[0].ssrc
            lost = recorded.packets[-1].sequence_number
            receiver = recorded.viewer.pc.getTransceivers()[0].receiver
            await receiver._send_rtcp_nack(ssrc, [lost])

            def resent() -> bool:
                return any(p.ssrc != ssrc and p.payload[:2] == lost.to_bytes(2, "big") for p in recorded.packets)

            await wait_until(resent, 5, "the packet to come back over RTX")
    finally:
        await recorded.viewer.close()
        await api.close()


async def test_the_writer_finds_the_internals_it_relies_on() -> None:
    pc = RTCPeerConnection()
    try:
        check_internals(pc.addTransceiver("video", direction="sendonly").sender)  # raises naming what moved
    finally:
        await pc.close()


class BrokenSrtp:
    """A viewer's SRTP context that refuses every RTP packet (a fault injected into one viewer's connection); its
    RTCP still goes through the real one, so aiortc's sender can end normally."""

    def __init__(self, real: Any) -> None:
        self.protect_rtcp = real.protect_rtcp

    def protect(self, packet: bytes) -> bytes:
        raise ValueError("SRTP refused the packet (test fault)")


async def test_one_viewer_failing_to_send_leaves_the_camera_and_the_others_watching(
    hub: InProcHub, tmp_path: Path
) -> None:
    api = await Api(hub.url).login("olivia", PASSWORDS["olivia"])
    viewers = [Recorded(api) for _ in range(2)]
    try:
        async with running_agent(hub, CAM, hub.seeded.tokens[CAM], tmp_path):  # type: ignore[arg-type]
            assert await asyncio.gather(*(v.watch() for v in viewers)) == [201] * 2
            await asyncio.gather(*(v.viewer.wait_frames(5) for v in viewers))
            publisher = hub.streams.stream(CAM).publisher
            broken, kept = sorted(hub.streams.stream(CAM).viewers.values(), key=lambda v: v.started_at)
            assert broken.pc is not None
            transport = broken.pc.getSenders()[0].transport
            transport._tx_srtp = BrokenSrtp(transport._tx_srtp)
            healthy = next(v for v in viewers if v.viewer.location and v.viewer.location.endswith(kept.id))
            before = len(healthy.viewer.frames)
            await healthy.viewer.wait_frames(before + 20)
            assert hub.streams.stream(CAM).publisher is publisher  # the camera's connection was not closed
    finally:
        for v in viewers:
            await v.viewer.close()
        await api.close()
