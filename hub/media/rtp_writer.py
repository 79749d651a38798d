"""One viewer's video RTP, written from payloads cut once per camera (hub/media/packetizer.py).

Per packet only what differs between viewers is written: the header (this viewer's SSRC, sequence number,
timestamp offset, payload type, marker) and its header extensions (MID, abs-send-time), then the packet is
protected with this viewer's SRTP context and handed to the socket of its ICE pair, all without an await: a
frame the gate admitted goes out whole, at once. aiortc's sender for the viewer still runs its RTCP (sender
reports, NACK, PLI/FIR, REMB): its retransmissions are served from this writer's history, and its statistics are
kept as if it had sent the packets itself.

This leans on aiortc and aioice internals, named in `REQUIRED_INTERNALS` and checked by `check_internals()` at
start-up and in the tests: the sender's `_ssrc`, `_rtx_ssrc`, `_retransmit` and the counters its sender reports and
statistics read; the DTLS transport's `_tx_srtp`, `_state` and byte counters; the ICE transport's `_connection`,
aioice's `Connection._nominated` and its pairs' `protocol` and `remote_addr`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from struct import pack
from typing import Any

from aioice.ice import StunProtocol
from aiortc import RTCDtlsTransport, RTCRtpSender
from aiortc import clock as rtc_clock
from aiortc.codecs import is_rtx
from aiortc.rtcdtlstransport import State
from aiortc.rtcrtpparameters import RTCRtpSendParameters
from aiortc.rtp import HeaderExtensions, HeaderExtensionsMap
from aiortc.utils import random16, random32, uint16_add

from hub.media.packetizer import RtpFrame

log = logging.getLogger(__name__)

HISTORY = 512  # packets kept for retransmission: about 8 s of a 640x480 15 fps stream
# Bytes the socket may hold unsent before this viewer counts as behind (asyncio buffers a datagram the kernel
# refused): past it frames are dropped whole until a keyframe, as a full queue did before.
MAX_UNSENT = 256 * 1024

_SENDER = "_RTCRtpSender__"
_DTLS = "_RTCDtlsTransport__"
_NTP, _RTP_TIMESTAMP = f"{_SENDER}ntp_timestamp", f"{_SENDER}rtp_timestamp"
_OCTETS, _PACKETS = f"{_SENDER}octet_count", f"{_SENDER}packet_count"
_TX_BYTES, _TX_PACKETS = f"{_DTLS}tx_bytes", f"{_DTLS}tx_packets"
# name -> (what has it: the started sender, its class, its DTLS transport, the ICE transport, aioice's connection)
REQUIRED_INTERNALS = {
    "RTCRtpSender._ssrc": ("sender", "_ssrc"),
    "RTCRtpSender._rtx_ssrc": ("sender", "_rtx_ssrc"),
    "RTCRtpSender._retransmit (what its NACK handling calls)": ("sender class", "_retransmit"),
    "RTCRtpSender.__ntp_timestamp": ("sender", _NTP),
    "RTCRtpSender.__rtp_timestamp": ("sender", _RTP_TIMESTAMP),
    "RTCRtpSender.__octet_count": ("sender", _OCTETS),
    "RTCRtpSender.__packet_count": ("sender", _PACKETS),
    "RTCDtlsTransport._tx_srtp": ("dtls", "_tx_srtp"),
    "RTCDtlsTransport._state": ("dtls", "_state"),
    "RTCDtlsTransport.__tx_bytes": ("dtls", _TX_BYTES),
    "RTCDtlsTransport.__tx_packets": ("dtls", _TX_PACKETS),
    "RTCIceTransport._connection": ("ice", "_connection"),
    "aioice Connection._nominated": ("connection", "_nominated"),
}


class WriterInternalsChanged(RuntimeError):
    """The pinned aiortc or aioice no longer has an internal that the RTP writer relies on."""


def check_internals(sender: RTCRtpSender) -> None:
    """Raise WriterInternalsChanged naming every internal `sender` (a started one) and its transports lack."""
    dtls = sender.transport
    ice = dtls.transport
    owners = {
        "sender": sender,
        "sender class": RTCRtpSender,
        "dtls": dtls,
        "ice": ice,
        "connection": getattr(ice, "_connection", None),
    }
    missing = [name for name, (owner, attribute) in REQUIRED_INTERNALS.items() if not hasattr(owners[owner], attribute)]
    if missing:
        raise WriterInternalsChanged("the RTP writer relies on aiortc internals that are gone: " + ", ".join(missing))


def _unsent(transport: Any) -> int:
    """Bytes the socket holds unsent; 0 for a transport that does not say (aioice's TURN transport)."""
    try:
        return int(transport.get_write_buffer_size())
    except NotImplementedError:
        return 0


class RtpWriter:
    """Writes one viewer's video packets; ready once aiortc's sender was started with its parameters."""

    def __init__(self, sender: RTCRtpSender) -> None:
        self._sender = sender
        self.ready = False
        self._payload_type = 0
        self._rtx_payload_type: int | None = None
        self._mid: str | None = None
        self._layout: object = None
        self._extensions = HeaderExtensionsMap()
        self._sequence = random16()
        self._rtx_sequence = random16()
        self._timestamp_origin = random32()
        self._history: list[tuple[int, int, bool, bytes] | None] = [None] * HISTORY  # seq, timestamp, marker, payload
        self._pending: asyncio.Task[None] | None = None  # a send on a pair whose socket is not a plain one
        self.behind = False
        self._failed = False  # logged once
        start = sender.send

        async def send(parameters: RTCRtpSendParameters) -> None:
            self._configure(parameters)
            await start(parameters)

        sender.send = send  # type: ignore[method-assign]
        sender._retransmit = self._retransmit  # type: ignore[method-assign]

    def _configure(self, parameters: RTCRtpSendParameters) -> None:
        codec = parameters.codecs[0]
        assert codec.payloadType is not None  # aiortc numbers every codec it negotiates
        self._payload_type = codec.payloadType
        self._rtx_payload_type = next(
            (c.payloadType for c in parameters.codecs if is_rtx(c) and c.parameters.get("apt") == codec.payloadType),
            None,
        )
        self._mid = parameters.muxId
        self._extensions.configure(parameters)
        # Viewers whose extensions are laid out alike share each frame's extension block.
        self._layout = (self._mid, tuple((e.id, e.uri) for e in parameters.headerExtensions))
        check_internals(self._sender)
        self.ready = True

    def write(self, frame: RtpFrame) -> bool:
        """Send every packet of `frame` now; False (nothing sent) if the viewer's connection cannot take it."""
        if not self.ready:
            return False
        dtls = self._sender.transport
        send = self._socket(dtls)
        if send is None:
            return False
        sender, ssrc, payload_type = self._sender, self._sender._ssrc, self._payload_type
        timestamp = (self._timestamp_origin + frame.timestamp) & 0xFFFFFFFF
        extension = frame.extensions.get(self._layout)
        if extension is None:
            extension = frame.extensions[self._layout] = self._extension(frame.ntp)
        first_byte = 0x90 if extension else 0x80
        protect = dtls._tx_srtp.protect
        last = len(frame.payloads) - 1
        sequence, history, sent = self._sequence, self._history, 0
        try:
            for index, payload in enumerate(frame.payloads):
                marker = index == last
                data = protect(
                    pack("!BBHLL", first_byte, marker << 7 | payload_type, sequence, timestamp, ssrc)
                    + extension
                    + payload
                )
                send(data)
                sent += len(data)
                history[sequence % HISTORY] = (sequence, timestamp, marker, payload)
                sequence = (sequence + 1) & 0xFFFF
        except Exception:
            # One viewer's failure (SRTP refusing a packet) must not reach the camera's receiver, which would close
            # the camera's connection: this viewer waits for a keyframe instead.
            self._sequence = sequence
            if not self._failed:
                self._failed = True
                log.exception("a viewer's RTP packet could not be sent; it waits for the next keyframe")
            return False
        count = last + 1
        self._sequence = sequence
        # What aiortc's sender would have counted: its sender reports and statistics read these.
        setattr(sender, _NTP, frame.ntp)
        setattr(sender, _RTP_TIMESTAMP, timestamp)
        setattr(sender, _OCTETS, getattr(sender, _OCTETS) + frame.size)
        setattr(sender, _PACKETS, getattr(sender, _PACKETS) + count)
        setattr(dtls, _TX_BYTES, getattr(dtls, _TX_BYTES) + sent)
        setattr(dtls, _TX_PACKETS, getattr(dtls, _TX_PACKETS) + count)
        return True

    def _extension(self, ntp: int) -> bytes:
        """The header extension block of a packet sent at `ntp` (the same for every packet of a frame)."""
        values = HeaderExtensions(mid=self._mid, abs_send_time=(ntp >> 14) & 0x00FFFFFF)
        profile, value = self._extensions.set(values)
        return pack("!HH", profile, len(value) >> 2) + value if value else b""

    def _socket(self, dtls: RTCDtlsTransport) -> Callable[[bytes], Any] | None:
        """A function that sends one datagram on the viewer's ICE pair now, or None if there is none."""
        if dtls._state != State.CONNECTED:
            return None
        connection = getattr(dtls.transport, "_connection", None)
        pair = connection._nominated.get(1) if connection is not None else None
        if pair is None:
            return None
        protocol, address = pair.protocol, pair.remote_addr
        if type(protocol).send_data is StunProtocol.send_data:
            transport = protocol.transport
            self.behind = _unsent(transport) > MAX_UNSENT
            if self.behind:
                return None
            return lambda data: transport.sendto(data, address)
        # A pair whose protocol sends in its own way: its coroutine, in order, one at a time.
        return lambda data: self._send_later(protocol, data, address)

    def _send_later(self, protocol: Any, data: bytes, address: tuple[str, int]) -> None:
        previous = self._pending

        async def send() -> None:
            if previous is not None:
                await previous
            await protocol.send_data(data, address)

        self._pending = asyncio.ensure_future(send())

    async def _retransmit(self, sequence_number: int) -> None:
        """Resend a packet the viewer reported lost (NACK), over RTX when negotiated, as aiortc's sender would."""
        kept = self._history[sequence_number % HISTORY]
        if kept is None or kept[0] != sequence_number:
            return
        dtls = self._sender.transport
        send = self._socket(dtls)
        if send is None:
            return
        _, timestamp, marker, payload = kept
        payload_type, ssrc, sequence = self._payload_type, self._sender._ssrc, sequence_number
        if self._rtx_payload_type is not None:
            payload_type, ssrc, sequence = self._rtx_payload_type, self._sender._rtx_ssrc, self._rtx_sequence
            payload = pack("!H", sequence_number) + payload
            self._rtx_sequence = uint16_add(self._rtx_sequence, 1)
        extension = self._extension(rtc_clock.current_ntp_time())
        header = pack("!BBHLL", 0x90 if extension else 0x80, marker << 7 | payload_type, sequence, timestamp, ssrc)
        send(dtls._tx_srtp.protect(header + extension + payload))
