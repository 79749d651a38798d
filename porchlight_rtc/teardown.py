"""Closing a peer connection cleanly and cheaply: no DTLS after ICE has ended, no consent task after close, and
no reference cycles left behind.

aiortc 1.16 starts a transceiver's DTLS transport as soon as its ICE transport's `start()` returns, even when it
returned because ICE failed or the connection was closed meanwhile. The transport then builds an OpenSSL context
and connection (about 110 kB of C memory, and a millisecond of CPU for the cipher list) only to fail on its first
write. A hub closing hundreds of stalled connections at once (tests/test_stalled_offers.py) did that hundreds of
times.

aioice 0.13 starts its consent-freshness task when `connect()` finishes, even if the connection was closed while
ICE was completing; that task then sleeps and wakes every few seconds forever over the (cleared) nominated pairs,
holding the connection. `connect()` now raises as for a failed ICE when the connection was closed meanwhile.

aiortc's `close()` removes the connection's own event listeners "to facilitate garbage collection", but not the ones
the connection registered on its DTLS and ICE transports, so every closed connection stays a reference cycle of
a few hundred objects (transports, sender, receiver, certificate) until a full garbage collection, which CPython
runs rarely. Removing those listeners too lets reference counting free a closed connection at once.
"""

from __future__ import annotations

from typing import Any

import aioice.ice
from aiortc import RTCPeerConnection
from aiortc.rtcdtlstransport import RTCDtlsParameters, RTCDtlsTransport, State

_INSTALLED = "_porchlight_teardown"


def cheap_teardown() -> None:
    """Install the three fixes in this process (idempotent); fails loudly if aiortc or aioice no longer has what
    they wrap."""
    dtls: Any = RTCDtlsTransport
    pc: Any = RTCPeerConnection
    ice: Any = aioice.ice.Connection
    if getattr(pc.close, _INSTALLED, False):
        return
    if not hasattr(dtls, "_set_state") or not hasattr(State, "FAILED"):
        raise RuntimeError("aiortc's RTCDtlsTransport._set_state or State.FAILED is gone: teardown needs updating")
    if not all(hasattr(ice(ice_controlling=True), name) for name in ("_closing", "_query_consent_task")):
        raise RuntimeError("aioice's Connection._closing or _query_consent_task is gone: teardown needs updating")
    start, close, connect = dtls.start, pc.close, ice.connect

    async def start_after_ice(self: RTCDtlsTransport, remoteParameters: RTCDtlsParameters) -> None:
        if self.transport.state in ("failed", "closed"):
            self._set_state(State.FAILED)  # where the original ends up, without building OpenSSL objects
            return
        await start(self, remoteParameters)

    async def close_and_unhook(self: RTCPeerConnection) -> None:
        await close(self)
        for emitter in _transports(self):
            emitter.remove_all_listeners()

    async def connect_unless_closed(self: aioice.ice.Connection) -> None:
        await connect(self)
        if self._closing:  # closed while the checks were completing: no consent checks for a closed connection
            if self._query_consent_task is not None:
                self._query_consent_task.cancel()
                self._query_consent_task = None
            raise ConnectionError("the connection was closed while ICE completed")

    setattr(close_and_unhook, _INSTALLED, True)
    dtls.start = start_after_ice
    pc.close = close_and_unhook
    ice.connect = connect_unless_closed


def _transports(pc: RTCPeerConnection) -> list[Any]:
    """The connection's DTLS and ICE transports and ICE gatherers (media and data channel)."""
    found: list[Any] = []
    dtls_transports = [t.receiver.transport for t in pc.getTransceivers()]
    if pc.sctp is not None:
        dtls_transports.append(pc.sctp.transport)
    for dtls in dtls_transports:
        found += [dtls, dtls.transport, dtls.transport.iceGatherer]
    return found
