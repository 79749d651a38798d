"""Audio in WHIP and WHEP sessions: Opus only, forwarded as packets, each viewer's gated by its own check.

- WHIP: a publisher's Opus is taken (a recvonly transceiver whose packets are tapped, never decoded) if its offer
  sends Opus and either the publisher is our agent (it sends a microphone only while the hub says the grant
  allows audio: `push_audio`) or the camera's grant allows audio now. A plain publisher, which cannot be told, has
  its audio answered inactive unless audio was allowed when it connected: the owner's audio is never even
  received without consent. Turning audio on later reaches a plain publisher with its next session.
- WHEP: a viewer whose offer receives Opus gets a sendonly audio transceiver with a `GatedAudioTrack`, whatever the
  grant says now, so the owner can turn audio on and off during the view without renegotiation; the gate decides
  each packet.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from aiohttp import web
from aiortc import RTCPeerConnection, RTCRtpCodecCapability, RTCRtpReceiver, RTCRtpTransceiver
from aiortc.sdp import SessionDescription

from hub.consent.decision import Reason, audio_granted
from hub.consent.gate import CameraGate, OfficerPass
from hub.keys import REGISTRY, STREAMS
from hub.media.audio_tap import AudioPacket, tap_audio
from hub.media.gated_audio import GatedAudioTrack

log = logging.getLogger(__name__)

OPUS = "audio/opus"


def opus_preferences() -> list[RTCRtpCodecCapability]:
    """aiortc's Opus capability, the only audio codec the hub takes or gives."""
    capabilities = RTCRtpReceiver.getCapabilities("audio")
    assert capabilities is not None  # aiortc always has audio capabilities
    return [c for c in capabilities.codecs if c.mimeType.lower() == OPUS]


def offers_opus(offer: str, *, sending: bool) -> bool:
    """Whether the offer's first audio section (the one aiortc pairs with the hub's audio transceiver) carries Opus
    in the offerer's direction: sending (a publisher) or receiving (a viewer)."""
    try:
        parsed = SessionDescription.parse(offer)
    except Exception:  # read_offer parsed it already; anything odd here means no audio
        return False
    audio = [media for media in parsed.media if media.kind == "audio"]
    if not audio:
        return False
    wanted = {"sendonly", "sendrecv"} if sending else {"recvonly", "sendrecv"}
    return audio[0].direction in wanted and any(codec.mimeType.lower() == OPUS for codec in audio[0].rtp.codecs)


def ingest_audio(
    pc: RTCPeerConnection, offer: str, accept: bool, sinks: Callable[[], Iterable[GatedAudioTrack]]
) -> RTCRtpTransceiver | None:
    """A WHIP session's audio transceiver, its packets offered to `sinks()` (each viewer's gated audio track); None
    (the offer's audio answered inactive) unless `accept` and the offer sends Opus. Call before applying the offer."""
    if not accept or not offers_opus(offer, sending=True):
        return None
    return receive_audio(pc, sinks)


def receive_audio(pc: RTCPeerConnection, sinks: Callable[[], Iterable[GatedAudioTrack]]) -> RTCRtpTransceiver:
    """A recvonly Opus transceiver whose packets are offered to `sinks()` as they arrive, never decoded (a WHIP
    session's, or a relay's from the hub that streams the camera). Call before the connection is negotiated."""
    transceiver = pc.addTransceiver("audio", direction="recvonly")
    transceiver.setCodecPreferences(opus_preferences())

    def deliver(packet: AudioPacket) -> None:
        for sink in sinks():
            sink.offer(packet)

    tap_audio(transceiver.receiver, deliver)
    return transceiver


def accepts_audio(app: web.Application, camera_id: str) -> bool:
    """Whether a new WHIP session of the camera takes its audio: always from our agent (it sends only when told),
    from a plain publisher only while the grant allows audio."""
    if app[STREAMS].stream(camera_id).control is not None:
        return True
    return audio_granted(app[REGISTRY].gate(camera_id).state)


def audio_sinks(app: web.Application, camera_id: str) -> Callable[[], Iterable[GatedAudioTrack]]:
    """The gated audio tracks of the camera's viewers on this hub and of its relays to other hubs (gated on the
    camera's consent and audio flag alone), read at each packet."""
    stream = app[STREAMS].stream(camera_id)

    def sinks() -> Iterable[GatedAudioTrack]:
        for viewer in stream.viewers.values():
            if viewer.audio is not None:
                yield viewer.audio
        for relay in stream.relays.values():
            if relay.audio is not None:
                yield relay.audio

    return sinks


def viewer_audio(
    pc: RTCPeerConnection,
    offer: str,
    gate: CameraGate,
    officer: OfficerPass,
    count: Callable[[Reason, int], None] = lambda reason, packets: None,
) -> tuple[RTCRtpTransceiver, GatedAudioTrack] | None:
    """A WHEP viewer's audio transceiver and gated track, if its offer receives Opus (None: its audio, if any, is
    answered inactive); `count` counts each packet's gate decision (the hub's metrics). Call before applying the
    offer."""
    if not offers_opus(offer, sending=False):
        return None
    transceiver = pc.addTransceiver("audio", direction="sendonly")
    transceiver.setCodecPreferences(opus_preferences())
    track = GatedAudioTrack(gate, officer, count=count)
    transceiver.sender.replaceTrack(track)
    return transceiver, track


async def push_audio(app: web.Application, camera_id: str) -> None:
    """Tell the camera's agent, if it is connected here, whether its grant allows audio: it sends its microphone
    only while this says so (and only while publishing)."""
    link = app[STREAMS].stream(camera_id).control
    if link is None:
        return
    await link.send({"type": "audio", "audio": audio_granted(app[REGISTRY].gate(camera_id).state)})
