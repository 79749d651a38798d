"""A keyframe request names the camera's video SSRC, not its retransmission stream's (issue 15, item 1).

Chromium sends RTX padding before its first frame, so the first SSRC the hub's receiver sees is the RTX one, and
Chromium ignores a PLI naming it: the camera never sends another keyframe and late joiners get a black tile. Two
real aiortc peers on loopback; the publisher sends an RTX padding packet first, as Chromium does.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiortc import RTCPeerConnection, RTCSessionDescription, VideoStreamTrack
from aiortc.rtp import RTCP_PSFB_PLI, RtcpPsfbPacket, RtpPacket

from hub.media.encoded import EncodedFrame, KeyframeRequester, release_on_marker, tap_receiver
from tests.support.procs import wait_until


class HeldTrack(VideoStreamTrack):
    """Synthetic video whose first frame waits until the test lets it go."""

    def __init__(self) -> None:
        super().__init__()
        self.go = asyncio.Event()

    async def recv(self) -> Any:
        await self.go.wait()
        return await super().recv()


async def test_the_keyframe_request_names_the_video_ssrc_after_rtx_padding() -> None:
    publisher, hub = RTCPeerConnection(), RTCPeerConnection()
    track = HeldTrack()
    sender = publisher.addTrack(track)
    plis: list[int] = []
    handle_rtcp = sender._handle_rtcp_packet

    async def seen(packet: Any) -> None:
        if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_PLI:
            plis.append(packet.media_ssrc)
        await handle_rtcp(packet)

    sender._handle_rtcp_packet = seen  # type: ignore[method-assign]
    frames: list[EncodedFrame] = []
    requester: list[KeyframeRequester] = []

    @hub.on("track")
    def on_track(remote: Any) -> None:
        receiver = next(t.receiver for t in hub.getTransceivers() if t.receiver.track is remote)
        buffer = release_on_marker(receiver)
        tap_receiver(receiver, frames.append)
        requester.append(KeyframeRequester(receiver, buffer, 0.1))

    try:
        await publisher.setLocalDescription(await publisher.createOffer())
        await hub.setRemoteDescription(publisher.localDescription)
        await hub.setLocalDescription(await hub.createAnswer())
        await publisher.setRemoteDescription(RTCSessionDescription(hub.localDescription.sdp, "answer"))
        await wait_until(lambda: publisher.connectionState == "connected", 10, "the peers to connect")
        rtx_type = next(
            c.payloadType for t in publisher.getTransceivers() for c in t._codecs if c.mimeType.lower() == "video/rtx"
        )
        assert rtx_type is not None
        padding = RtpPacket(payload_type=rtx_type, sequence_number=1, timestamp=0, ssrc=sender._rtx_ssrc)
        padding.padding_size = 200
        await sender.transport._send_rtp(padding.serialize())
        seen_ssrcs = lambda: {s.source for r in hub.getReceivers() for s in r.getSynchronizationSources()}  # noqa: E731
        await wait_until(
            lambda: sender._rtx_ssrc in seen_ssrcs(),
            5,
            "the RTX padding to arrive first",
        )
        track.go.set()
        await wait_until(lambda: frames, 10, "the first frame")
        requester[0].request("join")
        await wait_until(lambda: plis, 5, "a PLI at the publisher")
        assert set(plis) == {sender._ssrc}, f"PLI named {plis}, video is {sender._ssrc}, RTX {sender._rtx_ssrc}"
    finally:
        for requester_ in requester:
            requester_.close()
        await publisher.close()
        await hub.close()
