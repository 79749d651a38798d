"""Issue 14, item 3: guessing is slowed, nobody is ever locked out (hub/auth/guessing.py, hub/api/session.py).

The delay's rule as a table; the delay counted in both real stores, as two hubs sharing one see it; and the hub in
this process on a real port, flooded with wrong passwords for a resident from many loopback addresses while the
resident logs in from another.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import aiosqlite
import pytest
from aiohttp.test_utils import TestServer

from hub.app import create_app
from hub.app import open_store as open_hub_store
from hub.auth.guessing import GuessingPolicy, count_failure, wait_before_checking
from hub.config import AuthConfig, Config, load_config
from hub.demo import seed
from hub.keys import AUDIT, STORE
from hub.store.base import Role, Store
from hub.store.redis import RedisStore
from hub.store.sqlite import SqliteStore
from tests.conftest import PASSWORDS
from tests.support.procs import free_port
from tests.support.redis_server import RedisServer

POLICY = GuessingPolicy(after_failures=5, window_seconds=900.0, first_delay=0.5, max_delay=4.0)
T0 = 1_700_000_000.0
HOUR = 3600.0
OpenStore = Callable[[], Awaitable[Store]]


@pytest.fixture(params=["sqlite", "redis"])
async def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[OpenStore]:
    """Opens stores on one backing, as hubs sharing it (the same SQLite file, the same Redis), closed after."""
    opened: list[Store] = []

    async def open_one() -> Store:
        store: Store
        if request.param == "redis":
            store = await RedisStore.open(server.url, default_max_grant_seconds=HOUR)
        else:
            store = await SqliteStore.open(tmp_path / "hub.sqlite3", default_max_grant_seconds=HOUR)
        opened.append(store)
        return store

    if request.param == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        server.flushall()
    yield open_one
    for store in opened:
        await store.close()


def test_the_delay_starts_after_the_free_failures_doubles_and_is_capped() -> None:
    assert [POLICY.delay(n) for n in range(12)] == [0, 0, 0, 0, 0, 0.5, 1, 2, 4, 4, 4, 4]
    assert POLICY.delay(10**9) == 4.0  # no overflow, however many
    one = GuessingPolicy(after_failures=1, first_delay=3.0, max_delay=2.0)
    assert [one.delay(n) for n in range(3)] == [0, 2.0, 2.0]  # a first delay past the cap is capped too


def test_the_policy_comes_from_the_auth_section() -> None:
    auth = AuthConfig(throttle_after_failures=3, throttle_window_seconds=60, throttle_max_delay_seconds=1.5)
    assert GuessingPolicy.from_config(auth) == GuessingPolicy(3, 60.0, 0.5, 1.5)
    assert GuessingPolicy.from_config(AuthConfig()) == GuessingPolicy()


class _Sleeps:
    """A fake sleep that records what it was asked to wait."""

    def __init__(self) -> None:
        self.asked: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)


async def test_the_delay_grows_with_failures_counted_in_the_store_across_hubs(open_store: OpenStore) -> None:
    # Two hubs on one store (one SQLite file, or one Redis): each attempt waits what all hubs' failures ask.
    hub_a, hub_b = await open_store(), await open_store()
    rosa = await hub_a.add_account("rosa", "hash", Role.RESIDENT, None)
    sleeps = _Sleeps()
    waited = []
    for n in range(10):
        now = T0 + n
        waited.append(await wait_before_checking((hub_a, hub_b)[n % 2], POLICY, rosa.id, now, sleeps))
        await count_failure((hub_b, hub_a)[n % 2], POLICY, rosa.id, now)
    assert waited == [0, 0, 0, 0, 0, 0.5, 1, 2, 4, 4]
    assert sleeps.asked == [0.5, 1, 2, 4, 4]  # no sleep at all below the threshold
    # Failures age out of the window; a log-in (or an admin) forgets them.
    assert await wait_before_checking(hub_a, POLICY, rosa.id, T0 + 904.5, sleeps) == 0.5  # 5 left
    await hub_b.clear_login_failures(rosa.id)
    assert await wait_before_checking(hub_a, POLICY, rosa.id, T0 + 10, sleeps) == 0


async def test_an_account_locked_by_an_older_version_reads_as_any_other(open_store: OpenStore) -> None:
    # Migration: the `locked` flag an older hub wrote is ignored (and nothing writes it any more).
    store = await open_store()
    rosa = await store.add_account("rosa", "hash", Role.RESIDENT, None)
    await _lock_the_old_way(store, rosa.id)
    assert await store.get_account(rosa.id) == rosa
    assert await store.find_account("rosa") == (rosa, "hash")


async def _lock_the_old_way(store: Store, account_id: int) -> None:
    if isinstance(store, SqliteStore):

        async def lock(db: aiosqlite.Connection) -> None:
            await db.execute("UPDATE accounts SET locked = 1 WHERE id = ?", (account_id,))

        await store._write(lock)
    else:
        raw = store._r  # type: ignore[attr-defined]
        await raw.hset(store._keys.account(account_id), "locked", "true")  # type: ignore[attr-defined]


# The hub in this process, on a real port ---------------------------------------------------------------------

MAX_DELAY = 0.3
Start = Callable[..., Awaitable[tuple[TestServer, str]]]


@pytest.fixture(scope="module")
def seeded_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One seeded store per module, copied for each hub: seeding hashes five passwords."""
    data = tmp_path_factory.mktemp("seeded") / "data"

    async def make() -> None:
        store = await open_hub_store(load_config(env={"PORCHLIGHT_STORE__DATA_DIR": str(data)}))
        try:
            await seed(store)
        finally:
            await store.close()

    asyncio.run(make())
    return data


def _config(data: Path, **env: str) -> Config:
    return load_config(
        env={
            "PORCHLIGHT_STORE__DATA_DIR": str(data),
            "PORCHLIGHT_MEDIA__LOOPBACK": "true",
            "PORCHLIGHT_AUTH__MFA_REQUIRED": "false",
            "PORCHLIGHT_AUTH__THROTTLE_FIRST_DELAY_SECONDS": "0.05",
            "PORCHLIGHT_AUTH__THROTTLE_MAX_DELAY_SECONDS": str(MAX_DELAY),
            "PORCHLIGHT_LIMITS__FAILED_AUTH_DELAY_SECONDS": "[0, 0]",
            **env,
        }
    )


@pytest.fixture
async def hub(tmp_path: Path, seeded_data: Path) -> AsyncIterator[tuple[TestServer, str]]:
    """A seeded hub app on a real 127.0.0.1 port, and its URL."""
    data = tmp_path / "data"
    shutil.copytree(seeded_data, data)
    # Few free failures and a low rate per username, so a small flood reaches both (argon2 is slow on a busy box).
    config = _config(
        data, PORCHLIGHT_AUTH__THROTTLE_AFTER_FAILURES="2", PORCHLIGHT_LIMITS__LOGIN_PER_ACCOUNT="3/minute"
    )
    server = TestServer(create_app(config), host="127.0.0.1", port=free_port())
    await server.start_server()
    try:
        yield server, f"http://127.0.0.1:{server.port}"
    finally:
        await server.close()


async def _login(url: str, username: str, password: str, source: str) -> tuple[int, float]:
    """Log in from `source` (Linux loopback answers every 127/8 address); the status and the seconds it took."""
    connector = aiohttp.TCPConnector(local_addr=(source, 0))
    async with aiohttp.ClientSession(connector=connector) as http:
        started = time.monotonic()
        async with http.post(f"{url}/api/login", json={"username": username, "password": password}) as response:
            await response.read()
            return response.status, time.monotonic() - started


async def test_a_flood_from_many_addresses_neither_locks_nor_refuses_the_owner(
    hub: tuple[TestServer, str],
) -> None:
    server, url = hub
    app = server.app
    stop = asyncio.Event()
    statuses: list[int] = []

    async def attacker(n: int) -> None:
        while not stop.is_set():
            status, _ = await _login(url, "alice", f"guess-{n}-{len(statuses)}", f"127.0.1.{n + 1}")
            statuses.append(status)

    attackers = [asyncio.create_task(attacker(n)) for n in range(6)]
    try:
        # Until the flood has spent the username's rate limit (3/minute) and reached the capped delay.
        deadline = time.monotonic() + 60
        while statuses.count(429) < 3 or len(statuses) < 8:
            assert time.monotonic() < deadline, statuses
            await asyncio.sleep(0.05)
        # The owner, from an address of their own, in the middle of the flood: let in after the wait.
        status, seconds = await _login(url, "alice", PASSWORDS["alice"], "127.0.2.1")
        assert status == 200
        assert seconds >= MAX_DELAY, f"the right password skipped the delay ({seconds:.3f} s)"
    finally:
        stop.set()
        await asyncio.gather(*attackers)
    assert set(statuses) <= {401, 429}, statuses
    # The flood goes on after the owner's log-in; the owner is let in again all the same.
    assert (await _login(url, "alice", PASSWORDS["alice"], "127.0.2.2"))[0] == 200
    records = [record.fields() for record in await app[AUDIT].read(0, app[AUDIT].leaf_count())]
    assert not [r for r in records if r["kind"] == "login.locked"]
    assert sum(1 for r in records if r["kind"] == "login.failed") == len(statuses)


async def test_a_hub_reading_an_account_an_older_version_locked_lets_its_owner_in(
    hub: tuple[TestServer, str],
) -> None:
    server, url = hub
    store = server.app[STORE]
    account, _ = await store.find_account("alice")
    await _lock_the_old_way(store, account.id)
    assert (await _login(url, "alice", PASSWORDS["alice"], "127.0.0.1"))[0] == 200
