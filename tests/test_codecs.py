"""Which video codecs the hub takes, and how a refusal reads (hub/media/codecs.py), and what an H264 stream's SPS
and PPS say it is (hub/media/h264.py): issue 15, items 3 and 4."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import av
import numpy as np
import pytest
from aiortc import RTCRtpCodecParameters
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcrtpreceiver import RTCRtpReceiver

from hub.config import VideoCodec
from hub.errors import BadRequest
from hub.media import h264
from hub.media.codecs import choose_for_publisher, choose_for_viewer, kind_of, order
from hub.media.encoded import DECODER_QUEUE, KeyframeRequester, MarkerJitterBuffer
from hub.media.publisher import Publisher


def h264_codec(profile: str | None, mode: str = "1") -> RTCRtpCodecParameters:
    parameters: dict[str, str | int | None] = {"packetization-mode": mode}
    if profile:
        parameters["profile-level-id"] = profile
    return RTCRtpCodecParameters(mimeType="video/H264", clockRate=90000, payloadType=102, parameters=parameters)


@pytest.mark.parametrize(
    ("profile", "mode", "kind"),
    [
        ("42001f", "1", VideoCodec.H264),  # Baseline 3.1
        ("420016", "1", VideoCodec.H264),  # Baseline 2.2: what FFmpeg 8's WHIP muxer offers for 640x480 at 15 fps
        ("42e01f", "1", VideoCodec.H264),  # Constrained Baseline 3.1: browsers
        ("42c01f", "1", VideoCodec.H264),  # Constrained Baseline written another way
        ("42e034", "1", VideoCodec.H264),  # level 5.2
        ("42e00a", "1", VideoCodec.H264),  # level 1
        (None, "1", VideoCodec.H264),  # no profile-level-id: Constrained Baseline 3.1 by default
        ("42e01f", "0", None),  # single NAL unit mode: not what the hub packetizes
        ("4d001f", "1", None),  # Main
        ("640c1f", "1", None),  # High
        ("zzzzzz", "1", None),
    ],
)
def test_which_h264_the_hub_takes(profile: str | None, mode: str, kind: VideoCodec | None) -> None:
    assert kind_of(h264_codec(profile, mode)) is kind


def test_vp8_is_taken_and_vp9_is_not() -> None:
    assert kind_of(RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)) is VideoCodec.VP8
    assert kind_of(RTCRtpCodecParameters(mimeType="video/VP9", clockRate=90000, payloadType=98)) is None


def offer(*codecs: tuple[str, str | None]) -> str:
    """A minimal sendonly video offer listing `codecs` as (rtpmap name, fmtp or None)."""
    types = " ".join(str(96 + i) for i in range(len(codecs)))
    lines = ["v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "t=0 0", f"m=video 9 UDP/TLS/RTP/SAVPF {types}"]
    lines += ["c=IN IP4 0.0.0.0", "a=mid:0", "a=sendonly"]
    for i, (name, fmtp) in enumerate(codecs):
        lines.append(f"a=rtpmap:{96 + i} {name}/90000")
        if fmtp:
            lines.append(f"a=fmtp:{96 + i} {fmtp}")
    return "\r\n".join(lines) + "\r\n"


FFMPEG = offer(("H264", "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f"))
BROWSER = offer(("VP8", None), ("rtx", "apt=96"), ("H264", "packetization-mode=1;profile-level-id=42e01f"))


def test_a_publisher_gets_the_configured_codec_when_offered_else_the_other() -> None:
    assert choose_for_publisher(BROWSER, order(VideoCodec.VP8)) is VideoCodec.VP8
    assert choose_for_publisher(BROWSER, order(VideoCodec.H264)) is VideoCodec.H264
    # A VP8 hub takes FFmpeg's Baseline H264 instead of refusing it.
    assert choose_for_publisher(FFMPEG, order(VideoCodec.VP8)) is VideoCodec.H264
    # The codec the camera's viewers already have comes first.
    assert choose_for_publisher(BROWSER, order(VideoCodec.VP8, VideoCodec.H264)) is VideoCodec.H264


def test_a_refusal_names_what_was_offered_and_what_is_accepted() -> None:
    high = offer(("H264", "packetization-mode=1;profile-level-id=640c1f"), ("VP9", "profile-id=0"))
    with pytest.raises(BadRequest) as refused:
        choose_for_publisher(high, order(VideoCodec.VP8))
    assert refused.value.reason == "codec_unsupported"
    message = str(refused.value)
    assert "H264 (profile-level-id=640c1f, packetization-mode=1), VP9" in message
    assert "accepts VP8, or H264 Baseline or Constrained Baseline with packetization-mode=1" in message


def test_a_passthrough_viewer_must_take_the_cameras_codec() -> None:
    vp8_only = offer(("VP8", None))
    assert choose_for_viewer(BROWSER, order(VideoCodec.VP8, VideoCodec.H264), "cam", True) is VideoCodec.H264
    with pytest.raises(BadRequest) as refused:
        choose_for_viewer(vp8_only, order(VideoCodec.VP8, VideoCodec.H264), "cam", True)
    assert "camera cam sends H264 (Constrained Baseline); the offer's video has VP8" in str(refused.value)
    # Transcoding, the viewer's sender encodes: either codec does.
    assert choose_for_viewer(vp8_only, order(VideoCodec.H264, VideoCodec.H264), "cam", False) is VideoCodec.VP8


def encoded(profile: str) -> bytes:
    """The first access unit libx264 makes with `profile`: SPS, PPS and an IDR slice, Annex B."""
    context = av.CodecContext.create("libx264", "w")
    context.width, context.height, context.pix_fmt = 160, 120, "yuv420p"
    context.time_base = Fraction(1, 15)
    context.options = {"profile": profile, "tune": "zerolatency"}
    frame = av.VideoFrame.from_ndarray(np.zeros((120, 160, 3), np.uint8), format="bgr24").reformat(format="yuv420p")
    frame.pts = 0
    return bytes((context.encode(frame) + context.encode(None))[0])


def test_the_sps_tells_the_profile_whatever_the_offer_said() -> None:
    baseline = h264.parameters(encoded("baseline"))
    high = h264.parameters(encoded("high"))
    assert baseline is not None and baseline.browser_decodable()
    assert baseline.name().startswith("Constrained Baseline level")
    assert high is not None and not high.browser_decodable() and high.name().startswith("High level")


def test_slice_groups_in_the_pps_are_not_browser_decodable() -> None:
    sps = next(unit for unit in h264.nal_units(encoded("baseline")) if unit[0] & 0x1F == 7)
    # pic_parameter_set_id 0, seq_parameter_set_id 0, CAVLC, no field order flag, num_slice_groups_minus1 = 1.
    pps_with_fmo = bytes([0x68, 0b11000100])
    found = h264.parameters(b"\x00\x00\x00\x01" + sps + b"\x00\x00\x00\x01" + pps_with_fmo)
    assert found is not None and found.slice_groups == 2 and not found.browser_decodable()
    assert h264.parameters(b"\x00\x00\x01\x65\x88") is None  # no SPS: nothing to judge by


class _Transport:
    state = "new"


def frames_passed(*profiles: str) -> tuple[int, list[str]]:
    """Access units of these profiles, in turn, through a passthrough publisher: (frames its sink got, why it was
    ended)."""
    receiver = RTCRtpReceiver("video", _Transport())  # type: ignore[arg-type]
    publisher = Publisher("cam", None, VideoCodec.H264)  # type: ignore[arg-type]
    why: list[str] = []
    publisher.on_unusable = why.append
    got: list[Any] = []

    class Sink:
        offer = got.append

    publisher.pass_through(receiver, lambda: [Sink()], KeyframeRequester(receiver, MarkerJitterBuffer(), 1.0))
    tap = getattr(receiver, DECODER_QUEUE)
    for timestamp, profile in enumerate(profiles):
        tap.put((h264_codec("42001f"), JitterFrame(encoded(profile), timestamp)))
    assert publisher.receiving
    return len(got), why


def test_a_publisher_whose_h264_is_not_baseline_is_ended_before_any_viewer_gets_a_frame() -> None:
    assert frames_passed("baseline", "baseline", "baseline") == (3, [])
    count, why = frames_passed("high", "high", "baseline")
    assert count == 0 and len(why) == 1 and "High level" in why[0], why
    # Parameters can change at any keyframe: a stream that turns to Main later is ended then.
    count, why = frames_passed("baseline", "baseline", "main", "baseline")
    assert count == 2 and len(why) == 1 and "Main level" in why[0], why
