"""The store contract: every test runs on each backend in `BACKENDS`.

The embedded store runs on a real SQLite file, the shared one on a real redis-server on loopback (one per
module, flushed between tests). Tests take a `store` or, where a restart, the admin CLI or another hub is
simulated, `open_store`: every store it opens shares one backing (the same file, the same Redis).
Backend-specific checks live in tests/test_store_sqlite.py and tests/test_store_redis.py.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import pytest

from hub.consent.decision import Grant, Pilot
from hub.store.base import (
    AccessRequest,
    Account,
    Camera,
    Conflict,
    EnrolmentCheck,
    NotFound,
    Policy,
    RequestState,
    Role,
    Session,
    Store,
)
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
    assert await store.get_account(officer.id) == replace(officer, version=enabled.version) == enabled


async def test_disabling_takes_a_version_from_the_shared_counter(store: Store) -> None:
    # Item 18 of issue 14: a hub applies an account change only if its version is newer than the one it holds,
    # so every disable and enable must take a fresh version, and a write that changes nothing must not.
    officer, rosa = await _officer(store), await _resident(store)
    assert (officer.version, rosa.version) == (0, 0)  # never disabled or enabled
    assert (await store.get_account(officer.id)).version == 0
    camera_id = await _camera(store)
    granted = await store.put_grant(camera_id, T0, T0 + HOUR, None)
    disabled = await store.set_account_disabled(officer.id, True)
    assert disabled.version > granted.version
    assert disabled.version == await store.change_marker()
    assert await store.get_account(officer.id) == disabled
    assert (await store.find_account("otto"))[0] == disabled
    assert [a for a in await store.list_accounts() if a.id == officer.id] == [disabled]
    # Unchanged: the same version, and the change marker stays.
    assert await store.set_account_disabled(officer.id, True) == disabled
    assert await store.change_marker() == disabled.version
    # Each change raises it, above every other write's.
    masks = await store.set_camera_masks(camera_id, MASKS)
    enabled = await store.set_account_disabled(officer.id, False)
    assert enabled.version > masks > disabled.version
    assert not enabled.disabled and await store.get_account(officer.id) == enabled
    again = await store.set_account_disabled(officer.id, True)
    assert again.version > enabled.version
    # One account's version is its own.
    assert (await store.get_account(rosa.id)).version == 0


async def test_account_versions_are_seen_by_another_store_and_kept_across_a_restart(open_store: OpenStore) -> None:
    hub, cli = await open_store(), await open_store()
    officer = await _officer(hub)
    disabled = await cli.set_account_disabled(officer.id, True)
    assert await hub.get_account(officer.id) == disabled
    # Of two stores writing the same flag at once, one changes it; both answer with that one version.
    both = await asyncio.gather(
        hub.set_account_disabled(officer.id, False), cli.set_account_disabled(officer.id, False)
    )
    assert both[0] == both[1] and both[0].version > disabled.version
    await hub.close()
    await cli.close()
    again = await open_store()
    assert await again.get_account(officer.id) == both[0]
    assert (await again.set_account_disabled(officer.id, True)).version > both[0].version


async def test_set_password_hash(store: Store) -> None:
    rosa = await _resident(store)
    await store.set_password_hash(rosa.id, "new-hash")
    assert await store.find_account("rosa") == (rosa, "new-hash")


# -- lock-out after failed log-ins ------------------------------------------------------------------------

WINDOW = 15 * 60.0


async def test_new_accounts_have_no_second_factor_and_no_lock(store: Store) -> None:
    rosa = await _resident(store)
    assert not rosa.mfa_enrolled
    assert not hasattr(rosa, "locked")  # failed log-ins slow guessing (hub.auth.guessing); nothing locks
    assert await store.get_account(rosa.id) == rosa
    assert await store.get_totp(rosa.id) == (None, -1)


async def test_login_failures_are_counted_within_the_window(store: Store) -> None:
    rosa, sam = await _resident(store, "rosa"), await _resident(store, "sam")
    assert [await store.record_login_failure(rosa.id, T0 + t, WINDOW) for t in (0, 10, 20)] == [1, 2, 3]
    assert await store.record_login_failure(sam.id, T0 + 30, WINDOW) == 1  # per account
    # (now - window, now]: the failure at T0 is exactly `window` old and no longer counts.
    assert await store.record_login_failure(rosa.id, T0 + WINDOW, WINDOW) == 3
    assert await store.record_login_failure(rosa.id, T0 + WINDOW + 15, WINDOW) == 3
    assert await store.record_login_failure(rosa.id, T0 + 10 * WINDOW, WINDOW) == 1
    assert await store.record_login_failure(sam.id, T0 + 10 * WINDOW + 1, WINDOW) == 1
    # Failures at the same instant are each counted.
    assert await store.record_login_failure(sam.id, T0 + 10 * WINDOW + 1, WINDOW) == 2


async def test_login_failures_are_counted_in_the_window_given(store: Store) -> None:
    rosa = await _resident(store)
    for t in (0, 100, 200):
        await store.record_login_failure(rosa.id, T0 + t, HOUR)
    assert await store.record_login_failure(rosa.id, T0 + 250, 120.0) == 2  # T0 + 200 and this one


async def test_failures_recorded_at_once_by_two_hubs_each_count(open_store: OpenStore) -> None:
    hub, other = await open_store(), await open_store()
    rosa = await _resident(hub)
    counts = await asyncio.gather(*((hub, other)[i % 2].record_login_failure(rosa.id, T0, WINDOW) for i in range(10)))
    assert sorted(counts) == list(range(1, 11))


async def test_clear_login_failures(store: Store) -> None:
    rosa, sam = await _resident(store, "rosa"), await _resident(store, "sam")
    await store.record_login_failure(rosa.id, T0, WINDOW)
    await store.record_login_failure(rosa.id, T0 + 1, WINDOW)
    await store.record_login_failure(sam.id, T0 + 1, WINDOW)
    await store.clear_login_failures(rosa.id)
    await store.clear_login_failures(rosa.id)  # nothing to clear is fine
    assert await store.record_login_failure(rosa.id, T0 + 2, WINDOW) == 1
    assert await store.record_login_failure(sam.id, T0 + 2, WINDOW) == 2


async def test_counting_login_failures_reads_without_counting(store: Store) -> None:
    officer, rosa = await _officer(store), await _resident(store)
    assert await store.count_login_failures(officer.id, T0, WINDOW) == 0
    for t in range(3):
        await store.record_login_failure(officer.id, T0 + t, WINDOW)
    # (now - window, now], as record_login_failure counts, and reading twice counts nothing.
    assert await store.count_login_failures(officer.id, T0 + 2, WINDOW) == 3
    assert await store.count_login_failures(officer.id, T0 + 2, WINDOW) == 3
    assert await store.count_login_failures(officer.id, T0 + WINDOW, WINDOW) == 2
    assert await store.count_login_failures(officer.id, T0 + 10, 9.5) == 2  # in the window given
    assert await store.count_login_failures(officer.id, T0 + 10 * WINDOW, WINDOW) == 0
    assert await store.count_login_failures(officer.id, T0 - 1, WINDOW) == 0  # none yet then
    assert await store.count_login_failures(rosa.id, T0 + 2, WINDOW) == 0  # per account
    assert await store.record_login_failure(officer.id, T0 + 3, WINDOW) == 4
    # Failures never lock: the account is as it was, and clearing them (a log-in, an admin) starts over.
    assert await store.get_account(officer.id) == officer
    assert [a for a in await store.list_accounts() if a.id == officer.id] == [officer]
    await store.clear_login_failures(officer.id)
    assert await store.count_login_failures(officer.id, T0 + 4, WINDOW) == 0
    assert await store.record_login_failure(officer.id, T0 + 4, WINDOW) == 1


async def test_login_failure_rules(store: Store) -> None:
    rosa = await _resident(store)
    with pytest.raises(NotFound, match="account"):
        await store.record_login_failure(12345, T0, WINDOW)
    with pytest.raises(NotFound, match="account"):
        await store.clear_login_failures(12345)
    assert await store.count_login_failures(12345, T0, WINDOW) == 0
    for now, window in [(T0, 0.0), (T0, -1.0), (T0, float("nan")), (float("inf"), WINDOW), (float("nan"), WINDOW)]:
        with pytest.raises(ValueError):
            await store.record_login_failure(rosa.id, now, window)
        with pytest.raises(ValueError):
            await store.count_login_failures(rosa.id, now, window)
    assert await store.record_login_failure(rosa.id, T0, WINDOW) == 1


# -- TOTP second factor -------------------------------------------------------------------------------------

SECRET = "JBSWY3DPEHPK3PXP"
STEP = int(T0 // 30)


async def test_totp_enrolment_round_trip(store: Store) -> None:
    officer = await _officer(store)
    started = await store.set_totp(officer.id, SECRET, enrolled=False)
    assert started == officer  # a secret being enrolled is not yet a second factor
    assert await store.get_totp(officer.id) == (SECRET, -1)
    assert await store.use_totp_step(officer.id, STEP)
    confirmed = await store.set_totp(officer.id, SECRET, enrolled=True)
    assert confirmed.mfa_enrolled and confirmed.id == officer.id and not confirmed.disabled
    assert await store.get_account(officer.id) == confirmed
    assert (await store.find_account("otto"))[0].mfa_enrolled
    assert await store.get_totp(officer.id) == (SECRET, -1)  # set_totp forgets the last step used


async def test_a_totp_step_is_accepted_once_and_never_an_older_one(store: Store) -> None:
    officer = await _officer(store)
    await store.set_totp(officer.id, SECRET, enrolled=True)
    assert await store.use_totp_step(officer.id, STEP)
    assert not await store.use_totp_step(officer.id, STEP)  # the same code again
    assert not await store.use_totp_step(officer.id, STEP - 1)  # an older one
    assert await store.get_totp(officer.id) == (SECRET, STEP)
    assert await store.use_totp_step(officer.id, STEP + 1)
    assert not await store.use_totp_step(officer.id, STEP)
    assert await store.use_totp_step(officer.id, 0) is False
    assert await store.get_totp(officer.id) == (SECRET, STEP + 1)


async def test_totp_steps_are_per_account(store: Store) -> None:
    a, b = await _officer(store, "a"), await _officer(store, "b")
    await store.set_totp(a.id, SECRET, enrolled=True)
    await store.set_totp(b.id, "OTHERSECRETOTHER", enrolled=True)
    assert await store.use_totp_step(a.id, STEP)
    assert await store.use_totp_step(b.id, STEP)
    assert await store.get_totp(b.id) == ("OTHERSECRETOTHER", STEP)


async def test_totp_reset_clears_secret_enrolment_and_last_step(store: Store) -> None:
    officer = await _officer(store)
    await store.set_totp(officer.id, SECRET, enrolled=True)
    await store.use_totp_step(officer.id, STEP)
    reset = await store.set_totp(officer.id, None, enrolled=False)
    assert reset == officer and not reset.mfa_enrolled
    assert await store.get_account(officer.id) == officer
    assert await store.get_totp(officer.id) == (None, -1)
    assert not await store.use_totp_step(officer.id, STEP + 1)  # no secret: no code is accepted
    assert await store.get_totp(officer.id) == (None, -1)
    await store.set_totp(officer.id, "NEWSECRETNEWSECR", enrolled=False)
    assert await store.use_totp_step(officer.id, STEP)  # a new secret starts afresh


async def test_totp_rules(store: Store) -> None:
    officer = await _officer(store)
    with pytest.raises(NotFound, match="account"):
        await store.set_totp(12345, SECRET, enrolled=False)
    with pytest.raises(NotFound, match="account"):
        await store.get_totp(12345)
    with pytest.raises(NotFound, match="account"):
        await store.use_totp_step(12345, STEP)
    with pytest.raises(ValueError, match="secret"):
        await store.set_totp(officer.id, None, enrolled=True)
    with pytest.raises(ValueError, match="secret"):
        await store.set_totp(officer.id, "", enrolled=False)
    await store.set_totp(officer.id, SECRET, enrolled=True)
    for bad in (-1, True, 1.5):
        with pytest.raises(ValueError, match="step"):
            await store.use_totp_step(officer.id, bad)  # type: ignore[arg-type]
    assert await store.get_totp(officer.id) == (SECRET, -1)


async def test_two_hubs_racing_with_one_code_accept_it_once(open_store: OpenStore) -> None:
    hub, other = await open_store(), await open_store()
    officer = await _officer(hub)
    await hub.set_totp(officer.id, SECRET, enrolled=True)
    for step in range(STEP, STEP + 5):
        results = await asyncio.gather(*(s.use_totp_step(officer.id, step) for s in (hub, other, hub, other)))
        assert sorted(results) == [False, False, False, True], (step, results)
    assert await other.get_totp(officer.id) == (SECRET, STEP + 4)


# -- one-time enrolment codes ------------------------------------------------------------------------------

CODE_HASH, OTHER_HASH = "a" * 64, "b" * 64


async def test_an_enrolment_code_is_used_once_until_it_expires(store: Store) -> None:
    officer = await _officer(store)
    assert await store.check_enrolment_code(officer.id, CODE_HASH, T0, spend=True) is EnrolmentCheck.NONE
    assert await store.set_enrolment_code(officer.id, CODE_HASH, T0, T0 + HOUR) is False
    assert await store.check_enrolment_code(officer.id, OTHER_HASH, T0, spend=True) is EnrolmentCheck.WRONG
    # Looking does not use it up; spending does, once.
    assert await store.check_enrolment_code(officer.id, CODE_HASH, T0 + 1, spend=False) is EnrolmentCheck.OK
    assert await store.check_enrolment_code(officer.id, CODE_HASH, T0 + 1, spend=False) is EnrolmentCheck.OK
    assert await store.check_enrolment_code(officer.id, CODE_HASH, T0 + 2, spend=True) is EnrolmentCheck.OK
    assert await store.check_enrolment_code(officer.id, CODE_HASH, T0 + 3, spend=False) is EnrolmentCheck.USED
    assert await store.check_enrolment_code(officer.id, CODE_HASH, T0 + 3, spend=True) is EnrolmentCheck.USED
    # A used code is not "replaced" by the next one; the next one works.
    assert await store.set_enrolment_code(officer.id, OTHER_HASH, T0 + 4, T0 + HOUR) is False
    assert await store.check_enrolment_code(officer.id, CODE_HASH, T0 + 5, spend=True) is EnrolmentCheck.WRONG
    assert await store.check_enrolment_code(officer.id, OTHER_HASH, T0 + HOUR, spend=True) is EnrolmentCheck.EXPIRED
    assert await store.check_enrolment_code(officer.id, OTHER_HASH, T0 + HOUR - 1, spend=True) is EnrolmentCheck.OK


async def test_a_new_enrolment_code_replaces_the_old_and_codes_are_per_account(store: Store) -> None:
    a, b = await _officer(store, "a"), await _officer(store, "b")
    await store.set_enrolment_code(a.id, CODE_HASH, T0, T0 + HOUR)
    assert await store.set_enrolment_code(a.id, OTHER_HASH, T0 + 1, T0 + HOUR) is True  # still usable: replaced
    assert await store.check_enrolment_code(a.id, CODE_HASH, T0 + 2, spend=True) is EnrolmentCheck.WRONG
    # Another account's code (the same hash even) is not this account's.
    assert await store.check_enrolment_code(b.id, OTHER_HASH, T0 + 2, spend=True) is EnrolmentCheck.NONE
    await store.set_enrolment_code(b.id, CODE_HASH, T0 + 2, T0 + HOUR)
    assert await store.check_enrolment_code(b.id, OTHER_HASH, T0 + 3, spend=True) is EnrolmentCheck.WRONG
    assert await store.check_enrolment_code(a.id, OTHER_HASH, T0 + 3, spend=True) is EnrolmentCheck.OK
    assert await store.check_enrolment_code(b.id, CODE_HASH, T0 + 3, spend=True) is EnrolmentCheck.OK
    # An expired code is not "replaced" either.
    await store.set_enrolment_code(a.id, CODE_HASH, T0 + 4, T0 + 5)
    assert await store.set_enrolment_code(a.id, OTHER_HASH, T0 + 5, T0 + HOUR) is False


async def test_enrolment_code_rules(store: Store) -> None:
    officer = await _officer(store)
    with pytest.raises(NotFound, match="account"):
        await store.set_enrolment_code(12345, CODE_HASH, T0, T0 + HOUR)
    assert await store.check_enrolment_code(12345, CODE_HASH, T0, spend=True) is EnrolmentCheck.NONE
    with pytest.raises(ValueError):
        await store.set_enrolment_code(officer.id, "", T0, T0 + HOUR)
    with pytest.raises(ValueError):
        await store.set_enrolment_code(officer.id, CODE_HASH, T0, math.nan)
    with pytest.raises(ValueError):
        await store.check_enrolment_code(officer.id, CODE_HASH, math.inf, spend=True)
    # Log-in bookkeeping: the gates' change marker does not move.
    marker = await store.change_marker()
    await store.set_enrolment_code(officer.id, CODE_HASH, T0, T0 + HOUR)
    await store.check_enrolment_code(officer.id, CODE_HASH, T0, spend=True)
    assert await store.change_marker() == marker


async def test_two_hubs_racing_with_one_enrolment_code_use_it_once(open_store: OpenStore) -> None:
    hub, other = await open_store(), await open_store()
    officer = await _officer(hub)
    for round_ in range(5):
        code_hash = f"{round_:064d}"
        await hub.set_enrolment_code(officer.id, code_hash, T0, T0 + HOUR)
        results = await asyncio.gather(
            *(s.check_enrolment_code(officer.id, code_hash, T0 + 1, spend=True) for s in (hub, other, hub, other))
        )
        assert sorted(results) == sorted([EnrolmentCheck.OK] + [EnrolmentCheck.USED] * 3), (round_, results)


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


async def test_session_last_seen_and_mfa_state_round_trip(store: Store) -> None:
    officer = await _officer(store)
    full = await store.add_session("full", officer.id, T0, T0 + HOUR)
    assert full == Session("full", officer.id, T0, T0 + HOUR, last_seen_at=T0, mfa_pending=False)
    pending = await store.add_session("pending", officer.id, T0 + 1 / 3, T0 + HOUR, mfa_pending=True)
    assert pending == Session("pending", officer.id, T0 + 1 / 3, T0 + HOUR, last_seen_at=T0 + 1 / 3, mfa_pending=True)
    assert await store.get_session("full") == full
    assert await store.get_session("pending") == pending


async def test_touch_session(store: Store) -> None:
    rosa = await _resident(store)
    session = await store.add_session("s1", rosa.id, T0, T0 + HOUR)
    await store.touch_session("s1", T0 + 60 + 1 / 3)
    touched = await store.get_session("s1")
    assert touched == Session("s1", rosa.id, T0, T0 + HOUR, last_seen_at=T0 + 60 + 1 / 3)
    await store.touch_session("s1", T0 + 30)  # a late request seen by another hub: never moves back
    assert await store.get_session("s1") == touched
    await store.touch_session("s1", T0 + 2 * HOUR)  # after expiry too: the caller decides what that means
    assert (await store.get_session("s1")).last_seen_at == T0 + 2 * HOUR
    assert (await store.get_session("s1")).expires_at == session.expires_at


async def test_touching_an_unknown_session_is_harmless(store: Store) -> None:
    rosa = await _resident(store)
    await store.touch_session("never", T0)
    with pytest.raises(NotFound):
        await store.get_session("never")
    await store.add_session("gone", rosa.id, T0, T0 + HOUR)
    await store.delete_session("gone")
    marker = await store.change_marker()
    await store.touch_session("gone", T0 + 1)
    with pytest.raises(NotFound):
        await store.get_session("gone")  # not brought back
    assert await store.change_marker() == marker
    with pytest.raises(ValueError):
        await store.touch_session("never", float("nan"))


async def test_finish_mfa(store: Store) -> None:
    officer = await _officer(store)
    await store.add_session("s1", officer.id, T0, T0 + HOUR, mfa_pending=True)
    await store.touch_session("s1", T0 + 5)
    finished = await store.finish_mfa("s1")
    assert finished == Session("s1", officer.id, T0, T0 + HOUR, last_seen_at=T0 + 5, mfa_pending=False)
    assert await store.get_session("s1") == finished
    assert await store.finish_mfa("s1") == finished  # already a full session: unchanged
    with pytest.raises(NotFound, match="session"):
        await store.finish_mfa("never")


async def test_delete_sessions_of_ends_only_that_accounts_sessions(store: Store) -> None:
    rosa, sam = await _resident(store, "rosa"), await _resident(store, "sam")
    await store.add_session("r1", rosa.id, T0, T0 + HOUR)
    await store.add_session("r2", rosa.id, T0, T0 + HOUR, mfa_pending=True)
    await store.add_session("r-expired", rosa.id, T0 - 2 * HOUR, T0 - HOUR)
    await store.add_session("r-gone", rosa.id, T0, T0 + HOUR)
    await store.delete_session("r-gone")
    kept = await store.add_session("s1", sam.id, T0, T0 + HOUR)
    assert await store.delete_sessions_of(rosa.id) == 3
    for token_hash in ("r1", "r2", "r-expired", "r-gone"):
        with pytest.raises(NotFound):
            await store.get_session(token_hash)
    assert await store.get_session("s1") == kept
    assert await store.delete_sessions_of(rosa.id) == 0
    assert await store.purge_sessions(T0) == 0  # nothing of rosa's left behind
    # New sessions after it are ended by the next call.
    await store.add_session("r3", rosa.id, T0, T0 + HOUR)
    assert await store.delete_sessions_of(rosa.id) == 1
    assert await store.delete_sessions_of(sam.id) == 1
    with pytest.raises(NotFound, match="account"):
        await store.delete_sessions_of(12345)


async def test_delete_sessions_of_after_purge_and_log_out(store: Store) -> None:
    rosa = await _resident(store)
    await store.add_session("expired", rosa.id, T0 - 2 * HOUR, T0 - HOUR)
    await store.add_session("logged-out", rosa.id, T0, T0 + HOUR)
    await store.add_session("live", rosa.id, T0, T0 + HOUR)
    assert await store.purge_sessions(T0) == 1
    await store.delete_session("logged-out")
    assert await store.delete_sessions_of(rosa.id) == 1
    with pytest.raises(NotFound):
        await store.get_session("live")


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


async def test_camera_location_round_trip(store: Store) -> None:
    rosa = await _resident(store)
    placed = await store.add_camera("cam-1", rosa.id, "Front door", "tok-1", location=(52.520008, 13.404954))
    assert (placed.lat, placed.lon) == (52.520008, 13.404954)
    unplaced = await store.add_camera("cam-2", rosa.id, "Back door", "tok-2")
    assert (unplaced.lat, unplaced.lon) == (None, None)
    assert await store.get_camera("cam-1") == placed
    assert await store.camera_for_token("tok-1") == placed
    assert await store.list_cameras() == [placed, unplaced]
    assert await store.list_cameras(rosa.id) == [placed, unplaced]
    moved = await store.set_camera_location("cam-2", (-33.8688 + 1e-9, 151.2093))
    assert moved == Camera("cam-2", rosa.id, "Back door", unplaced.created_at, -33.8688 + 1e-9, 151.2093)
    assert await store.get_camera("cam-2") == moved
    hidden = await store.set_camera_location("cam-1", None)
    assert hidden == Camera("cam-1", rosa.id, "Front door", placed.created_at)
    assert await store.list_cameras() == [hidden, moved]


@pytest.mark.parametrize("location", [(90, 180), (-90.0, -180.0), (0, 0), (-0.0, 0.5)])
async def test_camera_locations_at_the_edges(store: Store, location: tuple[float, float]) -> None:
    rosa = await _resident(store)
    camera = await store.add_camera("cam-1", rosa.id, "Front door", "tok-1", location=location)
    assert (camera.lat, camera.lon) == location
    assert isinstance(camera.lat, float) and isinstance(camera.lon, float)
    assert await store.get_camera("cam-1") == camera
    assert await store.set_camera_location("cam-1", location) == camera


@pytest.mark.parametrize(
    "location",
    [(90.000001, 0.0), (-91.0, 0.0), (0.0, 180.5), (0.0, -181.0), (float("nan"), 0.0), (0.0, float("inf"))],
)
async def test_camera_locations_must_be_on_the_globe(store: Store, location: tuple[float, float]) -> None:
    rosa = await _resident(store)
    with pytest.raises(ValueError):
        await store.add_camera("cam-1", rosa.id, "Front door", "tok-1", location=location)
    assert await store.list_cameras() == []
    camera = await store.add_camera("cam-1", rosa.id, "Front door", "tok-1", location=(1.0, 2.0))
    with pytest.raises(ValueError):
        await store.set_camera_location("cam-1", location)
    assert await store.get_camera("cam-1") == camera


async def test_set_camera_location_of_an_unknown_camera(store: Store) -> None:
    with pytest.raises(NotFound, match="cam-9"):
        await store.set_camera_location("cam-9", (1.0, 2.0))


# -- privacy masks ----------------------------------------------------------------------------------------

# As `hub.media.masks.validate_masks` passes them; the stores keep them verbatim. Coordinates not exact in
# decimal, and keys out of order, to show they come back exactly.
MASKS = [
    {"style": "black", "points": [[0.0, 0.0], [1 / 3, 0.1 + 0.2], [0.5, 1.0]]},
    {"points": [[0.25, 0.25], [0.75, 0.25], [0.75, 0.75], [0.25, 0.75]], "style": "blur"},
]


async def test_a_new_camera_has_no_masks(store: Store) -> None:
    camera_id = await _camera(store)
    assert await store.get_camera_masks(camera_id) == (0, [])
    assert (await store.get_camera(camera_id)).masks_version == 0
    assert [c.masks_version for c in await store.list_cameras()] == [0]


async def test_camera_masks_round_trip(store: Store) -> None:
    rosa = await _resident(store)
    camera = await store.add_camera("cam-1", rosa.id, "Front door", "tok-1", location=(1.0, 2.0))
    version = await store.set_camera_masks("cam-1", MASKS)
    assert version > 0
    assert await store.get_camera_masks("cam-1") == (version, MASKS)
    masked = replace(camera, masks_version=version)
    assert await store.get_camera("cam-1") == masked
    assert await store.camera_for_token("tok-1") == masked
    assert await store.list_cameras() == [masked]
    assert await store.list_cameras(rosa.id) == [masked]
    # Moving the camera keeps its masks.
    moved = await store.set_camera_location("cam-1", (3.0, 4.0))
    assert moved.masks_version == version
    assert await store.get_camera_masks("cam-1") == (version, MASKS)


async def test_mask_versions_come_from_the_shared_counter(store: Store) -> None:
    await _camera(store, "cam-1")
    await _camera(store, "cam-2")
    taken = [
        (await store.put_grant("cam-1", T0, T0 + HOUR, None)).version,
        (await store.set_pilot(T0, T0 + HOUR, T0)).version,
        (await store.set_policy(HOUR)).version,
    ]
    first = await store.set_camera_masks("cam-1", MASKS)
    assert first > max(taken)
    assert await store.change_marker() == first
    grant = await store.put_grant("cam-2", T0, T0 + HOUR, None)
    assert grant.version > first
    second = await store.set_camera_masks("cam-1", MASKS[:1])
    assert second > grant.version
    assert await store.get_camera_masks("cam-1") == (second, MASKS[:1])
    # Each camera has its own masks.
    assert await store.get_camera_masks("cam-2") == (0, [])
    other = await store.set_camera_masks("cam-2", MASKS[1:])
    assert other > second
    assert await store.get_camera_masks("cam-1") == (second, MASKS[:1])
    assert {c.id: c.masks_version for c in await store.list_cameras()} == {"cam-1": second, "cam-2": other}


async def test_clearing_masks_still_raises_their_version(store: Store) -> None:
    camera_id = await _camera(store)
    set_at = await store.set_camera_masks(camera_id, MASKS)
    cleared_at = await store.set_camera_masks(camera_id, [])
    assert cleared_at > set_at
    assert await store.get_camera_masks(camera_id) == (cleared_at, [])
    assert (await store.get_camera(camera_id)).masks_version == cleared_at
    # Setting the same masks again is a new version too: the agent must confirm each one.
    again = await store.set_camera_masks(camera_id, [])
    assert again > cleared_at
    assert await store.get_camera_masks(camera_id) == (again, [])


async def test_masks_of_an_unknown_camera(store: Store) -> None:
    await _camera(store)
    marker = await store.change_marker()
    with pytest.raises(NotFound, match="cam-9"):
        await store.set_camera_masks("cam-9", MASKS)
    with pytest.raises(NotFound, match="cam-9"):
        await store.get_camera_masks("cam-9")
    assert await store.change_marker() == marker
    assert await store.get_camera_masks("cam-1") == (0, [])


@pytest.mark.parametrize("bad", [{"points": []}, [["not", "an", "object"]], [{"x": float("nan")}]])
async def test_masks_that_are_not_a_list_of_json_objects_are_refused(store: Store, bad: object) -> None:
    camera_id = await _camera(store)
    marker = await store.change_marker()
    with pytest.raises(ValueError):
        await store.set_camera_masks(camera_id, bad)  # type: ignore[arg-type]
    assert await store.change_marker() == marker
    assert await store.get_camera_masks(camera_id) == (0, [])


async def test_masks_set_by_one_store_are_seen_by_another_and_kept_across_a_restart(open_store: OpenStore) -> None:
    first, other = await open_store(), await open_store()
    camera_id = await _camera(first)
    seen = await other.change_marker()
    version = await first.set_camera_masks(camera_id, MASKS)
    assert await other.change_marker() == version > seen
    assert await other.get_camera_masks(camera_id) == (version, MASKS)
    assert (await other.get_camera(camera_id)).masks_version == version
    await first.close()
    await other.close()

    again = await open_store()
    assert await again.get_camera_masks(camera_id) == (version, MASKS)
    assert (await again.get_camera(camera_id)).masks_version == version
    assert [c.masks_version for c in await again.list_cameras()] == [version]
    assert (await again.camera_for_token("tok-" + camera_id)).masks_version == version
    # Versions keep growing after a restart.
    assert await again.set_camera_masks(camera_id, []) > version


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


async def test_put_grant_replacing_a_version_writes_only_over_that_version(store: Store) -> None:
    """An extension names the grant it lengthens: a withdrawal (or any change) written since refuses it."""
    await _camera(store)
    with pytest.raises(Conflict):
        await store.put_grant("cam-1", T0, T0 + HOUR, None, replacing=1)  # no grant at all yet
    granted = await store.put_grant("cam-1", T0, T0 + HOUR, None)
    longer = await store.put_grant("cam-1", T0, T0 + 2 * HOUR, None, replacing=granted.version)
    assert longer.version > granted.version and longer.ends_at == T0 + 2 * HOUR
    revoked = await store.revoke_grant("cam-1", T0 + 10)
    with pytest.raises(Conflict):
        await store.put_grant("cam-1", T0, T0 + 3 * HOUR, None, replacing=longer.version)
    assert await store.get_grant("cam-1") == revoked  # still withdrawn, nothing of the refused write kept


async def test_set_grant_audio_replacing_a_version_turns_on_only_that_grant(store: Store) -> None:
    """Audio on names the grant the owner saw: a new grant opted in meanwhile (without audio) keeps it off."""
    await _camera(store)
    seen = await store.put_grant("cam-1", T0, T0 + HOUR, None)
    newer = await store.put_grant("cam-1", T0 + 5, T0 + HOUR, None)
    with pytest.raises(Conflict):
        await store.set_grant_audio("cam-1", True, replacing=seen.version)
    assert await store.get_grant("cam-1") == newer
    on = await store.set_grant_audio("cam-1", True, replacing=newer.version)
    assert on is not None and on.audio and on.version > newer.version


async def test_audio_is_off_unless_the_grant_says_so(store: Store) -> None:
    await _camera(store)
    assert (await store.put_grant("cam-1", T0, T0 + HOUR, None)).audio is False
    assert (await store.get_grant("cam-1")).audio is False  # type: ignore[union-attr]
    with_audio = await store.put_grant("cam-1", T0, T0 + HOUR, frozenset({"pd"}), audio=True)
    assert with_audio == Grant("cam-1", T0, T0 + HOUR, frozenset({"pd"}), None, with_audio.version, audio=True)
    assert await store.get_grant("cam-1") == with_audio
    assert await store.list_grants() == [with_audio]
    # A new opt-in replaces the grant whole: audio off again unless asked.
    assert (await store.put_grant("cam-1", T0, T0 + HOUR, None)).audio is False


async def test_set_grant_audio_changes_only_audio_with_a_new_version(store: Store) -> None:
    await _camera(store)
    assert await store.set_grant_audio("cam-1", True) is None  # no grant: nothing to turn on
    assert await store.get_grant("cam-1") is None
    granted = await store.put_grant("cam-1", T0, T0 + HOUR, frozenset({"pd"}))
    marker = await store.change_marker()
    on = await store.set_grant_audio("cam-1", True)
    assert on == replace(granted, audio=True, version=on.version)  # type: ignore[union-attr]
    assert on is not None and on.version > granted.version and await store.change_marker() > marker
    assert await store.get_grant("cam-1") == on
    # Already on: unchanged, no new version, the marker stays.
    marker = await store.change_marker()
    assert await store.set_grant_audio("cam-1", True) == on
    assert await store.change_marker() == marker
    off = await store.set_grant_audio("cam-1", False)
    assert off == replace(granted, version=off.version) and off.version > on.version  # type: ignore[union-attr]
    assert await store.get_grant("cam-1") == off
    # A withdrawal keeps the flag as it was (the grant admits nothing either way); turning it off still works.
    await store.set_grant_audio("cam-1", True)
    revoked = await store.revoke_grant("cam-1", T0 + 10)
    assert revoked is not None and revoked.audio and revoked.revoked_at == T0 + 10
    silenced = await store.set_grant_audio("cam-1", False)
    assert silenced == replace(revoked, audio=False, version=silenced.version)  # type: ignore[union-attr]


async def test_audio_seen_by_another_hub(open_store: OpenStore) -> None:
    writer, reader = await open_store(), await open_store()
    await _camera(writer)
    await writer.put_grant("cam-1", T0, T0 + HOUR, None, audio=True)
    assert (await reader.get_grant("cam-1")).audio is True  # type: ignore[union-attr]
    await writer.set_grant_audio("cam-1", False)
    assert (await reader.get_grant("cam-1")).audio is False  # type: ignore[union-attr]


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
    pilot = await store.set_pilot(T0, T0 + 45 * 24 * HOUR, T0)
    assert pilot == Pilot(T0, T0 + 45 * 24 * HOUR, pilot.version, run=1, ended=False) and pilot.version > 0
    assert await store.get_pilot() == pilot
    shortened = await store.set_pilot(T0, T0 + HOUR, T0)
    assert shortened == Pilot(T0, T0 + HOUR, shortened.version, run=1, ended=False)
    assert shortened.version > pilot.version
    assert await store.get_pilot() == shortened


# -- pilot runs (item 2 of issue 14: a grant belongs to the pilot it was made in) --------------------------


async def test_the_first_pilot_is_run_1_whenever_it_is_set(store: Store) -> None:
    # Scheduled for later, it is still the first pilot.
    first = await store.set_pilot(T0 + HOUR, T0 + 2 * HOUR, T0)
    assert (first.run, first.ended) == (1, False)
    assert await store.get_pilot() == first


async def test_extending_or_shortening_a_running_pilot_keeps_its_run(store: Store) -> None:
    running = await store.set_pilot(T0, T0 + 10 * HOUR, T0 + 1)
    longer = await store.set_pilot(T0, T0 + 20 * HOUR, T0 + 2 * HOUR)
    shorter = await store.set_pilot(T0, T0 + 5 * HOUR, T0 + 3 * HOUR)
    moved = await store.set_pilot(T0 + HOUR, T0 + 6 * HOUR, T0 + 4 * HOUR)  # starts later, still overlapping
    assert [p.run for p in (running, longer, shorter, moved)] == [1, 1, 1, 1]
    assert not any(p.ended for p in (running, longer, shorter, moved))
    assert running.version < longer.version < shorter.version < moved.version
    assert await store.get_pilot() == moved


async def test_changing_a_scheduled_pilot_keeps_its_run(store: Store) -> None:
    await store.set_pilot(T0 + 10 * HOUR, T0 + 20 * HOUR, T0)
    earlier = await store.set_pilot(T0 + HOUR, T0 + 20 * HOUR, T0 + 1)
    assert (earlier.run, earlier.ended) == (1, False)


async def test_ending_a_pilot_now_marks_it_ended_in_the_same_run(store: Store) -> None:
    await store.set_pilot(T0, T0 + 10 * HOUR, T0)
    now = T0 + 3 * HOUR
    ended = await store.set_pilot(T0, now, now)  # what an admin's "end the pilot" writes
    assert ended == Pilot(T0, now, ended.version, run=1, ended=True)
    assert await store.get_pilot() == ended


async def test_an_end_set_in_the_past_is_ended(store: Store) -> None:
    await store.set_pilot(T0, T0 + 10 * HOUR, T0)
    past = await store.set_pilot(T0, T0 + HOUR, T0 + 2 * HOUR)
    assert (past.run, past.ended) == (1, True)
    # A window set wholly in the past after that is another pilot, ended from the start.
    gone = await store.set_pilot(T0, T0 + HOUR, T0 + 5 * HOUR)
    assert gone == Pilot(T0, T0 + HOUR, gone.version, run=2, ended=True)


async def test_a_window_set_after_an_ended_pilot_is_the_next_run(store: Store) -> None:
    await store.set_pilot(T0, T0 + 10 * HOUR, T0)
    await store.set_pilot(T0, T0 + HOUR, T0 + HOUR)  # ended now
    # Even one overlapping the ended pilot's window, set at once: an ended pilot is never continued.
    again = await store.set_pilot(T0, T0 + 10 * HOUR, T0 + HOUR)
    assert (again.run, again.ended) == (2, False)
    assert await store.get_pilot() == again
    assert (await store.set_pilot(T0, T0 + 20 * HOUR, T0 + 2 * HOUR)).run == 2  # extending the new one
    assert (await store.set_pilot(T0, T0 + 2 * HOUR, T0 + 2 * HOUR)).ended
    assert (await store.set_pilot(T0 + 3 * HOUR, T0 + 4 * HOUR, T0 + 3 * HOUR)).run == 3


async def test_a_window_set_after_the_pilot_ran_out_is_the_next_run(store: Store) -> None:
    # Not ended by an admin, but over by the writer's clock: a new window is a new pilot.
    await store.set_pilot(T0, T0 + HOUR, T0)
    later = await store.set_pilot(T0, T0 + 10 * HOUR, T0 + HOUR)
    assert (later.run, later.ended) == (2, False)


async def test_scheduling_a_window_after_the_current_one_is_a_new_run(store: Store) -> None:
    await store.set_pilot(T0, T0 + 10 * HOUR, T0)
    following = await store.set_pilot(T0 + 10 * HOUR, T0 + 20 * HOUR, T0 + HOUR)
    assert (following.run, following.ended) == (2, False)


async def test_put_grant_records_the_run_of_the_current_pilot(store: Store) -> None:
    old = await _camera(store, "cam-old")
    new = await _camera(store, "cam-new")
    assert (await store.put_grant(old, T0, T0 + HOUR, None)).pilot_run == 0  # no pilot yet
    await store.set_pilot(T0, T0 + 10 * HOUR, T0)
    first = await store.put_grant(old, T0, T0 + HOUR, frozenset({"pd"}))
    assert first == Grant(old, T0, T0 + HOUR, frozenset({"pd"}), None, first.version, pilot_run=1)
    assert await store.get_grant(old) == first
    # The pilot ends and a new one starts: the old grant keeps its run, a new grant takes the new one.
    await store.set_pilot(T0, T0 + 2 * HOUR, T0 + 2 * HOUR)
    second_pilot = await store.set_pilot(T0 + 3 * HOUR, T0 + 10 * HOUR, T0 + 3 * HOUR)
    assert second_pilot.run == 2
    assert await store.get_grant(old) == first
    second = await store.put_grant(new, T0 + 3 * HOUR, T0 + 4 * HOUR, None)
    assert second.pilot_run == 2
    assert await store.list_grants() == [second, first]  # by camera id: cam-new, cam-old
    # Withdrawing keeps the run it was made in.
    revoked = await store.revoke_grant(old, T0 + 3 * HOUR)
    assert revoked is not None and revoked == replace(first, revoked_at=T0 + 3 * HOUR, version=revoked.version)
    assert await store.get_grant(old) == revoked
    # Opting in again in the new pilot is a grant of the new run.
    assert (await store.put_grant(old, T0 + 3 * HOUR, T0 + 4 * HOUR, None)).pilot_run == 2


async def test_grants_written_while_a_new_pilot_starts_belong_to_the_run_before_or_after(open_store: OpenStore) -> None:
    # The run is read in the grant's own transaction: a grant ordered before the new pilot (smaller version) has
    # the old run, one after it the new run, however the writes of two stores interleave.
    hub, other = await open_store(), await open_store()
    await hub.set_pilot(T0, T0 + 10 * HOUR, T0)
    await hub.set_pilot(T0, T0 + HOUR, T0 + HOUR)
    camera_ids = [await _camera(hub, f"cam-{i}") for i in range(12)]
    writes = [(hub, other)[i % 2].put_grant(c, T0, T0 + 2 * HOUR, None) for i, c in enumerate(camera_ids)]
    pilot, *grants = await asyncio.gather(other.set_pilot(T0 + HOUR, T0 + 5 * HOUR, T0 + HOUR), *writes)
    assert isinstance(pilot, Pilot) and pilot.run == 2
    for grant in grants:
        assert isinstance(grant, Grant)
        assert grant.pilot_run == (1 if grant.version < pilot.version else 2), (grant, pilot)
        assert await hub.get_grant(grant.camera_id) == grant


async def test_set_pilot_needs_a_finite_now(store: Store) -> None:
    for now in (float("nan"), float("inf")):
        with pytest.raises(ValueError):
            await store.set_pilot(T0, T0 + HOUR, now)
    assert await store.get_pilot() is None


async def test_pilot_runs_are_kept_across_a_restart(open_store: OpenStore) -> None:
    first = await open_store()
    camera_id = await _camera(first)
    await first.set_pilot(T0, T0 + 10 * HOUR, T0)
    grant = await first.put_grant(camera_id, T0, T0 + HOUR, None)
    ended = await first.set_pilot(T0, T0 + HOUR, T0 + HOUR)
    await first.close()
    again = await open_store()
    assert await again.get_pilot() == ended == Pilot(T0, T0 + HOUR, ended.version, run=1, ended=True)
    assert await again.get_grant(camera_id) == grant
    assert (await again.set_pilot(T0 + 3 * HOUR, T0 + 4 * HOUR, T0 + 3 * HOUR)).run == 2


async def test_pilot_window_must_be_sane(store: Store) -> None:
    with pytest.raises(ValueError):
        await store.set_pilot(T0, T0 - 1, T0)
    with pytest.raises(ValueError):
        await store.set_pilot(T0, float("inf"), T0)
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
        (await store.set_pilot(T0, T0 + 24 * HOUR, T0)).version,
        (await store.put_grant("cam-1", T0, T0 + HOUR, None)).version,
        (await store.set_policy(2 * HOUR)).version,
        (await store.put_grant("cam-2", T0, T0 + HOUR, frozenset({"pd"}))).version,
    ]
    revoked = await store.revoke_grant("cam-1", T0 + 5)
    assert revoked is not None
    versions += [
        revoked.version,
        (await store.set_pilot(T0, T0 + 12 * HOUR, T0)).version,
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
    results = await asyncio.gather(*writes, hub.set_policy(HOUR), other.set_pilot(T0, T0 + HOUR, T0))
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
    pilot = await store.set_pilot(starts, ends, T0)
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


# -- access requests --------------------------------------------------------------------------------------


async def _request(
    store: Store,
    officer: Account,
    camera_id: str = "cam-1",
    *,
    now: float = T0,
    expires_at: float = T0 + HOUR,
    case: str = "2024-0042",
) -> AccessRequest:
    return await store.add_access_request(
        camera_id, officer.id, case, "burglary on the street", 2 * HOUR, False, now, expires_at
    )


async def test_access_request_round_trip(store: Store) -> None:
    await _camera(store)
    officer = await _officer(store)
    # Times are not rounded anywhere on the way.
    now, expires_at, duration = T0 + 1 / 3, T0 + HOUR + 0.123456789, HOUR / 7
    request = await store.add_access_request(
        "cam-1", officer.id, "2024-0042", "a reason", duration, True, now, expires_at
    )
    expected = AccessRequest(
        request.id, "cam-1", officer.id, "pd", "2024-0042", "a reason", duration, True, now, expires_at
    )
    assert request == expected and (request.state, request.answered_at) == (RequestState.PENDING, None)
    assert await store.get_access_request(request.id) == request
    assert await store.list_access_requests() == [request]
    approved = await store.answer_access_request(request.id, RequestState.APPROVED, now + 1e-6)
    assert approved == replace(request, state=RequestState.APPROVED, answered_at=now + 1e-6)
    assert await store.get_access_request(request.id) == approved


async def test_an_access_request_is_for_the_officers_agency(store: Store) -> None:
    await _camera(store)
    otto, shea = await _officer(store, "otto", "pd"), await _officer(store, "shea", "sheriff")
    assert (await _request(store, otto)).agency_id == "pd"
    assert (await _request(store, shea)).agency_id == "sheriff"
    assert sorted(r.agency_id or "" for r in await store.list_access_requests()) == ["pd", "sheriff"]


async def test_access_request_rules(store: Store) -> None:
    await _camera(store)
    officer = await _officer(store)
    with pytest.raises(NotFound, match="camera"):
        await _request(store, officer, "ghost")
    with pytest.raises(NotFound, match="account"):
        await store.add_access_request("cam-1", 12345, "c", "r", HOUR, False, T0, T0 + HOUR)
    for duration in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(ValueError):
            await store.add_access_request("cam-1", officer.id, "c", "r", duration, False, T0, T0 + HOUR)
    with pytest.raises(ValueError):
        await store.add_access_request("cam-1", officer.id, "c", "r", HOUR, False, T0, math.nan)
    assert await store.list_access_requests() == []
    with pytest.raises(NotFound, match="access request"):
        await store.get_access_request(12345)
    with pytest.raises(NotFound, match="access request"):
        await store.answer_access_request(12345, RequestState.APPROVED, T0)
    request = await _request(store, officer)
    for state in (RequestState.PENDING, RequestState.EXPIRED, "bogus"):
        with pytest.raises(ValueError):
            await store.answer_access_request(request.id, state, T0 + 1)  # type: ignore[arg-type]
    assert await store.get_access_request(request.id) == request


async def test_access_requests_list_newest_first_by_camera_and_by_officer(store: Store) -> None:
    rosa = await _resident(store)
    await _camera(store, "cam-1", rosa)
    await _camera(store, "cam-2", rosa)
    otto, olga = await _officer(store, "otto"), await _officer(store, "olga")
    made = [
        await _request(store, otto, "cam-1", now=T0),
        await _request(store, olga, "cam-1", now=T0 + 1),
        await _request(store, otto, "cam-2", now=T0 + 2),
        await _request(store, olga, "cam-2", now=T0 + 3),
        await _request(store, otto, "cam-1", now=T0 + 4),
    ]
    assert len({r.id for r in made}) == len(made)
    newest_first = made[::-1]
    assert await store.list_access_requests() == newest_first
    assert await store.list_access_requests(camera_id="cam-1") == [r for r in newest_first if r.camera_id == "cam-1"]
    assert await store.list_access_requests(account_id=olga.id) == [r for r in newest_first if r.account_id == olga.id]
    assert await store.list_access_requests("cam-2", otto.id) == [made[2]]
    assert await store.list_access_requests(camera_id="ghost") == []
    assert await store.list_access_requests(account_id=12345) == []
    # Answered and expired ones are listed too, in their new state.
    declined = await store.answer_access_request(made[0].id, RequestState.DECLINED, T0 + 10)
    assert (await store.list_access_requests(camera_id="cam-1"))[-1] == declined


@pytest.mark.parametrize("first", [RequestState.APPROVED, RequestState.DECLINED])
async def test_an_access_request_is_answered_once(store: Store, first: RequestState) -> None:
    await _camera(store)
    request = await _request(store, await _officer(store))
    answered = await store.answer_access_request(request.id, first, T0 + 60)
    assert (answered.state, answered.answered_at) == (first, T0 + 60)
    for again in (RequestState.APPROVED, RequestState.DECLINED):
        with pytest.raises(Conflict, match=f"already {first.value}"):
            await store.answer_access_request(request.id, again, T0 + 120)
    assert await store.get_access_request(request.id) == answered
    assert await store.expire_access_requests(T0 + 10 * HOUR) == []
    assert await store.get_access_request(request.id) == answered


async def test_answering_at_or_after_the_deadline_is_a_conflict_even_before_expiry_ran(store: Store) -> None:
    await _camera(store)
    officer = await _officer(store)
    late, on_time = await _request(store, officer), await _request(store, officer)
    for at in (T0 + HOUR, T0 + 2 * HOUR):  # expires_at itself counts as expired
        for state in (RequestState.APPROVED, RequestState.DECLINED):
            with pytest.raises(Conflict, match="expired"):
                await store.answer_access_request(late.id, state, at)
    assert await store.get_access_request(late.id) == late  # left pending for the expiry to mark
    approved = await store.answer_access_request(on_time.id, RequestState.APPROVED, T0 + HOUR - 1e-6)
    assert approved.state is RequestState.APPROVED
    assert [r.id for r in await store.expire_access_requests(T0 + HOUR)] == [late.id]
    with pytest.raises(Conflict, match="expired"):
        await store.answer_access_request(late.id, RequestState.APPROVED, T0)  # expired is final


async def test_expiry_marks_each_overdue_request_once(store: Store) -> None:
    await _camera(store)
    officer = await _officer(store)
    deadlines = [T0 + 10, T0 + 20 + 1 / 3, T0 + 30, T0 + 40]
    made = [await _request(store, officer, expires_at=d) for d in deadlines]
    answered = await store.answer_access_request(made[1].id, RequestState.DECLINED, T0 + 5)
    assert await store.expire_access_requests(T0 + 9) == []
    # expires_at <= now: the one due exactly now goes; an answered one is never expired.
    first = await store.expire_access_requests(T0 + 30)
    assert first == [
        replace(made[0], state=RequestState.EXPIRED, answered_at=T0 + 10),
        replace(made[2], state=RequestState.EXPIRED, answered_at=T0 + 30),
    ]
    assert await store.expire_access_requests(T0 + 30) == []  # idempotent
    assert await store.expire_access_requests(T0 + 35) == []
    assert [await store.get_access_request(r.id) for r in made[:3]] == [first[0], answered, first[1]]
    assert await store.get_access_request(made[3].id) == made[3]
    assert await store.expire_access_requests(T0 + 1000) == [
        replace(made[3], state=RequestState.EXPIRED, answered_at=T0 + 40)
    ]
    assert await store.expire_access_requests(T0 + 2000) == []


async def test_two_hubs_answering_one_request_at_once_one_wins(open_store: OpenStore) -> None:
    hub, other = await open_store(), await open_store()
    await _camera(hub)
    officer = await _officer(hub)
    for _ in range(5):
        request = await _request(hub, officer)
        answers = [RequestState.APPROVED, RequestState.DECLINED] * 2
        results = await asyncio.gather(
            *((hub, other)[i % 2].answer_access_request(request.id, state, T0 + 1) for i, state in enumerate(answers)),
            return_exceptions=True,
        )
        winners = [r for r in results if isinstance(r, AccessRequest)]
        assert len(winners) == 1, results
        assert all(isinstance(r, Conflict) for r in results if r is not winners[0]), results
        assert await other.get_access_request(request.id) == await hub.get_access_request(request.id) == winners[0]


async def test_two_hubs_expiring_at_once_expire_each_request_once(open_store: OpenStore) -> None:
    hub, other = await open_store(), await open_store()
    await _camera(hub)
    officer = await _officer(hub)
    made = [await _request(hub, officer, expires_at=T0 + i) for i in range(20)]
    results = await asyncio.gather(*((hub, other)[i % 2].expire_access_requests(T0 + 100) for i in range(6)))
    expired = [r.id for batch in results for r in batch]
    assert sorted(expired) == sorted(r.id for r in made)  # each exactly once
    assert all(r.state is RequestState.EXPIRED for batch in results for r in batch)


async def test_an_answer_racing_the_expiry_one_wins(open_store: OpenStore) -> None:
    hub, other = await open_store(), await open_store()
    await _camera(hub)
    officer = await _officer(hub)
    for _ in range(5):
        request = await _request(hub, officer, expires_at=T0 + 10)
        answered, expired = await asyncio.gather(
            hub.answer_access_request(request.id, RequestState.APPROVED, T0 + 9),
            other.expire_access_requests(T0 + 10),
            return_exceptions=True,
        )
        final = await hub.get_access_request(request.id)
        if isinstance(answered, AccessRequest):
            assert expired == [] and final == answered and final.state is RequestState.APPROVED
        else:
            assert isinstance(answered, Conflict) and expired == [final] and final.state is RequestState.EXPIRED


async def test_access_request_writes_leave_the_change_marker(store: Store) -> None:
    await _camera(store)
    officer = await _officer(store)
    marker = await store.change_marker()
    approved = await _request(store, officer)
    await store.answer_access_request(approved.id, RequestState.APPROVED, T0 + 1)
    await _request(store, officer)
    await store.expire_access_requests(T0 + 2 * HOUR)
    assert await store.change_marker() == marker


async def test_restart_keeps_access_requests(open_store: OpenStore) -> None:
    first = await open_store()
    await _camera(first)
    officer = await _officer(first)
    overdue = await _request(first, officer, expires_at=T0 + 10)
    approved = await first.answer_access_request((await _request(first, officer)).id, RequestState.APPROVED, T0 + 1)
    (expired,) = await first.expire_access_requests(T0 + 10)
    pending = await _request(first, officer, expires_at=T0 + 20)
    await first.close()

    again = await open_store()
    assert await again.get_access_request(approved.id) == approved
    assert await again.get_access_request(overdue.id) == expired
    assert expired == replace(overdue, state=RequestState.EXPIRED, answered_at=T0 + 10)
    # Still pending after the restart, and still due: the expiry finds it once.
    assert await again.get_access_request(pending.id) == pending
    assert await again.expire_access_requests(T0 + 20) == [
        replace(pending, state=RequestState.EXPIRED, answered_at=T0 + 20)
    ]
    # Ids keep growing after a restart.
    newest = await _request(again, officer)
    assert newest.id > pending.id > approved.id > overdue.id
    assert [r.id for r in await again.list_access_requests()] == [newest.id, pending.id, approved.id, overdue.id]


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
    assert await moved(store.set_pilot(T0, T0 + 24 * HOUR, T0))
    assert await moved(store.set_policy(HOUR))
    assert await moved(store.put_grant("cam-1", T0, T0 + HOUR, None))
    assert await moved(store.revoke_grant("cam-1", T0 + 1))
    assert await moved(store.set_account_disabled(officer.id, True))
    assert await moved(store.set_account_disabled(officer.id, False))
    assert await moved(store.delete_session("s1"))
    assert await moved(store.set_camera_masks("cam-1", MASKS))
    assert await moved(store.set_camera_masks("cam-1", []))


async def test_change_marker_and_the_new_writes(store: Store) -> None:
    rosa = await _resident(store)
    officer = await _officer(store)
    await store.add_camera("cam-1", rosa.id, "Front door", "tok-1")

    async def moved(write: Awaitable[object]) -> bool:
        before = await store.change_marker()
        await write
        return await store.change_marker() > before

    # Ending sessions and moving a camera are consent-relevant (passes, the officers' map) ...
    await store.add_session("s1", officer.id, T0, T0 + HOUR)
    await store.add_session("s2", officer.id, T0, T0 + HOUR)
    assert await moved(store.delete_sessions_of(officer.id))
    assert not await moved(store.delete_sessions_of(officer.id))  # none left
    assert await moved(store.set_camera_location("cam-1", (1.0, 2.0)))
    assert not await moved(store.set_camera_location("cam-1", (1.0, 2.0)))  # unchanged
    assert await moved(store.set_camera_location("cam-1", None))
    # ... log-in bookkeeping is not.
    assert not await moved(store.add_session("s3", officer.id, T0, T0 + HOUR, mfa_pending=True))
    assert not await moved(store.touch_session("s3", T0 + 60))
    assert not await moved(store.finish_mfa("s3"))
    assert not await moved(store.record_login_failure(officer.id, T0, WINDOW))
    assert not await moved(store.count_login_failures(officer.id, T0, WINDOW))
    assert not await moved(store.clear_login_failures(officer.id))
    assert not await moved(store.set_totp(officer.id, SECRET, enrolled=True))
    assert not await moved(store.use_totp_step(officer.id, STEP))
    assert not await moved(store.get_totp(officer.id))


async def test_change_marker_stays_on_reads(store: Store) -> None:
    await _camera(store)
    await store.put_grant("cam-1", T0, T0 + HOUR, None)
    marker = await store.change_marker()
    await store.get_grant("cam-1")
    await store.list_grants()
    await store.get_pilot()
    await store.get_policy()
    await store.list_cameras()
    await store.get_camera_masks("cam-1")
    assert await store.change_marker() == marker


async def test_another_process_writing_moves_the_marker(open_store: OpenStore) -> None:
    hub = await open_store()
    cli = await open_store()  # the admin CLI or another hub: a separate connection to the same backing
    rosa = await _resident(cli)
    await cli.add_camera("cam-1", rosa.id, "Front door", "tok-1")

    seen = await hub.change_marker()
    await cli.set_pilot(T0, T0 + 24 * HOUR, T0)
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
        (await cli.set_pilot(T0, T0 + HOUR, T0)).version,
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
    pilot = await first.set_pilot(T0, T0 + 24 * HOUR, T0)
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


async def test_restart_keeps_login_failures_second_factor_session_state_and_positions(open_store: OpenStore) -> None:
    first = await open_store()
    officer = await _officer(first)
    rosa = await _resident(first)
    await first.record_login_failure(officer.id, T0, WINDOW)
    await first.record_login_failure(officer.id, T0 + 1, WINDOW)
    await first.set_totp(officer.id, SECRET, enrolled=True)
    await first.use_totp_step(officer.id, STEP)
    await first.add_session("pending", officer.id, T0, T0 + HOUR, mfa_pending=True)
    await first.add_session("full", rosa.id, T0, T0 + HOUR)
    await first.touch_session("full", T0 + 1 / 3)
    camera = await first.add_camera("cam-1", rosa.id, "Front door", "tok-1", location=(40.7128, -74.006))
    enrolled = await first.get_account(officer.id)
    await first.close()

    again = await open_store()
    assert enrolled.mfa_enrolled
    assert await again.count_login_failures(officer.id, T0 + 2, WINDOW) == 2
    assert await again.get_account(officer.id) == enrolled
    assert await again.get_totp(officer.id) == (SECRET, STEP)
    assert not await again.use_totp_step(officer.id, STEP)
    assert await again.record_login_failure(officer.id, T0 + 2, WINDOW) == 3
    assert await again.get_session("pending") == Session("pending", officer.id, T0, T0 + HOUR, T0, True)
    assert await again.get_session("full") == Session("full", rosa.id, T0, T0 + HOUR, T0 + 1 / 3, False)
    assert await again.get_camera("cam-1") == camera
    assert await again.delete_sessions_of(officer.id) == 1


async def test_close_is_idempotent(store: Store) -> None:
    await store.close()
    await store.close()
