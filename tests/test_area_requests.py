"""Asking by area over the API: one request per camera inside the circle that the officer may ask for, each on its
owner's record and answered by its owner alone; the circle's bounds, the rate, and who may ask.

One in-process hub (SQLite; the area route adds no store method: it uses the request seam both stores pass).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from hub.api.area import distance_m
from hub.app import create_app, open_store
from hub.config import Config, load_config
from hub.demo import seed
from tests.conftest import PASSWORDS

# Front door and backyard a street apart, the porch about 1.5 km away.
PLACES = {"front-door": (52.37021, 4.89517), "backyard": (52.37100, 4.89600), "porch": (52.38400, 4.89517)}
CENTRE = {"lat": 52.37050, "lon": 4.89550}
ASK = {**CENTRE, "radius_m": 400, "case": "C-88", "reason": "Stolen van seen in the street", "duration_seconds": 3600}


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return load_config(env={"PORCHLIGHT_STORE__DATA_DIR": str(tmp_path), "PORCHLIGHT_AUTH__MFA_REQUIRED": "false"})


@pytest.fixture
async def server(config: Config) -> AsyncIterator[TestServer]:
    store = await open_store(config)
    await seed(store)
    for camera, place in PLACES.items():
        await store.set_camera_location(camera, place)
    await store.close()
    server = TestServer(create_app(config))
    await server.start_server()
    yield server
    await server.close()


@pytest.fixture
async def clients(server: TestServer) -> AsyncIterator[dict[str, TestClient]]:
    made: dict[str, TestClient] = {}
    for username in ("olivia", "alice", "bob"):
        client = TestClient(server)
        await client.start_server()
        response = await client.post("/api/login", json={"username": username, "password": PASSWORDS[username]})
        assert response.status == 200
        client.session.headers["X-CSRF-Token"] = (await response.json())["csrf_token"]
        made[username] = client
    yield made
    for client in made.values():
        await client.close()


def _records(config: Config) -> list[dict[str, Any]]:
    with sqlite3.connect(config.store.data_dir / "audit.sqlite3") as db:
        return [json.loads(body) for (body,) in db.execute("SELECT body FROM records ORDER BY position")]


def test_distances() -> None:
    assert distance_m(52.0, 4.0, 52.0, 4.0) == 0
    assert abs(distance_m(0, 0, 1, 0) - 111_195) < 5  # one degree of latitude
    assert 85 < distance_m(*PLACES["front-door"], *PLACES["backyard"]) < 120


async def test_one_request_per_camera_inside_each_answered_by_its_owner(
    clients: dict[str, TestClient], config: Config
) -> None:
    olivia, alice, bob = clients["olivia"], clients["alice"], clients["bob"]
    response = await olivia.post("/api/requests/area", json={**ASK, "radius_m": 2000, "urgent": True})
    assert response.status == 201, await response.text()
    answer = await response.json()
    # The front door is open to olivia already (seeded opt-in): left out; backyard and porch are asked.
    assert sorted(r["camera"] for r in answer["requests"]) == ["backyard", "porch"]
    assert answer["skipped"] == 1
    assert all(r["state"] == "pending" and r["case"] == "C-88" and r["urgent"] for r in answer["requests"])

    # Asked again: both are waiting for their owners, so nothing new.
    again = await (await olivia.post("/api/requests/area", json={**ASK, "radius_m": 2000})).json()
    assert again == {"requests": [], "skipped": 3}

    # Each owner sees and answers only their own camera's request.
    mine = {name: (await (await clients[name].get("/api/requests")).json())["requests"] for name in ("alice", "bob")}
    assert [r["camera"] for r in mine["alice"]] == ["backyard"] and [r["camera"] for r in mine["bob"]] == ["porch"]
    assert (await bob.post(f"/api/requests/{mine['alice'][0]['id']}/approve")).status == 404
    assert (await alice.post(f"/api/requests/{mine['alice'][0]['id']}/approve")).status == 200
    assert (await bob.post(f"/api/requests/{mine['bob'][0]['id']}/decline")).status == 200
    visible = (await (await olivia.get("/api/cameras")).json())["cameras"]
    assert {c["id"] for c in visible} == {"front-door", "backyard"}

    asked = [r for r in _records(config) if r["kind"] == "access.requested"]
    assert sorted((r["camera"], r["area"], r["case"], r["actor"]["username"]) for r in asked) == [
        ("backyard", True, "C-88", "olivia"),
        ("porch", True, "C-88", "olivia"),
    ]


async def test_only_cameras_inside_the_circle(clients: dict[str, TestClient]) -> None:
    answer = await (await clients["olivia"].post("/api/requests/area", json=ASK)).json()
    assert [r["camera"] for r in answer["requests"]] == ["backyard"]  # the porch is 1.5 km away


async def test_bad_circles_and_callers_are_refused(clients: dict[str, TestClient], config: Config) -> None:
    olivia = clients["olivia"]
    for body, reason in (
        ({**ASK, "radius_m": config.map.area_max_radius_m + 1}, "radius_too_large"),
        ({**ASK, "radius_m": 10}, "bad_radius"),
        ({**ASK, "lat": 91}, "bad_area"),
        ({**ASK, "lon": "4.9"}, "bad_area"),
        ({**ASK, "case": ""}, "bad_case"),
        ({**ASK, "duration_seconds": 30 * 86400}, "duration_too_long"),
        ({**ASK, "everyone": True}, "bad_everyone"),
    ):
        response = await olivia.post("/api/requests/area", json=body)
        assert (response.status, (await response.json())["reason"]) == (400, reason), body
    assert (await clients["alice"].post("/api/requests/area", json=ASK)).status == 403  # residents do not ask
    assert [r for r in (await (await olivia.get("/api/requests")).json())["requests"]] == []


async def test_asking_by_area_has_a_rate(clients: dict[str, TestClient]) -> None:
    olivia = clients["olivia"]
    empty = {**ASK, "lat": 10.0, "lon": 10.0}  # no camera there: each ask makes nothing, but counts
    for _ in range(10):
        assert (await olivia.post("/api/requests/area", json=empty)).status == 201
    refused = await olivia.post("/api/requests/area", json=empty)
    assert refused.status == 429 and int(refused.headers["Retry-After"]) > 0
