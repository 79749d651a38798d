"""Spoofed datagrams sprayed at the hub's media port before the real peer connects: the session still comes up.

The hub's answer names its media port. Before our real peer applies that answer (so before its ICE checks and
DTLS handshake), other sockets on 127.0.0.1 send that port noise, STUN checks with wrong credentials (and with
the right username but a key nobody holds), DTLS ClientHello records and RTP/RTCP, a few hundred of each. Then
the real peer connects and video must flow: for a viewer (WHEP) and for a camera publishing (WHIP), at once.

Without porchlight_rtc.datagrams the hub's handshake failed here: aioice queued the non-STUN datagrams from any
address, and aiortc fed the fake ClientHello records to OpenSSL during the hub's DTLS handshake.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from device_agent.sources import SyntheticSource
from device_agent.track import CameraTrack
from device_agent.whip import codec_preferences
from tests.support.client import Api, Viewer
from tests.support.procs import Hub, running_agent, wait_until
from tests.support.stun import Spray, candidate_ports, ice_ufrag, spray

WATCHED = "front-door"  # its agent publishes; our viewer's WHEP session is sprayed
PUBLISHED = "backyard"  # we publish it over WHIP ourselves; that session is sprayed
EACH = 300  # datagrams of every kind (six kinds)
FRAMES = 5


class Receiver:
    """Decodes every frame of the tracks a peer connection receives."""

    def __init__(self, pc: RTCPeerConnection) -> None:
        self.frames = 0
        self._tasks: list[asyncio.Task[None]] = []
        pc.on("track", self._on_track)

    def _on_track(self, track: MediaStreamTrack) -> None:
        self._tasks.append(asyncio.create_task(self._read(track)))

    async def _read(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame: Any = await track.recv()
                frame.to_ndarray(format="bgr24")  # decoded, not just received
                self.frames += 1

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


@contextlib.asynccontextmanager
async def peer() -> AsyncIterator[RTCPeerConnection]:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        yield pc
    finally:
        await pc.close()


async def post_offer(api: Api, url: str, offer: str, headers: dict[str, str], **params: str) -> str:
    """POST an offer; the answer (201 required)."""
    async with api.http.post(
        url, params=params, data=offer, headers={"Content-Type": "application/sdp", **headers}
    ) as response:
        answer = await response.text()
        assert response.status == 201, answer
        return answer


async def spray_answer(answer: str, offer: str) -> Spray:
    """Spray the hub's media port named in `answer` (its one loopback host candidate)."""
    ports = candidate_ports(answer)
    assert len(ports) == 1, f"expected one loopback host candidate in the answer, got {ports}"
    sprayed = await spray(ports[0], ice_ufrag(answer), ice_ufrag(offer), EACH)
    print(
        f"sprayed {sprayed.total} datagrams at the hub's port {sprayed.port} in {sprayed.seconds:.2f} s: {sprayed.sent}"
    )
    # Delivered to the hub, not lost in its socket's buffer: else the test would prove nothing.
    assert sprayed.dropped == 0, f"the kernel dropped {sprayed.dropped} of {sprayed.total} datagrams"
    return sprayed


async def connected(pc: RTCPeerConnection, who: str) -> None:
    await wait_until(lambda: pc.connectionState in ("connected", "failed"), 10, f"{who}'s connection to settle")
    assert pc.connectionState == "connected", f"{who}'s connection failed after the spray"


async def watch_under_spray(hub: Hub, officer: Api) -> None:
    """A viewer's WHEP session, sprayed before it connects, decodes frames from the camera's agent."""
    async with peer() as pc:
        pc.addTransceiver("video", direction="recvonly")
        receiver = Receiver(pc)
        try:
            await pc.setLocalDescription(await pc.createOffer())
            offer = pc.localDescription.sdp
            url = f"{hub.url}/whep/{WATCHED}"
            answer = await post_offer(officer, url, offer, officer.headers, case="CASE-SPRAY", reason="spoof test")
            await spray_answer(answer, offer)
            await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
            await connected(pc, "the viewer")
            await wait_until(lambda: receiver.frames >= FRAMES, 20, f"the viewer to decode {FRAMES} frames")
            assert pc.connectionState == "connected"
        finally:
            await receiver.close()


async def publish_under_spray(hub: Hub, officer: Api, token: str) -> None:
    """A camera's WHIP session (a plain publisher: ours), sprayed before it connects, reaches a real viewer."""
    source = SyntheticSource(320, 240, name=PUBLISHED)
    async with peer() as pc:
        track = CameraTrack(source, fps=15)
        pc.addTransceiver(track, direction="sendonly").setCodecPreferences(codec_preferences("vp8"))
        await pc.setLocalDescription(await pc.createOffer())
        offer = pc.localDescription.sdp
        answer = await post_offer(officer, f"{hub.url}/whip/{PUBLISHED}", offer, {"Authorization": f"Bearer {token}"})
        await spray_answer(answer, offer)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        await connected(pc, "the publisher")
        # The hub takes the camera's frames: a real viewer decodes our stamped pictures.
        viewer = Viewer(officer, PUBLISHED)
        try:
            assert await viewer.watch() == 201, viewer.error
            await viewer.wait_frames(FRAMES, timeout=20)
        finally:
            await viewer.close()
            source.close()
        assert pc.connectionState == "connected"


async def test_sessions_come_up_under_spray(hub: Hub, tokens, login, tmp_path: Path) -> None:
    owner = await login("alice")
    status, body = await owner.call("POST", f"/api/cameras/{PUBLISHED}/grant", {"duration_seconds": 3600})
    assert status == 201, body
    officer = await login("olivia")
    async with running_agent(hub, WATCHED, tokens[WATCHED], tmp_path, "--size", "320x240"):
        await asyncio.gather(watch_under_spray(hub, officer), publish_under_spray(hub, officer, tokens[PUBLISHED]))
    assert hub.proc is not None and "Traceback" not in hub.proc.log()
