"""The JSON API in-process over real HTTP: log-in, consent, the pilot, errors as JSON with a reason."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from hub.app import create_app, open_store
from hub.config import load_config
from hub.demo import seed
from hub.timefmt import parse_time
from tests.conftest import PASSWORDS


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[TestClient]:
    config = load_config(
        env={
            "PORCHLIGHT_STORE__DATA_DIR": str(tmp_path),
            "PORCHLIGHT_MEDIA__LOOPBACK": "true",
            "PORCHLIGHT_AUTH__MFA_REQUIRED": "false",
        }
    )
    store = await open_store(config)
    await seed(store)
    await store.close()
    async with TestClient(TestServer(create_app(config))) as test_client:
        yield test_client


async def _login(client: TestClient, username: str) -> None:
    response = await client.post("/api/login", json={"username": username, "password": PASSWORDS[username]})
    assert response.status == 200
    body = await response.json()
    assert body["account"]["username"] == username
    assert "password" not in str(body["account"])
    # The pages send the session's CSRF token on every state-changing request; so does this client.
    client.session.headers["X-CSRF-Token"] = body["csrf_token"]


async def _error(response) -> tuple[int, str]:
    body = await response.json()
    assert set(body) == {"reason", "message"} and body["message"]
    return response.status, body["reason"]


async def test_login_and_logout(client: TestClient) -> None:
    assert await _error(await client.get("/api/me")) == (401, "login_required")
    for body in ({"username": "alice", "password": "wrong"}, {"username": "nobody", "password": "whatever"}):
        assert await _error(await client.post("/api/login", json=body)) == (401, "bad_credentials")
    assert await _error(await client.post("/api/login", json={"username": "alice"})) == (400, "credentials_required")
    assert await _error(await client.post("/api/login", data=b"{nope")) == (400, "malformed_json")
    response = await client.post("/api/login", json={"username": "alice", "password": PASSWORDS["alice"]})
    client.session.headers["X-CSRF-Token"] = (await response.json())["csrf_token"]
    set_cookie = response.headers["Set-Cookie"]
    assert "porchlight_session=" in set_cookie and "HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie
    me = await (await client.get("/api/me")).json()
    assert me["account"]["role"] == "resident"
    assert (await client.post("/api/logout")).status == 200
    assert (await client.get("/api/me")).status == 401


async def test_bearer_session_token_works_for_plain_clients(client: TestClient) -> None:
    response = await client.post("/api/login", json={"username": "olivia", "password": PASSWORDS["olivia"]})
    token = (await response.json())["token"]
    client.session.cookie_jar.clear()
    response = await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert (await response.json())["account"]["username"] == "olivia"


async def test_camera_lists_depend_on_role(client: TestClient) -> None:
    await _login(client, "alice")
    mine = {c["id"] for c in (await (await client.get("/api/cameras")).json())["cameras"]}
    assert mine == {"front-door", "backyard"}
    await _login(client, "olivia")
    visible = (await (await client.get("/api/cameras")).json())["cameras"]
    assert [c["id"] for c in visible] == ["front-door"]
    assert visible[0]["grant"]["live"] is True
    await _login(client, "ada")
    assert len((await (await client.get("/api/cameras")).json())["cameras"]) == 3


async def test_opt_in_rules(client: TestClient) -> None:
    await _login(client, "alice")
    url = "/api/cameras/backyard/grant"
    for body, reason in [
        ({"duration_seconds": 0}, "bad_duration"),
        ({"duration_seconds": -1}, "bad_duration"),
        ({"duration_seconds": "1h"}, "bad_duration"),
        ({"duration_seconds": 60, "agencies": "metro-pd"}, "bad_agencies"),
        ({"duration_seconds": 60, "agencies": ["no-such-agency"]}, "bad_agencies"),
    ]:
        assert await _error(await client.post(url, json=body)) == (400, reason), body
    # Another resident's camera answers as an unknown one (issue 14 item 13).
    assert await _error(await client.post("/api/cameras/porch/grant", json={})) == (404, "not_found")
    assert await _error(await client.post("/api/cameras/nowhere/grant", json={})) == (404, "not_found")

    now = time.time()
    response = await client.post(url, json={"duration_seconds": 3600, "agencies": ["metro-pd"]})
    assert response.status == 201
    grant = (await response.json())["grant"]
    assert grant["agencies"] == ["metro-pd"] and grant["live"]
    assert parse_time(grant["ends_at"]) == pytest.approx(now + 3600, abs=5)

    # "Until the pilot ends" is capped by the admin maximum.
    await _login(client, "ada")
    assert (await client.put("/api/policy", json={"max_grant_seconds": 7200})).status == 200
    await _login(client, "alice")
    grant = (await (await client.post(url, json={"duration_seconds": None})).json())["grant"]
    assert parse_time(grant["ends_at"]) == pytest.approx(time.time() + 7200, abs=5)
    assert grant["agencies"] is None

    withdrawn = await (await client.delete(url)).json()
    assert withdrawn["grant"]["revoked_at"] is not None and withdrawn["grant"]["live"] is False
    await _login(client, "olivia")
    assert await _error(await client.post(url, json={})) == (403, "wrong_role")


async def test_pilot_is_admin_only_and_validated(client: TestClient) -> None:
    await _login(client, "olivia")
    pilot = (await (await client.get("/api/pilot")).json())["pilot"]
    assert pilot["state"] == "running"
    assert await _error(await client.put("/api/pilot", json={})) == (403, "wrong_role")
    assert await _error(await client.post("/api/pilot/end")) == (403, "wrong_role")
    await _login(client, "ada")
    for body, reason in [
        ({"starts_at": "yesterday", "ends_at": "2030-01-01T00:00:00Z"}, "bad_time"),
        ({"starts_at": "2030-01-01T00:00:00", "ends_at": "2031-01-01T00:00:00Z"}, "bad_time"),
        ({"starts_at": "2030-01-02T00:00:00Z", "ends_at": "2030-01-01T00:00:00Z"}, "bad_window"),
    ]:
        assert await _error(await client.put("/api/pilot", json=body)) == (400, reason)
    response = await client.put("/api/pilot", json={"starts_at": "2030-01-01T00:00:00Z", "ends_at": 1924992000})
    assert (await response.json())["pilot"]["state"] == "scheduled"
    await _login(client, "alice")
    assert await _error(await client.post("/api/cameras/backyard/grant", json={})) == (400, "no_pilot")
    await _login(client, "ada")
    now = time.time()
    await client.put("/api/pilot", json={"starts_at": now - 10, "ends_at": now + 3600})
    ended = await (await client.post("/api/pilot/end")).json()
    assert ended["pilot"]["state"] == "over"
    for value in (0, -5, "x", True):
        assert await _error(await client.put("/api/policy", json={"max_grant_seconds": value})) == (400, "bad_policy")


async def test_unknown_routes_and_methods_answer_json(client: TestClient) -> None:
    assert (await _error(await client.get("/api/nothing-here")))[0] == 404
    assert (await _error(await client.patch("/api/pilot")))[0] == 405
    for path in ("/healthz", "/readyz", "/metrics"):
        assert (await client.get(path)).status == 200


async def test_weak_password_hashes_are_upgraded_at_log_in(client: TestClient) -> None:
    from argon2 import PasswordHasher

    from hub.auth.passwords import needs_rehash
    from hub.keys import STORE

    store = client.app[STORE]
    account, _ = await store.find_account("bob")
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORDS["bob"])
    await store.set_password_hash(account.id, weak)
    await _login(client, "bob")
    _, stored = await store.find_account("bob")
    assert stored != weak and not needs_rehash(stored)
    await _login(client, "bob")  # and the upgraded hash still verifies
