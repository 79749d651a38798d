"""The pages' live updates (GET /api/events) reach only those entitled to their subject (issue 14, item 9).

A real hub process, two residents with cameras (alice: front-door, opted in for every agency; bob: porch) and one
without (carol), two officers of different agencies (olivia, sam) and an admin (ada), each with the event stream
open as a page holds it. Nothing is judged by waiting for silence: after each action a public change everyone is
entitled to (the policy's cap) is published as a marker, and each stream's events up to the marker are what it
was told of the action.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.client import Api, Viewer
from tests.support.procs import Hub, running_agent

EVENT_TIMEOUT = 15.0
Login = Callable[[str], Awaitable[Api]]


@dataclass
class Stream:
    """One open GET /api/events, read as it arrives: (event, data) pairs."""

    name: str
    events: list[tuple[str, Any]] = field(default_factory=list)
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)
    read: int = 0  # events up to here were judged already

    async def run(self, api: Api) -> None:
        async with api.http.get(f"{api.base}/api/events", timeout=aiohttp.ClientTimeout(total=None)) as response:
            assert response.status == 200, await response.text()
            event, data = "message", ""
            async for raw in response.content:
                line = raw.decode().rstrip("\n")
                if line.startswith("event: "):
                    event = line[len("event: ") :]
                elif line.startswith("data: "):
                    data = line[len("data: ") :]
                elif line == "" and data:
                    async with self.arrived:
                        self.events.append((event, json.loads(data)))
                        self.arrived.notify_all()
                    event, data = "message", ""

    async def seen(self, predicate: Callable[[tuple[str, Any]], bool]) -> None:
        """Wait until an event not judged yet satisfies `predicate` (judging nothing)."""
        await self.until(predicate, consume=False)

    async def until(self, predicate: Callable[[tuple[str, Any]], bool], consume: bool = True) -> list[tuple[str, Any]]:
        """The events since the last call, up to and including the first that satisfies `predicate`."""

        def found() -> int | None:
            for i in range(self.read, len(self.events)):
                if predicate(self.events[i]):
                    return i
            return None

        async with self.arrived:
            await asyncio.wait_for(self.arrived.wait_for(lambda: found() is not None), EVENT_TIMEOUT)
        end = found()
        assert end is not None
        told = self.events[self.read : end + 1]
        if consume:
            self.read = end + 1
        return told

    def topics(self, told: list[tuple[str, Any]]) -> set[str]:
        return {topic for event, data in told if event == "changed" for topic in data["topics"]}


@contextlib.asynccontextmanager
async def streams(apis: dict[str, Api]) -> AsyncIterator[dict[str, Stream]]:
    """Every client's event stream, open and greeted (subscribed) before the block runs."""
    opened = {name: Stream(name) for name in apis}
    tasks = [asyncio.create_task(opened[name].run(api)) for name, api in apis.items()]
    try:
        for stream in opened.values():
            hello = await stream.until(lambda item: item[0] == "hello")
            # The greeting carries nothing: no hub-wide count of changes to read other users' activity from.
            assert hello[-1] == ("hello", {})
        yield opened
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def marker(ada: Api, everyone: dict[str, Stream]) -> dict[str, set[str]]:
    """Publish a change everyone may know of (the policy's cap) and return, per stream, the topics it was told
    of since the last marker (the marker's own `cameras` included)."""
    status, _ = await ada.call("PUT", "/api/policy", {"max_grant_seconds": 7 * 86400})
    assert status == 200
    told: dict[str, set[str]] = {}
    for name, stream in everyone.items():
        events = await stream.until(lambda item: item[0] == "changed" and "cameras" in item[1]["topics"])
        told[name] = stream.topics(events)
        # Whatever came with or after the marker's event in this burst is judged with the next marker.
    return told


@pytest.fixture
async def people(hub: Hub, login: Login) -> AsyncIterator[dict[str, Api]]:
    """Logged-in clients: alice, bob, carol (a resident without cameras), olivia, sam, ada."""
    ada = await login("ada")
    status, answer = await ada.call(
        "POST", "/api/accounts", {"username": "carol", "password": "carol-demo-pass", "role": "resident"}
    )
    assert status == 201, answer
    carol = await Api(hub.url).login("carol", "carol-demo-pass")
    try:
        yield {
            "alice": await login("alice"),
            "bob": await login("bob"),
            "carol": carol,
            "olivia": await login("olivia"),
            "sam": await login("sam"),
            "ada": ada,
        }
    finally:
        await carol.close()


async def _settle(ada: Api, everyone: dict[str, Stream]) -> None:
    """Let the start-up's changes (the hub's first reload, the agent's arrival) pass before judging."""
    await marker(ada, everyone)


async def test_watching_is_told_to_the_owner_and_admins_only(
    hub: Hub, tokens: dict[str, str], people: dict[str, Api], tmp_path: Path
) -> None:
    ada, olivia = people["ada"], people["olivia"]
    async with running_agent(hub, "front-door", tokens["front-door"], tmp_path), streams(people) as everyone:
        await _settle(ada, everyone)
        viewer = Viewer(olivia, "front-door")
        try:
            assert await viewer.watch() == 201
            await everyone["ada"].seen(lambda item: item[0] == "changed" and "watchers" in item[1]["topics"])
            told = await marker(ada, everyone)
        finally:
            await viewer.close()
    # The quoted case: a resident with no cameras hears nothing of an officer watching someone else's camera.
    assert told["carol"] == {"cameras"}
    assert "watchers" not in told["bob"]
    # The owner does: her page shows who watches now.
    assert "watchers" in told["alice"]
    assert "watchers" in told["ada"]
    # Officers never hear who else watches (olivia's own view has its own WHEP event stream).
    assert "watchers" not in told["olivia"] and "watchers" not in told["sam"]


async def test_a_camera_coming_online_is_told_to_its_owner_and_officers_admitted(
    hub: Hub, tokens: dict[str, str], people: dict[str, Api], tmp_path: Path
) -> None:
    ada = people["ada"]
    async with streams(people) as everyone:
        await _settle(ada, everyone)
        async with running_agent(hub, "porch", tokens["porch"], tmp_path):
            told = await marker(ada, everyone)
    assert "streams" in told["bob"] and "streams" in told["ada"]
    # porch is not opted in: no officer may see it, nor learn it is online; nor may the other residents.
    for name in ("alice", "carol", "olivia", "sam"):
        assert "streams" not in told[name], name


async def test_an_officers_request_is_told_to_him_the_owner_and_admins(
    people: dict[str, Api],
) -> None:
    ada, olivia = people["ada"], people["olivia"]
    async with streams(people) as everyone:
        await _settle(ada, everyone)
        ask = {"case": "C-1", "reason": "test", "duration_seconds": 600}
        status, answer = await olivia.call("POST", "/api/cameras/porch/requests", ask)
        assert status == 201, answer
        told = await marker(ada, everyone)
    assert "requests" in told["olivia"] and "requests" in told["bob"] and "requests" in told["ada"]
    # Another officer learns nothing of it, nor do the other residents.
    for name in ("sam", "alice", "carol"):
        assert "requests" not in told[name], name


async def test_account_changes_are_told_to_admins_only(people: dict[str, Api]) -> None:
    ada = people["ada"]
    async with streams(people) as everyone:
        await _settle(ada, everyone)
        body = {"username": "dave", "password": "dave-demo-pass", "role": "resident"}
        status, answer = await ada.call("POST", "/api/accounts", body)
        assert status == 201, answer
        # Ada hears of it (waited for as such: a late `cameras` of the settling marker may end the next marker's
        # burst before it); the others, judged at the marker, published after it, do not.
        await everyone["ada"].seen(lambda item: item[0] == "changed" and "accounts" in item[1]["topics"])
        told = await marker(ada, everyone)
    for name in ("alice", "bob", "carol", "olivia", "sam"):
        assert "accounts" not in told[name], name


async def test_a_withdrawal_is_told_to_its_owner_and_officers_not_to_other_residents(
    people: dict[str, Api],
) -> None:
    ada, alice, olivia = people["ada"], people["alice"], people["olivia"]
    async with streams(people) as everyone:
        await _settle(ada, everyone)
        status, answer = await alice.call("DELETE", "/api/cameras/front-door/grant")
        assert status == 200, answer
        # The owner's page is told its camera changed, and the officers' lists change.
        for name in ("alice", "olivia", "sam"):
            await everyone[name].seen(lambda item: item[0] == "changed" and "cameras" in item[1]["topics"])
        # Bob's marker is an officer's request for his camera (the policy's `cameras` would not tell a leaked
        # `cameras` apart): whatever he was told before it came from the withdrawal.
        ask = {"case": "C-2", "reason": "test", "duration_seconds": 600}
        status, answer = await olivia.call("POST", "/api/cameras/porch/requests", ask)
        assert status == 201, answer
        bob = everyone["bob"]
        told = bob.topics(await bob.until(lambda item: item[0] == "changed" and "requests" in item[1]["topics"]))
    assert told == {"requests"}
