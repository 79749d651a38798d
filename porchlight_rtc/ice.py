"""ICE configuration shared by the hub and the camera agent.

aiortc falls back to a public STUN server when it is given no ICE servers, so we always pass an explicit
list (empty unless configured). aioice never gathers 127.0.0.1; loopback mode makes it gather only that, so
tests and the single-machine demo never send a packet off the host.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import aioice.ice
from aiortc import RTCConfiguration, RTCIceServer

_LOOPBACK = ["127.0.0.1"]


def _loopback_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    return list(_LOOPBACK) if use_ipv4 else []


def enable_loopback() -> None:
    """Gather only 127.0.0.1 host candidates in this process (tests and the demo).

    aioice has no option for this, so its address finder is replaced; the check below fails loudly if an
    aioice upgrade renames it.
    """
    if not hasattr(aioice.ice, "get_host_addresses"):
        raise RuntimeError("aioice.ice.get_host_addresses is gone: loopback mode needs updating")
    aioice.ice.get_host_addresses = _loopback_addresses


def rtc_configuration(servers: Iterable[Mapping[str, object]]) -> RTCConfiguration:
    """An RTCConfiguration with exactly `servers` (each {urls, username?, credential?}); never aiortc's default."""
    ice = []
    for server in servers:
        urls = server["urls"]
        username = server.get("username")
        credential = server.get("credential")
        ice.append(
            RTCIceServer(
                urls=urls if isinstance(urls, str) else list(urls),  # type: ignore[call-overload]
                username=str(username) if username is not None else None,
                credential=str(credential) if credential is not None else None,
            )
        )
    return RTCConfiguration(iceServers=ice)
