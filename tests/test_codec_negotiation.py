"""Each camera's codec is negotiated with its publisher, its viewers get that codec, and every refusal or failed
handshake is said in the log and counted in /metrics (issue 15, items 3-5). Real hub processes, real aiortc peers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpCodecCapability, RTCRtpSender, RTCSessionDescription

from device_agent.sources import SyntheticSource
from device_agent.track import CameraTrack
from tests.conftest import MODES
from tests.support.client import Api, Viewer
from tests.support.procs import Hub, wait_until

CAMERA = "backyard"  # no agent: published here over WHIP by the test, as a third-party encoder would


def capabilities(keep: Callable[[RTCRtpCodecCapability], bool]) -> list[RTCRtpCodecCapability]:
    """The sender's video capabilities that `keep` keeps, with RTX."""
    codecs = RTCRtpSender.getCapabilities("video").codecs
    return [c for c in codecs if keep(c) or c.mimeType.lower() == "video/rtx"]


# What FFmpeg's WHIP muxer offers: H264 Baseline (profile-level-id 42001f, the constraint flag dropped) only.
FFMPEG_LIKE = capabilities(lambda c: c.mimeType == "video/H264" and c.parameters["profile-level-id"] == "42001f")
VP8_ONLY = capabilities(lambda c: c.mimeType == "video/VP8")


class Publisher:
    """A plain WHIP publisher of stamped synthetic video, limited to some codecs, whose first frame can be held."""

    def __init__(self, hub: Hub, token: str, codecs: list[RTCRtpCodecCapability], hold: bool = False) -> None:
        self.hub, self.token = hub, token
        self.source = SyntheticSource(320, 240, name=CAMERA)
        self.go = asyncio.Event()
        if not hold:
            self.go.set()
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        track = CameraTrack(self.source, fps=15)
        recv = track.recv

        async def held() -> Any:
            await self.go.wait()
            return await recv()

        track.recv = held  # type: ignore[method-assign]
        self.pc.addTransceiver(track, direction="sendonly").setCodecPreferences(codecs)
        self.location: str | None = None

    async def offer(self, edit: Callable[[str], str] = lambda sdp: sdp) -> tuple[int, str]:
        """POST the (edited) offer; on 201 apply the answer. (status, body)."""
        await self.pc.setLocalDescription(await self.pc.createOffer())
        async with aiohttp.ClientSession() as http:
            response = await http.post(
                f"{self.hub.url}/whip/{CAMERA}",
                data=edit(self.pc.localDescription.sdp),
                headers={"Content-Type": "application/sdp", "Authorization": f"Bearer {self.token}"},
            )
            body = await response.text()
        if response.status == 201:
            self.location = response.headers["Location"]
            await self.pc.setRemoteDescription(RTCSessionDescription(body, "answer"))
        return response.status, body

    async def delete(self) -> int:
        assert self.location is not None
        headers = {"Authorization": f"Bearer {self.token}"}
        async with aiohttp.ClientSession() as http, http.delete(f"{self.hub.url}{self.location}", headers=headers) as r:
            return r.status

    async def close(self) -> None:
        await self.pc.close()
        self.source.close()


@contextlib.asynccontextmanager
async def publishing(hub: Hub, token: str, codecs: list[RTCRtpCodecCapability], **kw: Any) -> AsyncIterator[Publisher]:
    publisher = Publisher(hub, token, codecs, **kw)
    try:
        yield publisher
    finally:
        await publisher.close()


async def log_says(hub: Hub, text: str) -> None:
    assert hub.proc is not None
    await hub.proc.wait_log(re.escape(text))


async def opted_in(login: Any) -> None:
    owner = await login("alice")
    status, body = await owner.call("POST", f"/api/cameras/{CAMERA}/grant", {"duration_seconds": 3600})
    assert status == 201, body


async def camera_status(api: Api) -> str:
    status, cameras = await api.call("GET", "/api/cameras")
    assert status == 200, cameras
    return str(next(c for c in cameras["cameras"] if c["id"] == CAMERA)["status"])


async def vp8_only_view(api: Api) -> tuple[int, dict[str, Any]]:
    """A WHEP offer whose video is VP8 only; (status, JSON body)."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        pc.addTransceiver("video", direction="recvonly").setCodecPreferences(VP8_ONLY)
        await pc.setLocalDescription(await pc.createOffer())
        response = await api.http.post(
            f"{api.base}/whep/{CAMERA}",
            params={"case": "CASE-9", "reason": "codec test"},
            data=pc.localDescription.sdp,
            headers={"Content-Type": "application/sdp", **api.headers},
        )
        return response.status, json.loads(await response.text())
    finally:
        await pc.close()


async def test_a_vp8_hub_takes_ffmpegs_baseline_h264_and_its_viewers_get_h264(hub: Hub, tokens, login) -> None:
    await opted_in(login)
    officer = await login("olivia")
    async with publishing(hub, tokens[CAMERA], FFMPEG_LIKE) as publisher:
        status, answer = await publisher.offer()
        assert status == 201, answer
        assert "H264/90000" in answer and "VP8/90000" not in answer
        viewer = Viewer(officer, CAMERA)
        try:
            assert await viewer.watch() == 201, viewer.error
            await viewer.wait_frames(10)
            assert viewer.stamped(), "the viewer decodes the publisher's stamped pictures"
            assert "H264/90000" in viewer.pc.remoteDescription.sdp
            assert await camera_status(officer) == "streaming"
            refused, body = await vp8_only_view(officer)
            assert refused == 400 and body["reason"] == "codec_unsupported", body
            assert f"camera {CAMERA} sends H264" in body["message"] and "the offer's video has VP8" in body["message"]
        finally:
            await viewer.close()
    await log_says(hub, "WHEP offer for backyard refused: 400 codec_unsupported")


@pytest.mark.parametrize("hub_env", [MODES["passthrough-h264"]], ids=["h264-hub"])
async def test_an_h264_hub_takes_a_vp8_only_publisher(hub: Hub, tokens, login) -> None:
    await opted_in(login)
    officer = await login("olivia")
    async with publishing(hub, tokens[CAMERA], VP8_ONLY) as publisher:
        status, answer = await publisher.offer()
        assert status == 201, answer
        assert "VP8/90000" in answer and "H264/90000" not in answer
        viewer = Viewer(officer, CAMERA)
        try:
            assert await viewer.watch() == 201, viewer.error
            await viewer.wait_frames(10)
            assert "VP8/90000" in viewer.pc.remoteDescription.sdp
        finally:
            await viewer.close()
    await log_says(hub, "camera backyard: publishing VP8 over WHIP")


async def test_a_codec_refusal_names_both_sides_in_the_answer_the_log_and_the_metrics(hub: Hub, tokens) -> None:
    async with publishing(hub, tokens[CAMERA], VP8_ONLY) as publisher:
        status, body = await publisher.offer(lambda sdp: sdp.replace("VP8/90000", "VP9/90000"))
    assert status == 400, body
    error = json.loads(body)
    assert error["reason"] == "codec_unsupported"
    assert "the offer's video has VP9; this hub accepts VP8, or H264 Baseline" in error["message"]
    await log_says(hub, "WHIP offer for backyard refused: 400 codec_unsupported (the offer's video has VP9")
    assert await hub.metric('porchlight_offer_refusals_total{endpoint="whip",reason="codec_unsupported"}') == 1


def wrong_fingerprint(sdp: str) -> str:
    """The offer with its DTLS fingerprint changed: ICE comes up, the DTLS handshake cannot."""
    lines = []
    for line in sdp.splitlines():
        if line.startswith("a=fingerprint:sha-256 "):
            digest = line.split()[1]
            flipped = ("00" if digest[:2] != "00" else "11") + digest[2:]
            line = f"a=fingerprint:sha-256 {flipped}"
        lines.append(line)
    return "\r\n".join(lines) + "\r\n"


async def test_a_failed_dtls_handshake_is_logged_counted_and_the_session_can_still_be_deleted(
    hub: Hub, tokens, login
) -> None:
    owner = await login("alice")
    async with publishing(hub, tokens[CAMERA], VP8_ONLY) as publisher:
        status, body = await publisher.offer(wrong_fingerprint)
        assert status == 201, body
        assert await camera_status(owner) == "connecting"  # answered, but no frame yet: not "streaming"
        await log_says(hub, "DTLS handshake failed")
        assert await publisher.delete() == 200  # the session ended, and saying so again is not an error
    metric = 'porchlight_handshake_failures_total{endpoint="whip",stage="dtls"}'
    assert await hub.metric(metric) == 1
    assert await camera_status(owner) == "offline"


async def test_a_camera_is_streaming_only_once_its_frames_arrive(hub: Hub, tokens, login) -> None:
    owner = await login("alice")
    async with publishing(hub, tokens[CAMERA], VP8_ONLY, hold=True) as publisher:
        status, body = await publisher.offer()
        assert status == 201, body
        await wait_until(lambda: publisher.pc.connectionState == "connected", 10, "the publisher to connect")
        assert await camera_status(owner) == "connecting"
        publisher.go.set()

        async def streaming() -> bool:
            return await camera_status(owner) == "streaming"

        await wait_until(streaming, 10, "the camera to show as streaming")
