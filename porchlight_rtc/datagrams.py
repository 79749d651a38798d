"""Drop media datagrams from addresses the ICE agent does not know, before they reach DTLS.

aioice hands every datagram that is not STUN to the connection's receive queue whatever its source address and
whether or not the connection is up yet; aiortc then feeds them to OpenSSL. One spoofed DTLS ClientHello from
any address, queued before the handshake starts, makes the handshake fail (tests/test_spoofed_datagrams.py), and
the queue grows without bound while nobody reads it. Like libwebrtc, we accept non-STUN datagrams only from
a remote address of one of the connection's candidate pairs on that socket: an address signalled in the SDP or
learned from an authenticated ICE check. STUN still goes to aioice, which authenticates it.
"""

from __future__ import annotations

import itertools
from typing import Any

import aioice.ice
from aioice import stun

_INSTALLED = "_porchlight_drops_unknown"


def drop_unknown_datagrams() -> None:
    """Install the filter in this process (idempotent); fails loudly if aioice no longer has what it wraps."""
    protocol = aioice.ice.StunProtocol
    if getattr(protocol.datagram_received, _INSTALLED, False):
        return
    if not hasattr(aioice.ice.CandidatePair, "remote_addr"):
        raise RuntimeError("aioice.ice.CandidatePair.remote_addr is gone: the datagram filter needs updating")
    original = protocol.datagram_received

    def datagram_received(self: aioice.ice.StunProtocol, data: bytes | str, addr: tuple[Any, ...]) -> None:
        if _known_peer(self, (addr[0], addr[1])) or _is_stun(data):
            original(self, data, addr)

    setattr(datagram_received, _INSTALLED, True)
    protocol.datagram_received = datagram_received  # type: ignore[method-assign]


def _known_peer(protocol: aioice.ice.StunProtocol, addr: tuple[str, int]) -> bool:
    """Whether `addr` is the remote end of a candidate pair on this socket (checked or nominated)."""
    connection = protocol.receiver
    # Private aioice state (0.13): absent after an upgrade, this denies everything, which the tests catch.
    pairs = itertools.chain(getattr(connection, "_nominated", {}).values(), getattr(connection, "_check_list", ()))
    return any(pair.protocol is protocol and pair.remote_addr == addr for pair in pairs)


def _is_stun(data: bytes | str) -> bool:
    """Whether a datagram parses as STUN (aioice authenticates STUN requests itself)."""
    if isinstance(data, str):
        return False
    try:
        stun.parse_message(data)
    except ValueError:
        return False
    return True
