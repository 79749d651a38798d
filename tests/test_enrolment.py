"""Enrolling a second factor needs a one-time enrolment code an admin issued (issue 14, item 6).

Without one, whoever has the password of an officer or admin who has not enrolled yet could enrol their own
authenticator and keep the account. The hub runs in-process over real HTTP with a clock the test moves (for the
codes' expiry and the log-in sessions); codes are issued the real ways: the admin API, the CLI, the demo.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import sys
import time
from asyncio.subprocess import PIPE
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
from aiohttp.test_utils import TestServer

from hub.app import create_app, open_store
from hub.audit.setup import open_audit
from hub.clock import Clock
from hub.config import Config, load_config
from hub.demo import issue_enrolment_codes, seed
from hub.timefmt import parse_time
from tests.conftest import PASSWORDS
from tests.support.client import Api
from tests.support.enrolment import account_id, issue_code, keep_secret
from tests.support.procs import ROOT

CODE_SECONDS = 600


class FakeClock(Clock):
    """Time that moves only when the test says so."""

    def __init__(self, start: float) -> None:
        self.t = start

    def now(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


class Hub:
    """The app in-process with a fake clock; `api(username)` logs an account in over HTTP."""

    def __init__(self, config: Config, clock: FakeClock, server: TestServer, secrets: dict[str, str]) -> None:
        self.config, self.clock, self.server = config, clock, server
        self.url = str(server.make_url("")).rstrip("/")
        self._apis: list[Api] = []
        # TOTP secrets of the accounts enrolled, and how many log-ins each made (each takes the next step's code).
        self.secrets = secrets
        self.logins: dict[str, int] = {}

    async def api(self, username: str, password: str | None = None) -> Api:
        """A client logged in as `username` (officers and admins with a second factor give their code)."""
        api = Api(self.url)
        self._apis.append(api)
        secret = self.secrets.get(username)
        code = pyotp.TOTP(secret).at(self.clock.now() + 30 * self.logins.get(username, 0)) if secret else None
        self.logins[username] = self.logins.get(username, 0) + 1  # a code is accepted once: the next step's next
        return await api.login(username, password or PASSWORDS[username], code)

    async def close(self) -> None:
        for api in self._apis:
            await api.close()

    def records(self, kind_prefix: str = "") -> list[dict[str, Any]]:
        with sqlite3.connect(self.config.store.data_dir / "audit.sqlite3") as db:
            rows = [json.loads(body) for (body,) in db.execute("SELECT body FROM records ORDER BY position")]
        return [r for r in rows if r["kind"].startswith(kind_prefix)]

    def audit_text(self) -> str:
        return json.dumps(self.records())


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    """Second factors on; enrolment codes valid CODE_SECONDS; ada (admin) has her second factor already."""
    config = load_config(
        env={
            "PORCHLIGHT_STORE__DATA_DIR": str(tmp_path),
            "PORCHLIGHT_MEDIA__LOOPBACK": "true",
            "PORCHLIGHT_AUTH__ENROLMENT_CODE_SECONDS": str(CODE_SECONDS),
        }
    )
    store = await open_store(config)
    try:
        await seed(store)
        ada, _ = await store.find_account("ada")
        secret = pyotp.random_base32()
        await store.set_totp(ada.id, secret, enrolled=True)
    finally:
        await store.close()
    clock = FakeClock(time.time())
    server = TestServer(create_app(config, clock=clock))
    await server.start_server()
    running = Hub(config, clock, server, {"ada": secret})
    try:
        yield running
    finally:
        await running.close()
        await server.close()


async def _enrol(hub: Hub, api: Api, enrolment_code: str | None) -> tuple[int, Any]:
    body = {} if enrolment_code is None else {"enrolment_code": enrolment_code}
    return await api.call("POST", "/api/mfa/enrol", body)


async def _enrol_fully(hub: Hub, api: Api, username: str, enrolment_code: str) -> None:
    """Both steps with `enrolment_code`; the account's secret is kept for its next log-ins."""
    status, setup = await _enrol(hub, api, enrolment_code)
    assert status == 200, setup
    code = pyotp.TOTP(setup["secret"]).at(hub.clock.now())
    status, me = await api.call("POST", "/api/mfa/confirm", {"code": code, "enrolment_code": enrolment_code})
    assert status == 200 and me["mfa"] == "ok", me
    hub.secrets[username], hub.logins[username] = setup["secret"], 1


def _refused(answer: tuple[int, Any]) -> None:
    status, body = answer
    assert (status, body["reason"]) == (403, "enrolment_code_invalid"), answer


async def test_the_password_alone_enrols_nothing(hub: Hub) -> None:
    ada, sam = await hub.api("ada"), await hub.api("sam")
    # No code, a made-up one, or a code when none was issued: refused.
    status, body = await _enrol(hub, sam, None)
    assert (status, body["reason"]) == (400, "enrolment_code_required")
    _refused(await _enrol(hub, sam, "AAAAA-AAAAA"))
    status, body = await sam.call("POST", "/api/mfa/confirm", {"code": "123456"})
    assert (status, body["reason"]) == (400, "enrolment_code_required")
    # Another account's code is not sam's.
    olivias = (await issue_code(ada, "olivia"))["code"]
    _refused(await _enrol(hub, sam, olivias))
    sams = (await issue_code(ada, "sam"))["code"]
    _refused(await _enrol(hub, sam, olivias))
    # Nor is his own code enough to confirm a secret he never got (the enrolment was refused: none is pending).
    status, body = await sam.call("POST", "/api/mfa/confirm", {"code": "123456", "enrolment_code": sams})
    assert (status, body["reason"]) == (400, "mfa_not_started")
    # His own fresh code, typed loosely (lower case, no dash), works.
    await _enrol_fully(hub, sam, "sam", sams.lower().replace("-", " "))
    assert (await sam.call("GET", "/api/cameras"))[0] == 200
    refusals = [(r["account"]["username"], r["why"]) for r in hub.records("enrolment_code.refused")]
    assert refusals == [("sam", "none"), ("sam", "none"), ("sam", "wrong")], refusals
    assert [r["kind"] for r in hub.records("enrolment_code.")] == [
        "enrolment_code.refused", "enrolment_code.issued", "enrolment_code.refused", "enrolment_code.issued",
        "enrolment_code.refused", "enrolment_code.used",
    ]  # fmt: skip
    # The codes are on nobody's record (nor in any log: the log scan knows them).
    for code in (olivias, sams):
        assert code not in hub.audit_text() and code.replace("-", "") not in hub.audit_text()


async def test_a_used_code_does_not_enrol_again_and_a_reset_needs_a_new_code(hub: Hub) -> None:
    ada, olivia = await hub.api("ada"), await hub.api("olivia")
    first = (await issue_code(ada, "olivia"))["code"]
    await _enrol_fully(hub, olivia, "olivia", first)
    # She lost her phone: an admin resets the second factor. That alone lets nobody enrol.
    status, _ = await ada.call("POST", f"/api/accounts/{await account_id(ada, 'olivia')}/mfa/reset")
    assert status == 200
    hub.secrets.pop("olivia")
    again = await hub.api("olivia")
    assert (await _enrol(hub, again, None))[0] == 400
    _refused(await _enrol(hub, again, first))  # used up
    assert hub.records("enrolment_code.refused")[-1]["why"] == "used"
    await _enrol_fully(hub, again, "olivia", (await issue_code(ada, "olivia"))["code"])


async def test_a_code_expires(hub: Hub) -> None:
    ada = await hub.api("ada")
    answer = await issue_code(ada, "sam")
    assert parse_time(answer["expires_at"]) == pytest.approx(hub.clock.now() + CODE_SECONDS, abs=0.01)
    hub.clock.advance(CODE_SECONDS)
    sam = await hub.api("sam")
    _refused(await _enrol(hub, sam, answer["code"]))
    assert hub.records("enrolment_code.refused")[-1]["why"] == "expired"
    # A code issued now works.
    ada = await hub.api("ada")
    await _enrol_fully(hub, sam, "sam", (await issue_code(ada, "sam"))["code"])


async def test_a_new_code_replaces_the_old(hub: Hub) -> None:
    ada, sam = await hub.api("ada"), await hub.api("sam")
    old, new = await issue_code(ada, "sam"), await issue_code(ada, "sam")
    assert (old["replaced"], new["replaced"]) == (False, True)
    _refused(await _enrol(hub, sam, old["code"]))
    await _enrol_fully(hub, sam, "sam", new["code"])
    kinds = [r["kind"] for r in hub.records("enrolment_code.")]
    assert kinds == [
        "enrolment_code.issued",
        "enrolment_code.replaced",
        "enrolment_code.refused",
        "enrolment_code.used",
    ]


async def test_wrong_codes_wait_and_are_rate_limited(hub: Hub) -> None:
    sam = await hub.api("sam")
    low, _ = hub.config.limits.failed_auth_delay_seconds
    began = time.monotonic()
    _refused(await _enrol(hub, sam, "BBBBB-BBBBB"))
    assert time.monotonic() - began >= low  # answered after the failed-authentication pause
    for _ in range(9):
        _refused(await _enrol(hub, sam, "BBBBB-BBBBB"))
    status, body = await _enrol(hub, sam, "BBBBB-BBBBB")
    assert (status, body["reason"]) == (429, "rate_limited"), body
    # The limit holds even for the right code: 50-bit codes stay out of reach of guessing.
    ada = await hub.api("ada")
    code = (await issue_code(ada, "sam"))["code"]
    assert (await _enrol(hub, sam, code))[0] == 429


async def test_who_issues_codes_and_for_whom(hub: Hub) -> None:
    ada, alice, olivia = await hub.api("ada"), await hub.api("alice"), await hub.api("olivia")
    sam_id, alice_id = await account_id(ada, "sam"), await account_id(ada, "alice")
    for caller in (alice, olivia):  # residents and officers may not (olivia's session is still enrolling, even)
        assert (await caller.call("POST", f"/api/accounts/{sam_id}/enrolment-code"))[0] == 403
    status, body = await ada.call("POST", f"/api/accounts/{alice_id}/enrolment-code")
    assert (status, body["reason"]) == (409, "not_enrolling")  # residents have no second factor
    ada_id = await account_id(ada, "ada")
    status, body = await ada.call("POST", f"/api/accounts/{ada_id}/enrolment-code")
    assert (status, body["reason"]) == (409, "not_enrolling")  # enrolled already: reset first
    assert (await ada.call("POST", "/api/accounts/99999/enrolment-code"))[0] == 404


async def _porchlight(data_dir: Path, *args: str) -> tuple[int, str, str]:
    """Run the `porchlight` command on the hub's data directory: (exit status, stdout, stderr)."""
    env = {
        "PATH": "/usr/bin:/bin",
        "PORCHLIGHT_STORE__DATA_DIR": str(data_dir),
        "PORCHLIGHT_AUTH__ENROLMENT_CODE_SECONDS": str(CODE_SECONDS),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hub", *args, cwd=ROOT, env=env, stdout=PIPE, stderr=PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_the_cli_issues_a_code(hub: Hub, tmp_path: Path) -> None:
    status, out, err = await _porchlight(tmp_path, "account", "enrolment-code", "olivia")
    assert status == 0, err
    match = re.search(r"enrolment code for olivia: ([A-Z2-7]{5}-[A-Z2-7]{5})", out)
    assert match, out
    code = keep_secret(match.group(1))
    assert code not in err
    olivia = await hub.api("olivia")
    await _enrol_fully(hub, olivia, "olivia", code)
    issued = hub.records("enrolment_code.issued")
    assert issued[-1]["hub"] == "cli" and issued[-1]["account"]["username"] == "olivia"
    # Residents, enrolled accounts and unknown names are refused, with a message and no code.
    for username in ("alice", "olivia", "nobody"):
        status, out, err = await _porchlight(tmp_path, "account", "enrolment-code", username)
        assert status != 0 and out == "" and err, (username, out, err)


async def test_the_demo_issues_codes_for_its_officers_and_admins(hub: Hub) -> None:
    store = await open_store(hub.config)
    try:
        audit = await open_audit(hub.config, "demo-seed", background=False)
        try:
            codes = await issue_enrolment_codes(store, audit, hub.config)
        finally:
            await audit.close()
    finally:
        await store.close()
    for code in codes.values():
        keep_secret(code)
    assert sorted(codes) == ["olivia", "sam"]  # ada has enrolled already; residents never do
    sam = await hub.api("sam")
    await _enrol_fully(hub, sam, "sam", codes["sam"])
