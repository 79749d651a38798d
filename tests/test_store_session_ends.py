"""The store's notes of how sessions ended (`hub.store.session_ends_base.SessionEndStore`) on both stores: the
contract suite's fixtures, a real SQLite file and a real redis-server."""

from __future__ import annotations

import time

from hub.store.base import Role
from hub.store.session_ends_base import EndedBecause, SessionEnd
from tests import test_store_contract as contract
from tests.test_store_contract import OpenStore

open_store = contract.open_store  # the contract suite's fixture: both backends

HOUR = 3600.0


async def test_a_note_says_why_and_when_until_it_is_forgotten(open_store: OpenStore) -> None:
    store = await open_store()
    # Real time: Redis forgets a note by its own clock (a TTL).
    now = time.time()
    assert await store.session_end("h-none", now) is None
    await store.note_session_end("h-1", EndedBecause.IDLE, now - 5, now + HOUR)
    assert await store.session_end("h-1", now) == SessionEnd(EndedBecause.IDLE, now - 5)
    await store.note_session_end("h-1", EndedBecause.LOGGED_OUT, now, now + HOUR)  # a later note replaces it
    assert await store.session_end("h-1", now) == SessionEnd(EndedBecause.LOGGED_OUT, now)
    await store.note_session_end("h-2", EndedBecause.LIMIT, now, now + 0.05)
    deadline = time.monotonic() + 5
    while await store.session_end("h-2", time.time()) is not None:
        assert time.monotonic() < deadline, "the note was never forgotten"
    assert await store.session_end("h-1", time.time()) is not None  # the other stays


async def test_the_sessions_of_an_account_are_noted_before_they_go(open_store: OpenStore) -> None:
    store = await open_store()
    now = time.time()
    rosa = await store.add_account("rosa", "hash", Role.RESIDENT, None)
    ray = await store.add_account("ray", "hash", Role.RESIDENT, None)
    for token_hash, account in (("r-1", rosa), ("r-2", rosa), ("y-1", ray)):
        await store.add_session(token_hash, account.id, now, now + HOUR)
    assert await store.note_session_ends_of(rosa.id, EndedBecause.BY_ADMIN, now, now + HOUR) == 2
    await store.delete_sessions_of(rosa.id)
    for token_hash in ("r-1", "r-2"):
        assert await store.session_end(token_hash, now) == SessionEnd(EndedBecause.BY_ADMIN, now)
    assert await store.session_end("y-1", now) is None
    assert await store.note_session_ends_of(rosa.id, EndedBecause.BY_ADMIN, now, now + HOUR) == 0
