"""The hub's book of peer connections (hub/media/peers.py) on real aiortc connections: the caps, a slot given back
whatever closed the connection, even a close that failed, and the handshake watchdog."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

import pytest
from aiortc import RTCPeerConnection

from hub.errors import Busy, RateLimited
from hub.media.peers import PeerBook
from porchlight_rtc.ice import rtc_configuration

OFFICER, OTHER = 1, 2


class FailingClose(RTCPeerConnection):
    """A connection whose close raises before it gets to the "closed" state, as an aiortc bug might."""

    async def close(self) -> None:
        raise RuntimeError("close failed")


def book(total: int = 3, per_officer: int = 2, handshake_seconds: float = 10.0) -> PeerBook:
    def spawn(coro: Coroutine[Any, Any, Any], name: str) -> None:
        asyncio.get_running_loop().create_task(coro, name=name)

    return PeerBook(total, per_officer, handshake_seconds, spawn)


def new_pc() -> RTCPeerConnection:
    return RTCPeerConnection(rtc_configuration([]))


async def test_caps_per_officer_and_in_all() -> None:
    peers = book()
    mine = [peers.open(new_pc, OFFICER), peers.open(new_pc, OFFICER)]
    with pytest.raises(RateLimited) as limited:
        peers.open(new_pc, OFFICER)
    assert limited.value.retry_after == 10
    camera = peers.open(new_pc)  # a camera's connection counts in all, for no officer
    with pytest.raises(Busy):
        peers.open(new_pc, OTHER)
    assert (len(peers), peers.officer_count(OFFICER)) == (3, 2)
    for pc in [*mine, camera]:
        await peers.close(pc)
    assert (len(peers), peers.officer_count(OFFICER)) == (0, 0)
    await peers.close(peers.open(new_pc, OTHER))


async def test_slot_comes_back_however_the_connection_closed(caplog: pytest.LogCaptureFixture) -> None:
    peers = book(total=2)
    closed_directly = peers.open(new_pc, OFFICER)
    await closed_directly.close()  # not through the book: its "closed" state gives the slot back
    assert len(peers) == 0
    failing = peers.open(lambda: FailingClose(rtc_configuration([])), OFFICER)
    await peers.close(failing)
    assert len(peers) == 0 and peers.officer_count(OFFICER) == 0
    assert any(r.levelno == logging.ERROR and "closing a peer connection failed" in r.message for r in caplog.records)
    await RTCPeerConnection.close(failing)
    await peers.close(None)  # an ended session's dropped connection


async def test_watchdog_closes_a_connection_whose_handshake_never_completes() -> None:
    peers = book(handshake_seconds=0.1)
    pc = peers.open(new_pc, OFFICER)
    timed_out = asyncio.Event()

    async def on_timeout() -> None:
        await peers.close(pc)
        timed_out.set()

    peers.arm(pc, on_timeout)
    await asyncio.wait_for(timed_out.wait(), 5)
    assert pc.connectionState == "closed" and len(peers) == 0


async def test_a_close_whose_caller_is_cancelled_still_finishes() -> None:
    """A control socket's handler cancelled while it closes its camera's connection (its own connection went) must
    not leave aiortc's close half done: every later close() of that connection would wait forever (found by the
    race campaign, tests/test_consent_races.py, on a device token rotation)."""
    peers = book()
    pc = peers.open(new_pc)
    pc.addTransceiver("video", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    first = asyncio.create_task(peers.close(pc))
    await asyncio.sleep(0)  # let it start closing
    first.cancel()
    await asyncio.gather(first, return_exceptions=True)
    await asyncio.wait_for(peers.close(pc), 5)
    assert pc.connectionState == "closed" and len(peers) == 0
