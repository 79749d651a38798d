"""One codec and profile on both legs of a camera: in passthrough the viewer gets the camera's own bytes."""

from __future__ import annotations

from aiortc import RTCPeerConnection, RTCRtpCodecCapability, RTCRtpReceiver, RTCRtpTransceiver

from hub.config import VideoCodec
from hub.errors import BadRequest

# The one H264 profile we negotiate: constrained baseline, level 3.1, non-interleaved packetization.
H264_PARAMETERS = {"level-asymmetry-allowed": "1", "packetization-mode": "1", "profile-level-id": "42e01f"}


def preferences(codec: VideoCodec) -> list[RTCRtpCodecCapability]:
    """aiortc codec capabilities for `codec` (plus RTX, so lost packets can still be retransmitted)."""
    chosen = []
    capabilities = RTCRtpReceiver.getCapabilities("video")
    assert capabilities is not None  # aiortc always has video capabilities
    for capability in capabilities.codecs:
        mime = capability.mimeType.lower()
        if (
            mime == "video/rtx"
            or (codec is VideoCodec.VP8 and mime == "video/vp8")
            or (codec is VideoCodec.H264 and mime == "video/h264" and capability.parameters == H264_PARAMETERS)
        ):
            chosen.append(capability)
    return chosen


def video_transceiver(pc: RTCPeerConnection, codec: VideoCodec, direction: str) -> RTCRtpTransceiver:
    """A video transceiver limited to `codec`, made before the offer is applied so negotiation honours it."""
    transceiver = pc.addTransceiver("video", direction=direction)
    transceiver.setCodecPreferences(preferences(codec))
    return transceiver


def codec_refused(codec: VideoCodec) -> BadRequest:
    """The offer has no codec in common with this hub's forwarding codec."""
    return BadRequest(
        f"this hub forwards {codec.value.upper()} video only; the offer does not include it", "codec_unsupported"
    )
