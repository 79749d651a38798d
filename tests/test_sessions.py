"""Log-in sessions as a browser holds them: cookie, CSRF, Origin, guessing slowed (never locked), TOTP, idle and
absolute timeouts.

In-process over real HTTP, with a controllable clock for the timeouts (the consent gate keeps real time).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from hub.app import create_app, open_store
from hub.clock import Clock
from hub.config import Config, load_config
from hub.demo import seed
from tests.conftest import PASSWORDS
from tests.support.enrolment import keep_secret


class FakeClock(Clock):
    """Time that moves only when the test says so."""

    def __init__(self, start: float) -> None:
        self.t = start

    def now(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


class Hub:
    """The app in-process with a fake clock; a fresh cookie jar per `client()`."""

    def __init__(self, config: Config, clock: FakeClock, server: TestServer) -> None:
        self.config, self.clock, self.server = config, clock, server

    async def client(self) -> TestClient:
        client = TestClient(self.server)
        await client.start_server()
        return client

    def records(self) -> list[dict[str, Any]]:
        with sqlite3.connect(self.config.store.data_dir / "audit.sqlite3") as db:
            return [json.loads(body) for (body,) in db.execute("SELECT body FROM records ORDER BY position")]


def _config(tmp_path: Path, **env: str) -> Config:
    return load_config(env={"PORCHLIGHT_STORE__DATA_DIR": str(tmp_path), "PORCHLIGHT_MEDIA__LOOPBACK": "true", **env})


async def _start(config: Config) -> AsyncIterator[Hub]:
    store = await open_store(config)
    await seed(store)
    await store.close()
    clock = FakeClock(time.time())
    server = TestServer(create_app(config, clock=clock))
    await server.start_server()
    try:
        yield Hub(config, clock, server)
    finally:
        await server.close()


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    """Second factors on (the default)."""
    async for running in _start(_config(tmp_path)):
        yield running


async def _login(client: TestClient, username: str, code: str | None = None, **headers: str) -> tuple[int, Any]:
    body = {"username": username, "password": PASSWORDS[username], **({"code": code} if code else {})}
    response = await client.post("/api/login", json=body, headers=headers)
    answer = await response.json()
    if response.status == 200:
        client.session.headers["X-CSRF-Token"] = answer["csrf_token"]
    return response.status, answer


async def _totp(hub: Hub, username: str) -> str:
    store = await open_store(hub.config)
    try:
        account, _ = await store.find_account(username)
        secret = pyotp.random_base32()
        await store.set_totp(account.id, secret, enrolled=True)
        return secret
    finally:
        await store.close()


def _code(hub: Hub, secret: str, steps: int = 0) -> str:
    return pyotp.TOTP(secret).at(hub.clock.now() + 30 * steps)


async def test_cookie_is_httponly_strict_and_new_at_every_log_in(hub: Hub) -> None:
    client = await hub.client()
    try:
        response = await client.post("/api/login", json={"username": "alice", "password": PASSWORDS["alice"]})
        first = await response.json()
        cookie = response.headers["Set-Cookie"]
        assert cookie.startswith("porchlight_session=") and "Secure" not in cookie  # plain HTTP on loopback
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
        # At least 128 random bits: 32 random bytes in URL-safe base64 after the prefix.
        assert len(first["token"]) - len("pls_") >= 43
        client.session.headers["X-CSRF-Token"] = first["csrf_token"]  # logged in: a log-in changes state too
        status, second = await _login(client, "alice")
        assert status == 200, second
        assert second["token"] != first["token"] and second["csrf_token"] != first["csrf_token"]
    finally:
        await client.close()


async def test_secure_cookie_over_tls(tmp_path: Path) -> None:
    async for hub in _start(_config(tmp_path, PORCHLIGHT_HTTP__SECURE_COOKIES="true")):
        client = await hub.client()
        try:
            response = await client.post("/api/login", json={"username": "alice", "password": PASSWORDS["alice"]})
            set_cookie = response.headers["Set-Cookie"]
            assert set_cookie.startswith("__Host-porchlight_session=")
            assert "Secure" in set_cookie and "HttpOnly" in set_cookie and "Path=/" in set_cookie
            assert "Domain" not in set_cookie
        finally:
            await client.close()


async def test_logout_invalidates_the_cookie_server_side(hub: Hub) -> None:
    client = await hub.client()
    try:
        _, answer = await _login(client, "alice")
        assert (await client.post("/api/logout")).status == 200
        # The old cookie, sent again by someone who kept it, is refused: the session is gone on the server.
        replay = await client.get("/api/me", headers={"Cookie": f"porchlight_session={answer['token']}"})
        assert replay.status == 401
    finally:
        await client.close()


async def test_state_changes_need_the_csrf_token(hub: Hub) -> None:
    client = await hub.client()
    try:
        _, answer = await _login(client, "alice")
        url = "/api/cameras/backyard/grant"
        for headers in ({"X-CSRF-Token": ""}, {"X-CSRF-Token": "forged"}):
            response = await client.post(url, json={"duration_seconds": 60}, headers=headers)
            assert response.status == 403 and (await response.json())["reason"] == "csrf_token_invalid"
        del client.session.headers["X-CSRF-Token"]
        response = await client.post(url, json={"duration_seconds": 60})
        assert response.status == 403 and (await response.json())["reason"] == "csrf_token_invalid"
        assert (await client.get("/api/cameras")).status == 200  # reading needs none
        response = await client.post(url, json={"duration_seconds": 60}, headers={"X-CSRF-Token": answer["csrf_token"]})
        assert response.status == 201
        # A plain client with the bearer token carries no ambient credential, so it needs no CSRF token.
        client.session.cookie_jar.clear()
        bearer = {"Authorization": f"Bearer {answer['token']}"}
        assert (await client.delete(url, headers=bearer)).status == 200
    finally:
        await client.close()


async def test_requests_from_another_origin_are_refused(hub: Hub) -> None:
    client = await hub.client()
    try:
        evil = {"Origin": "http://evil.example"}
        status, answer = await _login(client, "alice", **evil)
        assert (status, answer["reason"]) == (403, "bad_origin")
        # The hub's own origin is the configured one (issue 14 item 14: never the request's Host).
        assert (await _login(client, "alice", Origin=hub.config.base_url()))[0] == 200
        for path in ("/api/events", "/control/front-door"):
            response = await client.get(path, headers=evil)
            assert response.status == 403, path
    finally:
        await client.close()


# Guessing slowed, never locked (hub/auth/guessing.py): small delays so the tests stay quick.
MAX_DELAY = 0.2
THROTTLED = {
    "PORCHLIGHT_AUTH__THROTTLE_FIRST_DELAY_SECONDS": "0.05",
    "PORCHLIGHT_AUTH__THROTTLE_MAX_DELAY_SECONDS": str(MAX_DELAY),
    "PORCHLIGHT_LIMITS__FAILED_AUTH_DELAY_SECONDS": "[0, 0]",  # the random pause would hide the delay's timing
}


async def _failures(hub: Hub, username: str) -> int:
    """The account's failed log-ins within the window, as the store counts them for every hub."""
    store = await open_store(hub.config)
    try:
        account, _ = await store.find_account(username)
        return await store.count_login_failures(account.id, hub.clock.now(), hub.config.auth.throttle_window_seconds)
    finally:
        await store.close()


async def test_twenty_wrong_passwords_then_the_right_one_logs_in(tmp_path: Path) -> None:
    async for hub in _start(_config(tmp_path, **THROTTLED)):
        client = await hub.client()
        try:
            statuses = []
            for _ in range(20):
                response = await client.post("/api/login", json={"username": "alice", "password": "not-it"})
                statuses.append(response.status)
            # The username's rate limit (10/minute) turns the later wrong ones into 429s; nothing is a lock.
            assert statuses == [401] * 10 + [429] * 10, statuses
            assert await _failures(hub, "alice") == 20
            started = time.monotonic()
            status, answer = await _login(client, "alice")
            waited = time.monotonic() - started
            assert status == 200, answer
            assert waited >= MAX_DELAY, f"the right password skipped the capped delay ({waited:.3f} s)"
            assert "locked" not in answer["account"]
            assert await _failures(hub, "alice") == 0, "a log-in forgets the failures"
            kinds = [r["kind"] for r in hub.records()]
            assert kinds.count("login.failed") == 20 and "login.locked" not in kinds
            # Forgotten: the next log-in does not wait.
            assert (await _login(client, "alice"))[0] == 200
        finally:
            await client.close()


async def test_an_admin_can_forget_failures_and_nothing_shows_a_lock(hub: Hub) -> None:
    client = await hub.client()
    try:
        for _ in range(6):
            response = await client.post("/api/login", json={"username": "alice", "password": "not-it"})
            assert response.status == 401
        assert await _failures(hub, "alice") == 6
        admin_secret = await _totp(hub, "ada")
        assert (await _login(client, "ada", _code(hub, admin_secret)))[0] == 200
        accounts = (await (await client.get("/api/accounts")).json())["accounts"]
        alice = next(a for a in accounts if a["username"] == "alice")
        assert "locked" not in alice
        assert (await client.post(f"/api/accounts/{alice['id']}/unlock")).status == 200
        assert await _failures(hub, "alice") == 0
        assert any(r["kind"] == "account.unlocked" for r in hub.records())
    finally:
        await client.close()


async def test_failures_outside_the_window_are_forgotten(hub: Hub) -> None:
    client = await hub.client()
    try:
        for _ in range(4):
            assert (await client.post("/api/login", json={"username": "bob", "password": "no"})).status == 401
        hub.clock.advance(16 * 60)
        for _ in range(4):
            assert (await client.post("/api/login", json={"username": "bob", "password": "no"})).status == 401
        assert await _failures(hub, "bob") == 4
        assert (await _login(client, "bob"))[0] == 200
    finally:
        await client.close()


async def test_officers_need_a_totp_code_and_a_code_works_once(hub: Hub) -> None:
    secret = await _totp(hub, "olivia")
    client = await hub.client()
    try:
        status, answer = await _login(client, "olivia")
        assert (status, answer["reason"]) == (401, "mfa_code_required")
        status, answer = await _login(client, "olivia", "000000" if _code(hub, secret) != "000000" else "111111")
        assert (status, answer["reason"]) == (401, "bad_credentials")
        code = _code(hub, secret)
        assert (await _login(client, "olivia", code))[0] == 200
        status, answer = await _login(client, "olivia", code)  # replayed
        assert (status, answer["reason"]) == (401, "bad_credentials")
        assert [r["why"] for r in hub.records() if r["kind"] == "login.failed"][-2:] == ["bad_code", "code_reused"]
        assert (await _login(client, "olivia", _code(hub, secret, steps=1)))[0] == 200  # the next code does
        assert secret not in json.dumps(hub.records())
    finally:
        await client.close()


async def _enrolment_code(hub: Hub, admin: TestClient, username: str) -> str:
    """An enrolment code for `username`, issued through the API by the admin ada, logged in with `admin`."""
    await _login(admin, "ada", _code(hub, await _totp(hub, "ada")))
    accounts = (await (await admin.get("/api/accounts")).json())["accounts"]
    target = next(a["id"] for a in accounts if a["username"] == username)
    response = await admin.post(f"/api/accounts/{target}/enrolment-code")
    assert response.status == 200, await response.text()
    return keep_secret((await response.json())["code"])


async def test_first_log_in_enrols_the_second_factor(hub: Hub) -> None:
    client, admin = await hub.client(), await hub.client()
    try:
        status, answer = await _login(client, "sam")
        assert status == 200 and answer["mfa"] == "enrol"
        response = await client.get("/api/cameras")
        assert response.status == 403 and (await response.json())["reason"] == "mfa_enrolment_required"
        enrolment_code = await _enrolment_code(hub, admin, "sam")
        setup = await (await client.post("/api/mfa/enrol", json={"enrolment_code": enrolment_code})).json()
        assert setup["uri"].startswith("otpauth://totp/") and "<svg" in setup["qr_svg"]
        bad = await client.post("/api/mfa/confirm", json={"code": "12345", "enrolment_code": enrolment_code})
        assert bad.status == 400
        confirm = {"code": _code(hub, setup["secret"]), "enrolment_code": enrolment_code}
        me = await (await client.post("/api/mfa/confirm", json=confirm)).json()
        assert me["mfa"] == "ok" and me["account"]["mfa_enrolled"] is True
        assert (await client.get("/api/cameras")).status == 200
        # Enrolled: the next log-in needs a code, and not the one just used.
        assert (await _login(client, "sam", _code(hub, setup["secret"])))[1]["reason"] == "bad_credentials"
        assert (await _login(client, "sam", _code(hub, setup["secret"], steps=1)))[0] == 200
        assert (await client.post("/api/mfa/enrol", json={"enrolment_code": enrolment_code})).status == 409
    finally:
        await client.close()
        await admin.close()


async def test_residents_log_in_without_a_second_factor(hub: Hub) -> None:
    client = await hub.client()
    try:
        status, answer = await _login(client, "alice")
        assert status == 200 and answer["mfa"] == "off"
        me = await (await client.get("/api/me")).json()
        assert me["mfa_required"] is True
    finally:
        await client.close()


async def test_idle_timeout(hub: Hub) -> None:
    client = await hub.client()
    try:
        await _login(client, "alice")
        for _ in range(4):  # active every 29 minutes: two hours and more, still logged in
            hub.clock.advance(29 * 60)
            assert (await client.get("/api/me")).status == 200
        hub.clock.advance(31 * 60)
        response = await client.get("/api/me")
        assert response.status == 401
        hub.clock.advance(-31 * 60)  # the session is gone, not just out of date
        assert (await client.get("/api/me")).status == 401
    finally:
        await client.close()


async def test_absolute_timeout(hub: Hub) -> None:
    client = await hub.client()
    try:
        began = hub.clock.now()
        await _login(client, "bob")
        while hub.clock.now() - began < 12 * 3600 - 20 * 60:  # active every 20 minutes: in for 12 hours
            hub.clock.advance(20 * 60)
            assert (await client.get("/api/me")).status == 200, (hub.clock.now() - began) / 3600
        hub.clock.advance(20 * 60 + 1)  # past 12 hours, however active
        assert (await client.get("/api/me")).status == 401
    finally:
        await client.close()


async def test_disabling_an_account_ends_its_sessions(hub: Hub) -> None:
    admin, resident = await hub.client(), await hub.client()
    try:
        await _login(resident, "bob")
        secret = await _totp(hub, "ada")
        await _login(admin, "ada", _code(hub, secret))
        accounts = (await (await admin.get("/api/accounts")).json())["accounts"]
        bob = next(a for a in accounts if a["username"] == "bob")
        assert (await admin.post(f"/api/accounts/{bob['id']}/disable")).status == 200
        assert (await resident.get("/api/me")).status == 401
        assert (await admin.post(f"/api/accounts/{bob['id']}/enable")).status == 200
        assert (await resident.get("/api/me")).status == 401  # the old session stays gone
        assert (await _login(resident, "bob"))[0] == 200
    finally:
        await admin.close()
        await resident.close()
