"""The store's bars seam (`hub.store.view_bars_base.ViewBarStore`) on both stores: the contract suite's fixtures,
a real SQLite file and a real redis-server. A bar holds for the grant current when it was written (named by its
starts_at), survives that grant's audio changes, is not written without a live grant, moves the change marker and
is seen by every store on the same backing (another hub)."""

from __future__ import annotations

import math
import time

import pytest

from hub.consent.decision import Grant, Officer, Reason
from hub.consent.gate import OfficerPass
from hub.consent.registry import GateRegistry
from hub.store.base import NotFound, Role, Store
from hub.store.view_bars_base import ViewBar
from tests import test_store_contract as contract

# The contract suite's fixtures: each test runs on a real SQLite file and on a real redis-server.
open_store, store = contract.open_store, contract.store

T0 = 1_700_000_000.123456  # not a round number: a grant's starts_at must come back exactly
HOUR = 3600.0


async def _setup(store: Store, t0: float = T0) -> tuple[int, int]:
    """A camera of a resident's, opted in from `t0` for eight hours; two officers. Their account ids."""
    owner = await store.add_account("rosa", "hash", Role.RESIDENT, None)
    await store.add_agency("metro", "Metro")
    olivia = await store.add_account("olivia", "hash", Role.OFFICER, "metro")
    oscar = await store.add_account("oscar", "hash", Role.OFFICER, "metro")
    await store.add_camera("cam", owner.id, "Cam", "token-hash")
    await store.set_pilot(t0 - HOUR, t0 + 100 * HOUR, t0 - HOUR)
    await store.put_grant("cam", t0, t0 + 8 * HOUR, None)
    return olivia.id, oscar.id


async def test_a_bar_holds_for_the_current_grant_and_moves_the_marker(open_store: contract.OpenStore) -> None:
    store, other_hub = await open_store(), await open_store()
    olivia, _ = await _setup(store)
    marker = await store.change_marker()
    bar = await store.bar_viewer("cam", olivia, T0 + 60)
    assert bar == ViewBar("cam", olivia, T0, T0 + 60, T0 + 8 * HOUR)
    assert await store.change_marker() > marker  # every hub reloads and refuses the officer
    assert await other_hub.list_view_bars(T0 + 61) == [bar]  # one officer only: the other is not barred
    again = await store.bar_viewer("cam", olivia, T0 + 120)  # one bar per officer and camera, the latest
    assert await store.list_view_bars(T0 + 121) == [again] and again is not None and again.at == T0 + 120
    assert await store.list_view_bars(T0 + 8 * HOUR) == []  # forgotten once the grant has ended


async def test_an_audio_change_keeps_the_grant_a_new_grant_replaces_it(store: Store) -> None:
    olivia, oscar = await _setup(store)
    await store.bar_viewer("cam", olivia, T0 + 60)
    audio = await store.set_grant_audio("cam", True)
    assert audio is not None and audio.starts_at == T0  # the grant's identity: unchanged by audio
    [bar] = await store.list_view_bars(T0 + 61)
    assert bar.grant_starts_at == audio.starts_at
    # A new opt-in (a new grant): the old bar no longer names the camera's grant, and is dropped with the next.
    fresh = await store.put_grant("cam", T0 + 600, T0 + 2 * HOUR, None)
    assert [b.grant_starts_at for b in await store.list_view_bars(T0 + 601)] == [T0]  # stale: readers match it
    assert fresh.starts_at != bar.grant_starts_at
    new = await store.bar_viewer("cam", oscar, T0 + 700)
    assert new is not None and new.grant_starts_at == T0 + 600 and new.until == T0 + 2 * HOUR
    assert await store.list_view_bars(T0 + 701) == [new]  # olivia's bar of the replaced grant is gone


async def test_no_bar_without_a_live_grant(store: Store) -> None:
    olivia, _ = await _setup(store)
    assert await store.bar_viewer("cam", olivia, T0 + 8 * HOUR) is None  # ended
    assert await store.bar_viewer("unknown-cam", olivia, T0) is None  # no grant at all
    await store.revoke_grant("cam", T0 + 60)
    marker = await store.change_marker()
    assert await store.bar_viewer("cam", olivia, T0 + 120) is None  # withdrawn
    assert await store.change_marker() == marker and await store.list_view_bars(T0) == []
    with pytest.raises(NotFound):
        await store.bar_viewer("cam", 999, T0 + 60)
    with pytest.raises(ValueError):
        await store.bar_viewer("cam", olivia, float("nan"))


async def test_another_hubs_gates_refuse_the_officer_after_its_reload(open_store: contract.OpenStore) -> None:
    """What a hub that did not write the bar does with it: its reload (on the change the bar announced) closes its
    gate to that officer alone, through audio changes of the grant, until a new grant."""
    store, other_hub = await open_store(), await open_store()
    t0 = time.time()  # a hub reads the bars kept now
    olivia, oscar = await _setup(store, t0)
    registry = GateRegistry()
    passes = {who: OfficerPass(f"s{who}", Officer(who, "metro", True, True, math.inf)) for who in (olivia, oscar)}
    await store.bar_viewer("cam", olivia, t0 + 60)
    await registry.reload(other_hub)
    registry.renew(math.inf)
    gate = registry.gate("cam")
    assert gate.admit(t0 + 61, passes[olivia]) is Reason.STOPPED_BY_OWNER
    assert gate.admit(t0 + 61, passes[oscar]) is Reason.OK
    registry.apply_grant(await store.set_grant_audio("cam", True), "cam")  # as `hub.sync.apply_change` does
    await registry.reload(other_hub)
    assert gate.admit(t0 + 62, passes[olivia]) is Reason.STOPPED_BY_OWNER
    registry.apply_grant(await store.put_grant("cam", t0 + 600, t0 + 2 * HOUR, None), "cam")
    assert gate.admit(t0 + 601, passes[olivia]) is Reason.OK  # a new grant: the bar no longer applies
    await registry.reload(other_hub)
    assert gate.admit(t0 + 602, passes[olivia]) is Reason.OK


def test_a_bar_made_here_holds_before_the_store_answers_and_goes_with_the_grant() -> None:
    """This hub's own bar (made in memory before the store write) holds through a reload that reads no bar, and is
    forgotten once the camera's grant is replaced."""
    registry = GateRegistry()
    registry.renew(math.inf)
    assert not registry.bar("cam", 2)  # no grant known: nothing to bar (nothing admits anyone)
    registry.apply_grant(Grant("cam", T0, T0 + HOUR, None, version=3), "cam")
    assert registry.bar("cam", 2)
    assert registry.gate("cam").state.barred == frozenset({2})
    registry.apply_grant(Grant("cam", T0, T0 + HOUR, None, version=4, audio=True), "cam")  # the same grant
    assert registry.gate("cam").state.barred == frozenset({2})
    registry.apply_grant(Grant("cam", T0 + 5, T0 + HOUR, None, version=5), "cam")  # a new one
    assert registry.gate("cam").state.barred == frozenset()
