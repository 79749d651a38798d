"""The store's notification seam (`hub.store.push_base.PushStore`) on both stores: the contract suite's fixtures,
a real SQLite file and a real redis-server."""

from __future__ import annotations

import pytest

from hub.notify.setup import push_store
from hub.store.base import NotFound, Role, Store
from hub.store.push_base import MAX_PUSH_PER_ACCOUNT, PushStore
from tests import test_store_contract as contract

# The contract suite's fixtures: each test runs on a real SQLite file and on a real redis-server.
open_store, store = contract.open_store, contract.store

T0 = 1_700_000_000.0


def _push(store: Store) -> PushStore:
    return push_store(store)


async def _accounts(store: Store) -> tuple[int, int]:
    rosa = await store.add_account("rosa", "hash", Role.RESIDENT, None)
    ray = await store.add_account("ray", "hash", Role.RESIDENT, None)
    return rosa.id, ray.id


async def test_subscriptions_are_kept_per_account_oldest_first(store: Store) -> None:
    rosa, ray = await _accounts(store)
    push = _push(store)
    phone = await push.add_push_subscription(rosa, "https://push.example/a", "key-a", "auth-a", T0)
    await push.add_push_subscription(rosa, "https://push.example/b", "key-b", "auth-b", T0 + 1)
    await push.add_push_subscription(ray, "https://push.example/c", "key-c", "auth-c", T0 + 2)
    mine = await push.list_push_subscriptions(rosa)
    assert [s.endpoint for s in mine] == ["https://push.example/a", "https://push.example/b"]
    assert mine[0] == phone and (phone.p256dh, phone.auth, phone.created_at) == ("key-a", "auth-a", T0)
    assert [s.endpoint for s in await push.list_push_subscriptions(ray)] == ["https://push.example/c"]


async def test_the_same_endpoint_again_replaces_it_even_from_another_account(store: Store) -> None:
    rosa, ray = await _accounts(store)
    push = _push(store)
    await push.add_push_subscription(rosa, "https://push.example/a", "old", "old", T0)
    await push.add_push_subscription(rosa, "https://push.example/a", "new", "new", T0 + 1)
    assert [(s.p256dh, s.created_at) for s in await push.list_push_subscriptions(rosa)] == [("new", T0 + 1)]
    await push.add_push_subscription(ray, "https://push.example/a", "ray", "ray", T0 + 2)
    assert await push.list_push_subscriptions(rosa) == []
    assert [s.p256dh for s in await push.list_push_subscriptions(ray)] == ["ray"]


async def test_an_account_keeps_at_most_the_cap_dropping_the_oldest(store: Store) -> None:
    rosa, _ = await _accounts(store)
    push = _push(store)
    for n in range(MAX_PUSH_PER_ACCOUNT + 2):
        await push.add_push_subscription(rosa, f"https://push.example/{n}", "k", "a", T0 + n)
    kept = [s.endpoint for s in await push.list_push_subscriptions(rosa)]
    assert kept == [f"https://push.example/{n}" for n in range(2, MAX_PUSH_PER_ACCOUNT + 2)]


async def test_delete_by_endpoint_only_for_its_account_when_named(store: Store) -> None:
    rosa, ray = await _accounts(store)
    push = _push(store)
    await push.add_push_subscription(rosa, "https://push.example/a", "k", "a", T0)
    assert not await push.delete_push_subscription("https://push.example/a", ray)
    assert not await push.delete_push_subscription("https://push.example/unknown")
    assert len(await push.list_push_subscriptions(rosa)) == 1
    assert await push.delete_push_subscription("https://push.example/a", rosa)
    await push.add_push_subscription(rosa, "https://push.example/b", "k", "a", T0)
    assert await push.delete_push_subscription("https://push.example/b")  # a push service's 410 names no account
    assert await push.list_push_subscriptions(rosa) == []


async def test_unknown_account_is_refused(store: Store) -> None:
    push = _push(store)
    with pytest.raises(NotFound):
        await push.add_push_subscription(999, "https://push.example/a", "k", "a", T0)
    with pytest.raises(NotFound):
        await push.set_account_email(999, "x@example.org")


async def test_email_is_set_replaced_and_cleared(store: Store) -> None:
    rosa, ray = await _accounts(store)
    push = _push(store)
    assert await push.get_account_email(rosa) is None
    await push.set_account_email(rosa, "rosa@example.org")
    await push.set_account_email(rosa, "rosa@home.example")
    assert await push.get_account_email(rosa) == "rosa@home.example"
    assert await push.get_account_email(ray) is None
    await push.set_account_email(rosa, None)
    assert await push.get_account_email(rosa) is None
