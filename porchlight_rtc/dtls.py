"""DTLS with peers whose certificates are RSA or ECDSA, in either role, and a hook for failed handshakes.

aiortc 1.16 offers only ECDHE-ECDSA cipher suites. As the DTLS client that fails against any server whose
certificate is RSA (GStreamer's webrtcbin makes RSA-2048 ones): in DTLS 1.2 the server's certificate decides the
suite, and it cannot pick an ECDSA one. As the DTLS server aiortc is fine whatever the client's certificate: the suite
follows the hub's own ECDSA P-256 certificate, which every WebRTC stack must accept (RFC 8827 makes
TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 on P-256 mandatory), and OpenSSL verifies an RSA or ECDSA client
certificate alike. So:

- an `actpass` offer is answered `passive`: the hub is the DTLS server, the role that works with any peer and the
  one RFC 9725 expects of a media server (its examples answer passive; a client may implement only the client role).
  aiortc would answer `active`. An `active` offer makes the hub the server, as before; a `passive` one (the peer
  insists on being the server) makes it the client;
- as the client the hub also offers the ECDHE-RSA suites, so that last case works with RSA servers too.

A handshake that fails (no common suite, a refused certificate, a fingerprint that does not match the SDP, no SRTP
profile in common) is logged on one INFO line and can be counted per connection with `on_handshake_failure`. A
handshake cut short because ICE failed or the connection was closed is not a DTLS failure and is not reported.

The aiortc internals this relies on are checked by `check_internals()` when the fixes are installed, so that an
aiortc upgrade that moves them fails at start-up, naming them, rather than breaking handshakes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.rtcdtlstransport import SRTP_PROFILES, RTCCertificate, RTCDtlsTransport, State
from aiortc.rtcicetransport import RTCIceGatherer, RTCIceTransport
from aiortc.sdp import SessionDescription
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from OpenSSL import SSL

log = logging.getLogger(__name__)

_INSTALLED = "_porchlight_dtls"
_FAILURE = "_porchlight_handshake_failure"

# aiortc's own four ECDHE-ECDSA suites first (what every WebRTC peer picks today), then the same with RSA
# authentication, then AES-256-GCM for servers that insist on it. Forward secrecy and AEAD or SHA-1 HMAC only.
CIPHERS = b":".join(
    [
        b"ECDHE-ECDSA-AES128-GCM-SHA256",
        b"ECDHE-ECDSA-CHACHA20-POLY1305",
        b"ECDHE-ECDSA-AES128-SHA",
        b"ECDHE-ECDSA-AES256-SHA",
        b"ECDHE-RSA-AES128-GCM-SHA256",
        b"ECDHE-RSA-CHACHA20-POLY1305",
        b"ECDHE-RSA-AES128-SHA",
        b"ECDHE-RSA-AES256-SHA",
        b"ECDHE-ECDSA-AES256-GCM-SHA384",
        b"ECDHE-RSA-AES256-GCM-SHA384",
    ]
)

# What aiortc's SDP parser makes of a=setup (aiortc.sdp.DTLS_SETUP_ROLE): actpass is "auto".
_ACTPASS = "auto"


class AiortcDtlsInternalsChanged(RuntimeError):
    """The pinned aiortc no longer has an internal the DTLS fixes rely on."""


@dataclass(frozen=True, slots=True)
class HandshakeFailure:
    """Why one DTLS handshake failed: the hub's `role` ("client" or "server"), the `stage` ("handshake": no
    suite or certificate accepted, or an alert; "fingerprint": the certificate is not the one the SDP named; "srtp":
    no SRTP profile in common) and the peer certificate's key (e.g. "RSA-2048", "EC-secp384r1"), when known."""

    role: str
    stage: str
    peer_key: str | None = None

    def describe(self) -> str:
        """One line for the log (no addresses, no keys, no fingerprints)."""
        why = {
            "handshake": "no cipher suite or certificate both sides accept, or the peer sent an alert",
            "fingerprint": "the peer's certificate does not match the fingerprint in its SDP",
            "srtp": "no SRTP protection profile in common",
        }.get(self.stage, self.stage)
        peer = f", peer certificate {self.peer_key}" if self.peer_key else ""
        return f"as DTLS {self.role}: {why}{peer}"


def install_dtls_fixes() -> None:
    """Install the cipher list, the passive answer and the failure report in this process (idempotent); raises
    AiortcDtlsInternalsChanged, naming what moved, if aiortc no longer has what they wrap."""
    pc: Any = RTCPeerConnection
    if getattr(pc.setRemoteDescription, _INSTALLED, False):
        return
    check_internals()
    certificate: Any = RTCCertificate
    transport: Any = RTCDtlsTransport
    create_context, set_state, set_remote = (
        certificate._create_ssl_context,
        transport._set_state,
        pc.setRemoteDescription,
    )

    def create_context_with_rsa(self: RTCCertificate, srtp_profiles: list[Any]) -> SSL.Context:
        context: SSL.Context = create_context(self, srtp_profiles)
        context.set_cipher_list(CIPHERS)
        return context

    def set_state_noting_failure(self: RTCDtlsTransport, state: State) -> None:
        if state is State.FAILED and self._state is State.CONNECTING:
            failure = _classify(self)
            if failure is not None:
                setattr(self, _FAILURE, failure)
                log.info("DTLS handshake failed %s", failure.describe())
        set_state(self, state)

    async def set_remote_answering_passive(self: RTCPeerConnection, description: RTCSessionDescription) -> None:
        await set_remote(self, description)
        if description.type == "offer":
            _serve_actpass(self, description.sdp)

    setattr(set_remote_answering_passive, _INSTALLED, True)
    certificate._create_ssl_context = create_context_with_rsa
    transport._set_state = set_state_noting_failure
    pc.setRemoteDescription = set_remote_answering_passive
    _check_ciphers()


def on_handshake_failure(pc: RTCPeerConnection, callback: Callable[[HandshakeFailure], None]) -> None:
    """Call `callback` once if `pc` fails because a DTLS handshake failed (not when ICE failed or it was closed).

    Register it when the connection is made (before or after its descriptions are set). The failure itself is
    already logged, once, by the fix; the callback is for counting.
    """
    reported = False

    @pc.on("connectionstatechange")
    def on_state() -> None:
        nonlocal reported
        if reported or pc.connectionState != "failed":
            return
        for transport in _dtls_transports(pc):
            failure = getattr(transport, _FAILURE, None)
            if failure is not None:
                reported = True
                callback(failure)
                return


def check_internals() -> None:
    """Raise AiortcDtlsInternalsChanged naming every aiortc internal the DTLS fixes need that is missing."""
    transport = RTCDtlsTransport(RTCIceTransport(RTCIceGatherer()), [RTCCertificate.generateCertificate()])
    wanted = {
        "RTCCertificate._create_ssl_context": (RTCCertificate, "_create_ssl_context"),
        "RTCDtlsTransport._set_state": (transport, "_set_state"),
        "RTCDtlsTransport._set_role": (transport, "_set_role"),
        "RTCDtlsTransport._role": (transport, "_role"),
        "RTCDtlsTransport._state": (transport, "_state"),
        "RTCDtlsTransport._ssl": (transport, "_ssl"),
        "RTCDtlsTransport._srtp_profiles": (transport, "_srtp_profiles"),
        "RTCDtlsTransport.encrypted": (transport, "encrypted"),
        "State.CONNECTING": (State, "CONNECTING"),
        "State.FAILED": (State, "FAILED"),
    }
    missing = [name for name, (owner, attribute) in wanted.items() if not hasattr(owner, attribute)]
    if getattr(transport, "_role", None) != _ACTPASS:
        missing.append('RTCDtlsTransport._role starting as "auto"')
    if missing:
        raise AiortcDtlsInternalsChanged("the DTLS fixes rely on aiortc internals that are gone: " + ", ".join(missing))


def _check_ciphers() -> None:
    """The installed context really offers the RSA suites (a silent no-op would break RSA peers again)."""
    certificate: Any = RTCCertificate.generateCertificate()
    offered = SSL.Connection(certificate._create_ssl_context(SRTP_PROFILES)).get_cipher_list()
    if "ECDHE-RSA-AES128-GCM-SHA256" not in offered or "ECDHE-ECDSA-AES128-GCM-SHA256" not in offered:
        raise AiortcDtlsInternalsChanged("RTCCertificate._create_ssl_context no longer takes our cipher list")


def _serve_actpass(pc: RTCPeerConnection, offer: str) -> None:
    """Make the hub the DTLS server of every transport whose offer said actpass (aiortc would be the client)."""
    parsed = SessionDescription.parse(offer).media
    actpass = {media.rtp.muxId for media in parsed if media.dtls is not None and media.dtls.role == _ACTPASS}
    for transceiver in pc.getTransceivers():
        if transceiver.mid in actpass:
            _serve(transceiver.receiver.transport)
    sctp = pc.sctp
    if sctp is not None and sctp.mid in actpass:
        _serve(sctp.transport)


def _serve(transport: RTCDtlsTransport) -> None:
    internal: Any = transport
    if internal._role == _ACTPASS:  # never overrides a role the offer decided
        internal._set_role("server")


def _classify(transport: RTCDtlsTransport) -> HandshakeFailure | None:
    """What failed, for a transport leaving CONNECTING for FAILED; None if ICE ended under the handshake."""
    internal: Any = transport
    if transport.transport.state in ("failed", "closed"):
        return None
    connection: SSL.Connection | None = internal._ssl
    if connection is None:
        return None
    peer_key = _key_kind(connection)
    if not internal.encrypted:
        return HandshakeFailure(internal._role, "handshake", peer_key)
    chosen = connection.get_selected_srtp_profile()
    if not any(profile.openssl_profile == chosen for profile in internal._srtp_profiles):
        return HandshakeFailure(internal._role, "srtp", peer_key)
    return HandshakeFailure(internal._role, "fingerprint", peer_key)


def _key_kind(connection: SSL.Connection) -> str | None:
    """The peer certificate's key type and size or curve, if the handshake got as far as its certificate."""
    try:
        certificate = connection.get_peer_certificate(as_cryptography=True)
    except SSL.Error:
        return None
    if certificate is None:
        return None
    key = certificate.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA-{key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"EC-{key.curve.name}"
    return type(key).__name__


def _dtls_transports(pc: RTCPeerConnection) -> list[RTCDtlsTransport]:
    transports = [transceiver.receiver.transport for transceiver in pc.getTransceivers()]
    if pc.sctp is not None:
        transports.append(pc.sctp.transport)
    return transports
