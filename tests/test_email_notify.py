"""Notification e-mail (issue 16): a resident who gave an address (PUT /api/me/email) gets the same notices by
e-mail through the configured SMTP server. A real SMTP server (aiosmtpd) on loopback receives them; the address is
never in the hub's log."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from email import message_from_bytes
from email.message import Message
from typing import Any

import pytest
import pytest_asyncio
from aiosmtpd.controller import Controller

from tests.conftest import PASSWORDS
from tests.support.client import Api
from tests.support.procs import Hub, free_port, seeded_hub, wait_until
from tests.support.secrets import SECRETS

pytestmark = pytest.mark.asyncio(loop_scope="module")

ADDRESS = "alice.resident@mail.example"


class Inbox:
    """aiosmtpd's handler: every message it accepts, with its envelope."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 OK"


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def hub(tmp_path_factory: pytest.TempPathFactory, smtp: tuple[Inbox, int]) -> AsyncIterator[Hub]:
    env = {
        "PORCHLIGHT_NOTIFY__SMTP_HOST": "127.0.0.1",
        "PORCHLIGHT_NOTIFY__SMTP_PORT": str(smtp[1]),
        "PORCHLIGHT_NOTIFY__SMTP_SECURITY": "none",
        "PORCHLIGHT_NOTIFY__EMAIL_FROM": "Porchlight <hub@porchlight.example>",
    }
    async with seeded_hub(tmp_path_factory.mktemp("email-hub"), env) as instance:
        yield instance


async def test_a_request_reaches_the_owner_by_email(hub: Hub, smtp: tuple[Inbox, int]) -> None:
    inbox = smtp[0]
    SECRETS.add(ADDRESS, "e-mail address")  # the hub's log must not show it
    alice = await Api(hub.url).login("alice", PASSWORDS["alice"])
    olivia = await Api(hub.url).login("olivia", PASSWORDS["olivia"])
    bob = await Api(hub.url).login("bob", PASSWORDS["bob"])
    sam = await Api(hub.url).login("sam", PASSWORDS["sam"])
    try:
        assert await alice.call("GET", "/api/me/email") == (200, {"email": None, "sending": True})
        status, answer = await alice.call("PUT", "/api/me/email", {"email": "not an address"})
        assert (status, answer["reason"]) == (400, "bad_email")
        status, answer = await alice.call("PUT", "/api/me/email", {"email": "a@b.example\nBcc: x@evil.example"})
        assert (status, answer["reason"]) == (400, "bad_email")
        set_address = await alice.call("PUT", "/api/me/email", {"email": ADDRESS})
        assert set_address == (200, {"email": ADDRESS, "sending": True})
        ask = {"case": "CASE-5", "reason": "stolen bicycle", "duration_seconds": 3 * 86400}
        status, answer = await olivia.call("POST", "/api/cameras/backyard/requests", ask)
        assert status == 201, answer
        await wait_until(lambda: inbox.messages, 10, "the e-mail")
        recipients, message = inbox.messages[0]
        assert recipients == [ADDRESS] and message["To"] == ADDRESS
        assert message["Subject"] == "Officer asks to watch Backyard"
        assert message["From"] == "Porchlight <hub@porchlight.example>"
        payload = message.get_payload(decode=True)
        assert isinstance(payload, bytes)
        text = payload.decode()
        assert "Metro Police Department, case CASE-5: stolen bicycle. For 3 days" in text
        assert f"{hub.url}/resident#request-{answer['request']['id']}" in text
        # Cleared: no more e-mail. Notices go out one after another, so once bob's (asked for after alice's) has
        # arrived, alice's second request was told to nobody by mail.
        assert await alice.call("PUT", "/api/me/email", {"email": None}) == (200, {"email": None, "sending": True})
        assert (await bob.call("PUT", "/api/me/email", {"email": "bob@mail.example"}))[0] == 200
        assert (await sam.call("POST", "/api/cameras/backyard/requests", ask))[0] == 201
        assert (await sam.call("POST", "/api/cameras/porch/requests", ask))[0] == 201
        await wait_until(lambda: len(inbox.messages) == 2, 10, "bob's e-mail")
        assert inbox.messages[1][0] == ["bob@mail.example"]
        assert inbox.messages[1][1]["Subject"] == "Officer asks to watch Porch"
    finally:
        for api in (alice, olivia, bob, sam):
            await api.close()
