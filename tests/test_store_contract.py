"""The store contract: every test runs on each backend in `BACKENDS`.

The embedded store runs on a real SQLite file, the shared one on a real redis-server on loopback (one per
module, flushed between tests). Tests take a `store` or, where a restart, the admin CLI or another hub is
simulated, `open_store`: every store it opens shares one backing (the same file, the same Redis).
Backend-specific checks live in tests/test_store_sqlite.py and tests/test_store_redis.py.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from hub.consent.decision import Grant, Pilot
from hub.store.base import Account, Conflict, NotFound, Policy, Role, Store
from hub.store.redis import RedisStore
from hub.store.sqlite import SqliteStore
from tests.support.redis_server import RedisServer

DEFAULT_MAX = 7 * 24 * 3600.0
T0 = 1_700_000_000.0
HOUR = 3600.0

BACKENDS = ["sqlite", "redis"]

OpenStore = Callable[[], Awaitable[Store]]


@pytest.fixture(params=BACKENDS)
async def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[OpenStore]:
    """Opens stores on one shared backing: a restart, the admin CLI on the same file, or another hub."""
    opened: list[Store] = []
    if request.param == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        server.flushall()

        async def open_one() -> Store:
            store = await RedisStore.open(server.url, default_max_grant_seconds=DEFAULT_MAX)
            opened.append(store)
            return store

    else:
        path = tmp_path / "state" / "hub.sqlite3"

        async def open_one() -> Store:
            store = await SqliteStore.open(path, default_max_grant_seconds=DEFAULT_MAX)
            opened.append(store)
            return store

    yield open_one
    for store in opened:
        await store.close()


@pytest.fixture
async def store(open_store: OpenStore) -> Store:
    return await open_store()


async def _resident(store: Store, username: str = "rosa") -> Account:
    return await store.add_account(username, "hash-" + username, Role.RESIDENT, None)


async def _officer(store: Store, username: str = "otto", agency: str = "pd") -> Account:
    if agency not in {a.id for a in await store.list_agencies()}:
        await store.add_agency(agency, agency.upper())
    return await store.add_account(username, "hash-" + username, Role.OFFICER, agency)


async def _camera(store: Store, camera_id: str = "cam-1", owner: Account | None = None) -> str:
    owner = owner or await _resident(store, "owner-of-" + camera_id)
    await store.add_camera(camera_id, owner.id, "Front door", "tok-" + camera_id)
    return camera_id


# -- agencies ---------------------------------------------------------------------------------------------


async def test_agencies_are_added_and_listed_by_id(store: Store) -> None:
    await store.add_agency("sheriff", "County Sheriff")
    pd = await store.add_agency("pd", "City Police")
    assert pd.id == "pd" and pd.name == "City Police"
    assert [a.id for a in await store.list_agencies()] == ["pd", "sheriff"]


async def test_agency_id_is_unique(store: Store) -> None:
    await store.add_agency("pd", "City Police")
    with pytest.raises(Conflict, match="pd"):
        await store.add_agency("pd", "Another")
    assert len(await store.list_agencies()) == 1


# -- accounts ---------------------------------------------------------------------------------------------


async def test_account_round_trip(store: Store) -> None:
    before = await store.list_accounts()
    rosa = await store.add_account("rosa", "argon-hash", Role.RESIDENT, None)
    assert before == []
    assert (rosa.username, rosa.role, rosa.agency_id, rosa.disabled) == ("rosa", Role.RESIDENT, None, False)
    assert rosa.created_at > 0
    assert await store.get_account(rosa.id) == rosa
    assert await store.find_account("rosa") == (rosa, "argon-hash")
    assert await store.list_accounts() == [rosa]


async def test_accounts_get_distinct_ids_and_list_in_order(store: Store) -> None:
    a = await _resident(store, "a")
    b = await store.add_account("b", "h", Role.ADMIN, None)
    c = await _officer(store, "c")
    assert len({a.id, b.id, c.id}) == 3
    assert await store.list_accounts() == sorted([a, b, c], key=lambda acc: acc.id)
    assert c.role is Role.OFFICER and c.agency_id == "pd"


async def test_unknown_accounts_are_not_found(store: Store) -> None:
    with pytest.raises(NotFound, match="account"):
        await store.get_account(12345)
    with pytest.raises(NotFound):
        await store.find_account("nobody")
    with pytest.raises(NotFound, match="account"):
        await store.set_account_disabled(12345, True)
    with pytest.raises(NotFound, match="account"):
        await store.set_password_hash(12345, "h")


async def test_username_is_unique(store: Store) -> None:
    await _resident(store, "rosa")
    with pytest.raises(Conflict, match="rosa"):
        await store.add_account("rosa", "other", Role.ADMIN, None)
    assert len(await store.list_accounts()) == 1


@pytest.mark.parametrize(
    ("role", "agency", "message"),
    [
        (Role.OFFICER, None, "needs an agency"),
        (Role.OFFICER, "ghost", "existing agency"),
        (Role.RESIDENT, "pd", "only officers"),
        (Role.ADMIN, "pd", "only officers"),
    ],
)
async def test_agency_rules_for_accounts(store: Store, role: Role, agency: str | None, message: str) -> None:
    await store.add_agency("pd", "City Police")
    with pytest.raises(ValueError, match=message):
        await store.add_account("x", "h", role, agency)
    assert await store.list_accounts() == []


async def test_disable_and_enable_account(store: Store) -> None:
    officer = await _officer(store)
    disabled = await store.set_account_disabled(officer.id, True)
    assert disabled.disabled and disabled.id == officer.id
    assert (await store.get_account(officer.id)).disabled
    assert (await store.find_account("otto"))[0].disabled
    enabled = await store.set_account_disabled(officer.id, False)
    assert not enabled.disabled
    assert await store.get_account(officer.id) == officer


async def test_set_password_hash(store: Store) -> None:
    rosa = await _resident(store)
    await store.set_password_hash(rosa.id, "new-hash")
    assert await store.find_account("rosa") == (rosa, "new-hash")


# -- sessions ---------------------------------------------------------------------------------------------


async def test_session_round_trip_and_delete(store: Store) -> None:
    rosa = await _resident(store)
    session = await store.add_session("h1", rosa.id, T0, T0 + HOUR)
    assert (session.token_hash, session.account_id, session.created_at, session.expires_at) == (
        "h1",
        rosa.id,
        T0,
        T0 + HOUR,
    )
    assert await store.get_session("h1") == session
    await store.delete_session("h1")
    with pytest.raises(NotFound, match="session"):
        await store.get_session("h1")
    await store.delete_session("h1")  # logging out twice is not an error


async def test_session_rules(store: Store) -> None:
    rosa = await _resident(store)
    await store.add_session("h1", rosa.id, T0, T0 + HOUR)
    with pytest.raises(Conflict):
        await store.add_session("h1", rosa.id, T0, T0 + HOUR)
    with pytest.raises(NotFound, match="account"):
        await store.add_session("h2", 12345, T0, T0 + HOUR)
    with pytest.raises(NotFound):
        await store.get_session("never")


async def test_get_session_returns_expired_sessions(store: Store) -> None:
    rosa = await _resident(store)
    await store.add_session("old", rosa.id, T0 - 2 * HOUR, T0 - HOUR)
    assert (await store.get_session("old")).expires_at == T0 - HOUR


async def test_purge_deletes_only_expired_sessions(store: Store) -> None:
    rosa = await _resident(store)
    await store.add_session("expired", rosa.id, T0 - 2 * HOUR, T0 - HOUR)
    await store.add_session("ends-now", rosa.id, T0 - HOUR, T0)  # the gate treats now >= expiry as expired
    await store.add_session("live", rosa.id, T0, T0 + HOUR)
    assert await store.purge_sessions(T0) == 2
    assert (await store.get_session("live")).expires_at == T0 + HOUR
    for gone in ("expired", "ends-now"):
        with pytest.raises(NotFound):
            await store.get_session(gone)
    assert await store.purge_sessions(T0) == 0


# -- cameras ----------------------------------------------------------------------------------------------


async def test_camera_round_trip(store: Store) -> None:
    rosa = await _resident(store)
    camera = await store.add_camera("cam-1", rosa.id, "Front door", "tok-hash")
    assert (camera.id, camera.owner_id, camera.name) == ("cam-1", rosa.id, "Front door")
    assert camera.created_at > 0
    assert await store.get_camera("cam-1") == camera
    assert await store.camera_for_token("tok-hash") == camera
    assert await store.list_cameras() == [camera]
    assert await store.list_cameras(rosa.id) == [camera]


async def test_list_cameras_by_owner(store: Store) -> None:
    rosa, sam = await _resident(store, "rosa"), await _resident(store, "sam")
    await _camera(store, "b-porch", rosa)
    await _camera(store, "a-yard", sam)
    await _camera(store, "c-gate", rosa)
    assert [c.id for c in await store.list_cameras()] == ["a-yard", "b-porch", "c-gate"]
    assert [c.id for c in await store.list_cameras(rosa.id)] == ["b-porch", "c-gate"]
    assert [c.id for c in await store.list_cameras(sam.id)] == ["a-yard"]
    assert await store.list_cameras(12345) == []


async def test_camera_rules(store: Store) -> None:
    rosa = await _resident(store)
    await store.add_camera("cam-1", rosa.id, "Front door", "tok-1")
    with pytest.raises(Conflict, match="cam-1"):
        await store.add_camera("cam-1", rosa.id, "Again", "tok-2")
    with pytest.raises(Conflict, match="token"):
        await store.add_camera("cam-2", rosa.id, "Back door", "tok-1")
    with pytest.raises(NotFound, match="account"):
        await store.add_camera("cam-3", 12345, "Nobody's", "tok-3")
    with pytest.raises(NotFound, match="cam-9"):
        await store.get_camera("cam-9")
    with pytest.raises(NotFound):
        await store.camera_for_token("tok-2")
    assert [c.id for c in await store.list_cameras()] == ["cam-1"]


async def test_set_device_token_replaces_the_old_one(store: Store) -> None:
    rosa = await _resident(store)
    camera = await store.add_camera("cam-1", rosa.id, "Front door", "tok-old")
    await store.set_device_token("cam-1", "tok-new")
    assert await store.camera_for_token("tok-new") == camera
    with pytest.raises(NotFound):
        await store.camera_for_token("tok-old")
    await store.set_device_token("cam-1", "tok-new")  # setting the same token again is fine


async def test_set_device_token_rules(store: Store) -> None:
    rosa = await _resident(store)
    await store.add_camera("cam-1", rosa.id, "Front door", "tok-1")
    await store.add_camera("cam-2", rosa.id, "Back door", "tok-2")
    with pytest.raises(Conflict, match="token"):
        await store.set_device_token("cam-2", "tok-1")
    with pytest.raises(NotFound, match="cam-9"):
        await store.set_device_token("cam-9", "tok-9")
    assert (await store.camera_for_token("tok-2")).id == "cam-2"


# -- grants -----------------------------------------------------------------------------------------------


async def test_no_grant_until_opt_in(store: Store) -> None:
    await _camera(store)
    assert await store.get_grant("cam-1") is None
    assert await store.get_grant("never-registered") is None
    assert await store.list_grants() == []


@pytest.mark.parametrize("agencies", [None, frozenset(), frozenset({"pd"}), frozenset({"sheriff", "pd"})])
async def test_put_grant_round_trips_agencies(store: Store, agencies: frozenset[str] | None) -> None:
    await _camera(store)
    grant = await store.put_grant("cam-1", T0, T0 + HOUR, agencies)
    assert grant == Grant("cam-1", T0, T0 + HOUR, agencies, None, grant.version)
    assert grant.version > 0
    assert await store.get_grant("cam-1") == grant
    assert await store.list_grants() == [grant]


async def test_put_grant_replaces_and_clears_revocation(store: Store) -> None:
    await _camera(store)
    first = await store.put_grant("cam-1", T0, T0 + HOUR, frozenset({"pd"}))
    revoked = await store.revoke_grant("cam-1", T0 + 60)
    assert revoked is not None and revoked.revoked_at == T0 + 60
    second = await store.put_grant("cam-1", T0 + 120, T0 + 2 * HOUR, None)
    assert second.revoked_at is None and second.agencies is None
    assert second.version > revoked.version > first.version
    assert await store.get_grant("cam-1") == second
    assert await store.list_grants() == [second]


async def test_put_grant_rules(store: Store) -> None:
    await _camera(store)
    with pytest.raises(NotFound, match="cam-9"):
        await store.put_grant("cam-9", T0, T0 + HOUR, None)
    with pytest.raises(ValueError):
        await store.put_grant("cam-1", T0, T0 - 1, None)
    with pytest.raises(ValueError):
        await store.put_grant("cam-1", T0, float("nan"), None)
    assert await store.get_grant("cam-1") is None


async def test_revoke_grant(store: Store) -> None:
    await _camera(store)
    granted = await store.put_grant("cam-1", T0, T0 + HOUR, frozenset({"pd"}))
    revoked = await store.revoke_grant("cam-1", T0 + 10)
    assert revoked is not None and revoked.version > granted.version
    assert revoked == Grant("cam-1", T0, T0 + HOUR, frozenset({"pd"}), T0 + 10, revoked.version)
    assert await store.get_grant("cam-1") == revoked


async def test_revoking_twice_keeps_the_first_withdrawal(store: Store) -> None:
    await _camera(store)
    await store.put_grant("cam-1", T0, T0 + HOUR, None)
    first = await store.revoke_grant("cam-1", T0 + 10)
    marker = await store.change_marker()
    again = await store.revoke_grant("cam-1", T0 + 20)
    assert again == first
    assert await store.get_grant("cam-1") == first
    assert await store.change_marker() == marker


async def test_revoke_without_grant_is_none(store: Store) -> None:
    await _camera(store)
    assert await store.revoke_grant("cam-1", T0) is None
    assert await store.revoke_grant("never-registered", T0) is None
    assert await store.get_grant("cam-1") is None


async def test_list_grants_includes_revoked_by_camera(store: Store) -> None:
    for camera_id in ("cam-b", "cam-a", "cam-c"):
        await _camera(store, camera_id)
        await store.put_grant(camera_id, T0, T0 + HOUR, None)
    await store.revoke_grant("cam-b", T0 + 1)
    grants = await store.list_grants()
    assert [g.camera_id for g in grants] == ["cam-a", "cam-b", "cam-c"]
    assert [g.revoked_at for g in grants] == [None, T0 + 1, None]


# -- pilot and policy -------------------------------------------------------------------------------------


async def test_pilot(store: Store) -> None:
    assert await store.get_pilot() is None
    pilot = await store.set_pilot(T0, T0 + 45 * 24 * HOUR)
    assert pilot == Pilot(T0, T0 + 45 * 24 * HOUR, pilot.version) and pilot.version > 0
    assert await store.get_pilot() == pilot
    ended = await store.set_pilot(T0, T0 + HOUR)
    assert ended.version > pilot.version
    assert await store.get_pilot() == ended


async def test_pilot_window_must_be_sane(store: Store) -> None:
    with pytest.raises(ValueError):
        await store.set_pilot(T0, T0 - 1)
    with pytest.raises(ValueError):
        await store.set_pilot(T0, float("inf"))
    assert await store.get_pilot() is None


async def test_policy_defaults_then_set(store: Store) -> None:
    assert await store.get_policy() == Policy(DEFAULT_MAX, 0)
    policy = await store.set_policy(24 * HOUR)
    assert policy == Policy(24 * HOUR, policy.version) and policy.version > 0
    assert await store.get_policy() == policy


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
async def test_policy_must_be_positive(store: Store, bad: float) -> None:
    with pytest.raises(ValueError):
        await store.set_policy(bad)
    assert await store.get_policy() == Policy(DEFAULT_MAX, 0)


async def test_versions_strictly_increase_across_grants_pilot_and_policy(store: Store) -> None:
    await _camera(store, "cam-1")
    await _camera(store, "cam-2")
    versions = [
        (await store.set_pilot(T0, T0 + 24 * HOUR)).version,
        (await store.put_grant("cam-1", T0, T0 + HOUR, None)).version,
        (await store.set_policy(2 * HOUR)).version,
        (await store.put_grant("cam-2", T0, T0 + HOUR, frozenset({"pd"}))).version,
    ]
    revoked = await store.revoke_grant("cam-1", T0 + 5)
    assert revoked is not None
    versions += [
        revoked.version,
        (await store.set_pilot(T0, T0 + 12 * HOUR)).version,
        (await store.put_grant("cam-1", T0 + 10, T0 + HOUR, None)).version,
        (await store.set_policy(HOUR)).version,
    ]
    assert all(a < b for a, b in itertools.pairwise(versions)), versions


async def test_concurrent_writes_get_distinct_versions(store: Store) -> None:
    camera_ids = [await _camera(store, f"cam-{i}") for i in range(20)]
    grants = await asyncio.gather(*(store.put_grant(c, T0, T0 + HOUR, None) for c in camera_ids))
    assert len({g.version for g in grants}) == len(grants)
    assert sorted(await store.list_grants(), key=lambda g: g.camera_id) == sorted(grants, key=lambda g: g.camera_id)


async def test_two_stores_writing_at_once_share_one_counter(open_store: OpenStore) -> None:
    hub, other = await open_store(), await open_store()
    camera_ids = [await _camera(hub, f"cam-{i}") for i in range(10)]
    writes = [(hub, other)[i % 2].put_grant(c, T0, T0 + HOUR, None) for i, c in enumerate(camera_ids)]
    results = await asyncio.gather(*writes, hub.set_policy(HOUR), other.set_pilot(T0, T0 + HOUR))
    versions = [r.version for r in results]  # type: ignore[attr-defined]
    assert len(set(versions)) == len(versions)
    assert await hub.change_marker() == await other.change_marker() == max(versions)


async def test_times_round_trip_exactly(store: Store) -> None:
    # Not rounded anywhere on the way (Redis's Lua JSON would keep only 14 significant digits).
    starts, ends, at = T0 + 1 / 3, T0 + HOUR + 0.123456789, T0 + 1e-6
    await _camera(store)
    officer = await _officer(store)
    await store.put_grant("cam-1", starts, ends, frozenset({"pd"}))
    revoked = await store.revoke_grant("cam-1", at)
    assert revoked is not None
    assert await store.get_grant("cam-1") == Grant("cam-1", starts, ends, frozenset({"pd"}), at, revoked.version)
    pilot = await store.set_pilot(starts, ends)
    assert await store.get_pilot() == pilot
    policy = await store.set_policy(HOUR / 7)
    assert await store.get_policy() == policy
    session = await store.add_session("s1", officer.id, starts, ends)
    assert await store.get_session("s1") == session


async def test_a_cancelled_write_leaves_the_store_usable(store: Store) -> None:
    # Cancel a write at every point it can be suspended: afterwards its grant is either absent or whole,
    # and the next write still works (no transaction left open on a shared connection).
    for turns in range(12):
        camera_id = await _camera(store, f"cam-{turns}")
        task = asyncio.create_task(store.put_grant(camera_id, T0, T0 + HOUR, frozenset({"pd"})))
        for _ in range(turns):
            await asyncio.sleep(0)  # one turn of the event loop, not a wait
        if task.cancel():
            with pytest.raises(asyncio.CancelledError):
                await task
        else:
            await task  # a fast backend (Redis on loopback) finished the write before it could be cancelled
        await store.set_policy(HOUR + turns)
        grant = await store.get_grant(camera_id)
        assert grant is None or grant == Grant(camera_id, T0, T0 + HOUR, frozenset({"pd"}), None, grant.version)
        assert (await store.get_policy()).max_grant_seconds == HOUR + turns


# -- change marker ----------------------------------------------------------------------------------------


async def test_change_marker_moves_on_every_consent_relevant_write(store: Store) -> None:
    rosa = await _resident(store)
    officer = await _officer(store)
    await store.add_session("s1", officer.id, T0, T0 + HOUR)

    async def moved(write: Awaitable[object]) -> bool:
        before = await store.change_marker()
        await write
        return await store.change_marker() > before

    assert await moved(store.add_camera("cam-1", rosa.id, "Front door", "tok-1"))
    assert await moved(store.set_device_token("cam-1", "tok-2"))
    assert await moved(store.set_pilot(T0, T0 + 24 * HOUR))
    assert await moved(store.set_policy(HOUR))
    assert await moved(store.put_grant("cam-1", T0, T0 + HOUR, None))
    assert await moved(store.revoke_grant("cam-1", T0 + 1))
    assert await moved(store.set_account_disabled(officer.id, True))
    assert await moved(store.set_account_disabled(officer.id, False))
    assert await moved(store.delete_session("s1"))


async def test_change_marker_stays_on_reads(store: Store) -> None:
    await _camera(store)
    await store.put_grant("cam-1", T0, T0 + HOUR, None)
    marker = await store.change_marker()
    await store.get_grant("cam-1")
    await store.list_grants()
    await store.get_pilot()
    await store.get_policy()
    await store.list_cameras()
    assert await store.change_marker() == marker


async def test_another_process_writing_moves_the_marker(open_store: OpenStore) -> None:
    hub = await open_store()
    cli = await open_store()  # the admin CLI or another hub: a separate connection to the same backing
    rosa = await _resident(cli)
    await cli.add_camera("cam-1", rosa.id, "Front door", "tok-1")

    seen = await hub.change_marker()
    await cli.set_pilot(T0, T0 + 24 * HOUR)
    assert await hub.change_marker() > seen
    assert (await hub.get_pilot()) == (await cli.get_pilot())

    seen = await hub.change_marker()
    granted = await cli.put_grant("cam-1", T0, T0 + HOUR, None)
    assert await hub.change_marker() > seen
    assert await hub.get_grant("cam-1") == granted

    seen = await hub.change_marker()
    await cli.set_account_disabled(rosa.id, True)
    assert await hub.change_marker() > seen
    assert (await hub.get_account(rosa.id)).disabled


async def test_two_connections_share_one_version_counter(open_store: OpenStore) -> None:
    hub, cli = await open_store(), await open_store()
    await _camera(hub)
    versions = [
        (await hub.put_grant("cam-1", T0, T0 + HOUR, None)).version,
        (await cli.set_pilot(T0, T0 + HOUR)).version,
        (await hub.set_policy(HOUR)).version,
        (await cli.put_grant("cam-1", T0, T0 + 2 * HOUR, None)).version,
    ]
    assert versions == sorted(set(versions))
    assert await hub.get_grant("cam-1") == await cli.get_grant("cam-1")


# -- restart ----------------------------------------------------------------------------------------------


async def test_restart_keeps_accounts_cameras_grants_and_the_pilot(open_store: OpenStore) -> None:
    first = await open_store()
    rosa = await _resident(first)
    officer = await _officer(first)
    camera = await first.add_camera("cam-1", rosa.id, "Front door", "tok-1")
    pilot = await first.set_pilot(T0, T0 + 24 * HOUR)
    policy = await first.set_policy(2 * HOUR)
    grant = await first.put_grant("cam-1", T0, T0 + HOUR, frozenset({"pd"}))
    session = await first.add_session("s1", officer.id, T0, T0 + HOUR)
    marker = await first.change_marker()
    await first.close()

    again = await open_store()
    assert await again.list_accounts() == [rosa, officer]
    assert await again.find_account("rosa") == (rosa, "hash-rosa")
    assert [a.id for a in await again.list_agencies()] == ["pd"]
    assert await again.get_camera("cam-1") == camera
    assert await again.camera_for_token("tok-1") == camera
    assert await again.get_pilot() == pilot
    assert await again.get_policy() == policy
    assert await again.get_grant("cam-1") == grant
    assert await again.get_session("s1") == session
    assert await again.change_marker() == marker
    # Versions keep growing after a restart: a reloading hub never mistakes a new write for an old one.
    revoked = await again.revoke_grant("cam-1", T0 + 1)
    assert revoked is not None and revoked.version > marker


async def test_close_is_idempotent(store: Store) -> None:
    await store.close()
    await store.close()
