"""A camera's Opus audio, taken off its receiver as packets: never decoded at the hub.

Like video passthrough (`hub.media.encoded`), this replaces the receiver's decoder queue (the same aiortc internal,
checked by `check_internals`): each encoded Opus packet goes to `deliver`, and the receiver's decoder thread idles
until the receiver stops. aiortc's audio jitter buffer holds four packets (80 ms) before it releases one; an Opus
packet is a whole frame on its own, so `PacketJitterBuffer` releases each as it arrives and drops late ones (a
late audio packet is worth nothing live).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av
from aiortc import RTCRtpReceiver
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtp import RtpPacket
from aiortc.utils import uint16_add

from hub.media.encoded import DECODER_QUEUE, JITTER_BUFFER, AiortcInternalsChanged, DecoderQueueTap

# Opus over RTP always counts time at 48 kHz (RFC 7587), whatever the audio's own sample rate.
OPUS_TIME_BASE = Fraction(1, 48000)


@dataclass(frozen=True, slots=True)
class AudioPacket:
    """One encoded Opus packet as the camera sent it, ready to be packetized again for a viewer."""

    packet: av.Packet[Any]
    arrived_at: float  # time.monotonic()


class PacketJitterBuffer(JitterBuffer):
    """Releases every audio packet at once, in order; a packet older than one already released is dropped."""

    def __init__(self) -> None:
        super().__init__(capacity=16)
        self._next: int | None = None

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        if self._next is not None and uint16_add(packet.sequence_number, -self._next) >= 0x8000:
            return False, None  # behind what was already released (reordered or duplicated)
        self._next = uint16_add(packet.sequence_number, 1)
        return False, JitterFrame(data=packet._data, timestamp=packet.timestamp)  # type: ignore[attr-defined]


def tap_audio(receiver: RTCRtpReceiver, deliver: Callable[[AudioPacket], None]) -> None:
    """Route an audio receiver's packets to `deliver`, undecoded; call before the receiver starts (on "track")."""
    for attribute in (DECODER_QUEUE, JITTER_BUFFER):
        if not hasattr(receiver, attribute):
            raise AiortcInternalsChanged(f"RTCRtpReceiver has no {attribute}")
    setattr(receiver, JITTER_BUFFER, PacketJitterBuffer())

    def on_packet(codec: Any, frame: JitterFrame) -> None:
        if not frame.data:
            return  # an empty payload (padding) carries no audio
        packet = av.Packet(frame.data)
        packet.pts = frame.timestamp
        packet.time_base = OPUS_TIME_BASE
        deliver(AudioPacket(packet, time.monotonic()))

    setattr(receiver, DECODER_QUEUE, DecoderQueueTap(on_packet))
