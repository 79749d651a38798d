"""ICE configuration shared by the hub and the camera agent.

aiortc falls back to a public STUN server when it is given no ICE servers, so we always pass an explicit
list (empty unless configured). aioice never gathers 127.0.0.1; loopback mode makes it gather only that, so
tests and the single-machine demo never send a packet off the host.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping

import aioice.ice
from aiortc import RTCConfiguration, RTCIceServer

LOOPBACK = "127.0.0.1"


def gather_only(addresses: Iterable[str]) -> None:
    """Gather host candidates on exactly these addresses in this process (IPv4 or IPv6 literals).

    aioice has no option for this, so its address finder is replaced; the check below fails loudly if an
    aioice upgrade renames it.
    """
    chosen = [ipaddress.ip_address(address) for address in addresses]
    if not hasattr(aioice.ice, "get_host_addresses"):
        raise RuntimeError("aioice.ice.get_host_addresses is gone: choosing addresses needs updating")

    def host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [str(a) for a in chosen if (a.version == 4 and use_ipv4) or (a.version == 6 and use_ipv6)]

    aioice.ice.get_host_addresses = host_addresses


def enable_loopback(*also: str) -> None:
    """Gather only 127.0.0.1 host candidates (tests and the demo), and any addresses named in `also`."""
    gather_only([LOOPBACK, *also])


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
