"""Web Push from the hub (issue 16), against a push service this test runs on loopback.

The push service does what a real one does with what it receives: it checks the VAPID token (RFC 8292: an ES256
JWT signed by the key the hub publishes at /api/push/key, for this service's origin, not expired, naming a
contact) and it hands the body to the "browser", which decrypts it (RFC 8291 aes128gcm) with the subscription's
private key and auth secret, which only the test holds. A plain or wrongly encrypted body, or a wrong or missing
token, fails the test. The owner's browsers get "Officer asks to watch Backyard" when an officer asks, and
"An officer started watching Front door" when a view starts; another resident's get nothing. A subscription whose
push service answers 410 is forgotten. Subscriptions are checked as an attacker would send them.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import http_ece
import pytest
import pytest_asyncio
from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from hub.api.push import check_endpoint
from hub.errors import BadRequest
from tests.conftest import PASSWORDS
from tests.support.client import Api, Viewer
from tests.support.procs import Hub, free_port, running_agent, seeded_hub, wait_until
from tests.support.secrets import SECRETS

pytestmark = pytest.mark.asyncio(loop_scope="module")


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Browser:
    """One subscribed browser: its P-256 key pair and auth secret (never leave the test), and what it got."""

    name: str
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    auth: bytes = field(default_factory=lambda: os.urandom(16))
    messages: list[dict[str, Any]] = field(default_factory=list)

    def keys(self) -> dict[str, str]:
        raw = self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {"p256dh": b64url(raw), "auth": b64url(self.auth)}

    def decrypt(self, body: bytes) -> dict[str, Any]:
        plain = http_ece.decrypt(body, private_key=self.key, auth_secret=self.auth, version="aes128gcm")
        message: dict[str, Any] = json.loads(plain)
        return message


class PushService:
    """An RFC 8030 push service on loopback: /push/<name> delivers to that browser; /push/gone answers 410."""

    def __init__(self) -> None:
        self.port = free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        self.browsers: dict[str, Browser] = {}
        self.vapid_key: bytes | None = None  # the hub's public key (from /api/push/key)
        self.problems: list[str] = []
        self.gone_hits = 0
        self.arrived = asyncio.Event()
        self._runner: web.AppRunner | None = None

    def endpoint(self, name: str) -> str:
        return f"{self.origin}/push/{name}"

    def add(self, name: str) -> Browser:
        self.browsers[name] = browser = Browser(name)
        return browser

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/push/{name}", self._receive)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _receive(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        body = await request.read()
        problem = self._vapid_problem(request.headers.get("Authorization", ""))
        if problem is None and request.headers.get("Content-Encoding") != "aes128gcm":
            problem = f"Content-Encoding {request.headers.get('Content-Encoding')!r}"
        if problem is None and not request.headers.get("TTL", "").isdigit():
            problem = "no TTL"
        if problem is not None:
            self.problems.append(problem)
            return web.Response(status=401 if "token" in problem else 400)
        if name == "gone":
            self.gone_hits += 1
            return web.Response(status=410)
        try:
            message = self.browsers[name].decrypt(body)
        except Exception as exc:  # any failure to decrypt is the finding
            self.problems.append(f"cannot decrypt for {name}: {exc!r}")
            return web.Response(status=400)
        message["_urgency"] = request.headers.get("Urgency")
        self.browsers[name].messages.append(message)
        self.arrived.set()
        return web.Response(status=201)

    def _vapid_problem(self, header: str) -> str | None:
        """RFC 8292 section 3: `vapid t=<JWT>, k=<public key>`; None when the token holds."""
        match = re.fullmatch(r"vapid t=([\w.-]+),\s*k=([\w-]+)", header)
        if match is None:
            return f"no vapid token: {header[:20]!r}"
        token, key = match.groups()
        if self.vapid_key is None or unb64url(key) != self.vapid_key:
            return "token names another key than /api/push/key"
        head, claims, signature = token.split(".")
        if json.loads(unb64url(head)) != {"typ": "JWT", "alg": "ES256"}:
            return f"token header {unb64url(head)!r}"
        raw = unb64url(signature)
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), self.vapid_key)
        der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
        try:
            public.verify(der, f"{head}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            return "token signature does not verify with the hub's key"
        fields = json.loads(unb64url(claims))
        now = time.time()
        if fields.get("aud") != self.origin:
            return f"token aud {fields.get('aud')!r}, not this push service"
        if not now < fields.get("exp", 0) <= now + 24 * 3600:
            return "token exp not within the next 24 hours"
        if not str(fields.get("sub", "")).startswith(("mailto:", "https:")):
            return "token without a contact (sub)"
        return None


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def push_service() -> AsyncIterator[PushService]:
    service = PushService()
    await service.start()
    try:
        yield service
    finally:
        await service.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def hub(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Hub]:
    env = {"PORCHLIGHT_NOTIFY__ALLOW_LOOPBACK_PUSH": "true"}
    async with seeded_hub(tmp_path_factory.mktemp("push-hub"), env) as instance:
        yield instance


async def _client(hub: Hub, username: str) -> Api:
    return await Api(hub.url).login(username, PASSWORDS[username])


async def _subscribe(api: Api, service: PushService, name: str) -> Browser:
    browser = service.add(name)
    SECRETS.add(service.endpoint(name), "push endpoint")  # a capability URL: never in a log
    body = {"endpoint": service.endpoint(name), "expirationTime": None, "keys": browser.keys()}
    status, answer = await api.call("POST", "/api/push/subscriptions", body)
    assert status == 201, answer
    return browser


async def _notifications(hub: Hub, outcome: str) -> float:
    async with Api(hub.url).http as http, http.get(f"{hub.url}/metrics") as response:
        text = await response.text()
    pattern = rf'^porchlight_notifications_total\{{channel="push",outcome="{outcome}"\}} (\S+)$'
    match = re.search(pattern, text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


async def test_owner_is_told_of_a_request_and_a_view_encrypted_and_signed(hub: Hub, push_service: PushService) -> None:
    async with Api(hub.url).http as http, http.get(f"{hub.url}/api/push/key") as response:
        assert response.status == 200
        push_service.vapid_key = unb64url((await response.json())["key"])
    alice, bob, olivia = [await _client(hub, name) for name in ("alice", "bob", "olivia")]
    try:
        phone = await _subscribe(alice, push_service, "alice-phone")
        desk = await _subscribe(alice, push_service, "alice-desk")
        await _subscribe(alice, push_service, "gone")
        bobs = await _subscribe(bob, push_service, "bob-phone")
        assert await alice.call("GET", "/api/push/subscriptions") == (200, {"subscriptions": 3})

        ask = {"case": "CASE-2024-17", "reason": "burglary next door", "duration_seconds": 7200}
        status, answer = await olivia.call("POST", "/api/cameras/backyard/requests", ask)
        assert status == 201, answer
        request_id = answer["request"]["id"]
        await wait_until(lambda: phone.messages and desk.messages, 10, "the request's push message")
        message = phone.messages[0]
        assert message["type"] == "request" and message["request"] == request_id
        assert message["title"] == "Officer asks to watch Backyard"
        assert (message["case"], message["reason"], message["duration_seconds"]) == (
            "CASE-2024-17", "burglary next door", 7200
        )  # fmt: skip
        assert message["agency"] == "Metro Police Department" and message["_urgency"] == "high"
        assert message["url"] == f"/resident#request-{request_id}"
        assert desk.messages[0]["request"] == request_id
        # The push service said 410: that subscription is forgotten.
        await wait_until(lambda: push_service.gone_hits == 1, 10, "the 410")

        async def forgotten() -> bool:
            return await alice.call("GET", "/api/push/subscriptions") == (200, {"subscriptions": 2})

        await wait_until(forgotten, 10, "the gone subscription to be forgotten")

        async with running_agent(hub, "front-door", hub.seeded.tokens["front-door"], hub.tmp):  # type: ignore[attr-defined]
            viewer = Viewer(olivia, "front-door")
            assert await viewer.watch(case="CASE-2024-18", reason="suspect seen") == 201
            try:
                await wait_until(lambda: len(phone.messages) == 2, 15, "the view's push message")
            finally:
                await viewer.close()
        view = phone.messages[1]
        assert view["type"] == "view" and view["title"] == "An officer started watching Front door"
        assert (view["case"], view["reason"], view["agency"]) == (
            "CASE-2024-18",
            "suspect seen",
            "Metro Police Department",
        )
        await wait_until(lambda: len(desk.messages) == 2, 10, "the view's message on the desk too")
        assert push_service.problems == []
        assert bobs.messages == []  # only the camera's owner is told
        assert await _notifications(hub, "sent") == 4
        assert await _notifications(hub, "gone") == 1
    finally:
        for api in (alice, bob, olivia):
            await api.close()


async def test_a_subscription_is_checked_as_an_attacker_would_send_it(hub: Hub, push_service: PushService) -> None:
    alice, olivia = await _client(hub, "alice"), await _client(hub, "olivia")
    good = Browser("x").keys()
    try:
        cases = [
            ({"endpoint": "http://push.example.org/x", "keys": good}, "bad_endpoint"),
            ({"endpoint": "https://10.1.2.3/x", "keys": good}, "bad_endpoint"),
            ({"endpoint": "https://169.254.169.254/latest/meta-data", "keys": good}, "bad_endpoint"),
            ({"endpoint": "https://user:pw@push.example.org/x", "keys": good}, "bad_endpoint"),
            ({"endpoint": "file:///etc/passwd", "keys": good}, "bad_endpoint"),
            ({"endpoint": "https://push.example.org/" + "x" * 1100, "keys": good}, "bad_endpoint"),
            ({"endpoint": "https://push.example.org/x", "keys": {**good, "auth": b64url(b"short")}}, "bad_keys"),
            # 65 bytes starting 04, but not a point on P-256.
            ({"endpoint": "https://push.example.org/x", "keys": {**good, "p256dh": b64url(b"\x04" + b"\x01" * 64)}},
             "bad_keys"),
            ({"endpoint": "https://push.example.org/x", "keys": good, "extra": 1}, "bad_extra"),
        ]  # fmt: skip
        for body, reason in cases:
            status, answer = await alice.call("POST", "/api/push/subscriptions", body)
            assert (status, answer and answer.get("reason")) == (400, reason), body
        status, answer = await olivia.call(
            "POST", "/api/push/subscriptions", {"endpoint": "https://p.example/x", "keys": good}
        )
        assert (status, answer["reason"]) == (403, "wrong_role")
        status, _ = await alice.call(
            "POST", "/api/push/subscriptions", {"endpoint": "https://push.example.org/x", "keys": good}
        )
        assert status == 201
        # Another account cannot remove it; its owner can.
        bob = await _client(hub, "bob")
        try:
            assert await bob.call("DELETE", "/api/push/subscriptions", {"endpoint": "https://push.example.org/x"}) == (
                200, {"deleted": False}
            )  # fmt: skip
        finally:
            await bob.close()
        assert await alice.call("DELETE", "/api/push/subscriptions", {"endpoint": "https://push.example.org/x"}) == (
            200, {"deleted": True}
        )  # fmt: skip
    finally:
        await alice.close()
        await olivia.close()


async def test_loopback_endpoints_only_when_the_configuration_allows() -> None:
    check_endpoint("http://127.0.0.1:9/push/x", allow_loopback=True)
    check_endpoint("https://fcm.googleapis.com/fcm/send/abc", allow_loopback=False)
    for endpoint in (
        "http://127.0.0.1:9/push/x",
        "https://localhost/x",
        "https://127.0.0.1/x",
        "https://192.168.1.2/x",
    ):
        with pytest.raises(BadRequest):
            check_endpoint(endpoint, allow_loopback=False)
