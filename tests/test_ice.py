"""ICE settings: exactly the configured servers (never aiortc's public default), loopback-only gathering."""

from __future__ import annotations

import aioice.ice
from aiortc import RTCPeerConnection

from porchlight_rtc.ice import enable_loopback, rtc_configuration


def test_configured_servers_only() -> None:
    assert rtc_configuration([]).iceServers == []
    config = rtc_configuration(
        [{"urls": "stun:stun.example.org"}, {"urls": ["turn:t.example.org"], "username": "u", "credential": "c"}]
    )
    servers = config.iceServers or []
    assert [s.urls for s in servers] == ["stun:stun.example.org", ["turn:t.example.org"]]
    assert servers[1].username == "u" and servers[1].credential == "c"


async def test_loopback_gathers_only_127_0_0_1() -> None:
    enable_loopback()
    assert aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=True) == ["127.0.0.1"]
    pc = RTCPeerConnection(rtc_configuration([]))
    pc.addTransceiver("video", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    candidates = [line for line in pc.localDescription.sdp.splitlines() if line.startswith("a=candidate")]
    await pc.close()
    assert candidates and all(" 127.0.0.1 " in line and "typ host" in line for line in candidates)
