"""Officers ask, owners answer, over the API: who may do what, the grant an approval opens, expiry, the record."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from hub.app import create_app, open_store
from hub.audit.expiry import record_request_expiries
from hub.config import Config, load_config
from hub.demo import seed
from hub.timefmt import parse_time
from tests.conftest import PASSWORDS

ASK = {"case": "C-77", "reason": "burglary next door", "duration_seconds": 900, "urgent": True}


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return load_config(
        env={
            "PORCHLIGHT_STORE__DATA_DIR": str(tmp_path),
            "PORCHLIGHT_AUTH__MFA_REQUIRED": "false",
            "PORCHLIGHT_CONSENT__REQUEST_TTL_SECONDS": "600",
        }
    )


@pytest.fixture
async def server(config: Config) -> AsyncIterator[TestServer]:
    store = await open_store(config)
    await seed(store)
    await store.close()
    server = TestServer(create_app(config))
    await server.start_server()
    yield server
    await server.close()


async def _client(server: TestServer, username: str) -> TestClient:
    client = TestClient(server)
    await client.start_server()
    response = await client.post("/api/login", json={"username": username, "password": PASSWORDS[username]})
    assert response.status == 200
    client.session.headers["X-CSRF-Token"] = (await response.json())["csrf_token"]
    return client


def _records(config: Config) -> list[dict[str, Any]]:
    with sqlite3.connect(config.store.data_dir / "audit.sqlite3") as db:
        return [json.loads(body) for (body,) in db.execute("SELECT body FROM records ORDER BY position")]


async def test_ask_approve_opens_a_grant_for_the_agency_and_duration(server: TestServer, config: Config) -> None:
    olivia, alice, bob = [await _client(server, name) for name in ("olivia", "alice", "bob")]
    try:
        everything = (await (await olivia.get("/api/cameras?all=1")).json())["cameras"]
        assert {c["id"]: c["admitted"] for c in everything} == {"front-door": True, "backyard": False, "porch": False}
        # Cameras an officer may not watch are named only: no position, no state, no grant.
        assert all(set(c) == {"id", "name", "admitted", "askable"} for c in everything if not c["admitted"])
        response = await olivia.post("/api/cameras/backyard/requests", json=ASK)
        assert response.status == 201
        asked = (await response.json())["request"]
        assert (asked["state"], asked["officer"], asked["agency"], asked["urgent"]) == (
            "pending",
            "olivia",
            "metro-pd",
            True,
        )
        again = await olivia.post("/api/cameras/backyard/requests", json=ASK)
        assert again.status == 409 and (await again.json())["reason"] == "request_pending"
        opted = await olivia.post("/api/cameras/front-door/requests", json=ASK)
        assert opted.status == 409 and (await opted.json())["reason"] == "camera_admitted"
        # Only the owner sees and answers it.
        assert [r["id"] for r in (await (await alice.get("/api/requests")).json())["requests"]] == [asked["id"]]
        assert (await (await bob.get("/api/requests")).json())["requests"] == []
        # Another resident's camera answers as an unknown one (issue 14 item 13).
        others = await bob.post(f"/api/requests/{asked['id']}/approve")
        unknown = await bob.post("/api/requests/999999/approve")
        # Another resident's request answers exactly as one that does not exist (issue 14 item 13).
        assert (others.status, await others.json()) == (unknown.status, await unknown.json()) and others.status == 404
        assert (await olivia.post(f"/api/requests/{asked['id']}/approve")).status == 403
        before = time.time()
        approved = await (await alice.post(f"/api/requests/{asked['id']}/approve")).json()
        grant = approved["grant"]
        assert approved["request"]["state"] == "approved" and grant["agencies"] == ["metro-pd"]
        length = parse_time(grant["ends_at"]) - parse_time(grant["starts_at"])
        assert abs(length - 900) < 0.01 and parse_time(grant["starts_at"]) >= before - 1
        late = await alice.post(f"/api/requests/{asked['id']}/decline")
        assert (late.status, (await late.json())["reason"]) == (409, "request_answered")
        visible = (await (await olivia.get("/api/cameras")).json())["cameras"]
        assert {c["id"] for c in visible} == {"front-door", "backyard"}
    finally:
        for client in (olivia, alice, bob):
            await client.close()
    kinds = [(r["kind"], r.get("request")) for r in _records(config) if r["kind"].startswith(("access.", "consent."))]
    assert kinds == [("access.requested", 1), ("access.approved", 1), ("consent.granted", None)]
    requested = next(r for r in _records(config) if r["kind"] == "access.requested")
    assert requested["case"] == "C-77" and requested["actor"]["username"] == "olivia" and requested["urgent"] is True


async def test_decline_and_expiry_open_nothing(server: TestServer, config: Config) -> None:
    olivia, bob = await _client(server, "olivia"), await _client(server, "bob")
    try:
        first = (await (await olivia.post("/api/cameras/porch/requests", json=ASK)).json())["request"]
        declined = await (await bob.post(f"/api/requests/{first['id']}/decline")).json()
        assert declined["request"]["state"] == "declined"
        second = (await (await olivia.post("/api/cameras/porch/requests", json=ASK)).json())["request"]
        # Nobody answers: the scanner expires it once its time is up (here: asked at a later moment).
        assert await record_request_expiries(server.app, parse_time(second["expires_at"]) + 1) == 1
        assert await record_request_expiries(server.app, parse_time(second["expires_at"]) + 2) == 0
        late = await bob.post(f"/api/requests/{second['id']}/approve")
        assert (late.status, (await late.json())["reason"]) == (409, "request_expired")
        states = {r["id"]: r["state"] for r in (await (await olivia.get("/api/requests")).json())["requests"]}
        assert states == {first["id"]: "declined", second["id"]: "expired"}
        assert [c["id"] for c in (await (await olivia.get("/api/cameras")).json())["cameras"]] == ["front-door"]
    finally:
        await olivia.close()
        await bob.close()
    kinds = [r["kind"] for r in _records(config) if r["kind"].startswith("access.")]
    assert kinds == ["access.requested", "access.declined", "access.requested", "access.expired"]


async def test_bad_requests_are_refused(server: TestServer) -> None:
    olivia, alice = await _client(server, "olivia"), await _client(server, "alice")
    try:
        for body, reason in (
            ({**ASK, "case": ""}, "bad_case"),
            ({**ASK, "duration_seconds": 0}, "bad_duration"),
            ({**ASK, "duration_seconds": 30 * 86400}, "duration_too_long"),
            ({**ASK, "urgent": "yes"}, "bad_urgent"),
        ):
            response = await olivia.post("/api/cameras/backyard/requests", json=body)
            assert (response.status, (await response.json())["reason"]) == (400, reason)
        assert (await olivia.post("/api/cameras/nowhere/requests", json=ASK)).status == 404
        assert (await alice.post("/api/cameras/backyard/requests", json=ASK)).status == 403  # residents do not ask
        assert (await alice.post("/api/requests/999/approve")).status == 404
    finally:
        await olivia.close()
        await alice.close()


async def test_approving_never_replaces_the_owners_own_opt_in(server: TestServer) -> None:
    olivia, alice = await _client(server, "olivia"), await _client(server, "alice")
    try:
        asked = (await (await olivia.post("/api/cameras/backyard/requests", json=ASK)).json())["request"]
        # Meanwhile the owner opts the camera in for everyone: approving the request would cut that down.
        assert (await alice.post("/api/cameras/backyard/grant", json={"duration_seconds": 8 * 3600})).status == 201
        response = await alice.post(f"/api/requests/{asked['id']}/approve")
        assert (response.status, (await response.json())["reason"]) == (409, "camera_opted_in")
        cameras = (await (await alice.get("/api/cameras")).json())["cameras"]
        backyard = next(c for c in cameras if c["id"] == "backyard")
        assert backyard["grant"]["agencies"] is None  # the owner's grant stands
        assert (await alice.post(f"/api/requests/{asked['id']}/decline")).status == 200
    finally:
        await olivia.close()
        await alice.close()
