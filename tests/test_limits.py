"""Issue 8's limits, in-process over real HTTP on a real port: the SDP body's size and pace, the control channel's
message size, rate limits (429 + Retry-After), peer caps (429/503), the pause after a failed authentication, and
the one generic 400 for an offer aiortc cannot apply."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender
from yarl import URL

from hub.app import LINGERING_SECONDS, create_app, open_store
from hub.auth.csrf import csrf_token
from hub.auth.identity import cookie_name
from hub.auth.tokens import SESSION_TOKEN_PREFIX, hash_token, new_token
from hub.config import load_config
from hub.demo import seed
from hub.keys import AUDIT, CLOCK, STORE, STREAMS
from hub.media.control import MAX_MESSAGE
from tests.conftest import PASSWORDS
from tests.support.client import Api, Viewer
from tests.support.procs import Hub, free_port, running_agent, wait_until

CAM = "front-door"
OTHER_CAM = "porch"
MAX_SDP = 128 * 1024  # the product default of media.max_sdp_bytes
HANDSHAKE = 1.0  # limits.handshake_seconds in the slow-body test
WHEP_QUERY = "?case=CASE-8&reason=limits"


# The hub --------------------------------------------------------------------------------------------------------


@dataclass
class LocalHub:
    """The hub app in this process on a real 127.0.0.1 port (its store and streams are inspectable)."""

    app: web.Application
    server: TestServer
    port: int
    tokens: dict[str, str]
    env: dict[str, str] = field(default_factory=dict)  # what `running_agent` reads for the codec

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def metric(self, sample: str) -> float:
        """One sample of /metrics by its full name with labels, e.g. `x_total{reason="busy"}`; 0 if absent."""
        async with aiohttp.ClientSession() as http, http.get(f"{self.url}/metrics") as response:
            text = await response.text()
        match = re.search(rf"^{re.escape(sample)} (\S+)$", text, re.MULTILINE)
        return float(match.group(1)) if match else 0.0

    async def refusals(self, reason: str) -> float:
        return await self.metric(f'porchlight_refusals_total{{reason="{reason}"}}')


@pytest.fixture(scope="module")
def seeded_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """One seeded store per module, copied for each hub: seeding hashes five passwords, too slow to repeat."""
    data = tmp_path_factory.mktemp("seeded") / "data"
    config = load_config(env={"PORCHLIGHT_STORE__DATA_DIR": str(data)})

    async def make() -> dict[str, str]:
        store = await open_store(config)
        try:
            return (await seed(store)).tokens
        finally:
            await store.close()

    return data, asyncio.run(make())


StartHub = Callable[..., Awaitable[LocalHub]]


@pytest.fixture
async def start_hub(tmp_path: Path, seeded_data: tuple[Path, dict[str, str]]) -> AsyncIterator[StartHub]:
    """`await start_hub(peers_total=4, ...)`: a seeded hub with those [limits] (env overrides); all closed after.

    The pause after a failed authentication is off unless a test sets it (it would only slow the others).
    """
    template, tokens = seeded_data
    servers: list[TestServer] = []

    async def start(extra_env: dict[str, str] | None = None, **limits: Any) -> LocalHub:
        data = tmp_path / f"data-{len(servers)}"
        shutil.copytree(template, data)
        limits.setdefault("failed_auth_delay_seconds", [0, 0])
        env = {
            "PORCHLIGHT_STORE__DATA_DIR": str(data),
            "PORCHLIGHT_MEDIA__LOOPBACK": "true",
            "PORCHLIGHT_AUTH__MFA_REQUIRED": "false",
            "PORCHLIGHT_CONSENT__POLL_SECONDS": "0.1",
            **{f"PORCHLIGHT_LIMITS__{key.upper()}": _env_value(value) for key, value in limits.items()},
            **(extra_env or {}),
        }
        app = create_app(load_config(env=env))
        port = free_port()
        server = TestServer(app, host="127.0.0.1", port=port)
        await server.start_server(lingering_time=LINGERING_SECONDS)  # as `porchlight serve` runs it
        servers.append(server)
        return LocalHub(app, server, port, tokens)

    yield start
    for server in servers:
        await server.close()


def _env_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


# Clients --------------------------------------------------------------------------------------------------------


def _client(source: str = "127.0.0.1") -> aiohttp.ClientSession:
    """An HTTP client whose connections come from `source` (Linux loopback accepts any 127/8 address)."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(source, 0)))


async def _login(hub: LocalHub, username: str, password: str | None = None, source: str = "127.0.0.1") -> Answer:
    async with _client(source) as http:
        body = {"username": username, "password": PASSWORDS.get(username, "x") if password is None else password}
        started = time.monotonic()
        async with http.post(f"{hub.url}/api/login", json=body) as response:
            return await Answer.of(response, started)


async def _session(hub: LocalHub, username: str) -> str:
    """A session token made as log-in makes one, straight in the hub's store: tests that are not about log-in
    skip its password hashing (argon2 costs a second on a busy machine)."""
    store = hub.app[STORE]
    account, _ = await store.find_account(username)
    token = new_token(SESSION_TOKEN_PREFIX)
    now = hub.app[CLOCK].now()
    await store.add_session(hash_token(token), account.id, now, now + 3600)
    return token


def _browser(hub: LocalHub, token: str) -> Api:
    """An API client holding `token` as a browser would after logging in: the cookie and its CSRF token."""
    api = Api(hub.url)
    api.http.cookie_jar.update_cookies({cookie_name(False): token}, URL(hub.url))
    api.csrf = csrf_token(token)
    return api


@dataclass
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]
    seconds: float

    @classmethod
    async def of(cls, response: aiohttp.ClientResponse, started: float) -> Answer:
        text = await response.text()
        body = json.loads(text) if response.content_type == "application/json" else {"sdp": text}
        return cls(response.status, body, dict(response.headers), time.monotonic() - started)

    @property
    def reason(self) -> str | None:
        return self.body.get("reason")

    def assert_refused(self, status: int, reason: str) -> None:
        """A limit's refusal: this status and reason, a message, and Retry-After as whole seconds >= 1."""
        assert (self.status, self.reason) == (status, reason), self.body
        assert self.body["message"]
        retry = self.headers.get("Retry-After", "")
        assert retry.isdigit() and int(retry) >= 1, f"Retry-After {retry!r}"


async def _post_sdp(
    hub: LocalHub, path: str, token: str, body: bytes, source: str = "127.0.0.1", chunked: bool = False
) -> Answer:
    """POST an offer with a Bearer token; `chunked` sends it without Content-Length."""
    headers = {"Content-Type": "application/sdp", "Authorization": f"Bearer {token}"}
    data: Any = _pieces(body) if chunked else body
    async with _client(source) as http:
        started = time.monotonic()
        async with http.post(f"{hub.url}{path}", data=data, headers=headers) as response:
            return await Answer.of(response, started)


async def _pieces(body: bytes, size: int = 16 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


async def _offer(direction: str = "recvonly") -> str:
    """A real aiortc offer of one video stream (the peer connection is closed: nobody answers it)."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        pc.addTransceiver("video", direction=direction)
        await pc.setLocalDescription(await pc.createOffer())
        return str(pc.localDescription.sdp)
    finally:
        await pc.close()


def _padded(offer: str, size: int) -> bytes:
    """`offer` grown to exactly `size` bytes with one session-level attribute SDP parsers ignore."""
    head, sep, media = offer.partition("\r\nm=")
    filler = size - len(offer.encode()) - len("\r\na=x-pad:")
    assert filler > 0
    body = (head + "\r\na=x-pad:" + "x" * filler + sep + media).encode()
    assert len(body) == size
    return body


# The SDP body ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("route", ["whip", "whep"])
async def test_offer_of_128_kib_is_read_and_one_byte_more_is_413(start_hub: StartHub, route: str, chunked: bool):
    hub = await start_hub()
    offer = await _offer("recvonly")
    if route == "whep":
        path, token = f"/whep/{CAM}{WHEP_QUERY}", await _session(hub, "olivia")
        # Read in full and judged on its content: a good offer, but the camera has no agent here.
        judged = (503, "camera_offline")
    else:
        path, token = f"/whip/{CAM}", hub.tokens[CAM]
        judged = (400, "malformed_sdp")  # read in full: a camera must offer sendonly video
    exact = await _post_sdp(hub, path, token, _padded(offer, MAX_SDP), chunked=chunked)
    assert (exact.status, exact.reason) == judged, exact.body
    over = await _post_sdp(hub, path, token, _padded(offer, MAX_SDP + 1), chunked=chunked)
    assert (over.status, over.reason) == (413, "too_large"), over.body


async def _trickle(hub: LocalHub, path: str, token: str, chunked: bool) -> tuple[str, float, float]:
    """Send an offer's headers and first bytes, then nothing: the status line, how long it took to come, and how
    long until the hub closed the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", hub.port)
    framing = "Transfer-Encoding: chunked" if chunked else "Content-Length: 4000"
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{hub.port}\r\nContent-Type: application/sdp\r\n"
        f"Authorization: Bearer {token}\r\n{framing}\r\n\r\n"
    )
    first = b"v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\n"
    try:
        writer.write(head.encode() + (b"%x\r\n%s\r\n" % (len(first), first) if chunked else first))
        await writer.drain()
        started = time.monotonic()
        status_line = await asyncio.wait_for(reader.readline(), HANDSHAKE + 10)
        answered = time.monotonic() - started
        await asyncio.wait_for(reader.read(), HANDSHAKE + 10)  # until the hub closes its end
        return status_line.decode().strip(), answered, time.monotonic() - started
    finally:
        writer.close()
        await writer.wait_closed()


@pytest.mark.parametrize("route", ["whip", "whep"])
async def test_offer_trickled_and_never_finished_gets_408_after_handshake_seconds(start_hub: StartHub, route: str):
    hub = await start_hub(handshake_seconds=HANDSHAKE)
    if route == "whep":
        path, token = f"/whep/{CAM}{WHEP_QUERY}", await _session(hub, "olivia")
    else:
        path, token = f"/whip/{CAM}", hub.tokens[CAM]
    answers = await asyncio.gather(_trickle(hub, path, token, False), _trickle(hub, path, token, True))
    for status_line, seconds, closed in answers:
        assert status_line == "HTTP/1.1 408 Request Timeout", status_line
        # Not before the body's time is up (a little timer slack allowed), and not much after it.
        assert HANDSHAKE - 0.1 <= seconds < HANDSHAKE + 5, seconds
        # The socket is freed with the answer, not after aiohttp's 10 s of reading the rest of the body.
        assert closed < HANDSHAKE + 5, closed


# The control channel --------------------------------------------------------------------------------------------


async def test_control_message_over_one_mebibyte_closes_the_channel_with_1009(start_hub: StartHub):
    hub = await start_hub()
    headers = {"Authorization": f"Bearer {hub.tokens[CAM]}"}
    async with aiohttp.ClientSession() as http, http.ws_connect(f"{hub.url}/control/{CAM}", headers=headers) as ws:
        assert (await ws.receive_json(timeout=5))["type"] == "hello"
        link = hub.app[STREAMS].stream(CAM).control
        assert link is not None
        # A large message under the limit (an unknown type: ignored) passes, and the channel still works after it.
        # (aiohttp refuses a frame of exactly max_msg_size too, so the limit's edge is not pinned here.)
        prefix = '{"type":"padding","pad":"'
        await ws.send_str(prefix + "x" * (MAX_MESSAGE - 1024) + '"}')
        await ws.send_str(json.dumps({"type": "state", "publishing": True}))
        await wait_until(lambda: link.publishing, 5, "the hub to take the agent's state message")
        await ws.send_str(json.dumps({"type": "state", "publishing": False, "pad": "x" * MAX_MESSAGE}))
        while True:
            message = await ws.receive(timeout=5)
            if message.type is not aiohttp.WSMsgType.TEXT:  # the hub's own messages (masks) may come first
                break
        assert message.type is aiohttp.WSMsgType.CLOSE, message
        assert message.data == 1009  # WSCloseCode.MESSAGE_TOO_BIG
    assert link.publishing, "the oversized message was acted on"
    await wait_until(lambda: hub.app[STREAMS].stream(CAM).control is None, 5, "the hub to drop the agent's link")


# Rate limits ----------------------------------------------------------------------------------------------------


async def _login_failures(hub: LocalHub, username: str) -> int:
    """login.failed records naming `username` in the hub's audit log (written before the 401 was sent)."""
    audit = hub.app[AUDIT]
    records = [record.fields() for record in await audit.read(0, audit.leaf_count())]
    return sum(1 for f in records if f["kind"] == "login.failed" and f.get("username", "").casefold() == username)


async def test_login_rate_per_source(start_hub: StartHub):
    hub = await start_hub(login_per_source="2/minute", login_per_account="100/minute")
    for n in range(2):
        answer = await _login(hub, f"nobody-{n}", "wrong")
        assert (answer.status, answer.reason) == (401, "bad_credentials"), answer.body
    failures = await _login_failures(hub, "alice")
    # Right password, but this address has used its log-ins: refused before any check.
    (await _login(hub, "alice")).assert_refused(429, "rate_limited")
    (await _login(hub, "alice", "wrong")).assert_refused(429, "rate_limited")
    assert await _login_failures(hub, "alice") == failures, "a refused log-in was checked and recorded"
    assert await hub.refusals("rate_limited") == 2
    # The limit is this address's: the same account logs in from another one.
    assert (await _login(hub, "alice", source="127.0.0.2")).status == 200


async def test_login_rate_per_account_counts_failures_and_never_refuses_the_right_password(start_hub: StartHub):
    # A flood against a resident's username must not keep the resident out (issue 14, item 3): the username's
    # limit counts only failed log-ins and only ever turns a wrong answer into a 429 (hub/api/session.py).
    hub = await start_hub(login_per_source="100/minute", login_per_account="2/minute")
    for n in range(2):
        answer = await _login(hub, "bob", "wrong", source=f"127.0.0.{n + 2}")
        assert (answer.status, answer.reason) == (401, "bad_credentials"), answer.body
    # From a fresh address, and under another spelling of the name: the account's limit holds for wrong ones.
    (await _login(hub, "BOB", "wrong", source="127.0.0.9")).assert_refused(429, "rate_limited")
    (await _login(hub, "bob", "wrong", source="127.0.0.9")).assert_refused(429, "rate_limited")
    assert await _login_failures(hub, "bob") == 4, "every wrong password is on the record"
    # The right password, from a fresh address, is let in all the same.
    assert (await _login(hub, "bob", source="127.0.0.10")).status == 200
    assert await hub.refusals("rate_limited") == 2


async def test_whep_offer_rates_per_officer_and_per_source(start_hub: StartHub):
    hub = await start_hub(offers_per_account="3/minute", offers_per_source="5/minute")
    olivia, sam = await _session(hub, "olivia"), await _session(hub, "sam")
    offer, path = (await _offer()).encode(), f"/whep/{CAM}{WHEP_QUERY}"

    async def watch(token: str, source: str = "127.0.0.1") -> Answer:
        return await _post_sdp(hub, path, token, offer, source)

    for _ in range(3):
        assert (await watch(olivia)).reason == "camera_offline"  # taken and judged (no agent here)
    (await watch(olivia)).assert_refused(429, "rate_limited")
    (await watch(olivia, "127.0.0.4")).assert_refused(429, "rate_limited")  # the officer's limit, any address
    # Another officer from the same address has two offers left of the address's five (refusals count nothing).
    for _ in range(2):
        assert (await watch(sam)).reason == "camera_offline"
    (await watch(sam)).assert_refused(429, "rate_limited")
    assert (await watch(sam, "127.0.0.5")).reason == "camera_offline"  # from elsewhere, sam may
    assert await hub.refusals("rate_limited") == 3


async def test_whip_offer_rate_per_camera(start_hub: StartHub):
    hub = await start_hub(offers_per_account="3/minute")
    offer = (await _offer("recvonly")).encode()  # judged after the limits: a camera must offer sendonly video
    for _ in range(3):
        assert (await _post_sdp(hub, f"/whip/{CAM}", hub.tokens[CAM], offer)).reason == "malformed_sdp"
    (await _post_sdp(hub, f"/whip/{CAM}", hub.tokens[CAM], offer)).assert_refused(429, "rate_limited")
    (await _post_sdp(hub, f"/whip/{CAM}", hub.tokens[CAM], offer, "127.0.0.2")).assert_refused(429, "rate_limited")
    other = await _post_sdp(hub, f"/whip/{OTHER_CAM}", hub.tokens[OTHER_CAM], offer)
    assert other.reason == "malformed_sdp", "one camera's limit held another back"
    assert await hub.refusals("rate_limited") == 2


# An offer aiortc cannot apply ------------------------------------------------------------------------------------


def _without_rtcp_mux(offer: str) -> bytes:
    """An offer that parses and passes the hub's checks, but that aiortc refuses to apply (no RTCP mux)."""
    assert "a=rtcp-mux\r\n" in offer
    return offer.replace("a=rtcp-mux\r\n", "").encode()


GENERIC_400 = {"reason": "bad_offer", "message": "the offer could not be applied"}


def _assert_quiet(caplog: pytest.LogCaptureFixture) -> None:
    assert "an offer could not be applied (ValueError)" in caplog.text, "aiortc never saw the offer"
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert "Traceback" not in caplog.text and "RTCP mux" not in caplog.text


# Peer caps ------------------------------------------------------------------------------------------------------


async def _peers(hub: LocalHub) -> float:
    return await hub.metric("porchlight_peer_connections")


async def test_peer_caps_per_officer_and_in_all_free_up_when_views_end(
    start_hub: StartHub, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.INFO)
    # Two views per officer; four connections in all, the camera's publisher included.
    hub = await start_hub(peers_per_officer=2, peers_total=4)
    olivia = _browser(hub, await _session(hub, "olivia"))
    sam = _browser(hub, await _session(hub, "sam"))
    offer = await _offer()
    views: list[Viewer] = []

    async def view(api: Api) -> Viewer:
        viewer = Viewer(api, CAM)
        views.append(viewer)
        assert await viewer.watch() == 201, viewer.error
        return viewer

    async def refused(api: Api) -> Answer:
        headers = {"Content-Type": "application/sdp", **api.headers}
        started = time.monotonic()
        async with api.http.post(f"{hub.url}/whep/{CAM}{WHEP_QUERY}", data=offer, headers=headers) as response:
            return await Answer.of(response, started)

    try:
        # The agent needs only the hub's url and env, which this in-process hub has too.
        async with running_agent(cast(Hub, hub), CAM, hub.tokens[CAM], tmp_path, "--size", "320x240"):
            idle = await _peers(hub)
            assert idle == 0
            await view(olivia)
            await view(olivia)
            await wait_until(lambda: _equals(_peers(hub), 3), 20, "two views and the camera's publisher")
            (await refused(olivia)).assert_refused(429, "rate_limited")
            await view(sam)  # another officer is not held back by olivia's cap
            (await refused(sam)).assert_refused(503, "busy")  # the hub is full: four connections
            assert await hub.refusals("rate_limited") == 1 and await hub.refusals("busy") == 1
            assert await _peers(hub) == 4, "a refused offer holds a connection"

            for viewer in views:
                assert await viewer.hang_up() == 200
                await viewer.close()
            views.clear()
            await wait_until(lambda: _equals(_peers(hub), idle), 20, "the connections to close when views end")
            account, _ = await hub.app[STORE].find_account("olivia")
            assert hub.app[STREAMS].peers.officer_count(account.id) == 0

            # The slots are free again: olivia may hold two views at once again.
            await view(olivia)
            await view(olivia)
            for viewer in views:
                assert await viewer.hang_up() == 200
            await wait_until(lambda: _equals(_peers(hub), idle), 20, "the connections to close again")

            # An offer aiortc cannot apply: one generic 400, and its connection's slot is given back at once.
            bad = _without_rtcp_mux(await _offer("recvonly"))
            answer = await _post_sdp(hub, f"/whep/{CAM}{WHEP_QUERY}", await _session(hub, "olivia"), bad)
            assert (answer.status, answer.body) == (400, GENERIC_400)
            assert await _peers(hub) == idle
        _assert_quiet(caplog)
    finally:
        for viewer in views:
            await viewer.close()
        await olivia.close()
        await sam.close()


async def _equals(value: Awaitable[float], expected: float) -> bool:
    return (await value) == expected


# The pause after a failed authentication -------------------------------------------------------------------------


async def test_failed_authentication_is_answered_after_a_pause(start_hub: StartHub):
    hub = await start_hub(failed_auth_delay_seconds=[0.3, 0.5])
    offer = (await _offer()).encode()
    wrong_password = await _login(hub, "alice", "wrong")
    wrong_device = await _post_sdp(hub, f"/whip/{CAM}", hub.tokens[OTHER_CAM], offer)
    wrong_bearer = await _post_sdp(hub, f"/whep/{CAM}{WHEP_QUERY}", "pls_not-a-session-token", offer)
    for answer, reason in (
        (wrong_password, "bad_credentials"),
        (wrong_device, "device_token_invalid"),
        (wrong_bearer, "token_invalid"),
    ):
        assert (answer.status, answer.reason) == (401, reason), answer.body
        assert answer.seconds >= 0.3, f"{reason} answered in {answer.seconds:.3f} s"
    # No credential presented is not a failed authentication: answered at once (best of three, for a busy machine).
    bare = []
    for _ in range(3):
        async with _client() as http:
            started = time.monotonic()
            async with http.post(f"{hub.url}/whep/{CAM}{WHEP_QUERY}", data=offer) as response:
                assert response.status == 401
                bare.append(time.monotonic() - started)
    assert min(bare) < 0.3, bare


async def test_offer_aiortc_cannot_apply_gets_a_generic_400_at_whip(
    start_hub: StartHub, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.INFO)
    hub = await start_hub()
    offer = _without_rtcp_mux(await _offer("sendonly"))  # a plain WHIP publisher (no agent) may publish at once
    answer = await _post_sdp(hub, f"/whip/{CAM}", hub.tokens[CAM], offer)
    assert (answer.status, answer.body) == (400, GENERIC_400)
    _assert_quiet(caplog)
    assert await _peers(hub) == 0, "the refused offer's connection was not closed"


async def _codec_offer(video: str, audio: bool) -> str:
    """A real sendonly offer whose video offers only `video` (a mime type), with an audio section whose only codec
    no hub knows when `audio`."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        capabilities = RTCRtpSender.getCapabilities("video")
        pc.addTransceiver("video", direction="sendonly").setCodecPreferences(
            [c for c in capabilities.codecs if c.mimeType == video]
        )
        if audio:
            pcmu = [c for c in RTCRtpSender.getCapabilities("audio").codecs if c.mimeType == "audio/PCMU"]
            pc.addTransceiver("audio", direction="sendonly").setCodecPreferences(pcmu)
        await pc.setLocalDescription(await pc.createOffer())
        return str(pc.localDescription.sdp).replace("PCMU/8000", "X-UNHEARD-OF/8000")
    finally:
        await pc.close()


async def test_offer_without_a_common_codec_says_which_section(start_hub: StartHub):
    hub = await start_hub()
    for offer, says in [
        # VP9 is no codec the hub takes (H264 is: each camera's codec is negotiated with its publisher).
        (
            (await _codec_offer("video/VP8", audio=False)).replace("VP8/90000", "VP9/90000"),
            "the offer's video has VP9; this hub accepts VP8, or H264",
        ),
        (await _codec_offer("video/VP8", audio=True), "the offer's audio has no codec this hub can negotiate"),
    ]:
        answer = await _post_sdp(hub, f"/whip/{CAM}", hub.tokens[CAM], offer.encode())
        assert answer.status == 400 and answer.body["reason"] == "codec_unsupported", answer
        assert answer.body["message"].startswith(says), answer.body
    assert await _peers(hub) == 0, "a refused offer's connection was not closed"
