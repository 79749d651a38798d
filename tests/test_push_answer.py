"""Answering an officer's request from a notification without a log-in (issue 16): the answer token each push
message carries, and `POST /api/requests/{id}/answer`.

The hub runs in this process (its push messages go to the loopback push service of tests/test_push.py, which
decrypts them with the subscription's keys, as a browser would); the answers come from a client with no cookie
at all. The token in the decrypted message answers its request once, as its owner, on the record with
`via: "notification"`; a replay, a racing second tap, the other device's token, a token for another request, a
made-up one and one whose request expired or was answered on the page first are refused with their reasons.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestServer

from hub.app import create_app, open_store
from hub.config import Config, load_config
from hub.demo import seed
from hub.timefmt import parse_time
from tests.conftest import PASSWORDS
from tests.support.client import Api
from tests.support.procs import wait_until
from tests.support.secrets import SECRETS
from tests.test_push import Browser, PushService, unb64url

pytestmark = pytest.mark.asyncio(loop_scope="module")

ASK = {"case": "C-31", "reason": "a witness", "duration_seconds": 3600}


class Hub:
    """One in-process hub, its push service and Alice's two subscribed browsers."""

    def __init__(self, config: Config, server: TestServer, push: PushService) -> None:
        self.config, self.server, self.push = config, server, push
        self.phone: Browser = push.add("phone")
        self.desk: Browser = push.add("desk")
        self.base = str(server.make_url("")).rstrip("/")
        self.clients: dict[str, Api] = {}

    async def client(self, username: str) -> Api:
        """A logged-in session of `username`, made once (a log-in hashes a password: not free)."""
        if username not in self.clients:
            self.clients[username] = await Api(self.base).login(username, PASSWORDS[username])
        return self.clients[username]

    async def close(self) -> None:
        for client in self.clients.values():
            await client.close()

    async def ask(self, officer: str, camera: str = "backyard") -> int:
        """An officer asks for Alice's camera; the request's id."""
        status, answer = await (await self.client(officer)).call("POST", f"/api/cameras/{camera}/requests", ASK)
        assert status == 201, answer
        return int(answer["request"]["id"])

    async def tokens(self, request_id: int) -> tuple[str, str]:
        """The answer tokens of the request's push messages to Alice's phone and desk, as the browsers decrypted
        them."""

        def token(browser: Browser) -> str | None:
            found = [m["answer_token"] for m in browser.messages if m.get("request") == request_id]
            return found[0] if found else None

        await wait_until(lambda: token(self.phone) and token(self.desk), 10, f"request {request_id}'s push messages")
        phone, desk = token(self.phone), token(self.desk)
        assert phone and desk and phone != desk
        for value in (phone, desk):
            SECRETS.add(value, "answer token")
        return phone, desk

    async def answer(
        self, request_id: int, token: str, answer: str, http: aiohttp.ClientSession | None = None
    ) -> tuple[int, dict[str, Any]]:
        """Answer as the service worker does: no cookie (unless `http` has one), no CSRF token, the token in the
        body."""
        async with contextlib.AsyncExitStack() as stack:
            if http is None:
                http = await stack.enter_async_context(aiohttp.ClientSession())
            url = f"{self.base}/api/requests/{request_id}/answer"
            async with http.post(url, json={"token": token, "answer": answer}) as response:
                body: dict[str, Any] = await response.json()
                return response.status, body

    def records(self, request_id: int) -> list[dict[str, Any]]:
        """The audit records of the request's answer (and the grant an approval opened), oldest first."""
        with sqlite3.connect(self.config.store.data_dir / "audit.sqlite3") as db:
            bodies = [json.loads(body) for (body,) in db.execute("SELECT body FROM records ORDER BY position")]
        return [b for b in bodies if b.get("request") == request_id or b["kind"] == "consent.granted"]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def push_service() -> AsyncIterator[PushService]:
    service = PushService()
    await service.start()
    try:
        yield service
    finally:
        await service.stop()


@contextlib.asynccontextmanager
async def running_hub(data_dir: Path, push: PushService, request_ttl: float) -> AsyncIterator[Hub]:
    """A seeded hub in this process whose requests expire after `request_ttl` seconds, Alice's phone and desk
    subscribed to its notifications."""
    env = {
        "PORCHLIGHT_STORE__DATA_DIR": str(data_dir),
        "PORCHLIGHT_AUTH__MFA_REQUIRED": "false",
        "PORCHLIGHT_NOTIFY__ALLOW_LOOPBACK_PUSH": "true",
        "PORCHLIGHT_CONSENT__REQUEST_TTL_SECONDS": str(request_ttl),
    }
    config = load_config(env=env)
    store = await open_store(config)
    await seed(store)
    await store.close()
    server = TestServer(create_app(config))
    await server.start_server()
    hub = Hub(config, server, push)
    try:
        alice = await hub.client("alice")
        _, key = await alice.call("GET", "/api/push/key")
        push.vapid_key = unb64url(key["key"])
        for browser in (hub.phone, hub.desk):
            SECRETS.add(push.endpoint(browser.name), "push endpoint")
            body = {"endpoint": push.endpoint(browser.name), "keys": browser.keys()}
            assert (await alice.call("POST", "/api/push/subscriptions", body))[0] == 201
        yield hub
    finally:
        await hub.close()
        await server.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def hub(tmp_path_factory: pytest.TempPathFactory, push_service: PushService) -> AsyncIterator[Hub]:
    async with running_hub(tmp_path_factory.mktemp("push-answer"), push_service, 600) as instance:
        yield instance


async def _withdraw(hub: Hub, camera: str = "backyard") -> None:
    """Undo an approval's grant, so the camera may be asked for again."""
    assert (await (await hub.client("alice")).call("DELETE", f"/api/cameras/{camera}/grant"))[0] == 200


async def test_the_pushed_token_answers_with_no_session_once(hub: Hub) -> None:
    request_id = await hub.ask("sam")
    phone, desk = await hub.tokens(request_id)
    status, answer = await hub.answer(request_id, phone, "approve")
    assert status == 200, answer
    assert (answer["request"]["state"], answer["request"]["officer"], answer["via"]) == (
        "approved",
        "sam",
        "notification",
    )
    assert answer["grant"]["agencies"] == ["county-so"]
    # Once: a replay, and the desk's message for the same request, are told it is answered (the desk's with
    # Alice's session cookie and no CSRF token: this route alone needs none, as it never acts on the cookie).
    status, refused = await hub.answer(request_id, phone, "decline")
    assert (status, refused["reason"]) == (409, "answer_token_used"), refused
    alice = await hub.client("alice")
    status, refused = await hub.answer(request_id, desk, "decline", alice.http)
    assert (status, refused["reason"]) == (409, "answer_token_used"), refused
    async with alice.http.post(f"{hub.base}/api/requests/{request_id}/decline") as response:
        assert (response.status, (await response.json())["reason"]) == (403, "csrf_token_invalid")
    # On the record as the page's answer is, by the owner, saying where it was given.
    approved, granted = hub.records(request_id)[-2:]
    assert (approved["kind"], approved["actor"]["username"], approved["via"]) == (
        "access.approved", "alice", "notification"
    )  # fmt: skip
    assert (granted["kind"], granted["actor"]["username"], granted["via"]) == (
        "consent.granted",
        "alice",
        "notification",
    )
    await _withdraw(hub)


async def test_two_taps_at_once_exactly_one_answers(hub: Hub) -> None:
    request_id = await hub.ask("sam")
    phone, desk = await hub.tokens(request_id)
    # Each device tapped twice (four calls in flight at once).
    taps = [hub.answer(request_id, token, answer) for token, answer in [(phone, "approve"), (desk, "decline")] * 2]
    answers = await asyncio.gather(*taps)
    statuses = sorted(status for status, _ in answers)
    assert statuses == [200, 409, 409, 409], answers
    assert all(body["reason"] == "answer_token_used" for status, body in answers if status == 409)
    [(_, won)] = [answer for answer in answers if answer[0] == 200]
    assert [r["kind"] for r in hub.records(request_id) if r.get("request") == request_id][1:] == [
        f"access.{won['request']['state']}"
    ]
    if won["request"]["state"] == "approved":
        await _withdraw(hub)


async def test_wrong_tokens_and_an_answer_on_the_page_first_are_refused(hub: Hub) -> None:
    sams, olivias = await hub.ask("sam"), await hub.ask("olivia")
    sam_phone, _ = await hub.tokens(sams)
    olivia_phone, _ = await hub.tokens(olivias)
    status, refused = await hub.answer(olivias, sam_phone, "approve")
    assert (status, refused["reason"]) == (403, "answer_token_other_request")
    status, refused = await hub.answer(sams, "pla_" + "A" * 43, "approve")
    assert (status, refused["reason"]) == (403, "answer_token_invalid")
    status, refused = await hub.answer(sams, sam_phone, "maybe")
    assert (status, refused["reason"]) == (400, "bad_answer")
    # Alice declines Sam's request on her page: its notification can no longer answer it.
    assert (await (await hub.client("alice")).call("POST", f"/api/requests/{sams}/decline"))[0] == 200
    status, refused = await hub.answer(sams, sam_phone, "approve")
    assert (status, refused["reason"]) == (409, "answer_token_used")
    # The refusals spent nothing: Olivia's request is still answered by its own token.
    status, answer = await hub.answer(olivias, olivia_phone, "decline")
    assert (status, answer["request"]["state"]) == (200, "declined")


async def test_a_token_whose_request_expired_is_refused(tmp_path: Path, push_service: PushService, hub: Hub) -> None:
    async with running_hub(tmp_path, push_service, 1) as short:
        request_id = await short.ask("sam")
        phone, _ = await short.tokens(request_id)
        [message] = [m for m in short.phone.messages if m["request"] == request_id]
        expires_at = parse_time(message["expires_at"])
        await wait_until(lambda: time.time() > expires_at, 5, "the request's expiry")
        status, refused = await short.answer(request_id, phone, "approve")
        assert (status, refused["reason"]) == (410, "request_expired"), refused
