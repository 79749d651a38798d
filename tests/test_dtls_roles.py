"""DTLS in both roles with peers whose certificates are RSA-2048, ECDSA P-256 and ECDSA P-384 (issue 15, item 2).

A real hub; real aiortc peers given a certificate of each kind (built with `cryptography`) and the broad cipher list
a third-party stack uses (GStreamer's webrtcbin: OpenSSL's "ALL:!ADH:!LOW:!EXP:!MD5:@STRENGTH", RSA-2048
certificates). Each offers `actpass`, `active` and `passive` (its offer's a=setup edited), publishes over WHIP and
watches over WHEP; judged by decoded frames at the viewer. Before porchlight_rtc/dtls.py the hub answered `actpass`
with `active` and, as the DTLS client, offered only ECDHE-ECDSA suites: every RSA peer that ended up the DTLS server
(actpass and passive) failed its handshake, for WHIP and WHEP.

Also: a failed handshake is one INFO line in the hub's log, and `on_handshake_failure` reports it for a connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcdtlstransport import RTCCertificate
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from OpenSSL import SSL
from yarl import URL

from device_agent.sources import SyntheticSource
from device_agent.track import CameraTrack
from device_agent.whip import codec_preferences
from porchlight_rtc import patch_aiortc
from porchlight_rtc.dtls import HandshakeFailure, on_handshake_failure
from porchlight_rtc.ice import enable_loopback, rtc_configuration
from tests.conftest import PASSWORDS
from tests.support.client import Api
from tests.support.procs import Hub, seeded_hub, wait_until
from tests.support.secrets import SECRETS

pytestmark = pytest.mark.asyncio(loop_scope="module")

CAMERA = "front-door"  # opted in by the seed; published here by our own plain WHIP peer (no agent)
FRAMES = 3
# GStreamer's webrtcbin (gst-plugins-bad, ext/dtls) sets this cipher list on its OpenSSL context.
THIRD_PARTY_CIPHERS = b"ALL:!ADH:!LOW:!EXP:!MD5:@STRENGTH"

Key = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
KEYS: dict[str, Callable[[], Key]] = {
    "rsa2048": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
    "p256": lambda: ec.generate_private_key(ec.SECP256R1()),
    "p384": lambda: ec.generate_private_key(ec.SECP384R1()),
}
# What the hub answers to each a=setup: the DTLS server for actpass and active offers, the client for passive ones.
HUB_SETUP = {"actpass": "passive", "active": "passive", "passive": "active"}


class PeerCertificate(RTCCertificate):
    """A certificate with any key, used the way a third-party stack uses it (its own broad cipher list)."""

    def _create_ssl_context(self, srtp_profiles: list[Any]) -> SSL.Context:
        context = super()._create_ssl_context(srtp_profiles)
        context.set_cipher_list(THIRD_PARTY_CIPHERS)
        return context


def certificate(kind: str) -> RTCCertificate:
    """A self-signed certificate (SHA-256) on a fresh key of `kind`, as WebRTC stacks make them."""
    key = KEYS[kind]()
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, f"peer-{kind}")])
    now = datetime.datetime.now(tz=datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return PeerCertificate(key=key, cert=cert)  # type: ignore[arg-type]  # aiortc types the key as EC only


def new_peer(kind: str | None = None) -> RTCPeerConnection:
    """An aiortc peer on loopback; with `kind`, it uses a certificate of that kind instead of aiortc's own."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    if kind is not None:
        # aiortc has no public way to give a connection a certificate; its transports take it from here.
        pc._RTCPeerConnection__certificates = [certificate(kind)]  # type: ignore[attr-defined]
    return pc


def with_setup(offer: str, setup: str) -> str:
    """The offer with every a=setup replaced by `setup`."""
    return re.sub(r"(?m)^a=setup:\S+", f"a=setup:{setup}", offer)


def setup_of(sdp: str) -> str:
    match = re.search(r"(?m)^a=setup:(\S+)", sdp)
    assert match, sdp
    return match.group(1)


class Frames:
    """Decodes every frame of the tracks a peer connection receives."""

    def __init__(self, pc: RTCPeerConnection) -> None:
        self.count = 0
        self._tasks: list[asyncio.Task[None]] = []
        pc.on("track", self._on_track)

    def _on_track(self, track: MediaStreamTrack) -> None:
        self._tasks.append(asyncio.create_task(self._read(track)))

    async def _read(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame: Any = await track.recv()
                frame.to_ndarray(format="bgr24")  # decoded, not only received
                self.count += 1

    async def wait(self, count: int, timeout: float = 15.0) -> None:
        await wait_until(lambda: self.count >= count, timeout, f"{count} decoded frames (got {self.count})")

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


class Session:
    """One WHIP or WHEP session of a test peer: its connection, and the Location to DELETE."""

    def __init__(self, api: Api, pc: RTCPeerConnection, headers: dict[str, str]) -> None:
        self.api = api
        self.pc = pc
        self.headers = headers
        self.location: str | None = None
        self.etag: str | None = None

    async def post(self, url: str, offer: str, **params: str) -> str:
        """POST `offer`; the answer (201 required). The peer's own description stays what it made."""
        SECRETS.add_sdp(offer)
        async with self.api.http.post(
            url, params=params, data=offer, headers={"Content-Type": "application/sdp", **self.headers}
        ) as response:
            answer = await response.text()
            assert response.status == 201, answer
            SECRETS.add_sdp(answer)
            self.location = str(response.url.join(URL(response.headers["Location"])))
            self.etag = response.headers.get("ETag")
            return answer

    async def close(self) -> None:
        if self.location is not None:
            async with self.api.http.delete(self.location, headers=self.headers):
                pass
        await self.pc.close()


@contextlib.asynccontextmanager
async def publishing(hub: Hub, api: Api, token: str, pc: RTCPeerConnection) -> AsyncIterator[Session]:
    """`pc` sends a synthetic camera's video; the session is closed on exit (its offer is posted by the caller)."""
    source = SyntheticSource(320, 240, name=CAMERA)
    pc.addTransceiver(CameraTrack(source, fps=15), direction="sendonly").setCodecPreferences(codec_preferences("vp8"))
    session = Session(api, pc, {"Authorization": f"Bearer {token}"})
    try:
        yield session
    finally:
        await session.close()
        source.close()


@contextlib.asynccontextmanager
async def viewing(api: Api, pc: RTCPeerConnection) -> AsyncIterator[tuple[Session, Frames]]:
    """`pc` receives video and decodes it; the session is closed on exit (its offer is posted by the caller)."""
    pc.addTransceiver("video", direction="recvonly")
    frames = Frames(pc)
    session = Session(api, pc, api.headers)
    try:
        yield session, frames
    finally:
        await frames.close()
        await session.close()


async def local_offer(pc: RTCPeerConnection) -> str:
    await pc.setLocalDescription(await pc.createOffer())
    return str(pc.localDescription.sdp)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def hub(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Hub]:
    """One seeded hub for the module (VP8, passthrough)."""
    async with seeded_hub(tmp_path_factory.mktemp("dtls-hub")) as instance:
        yield instance


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def officer(hub: Hub) -> AsyncIterator[Api]:
    api = await Api(hub.url).login("olivia", PASSWORDS["olivia"])
    try:
        yield api
    finally:
        await api.close()


@pytest.fixture(scope="module")
def token(hub: Hub) -> str:
    return str(hub.seeded.tokens[CAMERA])  # type: ignore[attr-defined]


@pytest.mark.parametrize("setup", list(HUB_SETUP))
@pytest.mark.parametrize("kind", list(KEYS))
async def test_publish_and_view(hub: Hub, officer: Api, token: str, kind: str, setup: str) -> None:
    """A peer with a `kind` certificate offering `setup` publishes over WHIP and watches over WHEP."""
    answered = []
    async with publishing(hub, officer, token, new_peer(kind)) as publisher:
        offer = with_setup(await local_offer(publisher.pc), setup)
        answer = await publisher.post(f"{hub.url}/whip/{CAMERA}", offer)
        answered.append(setup_of(answer))
        await publisher.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        async with viewing(officer, new_peer(kind)) as (viewer, frames):
            offer = with_setup(await local_offer(viewer.pc), setup)
            answer = await viewer.post(f"{hub.url}/whep/{CAMERA}", offer, case="CASE-DTLS", reason="dtls roles")
            answered.append(setup_of(answer))
            await viewer.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
            await frames.wait(FRAMES)
        assert publisher.pc.connectionState == "connected"
    # Judged by frames first; then the role the hub took (the server unless the peer insisted on being it).
    assert answered == [HUB_SETUP[setup]] * 2


class StaticRsaCertificate(PeerCertificate):
    """A DTLS server that accepts only suites without forward secrecy, which the hub never offers."""

    def _create_ssl_context(self, srtp_profiles: list[Any]) -> SSL.Context:
        context = super()._create_ssl_context(srtp_profiles)
        context.set_cipher_list(b"AES128-GCM-SHA256")
        return context


async def test_failed_handshake_is_one_log_line(hub: Hub, officer: Api, token: str) -> None:
    """No suite in common with a peer that insists on being the server: the hub says so, once, on one line."""
    assert hub.proc is not None
    pc = new_peer("rsa2048")
    cert = pc._RTCPeerConnection__certificates[0]  # type: ignore[attr-defined]
    pc._RTCPeerConnection__certificates = [StaticRsaCertificate(key=cert._key, cert=cert._cert)]  # type: ignore[attr-defined]
    async with publishing(hub, officer, token, pc) as publisher:
        offer = with_setup(await local_offer(pc), "passive")
        answer = await publisher.post(f"{hub.url}/whip/{CAMERA}", offer)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        line = "DTLS handshake failed as DTLS client: no cipher suite or certificate both sides accept"
        await hub.proc.wait_log(re.escape(line), timeout=15)
    lines = [text for text in hub.proc.log().splitlines() if "DTLS handshake failed" in text]
    assert len(lines) == 1, lines
    assert " INFO porchlight_rtc.dtls: " in lines[0], lines[0]


async def test_on_handshake_failure_reports_a_fingerprint_mismatch() -> None:
    """In this process: an answerer whose offerer's fingerprint is wrong reports the failure once, with its stage."""
    enable_loopback()
    patch_aiortc()
    offerer, answerer = RTCPeerConnection(rtc_configuration([])), RTCPeerConnection(rtc_configuration([]))
    offerer._RTCPeerConnection__certificates = [certificate("p384")]  # type: ignore[attr-defined]
    failures: list[HandshakeFailure] = []
    on_handshake_failure(answerer, failures.append)
    try:
        offerer.addTransceiver("video", direction="sendrecv")
        offer = await local_offer(offerer)
        wrong = re.sub(
            r"(?m)^(a=fingerprint:sha-256 )([0-9A-F]{2})", lambda m: m[1] + ("00" if m[2] != "00" else "11"), offer
        )
        assert wrong != offer
        await answerer.setRemoteDescription(RTCSessionDescription(sdp=wrong, type="offer"))
        await answerer.setLocalDescription(await answerer.createAnswer())
        assert setup_of(answerer.localDescription.sdp) == "passive"
        await offerer.setRemoteDescription(answerer.localDescription)
        await wait_until(lambda: answerer.connectionState == "failed", 15, "the answerer's connection to fail")
        assert failures == [HandshakeFailure("server", "fingerprint", "EC-secp384r1")]
    finally:
        await offerer.close()
        await answerer.close()
