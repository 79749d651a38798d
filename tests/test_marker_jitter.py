"""The hub's jitter buffer releases a complete frame on its marker bit, not one frame interval later."""

from __future__ import annotations

from aiortc.rtp import RtpPacket

from hub.media.encoded import MarkerJitterBuffer


def packet(seq: int, timestamp: int, data: bytes, marker: bool = False) -> RtpPacket:
    p = RtpPacket(payload_type=96, marker=int(marker), sequence_number=seq, timestamp=timestamp, payload=data)
    p._data = data  # type: ignore[attr-defined]  # what aiortc's receiver attaches after depayloading
    return p


def test_complete_frame_leaves_on_its_marker() -> None:
    buffer = MarkerJitterBuffer()
    assert buffer.add(packet(10, 1000, b"a"))[1] is None
    assert buffer.add(packet(11, 1000, b"b"))[1] is None
    frame = buffer.add(packet(12, 1000, b"c", marker=True))[1]
    assert frame is not None and frame.data == b"abc" and frame.timestamp == 1000
    nxt = buffer.add(packet(13, 4000, b"d", marker=True))[1]
    assert nxt is not None and nxt.data == b"d"


def test_frame_with_a_gap_waits_and_is_not_released_broken() -> None:
    buffer = MarkerJitterBuffer()
    buffer.add(packet(10, 1000, b"a", marker=True))
    assert buffer.add(packet(11, 2000, b"b"))[1] is None
    assert buffer.add(packet(13, 2000, b"d", marker=True))[1] is None  # 12 is missing
    frame = buffer.add(packet(12, 2000, b"c"))[1]  # the retransmission arrives: still waits for the next frame
    assert frame is None
    assert buffer.add(packet(14, 3000, b"e", marker=True))[1] is not None


def test_reordered_packets_complete_on_the_marker_packet() -> None:
    buffer = MarkerJitterBuffer()
    buffer.add(packet(20, 500, b"z", marker=True))
    assert buffer.add(packet(22, 900, b"y", marker=True))[1] is None  # 21 not here yet
    late = buffer.add(packet(21, 900, b"x"))[1]
    # aiortc's own path releases nothing yet either; the marker packet came first, so wait for the next frame.
    assert late is None
    frame = buffer.add(packet(23, 1200, b"w", marker=True))[1]
    assert frame is not None and frame.data == b"xy"
