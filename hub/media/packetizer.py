"""Each camera's encoded frames cut into RTP payloads once, for every viewer of the camera.

aiortc's sender packetizes a frame again for each viewer (its `pack` path). In passthrough the payloads are the
same for every viewer: only the RTP header differs (hub/media/rtp_writer.py). A `Packetizer` belongs to one
camera's receiver, so the VP8 picture IDs it numbers frames with run on across the frames it cuts; a frame that
no viewer admits is never cut at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import av
from aiortc import RTCRtpCodecParameters
from aiortc.clock import current_ntp_time
from aiortc.codecs import get_encoder


@dataclass(frozen=True, slots=True)
class RtpFrame:
    """A frame's RTP payloads (the last one carries the marker bit) and its 90 kHz timestamp, with what every
    viewer's packets of it share: the send time (NTP) and the header extension blocks, by their layout."""

    payloads: list[bytes]
    timestamp: int
    size: int  # the payloads' bytes, for the sender's statistics
    ntp: int = field(default_factory=current_ntp_time)  # cut as the first viewer's packets go out
    extensions: dict[object, bytes] = field(default_factory=dict)


class Packetizer:
    """Cuts one camera's frames into RTP payloads with aiortc's packer for the camera's codec."""

    def __init__(self, codec: RTCRtpCodecParameters) -> None:
        self._packer = get_encoder(codec)  # for VP8 and H264, constructing one opens no codec

    def pack(self, packet: av.Packet[Any]) -> RtpFrame:
        """The payloads of one encoded frame."""
        payloads, timestamp = self._packer.pack(packet)
        return RtpFrame(payloads, timestamp, sum(len(payload) for payload in payloads))
