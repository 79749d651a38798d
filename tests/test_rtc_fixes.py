"""porchlight_rtc's fixes to aiortc and aioice, on real connections in this process: a receiver builds its bandwidth
estimator only when video arrives, a connection closed before ICE completes builds no OpenSSL objects, one closed
as ICE completes starts no consent checks, and a closed connection is freed by reference counting, without waiting
for the cyclic garbage collector."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import aioice.ice
import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription, VideoStreamTrack
from aiortc.rate import RemoteBitrateEstimator

from porchlight_rtc import patch_aiortc
from porchlight_rtc.estimator import OnFirstPacket
from porchlight_rtc.ice import enable_loopback, rtc_configuration
from tests.support.procs import wait_until


@pytest.fixture(autouse=True)
def patched() -> None:
    enable_loopback()
    patch_aiortc()


def new_pc() -> RTCPeerConnection:
    return RTCPeerConnection(rtc_configuration([]))


def estimator(pc: RTCPeerConnection) -> Any:
    """The bandwidth estimator aiortc gave the connection's (only) receiver."""
    return pc.getTransceivers()[0].receiver._RTCRtpReceiver__remote_bitrate_estimator  # type: ignore[attr-defined]


async def dead_offer() -> str:
    """A real recvonly video offer from a peer that is closed at once: ICE checks towards it go nowhere."""
    pc = new_pc()
    pc.addTransceiver("video", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    await pc.close()
    return str(pc.localDescription.sdp)


@asynccontextmanager
async def sending_video() -> AsyncIterator[tuple[RTCPeerConnection, RTCPeerConnection, asyncio.Future[Any]]]:
    """A sending and a receiving connection, connected; the future resolves with the first received frame."""
    sender, receiver = new_pc(), new_pc()
    first: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    readers: list[asyncio.Task[None]] = []

    @receiver.on("track")
    def on_track(track: Any) -> None:
        async def read() -> None:
            frame = await track.recv()
            if not first.done():
                first.set_result(frame)

        readers.append(asyncio.create_task(read()))

    sender.addTrack(VideoStreamTrack())
    try:
        await sender.setLocalDescription(await sender.createOffer())
        await receiver.setRemoteDescription(sender.localDescription)
        await receiver.setLocalDescription(await receiver.createAnswer())
        await sender.setRemoteDescription(receiver.localDescription)
        yield sender, receiver, first
    finally:
        for task in readers:
            task.cancel()
        await sender.close()
        await receiver.close()


async def test_estimator_is_built_by_the_first_video_packet_only() -> None:
    async with sending_video() as (sender, receiver, first):
        assert isinstance(estimator(receiver), OnFirstPacket) and estimator(receiver)._real is None
        await asyncio.wait_for(first, 20)
        # The receiving side feeds it (and sends REMB as aiortc always did); the sending side never gets video.
        await wait_until(lambda: estimator(receiver)._real is not None, 5, "the receiver's estimator", 0.05)
        assert isinstance(estimator(receiver)._real, RemoteBitrateEstimator)
        assert estimator(sender)._real is None


@contextmanager
def no_cyclic_gc() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


async def stalled() -> RTCPeerConnection:
    """A connection that answered a dead peer's offer, as the hub answers a WHEP offer, once its ICE checks
    (which never succeed) have started."""
    pc = new_pc()
    await pc.setRemoteDescription(RTCSessionDescription(await dead_offer(), "offer"))
    transceiver = pc.getTransceivers()[0]
    transceiver.direction = "sendonly"
    transceiver.sender.replaceTrack(VideoStreamTrack())
    await pc.setLocalDescription(await pc.createAnswer())
    ice = transceiver.receiver.transport.transport
    await wait_until(lambda: ice.state == "checking", 5, "ICE checks to start", 0.02)
    return pc


async def test_connection_closed_before_ice_completes_builds_no_dtls() -> None:
    pc = await stalled()
    dtls = pc.getTransceivers()[0].receiver.transport
    await pc.close()
    # aiortc goes on to start DTLS once ICE has given up; it must end failed without an OpenSSL connection.
    await wait_until(lambda: dtls.state != "new", 5, "the DTLS transport to give up", 0.02)
    assert dtls.state == "failed"
    assert dtls._ssl is None


async def test_closed_connection_is_freed_without_the_cyclic_collector() -> None:
    with no_cyclic_gc():
        pc = await stalled()
        dtls = pc.getTransceivers()[0].receiver.transport
        refs: list[weakref.ref[Any]] = [weakref.ref(pc), weakref.ref(dtls), weakref.ref(dtls.transport)]
        await pc.close()
        del pc, dtls

        def all_freed() -> bool:
            return all(ref() is None for ref in refs)

        await wait_until(all_freed, 5, "the closed connection to be freed by reference counting", 0.02)


class HeldQueue(asyncio.Queue[Any]):
    """aioice's check-list state queue, holding `connect()` between the checks' outcome and what it does with it."""

    def __init__(self) -> None:
        super().__init__()
        self.got, self.release = asyncio.Event(), asyncio.Event()

    async def get(self) -> Any:
        item = await super().get()
        self.got.set()
        await self.release.wait()
        return item


async def test_ice_closed_as_it_completes_starts_no_consent_checks() -> None:
    a, b = aioice.ice.Connection(ice_controlling=True), aioice.ice.Connection(ice_controlling=False)
    await asyncio.gather(a.gather_candidates(), b.gather_candidates())
    for this, other in ((a, b), (b, a)):
        this.remote_username, this.remote_password = other.local_username, other.local_password
        for candidate in other.local_candidates:
            await this.add_remote_candidate(candidate)
        await this.add_remote_candidate(None)
    held = a._check_list_state = HeldQueue()
    connecting = [asyncio.create_task(a.connect()), asyncio.create_task(b.connect())]
    try:
        await asyncio.wait_for(held.got.wait(), 10)  # a's checks have completed; connect() has not gone on yet
        await a.close()
        held.release.set()
        with pytest.raises(ConnectionError):
            await connecting[0]
        assert a._query_consent_task is None
    finally:
        held.release.set()
        await a.close()
        await b.close()
        await asyncio.gather(*connecting, return_exceptions=True)
