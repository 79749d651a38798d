"""Trickle ICE over PATCH (RFC 9725 section 4.3) and offers with no candidates at all (issue 15).

A real hub and real aiortc peers on loopback, publishing over WHIP and watching over WHEP, judged by decoded frames:
- an offer with no a=candidate lines connects: the hub learns the peer's address from its ICE checks;
- a peer that trickles: its offer has no candidates, and it strips the hub's from the answer too, so the only way
  the two can meet is the hub checking the candidates the peer PATCHes after the 201 (the peer then learns the
  hub's address from those checks). Before hub/media/trickle.py the PATCH was answered 405 and nothing connected;
- the protocol's refusals, each changing nothing: 415, 428, 412, 400 for malformed fragments and for a restart
  that changes only the ice-pwd or gives no ice-pwd, 409 for a restart before ICE has connected (restarts of live
  sessions: tests/test_ice_restart.py), 404 for someone else's session; If-Match `*` is accepted.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from aiortc import RTCPeerConnection, RTCSessionDescription

from hub.errors import BadRequest
from hub.media.trickle import FRAGMENT_TYPE, etag, parse_fragment
from tests.conftest import PASSWORDS
from tests.support.client import Api
from tests.support.procs import Hub, seeded_hub
from tests.test_dtls_roles import CAMERA, Session, local_offer, new_peer, publishing, viewing

MODULE_LOOP = pytest.mark.asyncio(loop_scope="module")  # the async tests share the module's hub and event loop

FRAMES = 3
CANDIDATE = re.compile(r"(?m)^a=candidate:.*\r?\n")
END = re.compile(r"(?m)^a=end-of-candidates\r?\n")
HOST = "1 1 udp 2130706431 127.0.0.1 40000 typ host"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def hub(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Hub]:
    """One seeded hub for the module."""
    async with seeded_hub(tmp_path_factory.mktemp("trickle-hub")) as instance:
        yield instance


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def officer(hub: Hub) -> AsyncIterator[Api]:
    api = await Api(hub.url).login("olivia", PASSWORDS["olivia"])
    try:
        yield api
    finally:
        await api.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def other_officer(hub: Hub) -> AsyncIterator[Api]:
    api = await Api(hub.url).login("sam", PASSWORDS["sam"])
    try:
        yield api
    finally:
        await api.close()


@pytest.fixture(scope="module")
def tokens(hub: Hub) -> dict[str, str]:
    return dict(hub.seeded.tokens)  # type: ignore[attr-defined]


def without_candidates(sdp: str, *, keep_end: bool = False) -> str:
    sdp = CANDIDATE.sub("", sdp)
    return sdp if keep_end else END.sub("", sdp)


def fragment_of(pc: RTCPeerConnection, *, end: bool = True) -> str:
    """What a trickling client PATCHes: its ICE credentials, its first section's mid and its candidates."""
    sdp = pc.localDescription.sdp
    ufrag = re.search(r"(?m)^a=ice-ufrag:(\S+)", sdp)
    pwd = re.search(r"(?m)^a=ice-pwd:(\S+)", sdp)
    mid = re.search(r"(?m)^a=mid:(\S+)", sdp)
    assert ufrag and pwd and mid
    candidates = [line.strip() for line in CANDIDATE.findall(sdp)]
    assert candidates, "the peer gathered no candidates"
    lines = [f"a=ice-ufrag:{ufrag[1]}", f"a=ice-pwd:{pwd[1]}", "m=video 9 UDP/TLS/RTP/SAVPF 96", f"a=mid:{mid[1]}"]
    return "\r\n".join([*lines, *candidates, *(["a=end-of-candidates"] if end else [])]) + "\r\n"


async def send_patch(
    session: Session, body: str, if_match: str | None = "", content_type: str = FRAGMENT_TYPE
) -> tuple[int, str, str | None]:
    """PATCH the session (If-Match: its ETag unless given; None leaves it out); status, body and ETag header."""
    assert session.location is not None
    headers = {"Content-Type": content_type, **session.headers}
    match = session.etag if if_match == "" else if_match
    if match is not None:
        headers["If-Match"] = match
    async with session.api.http.patch(session.location, data=body.encode(), headers=headers) as response:
        return response.status, await response.text(), response.headers.get("ETag")


async def connect_by_trickle(session: Session, url: str, **params: str) -> None:
    """POST an offer with no candidates, apply the answer without the hub's, then PATCH ours: 204."""
    answer = await session.post(url, without_candidates(await local_offer(session.pc)), **params)
    await session.pc.setRemoteDescription(RTCSessionDescription(sdp=without_candidates(answer), type="answer"))
    status, body, tag = await send_patch(session, fragment_of(session.pc))
    assert (status, body, tag) == (204, "", None)


@MODULE_LOOP
@pytest.mark.parametrize(
    "keep_end",
    [pytest.param(False, id="no-candidates"), pytest.param(True, id="no-candidates-but-end")],
)
async def test_offer_without_candidates_connects(
    hub: Hub, officer: Api, tokens: dict[str, str], keep_end: bool
) -> None:
    """Peer-reflexive only: offers with no a=candidate lines (with or without a=end-of-candidates) still connect."""
    async with publishing(hub, officer, tokens[CAMERA], new_peer()) as publisher:
        answer = await publisher.post(
            f"{hub.url}/whip/{CAMERA}", without_candidates(await local_offer(publisher.pc), keep_end=keep_end)
        )
        await publisher.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        async with viewing(officer, new_peer()) as (viewer, frames):
            offer = without_candidates(await local_offer(viewer.pc), keep_end=keep_end)
            answer = await viewer.post(f"{hub.url}/whep/{CAMERA}", offer, case="CASE-TRICKLE", reason="prflx")
            await viewer.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
            await frames.wait(FRAMES, timeout=8)


@MODULE_LOOP
async def test_trickled_candidates_connect_whip_and_whep(hub: Hub, officer: Api, tokens: dict[str, str]) -> None:
    """Both sides learn each other only through the PATCHed candidates: video flows publisher → hub → viewer."""
    async with publishing(hub, officer, tokens[CAMERA], new_peer()) as publisher:
        await connect_by_trickle(publisher, f"{hub.url}/whip/{CAMERA}")
        async with viewing(officer, new_peer()) as (viewer, frames):
            await connect_by_trickle(viewer, f"{hub.url}/whep/{CAMERA}", case="CASE-TRICKLE", reason="trickle")
            await frames.wait(FRAMES)
        assert publisher.pc.connectionState == "connected"


@MODULE_LOOP
async def test_refusals_change_nothing(hub: Hub, officer: Api, other_officer: Api, tokens: dict[str, str]) -> None:
    """Every refused PATCH leaves the session as it was: the good PATCH after them still connects it."""
    assert hub.proc is not None
    added_before = hub.proc.log().count("candidates added")
    async with publishing(hub, officer, tokens[CAMERA], new_peer()) as publisher:
        answer = await publisher.post(f"{hub.url}/whip/{CAMERA}", without_candidates(await local_offer(publisher.pc)))
        assert publisher.etag is not None and re.fullmatch(r'"[0-9a-f]+"', publisher.etag), publisher.etag
        await publisher.pc.setRemoteDescription(RTCSessionDescription(sdp=without_candidates(answer), type="answer"))
        good = fragment_of(publisher.pc)
        # A valid candidate for the peer's real address rides along in each refused body: none may be added.
        new_pwd = re.sub(r"(?m)^a=ice-pwd:\S+", "a=ice-pwd:" + "Q" * 24, good)
        restart = re.sub(r"(?m)^a=ice-ufrag:\S+", "a=ice-ufrag:Zz9Q", new_pwd)
        no_pwd = re.sub(r"(?m)^a=ice-pwd:\S+\r\n", "", restart)
        cases = [
            (415, good, "", "application/sdp"),
            (428, good, None, FRAGMENT_TYPE),
            (412, good, '"not-this-session"', FRAGMENT_TYPE),
            (412, good, "W/" + publisher.etag, FRAGMENT_TYPE),  # a weak tag never matches strongly
            (400, good + "x=garbage\r\n", "", FRAGMENT_TYPE),
            (400, good + "a=candidate:1 1 udp notanumber 127.0.0.1 9 typ host\r\n", "", FRAGMENT_TYPE),
            (400, good + "a=candidate:1 1 udp 1 127.0.0.1 9 type host\r\n", "", FRAGMENT_TYPE),
            (400, good.replace("a=ice-ufrag:", "a=ice-ufrag:!"), "", FRAGMENT_TYPE),
            (400, "", "", FRAGMENT_TYPE),
            (400, good + "".join(f"a=candidate:{i} 1 udp 1 127.0.0.1 {i + 1} typ host\r\n" for i in range(70)), "",
             FRAGMENT_TYPE),
            (400, no_pwd, "*", FRAGMENT_TYPE),  # a restart names both credentials
            (400, new_pwd, "", FRAGMENT_TYPE),  # and changes the ufrag (the ETag names the ufrags)
            (409, restart, "", FRAGMENT_TYPE),  # ICE is not connected yet: nothing to keep alive
        ]  # fmt: skip
        for want, body, if_match, content_type in cases:
            status, text, _ = await send_patch(publisher, body, if_match, content_type)
            assert status == want, (want, status, text)
        # Someone else's session: another camera's token, another officer, an unknown session.
        wrong_token = Session(publisher.api, publisher.pc, {"Authorization": f"Bearer {tokens['porch']}"})
        wrong_token.location, wrong_token.etag = publisher.location, publisher.etag
        assert (await send_patch(wrong_token, good))[0] == 401
        unknown = Session(publisher.api, publisher.pc, publisher.headers)
        unknown.location, unknown.etag = f"{hub.url}/whip/{CAMERA}/no-such-session", publisher.etag
        assert (await send_patch(unknown, good))[0] == 404
        assert hub.proc.log().count("candidates added") == added_before, "a refused PATCH added candidates"
        # The session is intact: If-Match * is a match, and the candidates connect it.
        status, _, _ = await send_patch(publisher, good, "*")
        assert status == 204
        async with viewing(officer, new_peer()) as (viewer, frames):
            await connect_by_trickle(viewer, f"{hub.url}/whep/{CAMERA}", case="CASE-TRICKLE", reason="refusals")
            intruder = Session(other_officer, viewer.pc, other_officer.headers)
            intruder.location, intruder.etag = viewer.location, viewer.etag
            assert (await send_patch(intruder, fragment_of(viewer.pc)))[0] == 404
            await frames.wait(FRAMES)


def test_etag_names_the_ice_session() -> None:
    """Strong, quoted, and different when either side's ICE username fragment changes."""
    offer, answer = "a=ice-ufrag:AAAA\r\n", "a=ice-ufrag:BBBB\r\n"
    assert re.fullmatch(r'"[0-9a-f]{24}"', etag(answer, offer))
    assert etag(answer, offer) == etag(answer, offer)
    assert etag(answer, "a=ice-ufrag:CCCC\r\n") != etag(answer, offer)
    assert etag("a=ice-ufrag:DDDD\r\n", offer) != etag(answer, offer)


@pytest.mark.parametrize(
    "body",
    [
        "",
        "\r\n",
        "hello",
        "a=candidate:1 1 udp 1 127.0.0.1 9 typ\r\n",
        "a=candidate:1 1 udp 1 127.0.0.1 99999 typ host\r\n",
        "a=candidate:1 1 udp 1 127.0.0.1 9 typ host generation\r\n",
        "a=candidate:1 1 udp 1 127.0.0.1 9 typ weird\r\n",
        "a=ice-ufrag:abc\r\n",
        "a=ice-pwd:short\r\n",
        "a=ice-ufrag:abcd\r\na=ice-ufrag:efgh\r\n",
        "a=mid:0\r\n",
    ],
)
def test_malformed_fragments(body: str) -> None:
    with pytest.raises(BadRequest):
        parse_fragment(body)


def test_fragment_as_rfc_9725_shows_it() -> None:
    """RFC 9725's trickle example parses: credentials, four candidates (two of them TCP, dropped later), the end."""
    body = (
        "a=group:BUNDLE 0 1\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=ice-ufrag:EsAw\r\n"
        "a=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1\r\n"
        "a=candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host generation 0 ufrag EsAw network-id 1\r\n"
        "a=candidate:3471623853 1 udp 2122194687 198.51.100.2 61765 typ host generation 0 ufrag EsAw network-id 2\r\n"
        "a=candidate:473322822 1 tcp 1518280447 192.0.2.1 9 typ host tcptype active generation 0 ufrag EsAw\r\n"
        "a=candidate:2154773085 1 tcp 1518214911 198.51.100.2 9 typ host tcptype active generation 0 ufrag EsAw\r\n"
        "a=end-of-candidates\r\n"
    )
    fragment = parse_fragment(body)
    assert (fragment.ufrag, fragment.pwd, fragment.end) == ("EsAw", "P2uYro0UCOQ4zxjKXaWCBui1", True)
    assert [mid for mid, _ in fragment.candidates] == ["0"] * 4
    assert parse_fragment(f"a=candidate:{HOST}\r\n").candidates == [(None, HOST)]
