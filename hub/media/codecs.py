"""Each camera's video codec: chosen with its publisher, and then the one its viewers get.

A publisher may send VP8 or H264 (Baseline or Constrained Baseline, packetization-mode 1, any level); the hub
takes the configured codec when the offer has it, else the other. In passthrough a viewer gets the camera's own
bytes, so its offer must include the camera's codec; in transcode the viewer's sender encodes, so any of the two.
Every refusal names what the offer had and what the hub accepts.
"""

from __future__ import annotations

from collections.abc import Iterable

from aiortc import RTCPeerConnection, RTCRtpCodecCapability, RTCRtpCodecParameters, RTCRtpReceiver, RTCRtpTransceiver
from aiortc.sdp import H264Profile, SessionDescription, parse_h264_profile_level_id

from hub.config import VideoCodec
from hub.errors import BadRequest

ACCEPTED = "VP8, or H264 Baseline or Constrained Baseline with packetization-mode=1"
# Streams that carry no video of their own: RTX retransmissions, redundancy and forward error correction.
_NOT_VIDEO = {"video/rtx", "video/red", "video/ulpfec", "video/flexfec-03"}
_BASELINE = {H264Profile.PROFILE_BASELINE, H264Profile.PROFILE_CONSTRAINED_BASELINE}


def kind_of(codec: RTCRtpCodecParameters) -> VideoCodec | None:
    """The hub codec an offered codec is, or None if the hub cannot take it."""
    mime = codec.mimeType.lower()
    if mime == "video/vp8":
        return VideoCodec.VP8
    if mime == "video/h264" and str(codec.parameters.get("packetization-mode", "0")) == "1":
        try:
            # No profile-level-id means Constrained Baseline level 3.1 (RFC 6184, and what browsers assume).
            profile, _ = parse_h264_profile_level_id(str(codec.parameters.get("profile-level-id", "42e01f")))
        except ValueError:
            return None
        return VideoCodec.H264 if profile in _BASELINE else None
    return None


def offered_video(offer: str) -> list[RTCRtpCodecParameters]:
    """The video codecs of the offer's first video section (the one the hub takes), in the offer's order."""
    parsed = SessionDescription.parse(offer)
    video = next(media for media in parsed.media if media.kind == "video")  # check_offer made sure there is one
    return [codec for codec in video.rtp.codecs if codec.mimeType.lower() not in _NOT_VIDEO]


def describe(codecs: Iterable[RTCRtpCodecParameters]) -> str:
    """What an offer's video has, for a refusal: "H264 (profile-level-id=640c1f, packetization-mode=1), VP9"."""
    names = []
    for codec in codecs:
        name = codec.mimeType.split("/")[-1].upper()
        if name == "H264":
            profile = codec.parameters.get("profile-level-id", "none")
            name += f" (profile-level-id={profile}, packetization-mode={codec.parameters.get('packetization-mode', 0)})"
        if name not in names:
            names.append(name)
    return ", ".join(names) or "no video codec"


def order(preferred: VideoCodec, first: VideoCodec | None = None) -> list[VideoCodec]:
    """Codecs in the hub's order of preference: `first` (what a camera's viewers already get), then `preferred`."""
    ranked = [first] if first is not None else []
    ranked += [preferred, *VideoCodec]
    return list(dict.fromkeys(ranked))


def choose_for_publisher(offer: str, ranked: list[VideoCodec]) -> VideoCodec:
    """The codec a camera will send: the first of `ranked` its offer has. BadRequest `codec_unsupported`
    naming what was offered and what is accepted."""
    codecs = offered_video(offer)
    kinds = {kind_of(codec) for codec in codecs}
    for codec in ranked:
        if codec in kinds:
            return codec
    raise BadRequest(f"the offer's video has {describe(codecs)}; this hub accepts {ACCEPTED}", "codec_unsupported")


def choose_for_viewer(offer: str, ranked: list[VideoCodec], camera_id: str, passthrough: bool) -> VideoCodec:
    """The codec a viewer will get: in passthrough the camera's (`ranked[0]`), else the first of `ranked` the
    offer has. BadRequest `codec_unsupported` naming both sides."""
    codecs = offered_video(offer)
    kinds = {kind_of(codec) for codec in codecs}
    wanted = ranked[:1] if passthrough else ranked
    for codec in wanted:
        if codec in kinds:
            return codec
    sends = "H264 (Constrained Baseline)" if wanted[0] is VideoCodec.H264 else "VP8"
    needs = f"camera {camera_id} sends {sends}" if passthrough else f"this hub sends {ACCEPTED}"
    raise BadRequest(f"{needs}; the offer's video has {describe(codecs)}", "codec_unsupported")


def preferences(codec: VideoCodec) -> list[RTCRtpCodecCapability]:
    """aiortc codec capabilities for `codec` (every Baseline-family H264 profile aiortc knows, plus RTX so lost
    packets can still be retransmitted)."""
    chosen = []
    capabilities = RTCRtpReceiver.getCapabilities("video")
    assert capabilities is not None  # aiortc always has video capabilities
    for capability in capabilities.codecs:
        if capability.mimeType.lower() == "video/rtx" or kind_of(_as_parameters(capability)) is codec:
            chosen.append(capability)
    return chosen


def _as_parameters(capability: RTCRtpCodecCapability) -> RTCRtpCodecParameters:
    return RTCRtpCodecParameters(
        mimeType=capability.mimeType, clockRate=capability.clockRate, parameters=dict(capability.parameters)
    )


def video_transceiver(pc: RTCPeerConnection, codec: VideoCodec, direction: str) -> RTCRtpTransceiver:
    """A video transceiver limited to `codec`, made before the offer is applied so negotiation honours it."""
    transceiver = pc.addTransceiver("video", direction=direction)
    transceiver.setCodecPreferences(preferences(codec))
    return transceiver
