"""Which hubs a withdrawal waits for, on a real redis-server: the camera's owner and every hub carrying it through a
relay, whether the relay was there just before the write or only just after it. The owning hub ends its relays on
seeing a withdrawal, so a relaying hub may drop its carrier entry before the withdrawing hub reads the carriers
again; it is still named and still waited for (a CI run once saw it missing from `gates.hubs`)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from hub.routing.redis import RedisRouter
from hub.store.redis import RedisStore
from tests.support.procs import wait_until
from tests.support.redis_server import RedisServer, redis_available

pytestmark = pytest.mark.skipif(not redis_available(), reason="redis-server is not installed (make system-deps)")

CAMERA = "cam-1"


async def _ignore(_: Any) -> None:
    return None


@pytest.fixture
async def routers(redis_server: RedisServer) -> AsyncIterator[dict[str, RedisRouter]]:
    """Hubs A (owns the camera), B (withdraws) and C (relays it), each on its own connection to one Redis."""
    stores: list[RedisStore] = []
    built: dict[str, RedisRouter] = {}
    prefix = f"closure-{time.time_ns()}:"  # the module's server is shared: each test its own keys
    try:
        for name in "abc":
            store = await RedisStore.open(redis_server.url, default_max_grant_seconds=86400, prefix=prefix)
            stores.append(store)
            built[name] = RedisRouter(
                store,
                f"hub-{name}",
                f"http://{name}.invalid",
                owner_ttl=3.0,
                confirm_timeout=0.5,
                lease_seconds=2.0,
                on_change=_ignore,
                on_lost=_ignore,
            )
        for router in built.values():
            router.start()
        # Every router follows the confirmations before a withdrawal waits on them.
        await wait_until(lambda: all(r._closures_ready.is_set() for r in built.values()), 5, "subscriptions")
        assert await built["a"].claim(CAMERA)
        await built["b"].carry(CAMERA)
        await built["c"].carry(CAMERA)
        yield built
    finally:
        for router in built.values():
            await router.close()
        for store in stores:
            await store.close()


async def test_a_relay_that_ends_between_the_write_and_the_read_is_named_and_waited_for(
    routers: dict[str, RedisRouter],
) -> None:
    b, c = routers["b"], routers["c"]
    token = await b.expect_closure(CAMERA)
    # The withdrawal is written; the owner ends C's relay on seeing it, and C drops its carrier entry.
    await c.drop(CAMERA)
    assert await routers["a"]._carrying(CAMERA) == ("hub-a", "hub-b")
    # A and C both applied the withdrawal (version 2); C confirms though it no longer carries the camera.
    await routers["a"].confirm_closed(CAMERA, 2)
    await c.confirm_closed(CAMERA, 2)
    closure = await b.await_closure(token, 2, time.time())
    assert closure.confirmed
    assert sorted(closure.hubs) == ["hub-a", "hub-b", "hub-c"]


async def test_a_carrier_that_never_confirms_leaves_the_withdrawal_unconfirmed_with_its_lease_bound(
    routers: dict[str, RedisRouter],
) -> None:
    b = routers["b"]
    token = await b.expect_closure(CAMERA)
    await routers["c"].drop(CAMERA)  # C went away without applying the withdrawal
    await routers["a"].confirm_closed(CAMERA, 2)
    written_at = time.time()
    closure = await b.await_closure(token, 2, written_at)
    assert not closure.confirmed
    assert closure.closed_by == written_at + 2.0
    assert sorted(closure.hubs) == ["hub-a", "hub-b", "hub-c"]


async def test_a_relay_that_begins_after_the_first_read_is_named_too(routers: dict[str, RedisRouter]) -> None:
    b, c = routers["b"], routers["c"]
    await c.drop(CAMERA)
    token = await b.expect_closure(CAMERA)
    await c.carry(CAMERA)  # a relay opened between the first read and the write
    await routers["a"].confirm_closed(CAMERA, 2)
    await c.confirm_closed(CAMERA, 1)  # an older version does not count
    await c.confirm_closed(CAMERA, 3)
    closure = await b.await_closure(token, 2, time.time())
    assert closure.confirmed and sorted(closure.hubs) == ["hub-a", "hub-b", "hub-c"]
