"""WebRTC plumbing shared by the hub and the camera agent."""

from porchlight_rtc.datagrams import drop_unknown_datagrams
from porchlight_rtc.dtls import install_dtls_fixes
from porchlight_rtc.estimator import estimate_on_first_packet
from porchlight_rtc.ice_restart import install_ice_restarts
from porchlight_rtc.teardown import cheap_teardown


def patch_aiortc() -> None:
    """Install our fixes to aioice and aiortc in this process, before any peer connection exists (idempotent)."""
    # Media from addresses ICE never learned is dropped before DTLS sees it (spoofed datagrams broke handshakes).
    drop_unknown_datagrams()
    # Receivers that never get video (the hub's WHEP side) skip aiortc's ~96 kB bandwidth estimator.
    estimate_on_first_packet()
    # A closed connection builds no OpenSSL objects it cannot use and is freed at once, not at the next full GC.
    cheap_teardown()
    # DTLS in either role with RSA or ECDSA peers: actpass answered passive, ECDHE-RSA suites as the client, and a
    # failed handshake logged (porchlight_rtc.dtls.on_handshake_failure counts them per connection).
    install_dtls_fixes()
    # ICE restarts swap a connection's aioice agent under its DTLS transport: the internals that touches are checked.
    install_ice_restarts()
