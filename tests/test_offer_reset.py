"""Issue 14 item 15: a client that closes or resets its connection mid-offer is answered a 4xx (aiohttp closes a
connection whose client has closed its side, so nobody hears it: the access log shows it) and costs the hub's log
one INFO line: no 500, no traceback. Against a real hub process and its log."""

from __future__ import annotations

import asyncio
import socket
import struct

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection

from tests.support.client import Api
from tests.support.procs import Hub

LINE = "an offer's connection closed before its body arrived"


async def _offer(direction: str) -> bytes:
    """A real aiortc offer of one video stream (its peer connection closed: nobody answers it)."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        pc.addTransceiver("video", direction=direction)
        await pc.setLocalDescription(await pc.createOffer())
        return str(pc.localDescription.sdp).encode()
    finally:
        await pc.close()


async def _opened_then_cut(hub: Hub, path: str, headers: dict[str, str], body: bytes, how: str) -> None:
    """POST `body` announcing 5,000 bytes more than it has; once the hub's handler runs (it answered `Expect:
    100-continue`), end the connection: `reset` (SO_LINGER 0, an RST) or `close` (a FIN)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", hub.port)
    fields = {
        "Host": f"127.0.0.1:{hub.port}",
        "Content-Type": "application/sdp",
        "Content-Length": str(len(body) + 5000),
        "Expect": "100-continue",
        **headers,
    }
    head = f"POST {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items()) + "\r\n"
    writer.write(head.encode())
    await writer.drain()
    assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 100"), "the hub did not ask for the body"
    writer.write(body)
    await writer.drain()
    if how == "reset":
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()
    else:
        writer.close()
        await writer.wait_closed()


def _cookie(api: Api) -> dict[str, str]:
    cookie = "; ".join(f"{morsel.key}={morsel.value}" for morsel in api.http.cookie_jar)
    return {"Cookie": cookie, "X-CSRF-Token": api.csrf}


@pytest.mark.parametrize("how", ["reset", "close"])
async def test_an_offer_cut_short_is_one_info_line_and_no_traceback(hub: Hub, login, tokens, how: str) -> None:
    officer = await login("olivia")
    await _opened_then_cut(
        hub, "/whep/front-door?case=C-15&reason=reset", _cookie(officer), await _offer("recvonly"), how
    )
    await _opened_then_cut(
        hub, "/whip/front-door", {"Authorization": f"Bearer {tokens['front-door']}"}, await _offer("sendonly"), how
    )
    assert hub.proc is not None
    await hub.proc.wait_log_count("POST /whip/front-door 400", 1)
    await hub.proc.wait_log_count("POST /whep/front-door 400", 1)
    log = hub.proc.log()
    assert log.count(LINE) == 2, log
    assert "Traceback" not in log and " ERROR " not in log and " 500 " not in log, log
