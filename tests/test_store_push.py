"""The store's notification seam (`hub.store.push_base.PushStore`) on both stores: the contract suite's fixtures,
a real SQLite file and a real redis-server."""

from __future__ import annotations

import asyncio

import pytest

from hub.auth.tokens import hash_token
from hub.notify.setup import push_store
from hub.store.base import NotFound, RequestState, Role, Store
from hub.store.push_base import ANSWER_TOKEN_KEEP_SECONDS, MAX_PUSH_PER_ACCOUNT, AnswerCheck, AnswerToken, PushStore
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


# -- answer tokens ------------------------------------------------------------------------------------------

PHONE, DESK = "https://push.example/phone", "https://push.example/desk"


async def _two_requests(store: Store) -> tuple[int, int, int]:
    """Rosa's camera, two pending requests for it (expiring at T0 + 900), her phone and desk subscribed."""
    rosa, _ = await _accounts(store)
    otto = await contract._officer(store)
    camera = await contract._camera(store, owner=await store.get_account(rosa))
    first, second = [
        await store.add_access_request(camera, otto.id, "C-1", "why", 900, False, T0, T0 + 900) for _ in range(2)
    ]
    for endpoint in (PHONE, DESK):
        await _push(store).add_push_subscription(rosa, endpoint, "k", "a", T0)
    return rosa, first.id, second.id


async def test_an_answer_token_is_spent_once_and_spends_its_requests_others(store: Store) -> None:
    rosa, first, second = await _two_requests(store)
    push = _push(store)
    await push.add_answer_token(hash_token("phone"), first, rosa, PHONE, T0 + 900, T0)
    await push.add_answer_token(hash_token("desk"), first, rosa, DESK, T0 + 900, T0)
    await push.add_answer_token(hash_token("other"), second, rosa, PHONE, T0 + 900, T0)
    # A token for another request, or no token at all, spends nothing.
    assert await push.spend_answer_token(hash_token("other"), first, T0 + 1) == (
        AnswerCheck.OTHER_REQUEST, AnswerToken(second, rosa, PHONE, T0 + 900)
    )  # fmt: skip
    assert await push.spend_answer_token(hash_token("guess"), first, T0 + 1) == (AnswerCheck.UNKNOWN, None)
    assert await push.spend_answer_token(hash_token("phone"), first, T0 + 2) == (
        AnswerCheck.OK, AnswerToken(first, rosa, PHONE, T0 + 900)
    )  # fmt: skip
    # Replayed, or the desk's for the same request: used, and when.
    check, token = await push.spend_answer_token(hash_token("phone"), first, T0 + 3)
    assert (check, token and token.spent_at) == (AnswerCheck.USED, T0 + 2)
    check, token = await push.spend_answer_token(hash_token("desk"), first, T0 + 3)
    assert (check, token and token.spent_at) == (AnswerCheck.USED, T0 + 2)
    # The other request's token is untouched.
    assert (await push.spend_answer_token(hash_token("other"), second, T0 + 4))[0] is AnswerCheck.OK


async def test_racing_spends_of_one_requests_tokens_exactly_one_wins(store: Store) -> None:
    rosa, first, _ = await _two_requests(store)
    push = _push(store)
    await push.add_answer_token(hash_token("phone"), first, rosa, PHONE, T0 + 900, T0)
    await push.add_answer_token(hash_token("desk"), first, rosa, DESK, T0 + 900, T0)
    tries = [push.spend_answer_token(hash_token(name), first, T0 + 1) for name in ("phone", "desk", "phone") * 3]
    checks = [check for check, _ in await asyncio.gather(*tries)]
    assert sorted(checks) == sorted([AnswerCheck.OK] + [AnswerCheck.USED] * 8)


async def test_an_answer_token_expires_with_its_request_and_needs_its_subscription(store: Store) -> None:
    rosa, first, second = await _two_requests(store)
    push = _push(store)
    await push.add_answer_token(hash_token("phone"), first, rosa, PHONE, T0 + 900, T0)
    await push.add_answer_token(hash_token("desk"), second, rosa, DESK, T0 + 900, T0)
    assert (await push.spend_answer_token(hash_token("phone"), first, T0 + 900))[0] is AnswerCheck.EXPIRED
    await push.delete_push_subscription(DESK, rosa)  # "Turn off" on that device
    assert (await push.spend_answer_token(hash_token("desk"), second, T0 + 1))[0] is AnswerCheck.UNSUBSCRIBED
    await push.add_push_subscription(rosa, DESK, "k", "a", T0 + 2)  # subscribed again: the same browser
    assert (await push.spend_answer_token(hash_token("desk"), second, T0 + 3))[0] is AnswerCheck.OK


async def test_an_answer_on_the_page_spends_every_token_of_the_request(store: Store) -> None:
    rosa, first, second = await _two_requests(store)
    push = _push(store)
    await push.add_answer_token(hash_token("phone"), first, rosa, PHONE, T0 + 900, T0)
    await push.add_answer_token(hash_token("desk"), first, rosa, DESK, T0 + 900, T0)
    await push.add_answer_token(hash_token("other"), second, rosa, PHONE, T0 + 900, T0)
    await store.answer_access_request(first, RequestState.DECLINED, T0 + 1)
    assert await push.spend_answer_tokens(first, T0 + 1) == 2
    assert await push.spend_answer_tokens(first, T0 + 2) == 0
    assert (await push.spend_answer_token(hash_token("desk"), first, T0 + 3))[0] is AnswerCheck.USED
    assert (await push.spend_answer_token(hash_token("other"), second, T0 + 3))[0] is AnswerCheck.OK


async def test_answer_tokens_need_a_known_request_and_account_and_are_forgotten_a_day_after(store: Store) -> None:
    rosa, first, _ = await _two_requests(store)
    push = _push(store)
    with pytest.raises(NotFound):
        await push.add_answer_token(hash_token("x"), 999, rosa, PHONE, T0 + 900, T0)
    with pytest.raises(NotFound):
        await push.add_answer_token(hash_token("x"), first, 999, PHONE, T0 + 900, T0)
    await push.add_answer_token(hash_token("old"), first, rosa, PHONE, T0 + 900, T0)
    # SQLite forgets it when a later token is kept; Redis by the key's expiry (checked on its TTL, not waited for).
    later = T0 + 900 + ANSWER_TOKEN_KEEP_SECONDS + 1
    await push.add_answer_token(hash_token("new"), first, rosa, PHONE, later + 900, later)
    redis = getattr(store, "_r", None)
    if redis is None:
        assert (await push.spend_answer_token(hash_token("old"), first, later))[0] is AnswerCheck.UNKNOWN
    else:
        key = f"{store._keys.prefix}answer-token:{hash_token('old')}"  # type: ignore[attr-defined]
        assert (
            (900 + ANSWER_TOKEN_KEEP_SECONDS - 60) * 1000
            < await redis.pttl(key)
            <= (900 + ANSWER_TOKEN_KEEP_SECONDS) * 1000
        )
