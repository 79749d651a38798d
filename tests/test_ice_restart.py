"""ICE restarts with PATCH (RFC 9725 section 4.3.2) on live WHIP and WHEP sessions (issue 15).

A real hub and real aiortc peers on loopback; a synthetic camera stamps its capture time into every frame, and a
WHEP viewer decodes the stamps. The peer (the publisher for WHIP, the viewer for WHEP) restarts its own ICE agent
the way the hub does (porchlight_rtc/ice_restart.py: a fresh aioice connection with new credentials beside the live
one), PATCHes its new ufrag, pwd and candidates with If-Match, and must get 200 with the hub's new ufrag, pwd and
candidates as an sdpfrag and a new ETag; both sides then move to the new path and close the old one. Frames keep
arriving with later and later stamps, the view is never ended, and the same Location ends the session at the close.
A second restart works too. A restart naming a stale ETag is 412 and changes nothing (the hub's ICE connection
stays; the next restart with the current ETag works). A restart whose new checks fail leaves the old path carrying
the view, and the ETag names the old ICE session again. Before hub/media/trickle.py did restarts, every restart PATCH
was answered 422 ice_restart_unsupported.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aioice import Candidate, Connection
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.rtcicetransport import RTCIceTransport

from hub.media.trickle import FRAGMENT_TYPE, etag, parse_fragment
from porchlight_rtc import patch_aiortc
from porchlight_rtc.ice import rtc_configuration
from porchlight_rtc.ice_restart import AiortcIceInternalsChanged, check_internals, prepare_restart
from tests.conftest import PASSWORDS
from tests.support.client import Api, Viewer
from tests.support.procs import Hub, seeded_hub, wait_until
from tests.support.secrets import SECRETS
from tests.test_dtls_roles import CAMERA, local_offer, publishing

pytestmark = pytest.mark.asyncio(loop_scope="module")

FRAMES = 5  # stamped frames a viewer must get over each new path


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def hub(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Hub]:
    """One seeded hub for the module."""
    patch_aiortc()  # this process's peers filter datagrams as the hub does
    async with seeded_hub(tmp_path_factory.mktemp("ice-restart-hub")) as instance:
        yield instance


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def officer(hub: Hub) -> AsyncIterator[Api]:
    api = await Api(hub.url).login("olivia", PASSWORDS["olivia"])
    try:
        yield api
    finally:
        await api.close()


class RestartingPeer:
    """The ICE side of one session's client: its connection, Location, headers and current ETag."""

    def __init__(self, api: Api, pc: RTCPeerConnection, location: str, headers: dict[str, str], tag: str) -> None:
        self.api, self.pc, self.location, self.headers, self.etag = api, pc, location, headers, tag

    @property
    def transport(self) -> RTCIceTransport:
        transport: RTCIceTransport = self.pc.getTransceivers()[0].receiver.transport.transport
        return transport

    async def patch(self, body: str, if_match: str) -> tuple[int, str, str | None]:
        SECRETS.add_sdp(body)
        headers = {"Content-Type": FRAGMENT_TYPE, "If-Match": if_match, **self.headers}
        async with self.api.http.patch(self.location, data=body.encode(), headers=headers) as response:
            text = await response.text()
            SECRETS.add_sdp(text)
            return response.status, text, response.headers.get("ETag")

    async def restart(self, if_match: str | None = None) -> tuple[int, str]:
        """Restart our ICE agent: new credentials and candidates PATCHed with If-Match (our ETag unless given); on
        200, check the hub's new ones, connect the new path and close the old one. The status and the body."""
        transport, mid = self.transport, self.pc.getTransceivers()[0].mid
        old: Any = transport._connection
        old_port = old._nominated[1].local_addr[1]
        restart = await prepare_restart([transport])
        lines = [f"a=ice-ufrag:{restart.ufrag}", f"a=ice-pwd:{restart.pwd}", "m=video 9 UDP/TLS/RTP/SAVPF 96"]
        lines += [f"a=mid:{mid}", *(f"a=candidate:{c.to_sdp()}" for c in restart.local_candidates(transport))]
        body = "\r\n".join([*lines, "a=end-of-candidates"]) + "\r\n"
        status, text, tag = await self.patch(body, if_match or self.etag)
        if status != 200:
            await restart.discard()
            return status, text
        answer = parse_fragment(text)
        assert answer.ufrag and answer.pwd and answer.ufrag != old.remote_username, text
        assert answer.candidates and answer.end, text
        assert tag is not None and tag != self.etag, (tag, self.etag)
        self.etag = tag
        for _, line in answer.candidates:
            await restart.add_remote_candidate(transport, Candidate.from_sdp(line))
        await restart.add_remote_candidate(transport, None)
        restart.start(answer.ufrag, answer.pwd)
        assert await asyncio.wait_for(restart.wait(), 10), "the new ICE path did not connect"
        new: Any = transport._connection
        assert new is not old and old._closed, "the old ICE connection is still in use"
        assert new._nominated[1].local_addr[1] != old_port, "the new path uses the old socket"
        return status, text


def latest_stamp(viewer: Viewer) -> int:
    stamps = viewer.stamped()
    return max(stamps) if stamps else 0


async def frames_after(viewer: Viewer, stamp: int, count: int = FRAMES) -> None:
    """Wait for `count` decoded frames captured after `stamp` (ms)."""
    await wait_until(
        lambda: sum(1 for s in viewer.stamped() if s > stamp) >= count, 10, f"{count} frames stamped after {stamp}"
    )


async def restart_and_keep_watching(hub: Hub, peer: RestartingPeer, viewer: Viewer) -> None:
    """Two restarts and a stale one, with frames flowing through the same session all along."""
    assert hub.proc is not None
    first_tag = peer.etag
    moved = hub.proc.log().count("ICE restart complete")  # the module's hub: count from here
    for restarts in (moved + 1, moved + 2):
        before = latest_stamp(viewer)
        status, text = await peer.restart()
        assert status == 200, text
        # The hub moves to the new path once its new connection has a nominated pair, then closes the old one.
        await wait_until(
            lambda n=restarts: hub.proc.log().count("ICE restart complete") >= n,
            10,
            "the hub to move to the new ICE path",
        )
        await frames_after(viewer, max(before, latest_stamp(viewer)))
    # A stale ETag (the 201's, two restarts ago) is refused and changes nothing.
    hub_moves = hub.proc.log().count("ICE restart complete")
    live: Any = peer.transport._connection
    status, text = await peer.restart(if_match=first_tag)
    assert status == 412, text
    assert peer.transport._connection is live
    await frames_after(viewer, latest_stamp(viewer))
    assert hub.proc.log().count("ICE restart complete") == hub_moves
    assert hub.proc.log().count("ICE restart failed") == 0
    # The ETag the hub gave last still names the session: a third restart with it works.
    status, text = await peer.restart()
    assert status == 200, text
    await frames_after(viewer, latest_stamp(viewer))
    assert not viewer.got_end.is_set() and not viewer.track_ended.is_set(), viewer.events
    assert peer.pc.connectionState == "connected"


@contextlib.asynccontextmanager
async def watching(api: Api) -> AsyncIterator[Viewer]:
    viewer = Viewer(api, CAMERA)
    try:
        assert await viewer.watch(case="CASE-RESTART", reason="ice restart") == 201
        await viewer.wait_frames(FRAMES)
        yield viewer
        assert viewer.location is not None
        assert await viewer.hang_up() in (200, 204)  # the same Location still names the view
    finally:
        await viewer.close()


async def test_whip_publisher_restarts_ice(hub: Hub, officer: Api) -> None:
    """The publisher restarts ICE twice; the viewer's stamps keep advancing and its view never ends."""
    tokens = hub.seeded.tokens  # type: ignore[attr-defined]
    pc = RTCPeerConnection(rtc_configuration([]))
    async with publishing(hub, officer, tokens[CAMERA], pc) as publisher:
        answer = await publisher.post(f"{hub.url}/whip/{CAMERA}", await local_offer(pc))
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        assert publisher.location is not None and publisher.etag is not None
        async with watching(officer) as viewer:
            peer = RestartingPeer(officer, pc, publisher.location, publisher.headers, publisher.etag)
            await restart_and_keep_watching(hub, peer, viewer)
        async with officer.http.delete(publisher.location, headers=publisher.headers) as response:
            assert response.status in (200, 204)  # the same Location still names the session
        publisher.location = None


async def test_whep_viewer_restarts_ice(hub: Hub, officer: Api) -> None:
    """The viewer restarts ICE twice; its own stamps keep advancing and its view never ends."""
    tokens = hub.seeded.tokens  # type: ignore[attr-defined]
    pc = RTCPeerConnection(rtc_configuration([]))
    async with publishing(hub, officer, tokens[CAMERA], pc) as publisher:
        answer = await publisher.post(f"{hub.url}/whip/{CAMERA}", await local_offer(pc))
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        async with watching(officer) as viewer:
            assert viewer.location is not None
            # Viewer keeps no headers; its ETag is the hub's (the hash of both ufrags, as the 201 sent it).
            tag = etag(viewer.pc.remoteDescription.sdp, viewer.pc.localDescription.sdp)
            peer = RestartingPeer(officer, viewer.pc, viewer.location, officer.headers, tag)
            await restart_and_keep_watching(hub, peer, viewer)


async def test_failed_restart_keeps_the_old_path(hub: Hub, officer: Api) -> None:
    """A restart whose new checks fail (no candidate to check, end-of-candidates) leaves the old path carrying the
    view, and the ETag names the old ICE session again: the next restart, with that ETag, works."""
    assert hub.proc is not None
    tokens = hub.seeded.tokens  # type: ignore[attr-defined]
    pc = RTCPeerConnection(rtc_configuration([]))
    async with publishing(hub, officer, tokens[CAMERA], pc) as publisher:
        answer = await publisher.post(f"{hub.url}/whip/{CAMERA}", await local_offer(pc))
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        async with watching(officer) as viewer:
            assert viewer.location is not None
            tag = etag(viewer.pc.remoteDescription.sdp, viewer.pc.localDescription.sdp)
            peer = RestartingPeer(officer, viewer.pc, viewer.location, officer.headers, tag)
            failed = hub.proc.log().count("ICE restart failed")
            body = "a=ice-ufrag:Dead\r\na=ice-pwd:" + "D" * 24 + "\r\na=end-of-candidates\r\n"
            status, text, new_tag = await peer.patch(body, tag)
            assert status == 200 and new_tag not in (None, tag), (status, text)
            await wait_until(
                lambda: hub.proc.log().count("ICE restart failed") > failed, 10, "the hub to give up the restart"
            )
            await frames_after(viewer, latest_stamp(viewer))
            assert (await peer.patch(body, new_tag or ""))[0] == 412  # the failed generation is gone
            status, text = await peer.restart()  # If-Match: the 201's ETag, the ICE session in use again
            assert status == 200, text
            await frames_after(viewer, latest_stamp(viewer))
            assert not viewer.got_end.is_set() and not viewer.track_ended.is_set(), viewer.events


async def test_internals_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    """The aiortc/aioice internals a restart swaps are checked at install, and a moved one is named."""
    check_internals()

    async def close(self: Connection) -> None:  # an aioice whose close() no longer wakes a pending read
        self._closed = True

    monkeypatch.setattr(Connection, "close", close)
    with pytest.raises(AiortcIceInternalsChanged, match=r"Connection\.close waking self\._queue"):
        check_internals()
