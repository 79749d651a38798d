"""Hostile datagrams for the spoofing tests: what an attacker on the path could send at a hub's media port.

Every kind is well formed enough to get past a first-byte demultiplexer (RFC 7983): STUN binding requests with
wrong credentials, DTLS handshake records that look like a ClientHello, RTP and RTCP headers, and plain noise.
"""

from __future__ import annotations

import os
import random
import re
import socket
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from aioice import stun

from tests.support.procs import wait_until

# RFC 7983 first bytes: STUN 0-3, DTLS 20-63, RTP/RTCP 128-191.
DTLS_HANDSHAKE = 22
RTP_V2 = 0x80
# A burst of datagrams (at most ~1.2 kB each, ~2.5 kB of buffer) fits in a default receive buffer (208 kB).
BURST = 32
DRAINED_BYTES = 32 * 1024


def candidate_ports(sdp: str, host: str = "127.0.0.1") -> list[int]:
    """The UDP ports of the host candidates on `host` that an SDP description offers or answers."""
    pattern = rf"^a=candidate:\S+ \d+ udp \d+ {re.escape(host)} (\d+) typ host"
    return sorted({int(port) for port in re.findall(pattern, sdp, re.MULTILINE | re.IGNORECASE)})


def ice_ufrag(sdp: str) -> str:
    """The first ice-ufrag of an SDP description."""
    match = re.search(r"^a=ice-ufrag:(\S+)", sdp, re.MULTILINE)
    assert match, "no ice-ufrag in the description"
    return match.group(1)


def binding_request(username: str, key: bytes) -> bytes:
    """A STUN binding request as an ICE check sends it, signed with `key` (wrong on purpose in the tests)."""
    message = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
    message.attributes["USERNAME"] = username
    message.attributes["PRIORITY"] = random.getrandbits(31)
    message.attributes["ICE-CONTROLLING"] = random.getrandbits(64)
    message.attributes["USE-CANDIDATE"] = None
    message.add_message_integrity(key)
    message.add_fingerprint()
    return bytes(message)


def dtls_client_hello() -> bytes:
    """A DTLS 1.2 record carrying a plausible ClientHello (epoch 0), from a sender nobody checked."""
    suites = struct.pack("!H", 0xC02B)  # TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
    extensions = struct.pack("!HHH", 0x000E, 5, 2) + struct.pack("!HB", 0x0001, 0)  # use_srtp, one profile
    body = (
        b"\xfe\xfd"  # client_version DTLS 1.2
        + os.urandom(32)
        + b"\x00"  # session id
        + b"\x00"  # cookie
        + struct.pack("!H", len(suites))
        + suites
        + b"\x01\x00"  # compression: null
        + struct.pack("!H", len(extensions))
        + extensions
    )
    length = len(body).to_bytes(3, "big")
    handshake = b"\x01" + length + struct.pack("!H", 0) + b"\x00\x00\x00" + length + body
    sequence = random.getrandbits(48).to_bytes(6, "big")
    return struct.pack("!BHH", DTLS_HANDSHAKE, 0xFEFF, 0) + sequence + struct.pack("!H", len(handshake)) + handshake


def rtp_packet() -> bytes:
    """An RTP header (version 2, a dynamic payload type) and noise for payload: no SRTP tag that verifies."""
    header = struct.pack(
        "!BBHII", RTP_V2, 96 | 0x80 * random.getrandbits(1), random.getrandbits(16), random.getrandbits(32),
        random.getrandbits(32),
    )  # fmt: skip
    return header + os.urandom(random.randint(20, 1000))


def rtcp_packet() -> bytes:
    """An RTCP sender report header (payload type 200) and noise."""
    words = 6
    return struct.pack("!BBHI", RTP_V2, 200, words, random.getrandbits(32)) + os.urandom(words * 4)


def noise() -> bytes:
    """Random bytes of a random datagram size."""
    return os.urandom(random.randint(1, 1200))


@dataclass
class Spray:
    """Datagrams sent, by kind, at one port, and how many of them the kernel dropped there."""

    port: int
    sent: dict[str, int]
    dropped: int
    seconds: float

    @property
    def total(self) -> int:
        return sum(self.sent.values())


def payloads(local_ufrag: str, remote_ufrag: str, each: int) -> Iterator[tuple[str, bytes]]:
    """`each` datagrams of every hostile kind, interleaved, for the ICE agent whose ufrag is `local_ufrag`.

    A check of that agent is named "local:remote"; "right_username" uses that name with a key nobody holds.
    """
    makers: dict[str, Callable[[], bytes]] = {
        "noise": noise,
        "stun_wrong_username": lambda: binding_request("spoof:spoof", os.urandom(16)),
        "stun_right_username": lambda: binding_request(f"{local_ufrag}:{remote_ufrag}", os.urandom(22)),
        "dtls_client_hello": dtls_client_hello,
        "rtp": rtp_packet,
        "rtcp": rtcp_packet,
    }
    for _ in range(each):
        for kind, make in makers.items():
            yield kind, make()


async def spray(port: int, local_ufrag: str, remote_ufrag: str, each: int = 300, senders: int = 8) -> Spray:
    """Send `each` datagrams of every kind at 127.0.0.1:`port` from `senders` sockets of our own.

    Sent in bursts, each once the receiving socket's buffer has drained: its owner must see every datagram (the
    kernel's drop count for the socket is in the result).
    """
    before, began = udp_socket(port), time.monotonic()
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(senders)]
    sent: dict[str, int] = {}
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        for index, (kind, data) in enumerate(payloads(local_ufrag, remote_ufrag, each)):
            if index % BURST == 0:
                await _drained(port)
            sockets[index % senders].sendto(data, ("127.0.0.1", port))
            sent[kind] = sent.get(kind, 0) + 1
        await _drained(port)
    finally:
        for sock in sockets:
            sock.close()
    return Spray(port, sent, udp_socket(port).drops - before.drops, time.monotonic() - began)


async def _drained(port: int, timeout: float = 10.0) -> None:
    await wait_until(lambda: udp_socket(port).queued < DRAINED_BYTES, timeout, f"port {port}'s socket to drain", 0.005)


@dataclass
class UdpSocket:
    """The kernel's view of one UDP socket (/proc/net/udp): bytes waiting to be read, datagrams dropped."""

    queued: int
    drops: int


def udp_socket(port: int) -> UdpSocket:
    """The UDP socket bound to 127.0.0.1:`port`; AssertionError if there is none."""
    wanted = f"0100007F:{port:04X}"
    with open("/proc/net/udp", encoding="ascii") as table:
        for line in table.readlines()[1:]:
            fields = line.split()
            if fields[1] == wanted:
                return UdpSocket(queued=int(fields[4].split(":")[1], 16), drops=int(fields[-1]))
    raise AssertionError(f"no UDP socket is bound to 127.0.0.1:{port}")
