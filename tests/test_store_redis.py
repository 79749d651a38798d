"""Redis-only store checks: the change channel, the hub bus, camera ownership leases, the key layout, and a Redis
that stops answering (SIGSTOP) or dies (SIGKILL) and comes back. The contract both stores share is in
tests/test_store_contract.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aredis

from hub.consent.decision import Grant, Pilot
from hub.store.base import Account, Camera, NotFound, RequestState, Role, Session, StoreUnavailable
from hub.store.redis import RedisStore
from hub.store.redis_accounts import LOGIN_FAILURE_GRACE_SECONDS
from hub.store.redis_sessions import SESSION_GRACE_SECONDS
from tests.support.procs import free_port, wait_until
from tests.support.redis_server import RedisServer

DEFAULT_MAX = 7 * 24 * 3600.0
T0 = 1_700_000_000.0
HOUR = 3600.0
MASKS = [{"style": "black", "points": [[0.0, 0.0], [1 / 3, 0.1 + 0.2], [0.5, 1.0]]}]
RECEIVE_TIMEOUT = 3.0
# Short client timeouts for the fault tests; a failing call must end within a few of them.
FAULT_TIMEOUT = 0.2
FAULT_BOUND = 1.5

OpenStore = Callable[..., Awaitable[RedisStore]]


@pytest.fixture
async def open_store(redis_server: RedisServer) -> AsyncIterator[OpenStore]:
    """Stores on the module's redis-server (flushed first): hubs sharing one Redis."""
    redis_server.flushall()
    opened: list[RedisStore] = []

    async def open_one(**options: Any) -> RedisStore:
        store = await RedisStore.open(redis_server.url, default_max_grant_seconds=DEFAULT_MAX, **options)
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        await store.close()


@pytest.fixture
async def raw(redis_server: RedisServer) -> AsyncIterator[aredis.Redis]:
    """A plain client for looking at the keys."""
    client = aredis.Redis.from_url(redis_server.url, decode_responses=True, socket_timeout=2.0)
    yield client
    await client.aclose()


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of the test's own, for faults that must not disturb the module's."""
    with RedisServer.running(tmp_path / "redis") as server:
        yield server


async def _next(messages: AsyncGenerator[dict[str, Any], None]) -> dict[str, Any]:
    return await asyncio.wait_for(anext(messages), RECEIVE_TIMEOUT)


async def _fails_quickly(call: Awaitable[object]) -> float:
    """Await `call`, which must raise StoreUnavailable within FAULT_BOUND seconds; how long it took."""
    started = time.monotonic()
    with pytest.raises(StoreUnavailable):
        await asyncio.wait_for(call, FAULT_BOUND * 2)
    elapsed = time.monotonic() - started
    assert elapsed < FAULT_BOUND, f"StoreUnavailable took {elapsed:.2f}s"
    return elapsed


async def _camera(store: RedisStore, camera_id: str = "cam-1") -> int:
    owner = await store.add_account("owner-of-" + camera_id, "h", Role.RESIDENT, None)
    await store.add_camera(camera_id, owner.id, "Front door", "tok-" + camera_id)
    return owner.id


# -- change channel -----------------------------------------------------------------------------------------


async def test_every_consent_write_is_announced_to_other_hubs(open_store: OpenStore) -> None:
    writer, listener = await open_store(), await open_store()
    owner_id = await _camera(writer)
    officer = await writer.add_account("otto", "h", Role.OFFICER, (await writer.add_agency("pd", "PD")).id)
    await writer.add_session("s1", officer.id, T0, T0 + HOUR)

    async with contextlib.aclosing(listener.subscribe()) as messages:
        hello = await _next(messages)
        assert hello == {"kind": "subscribed", "id": None, "version": await writer.change_marker()}

        async def announced(write: Awaitable[object], kind: str, id_: object) -> None:
            await write
            message = await _next(messages)
            assert message == {"kind": kind, "id": id_, "version": await listener.change_marker()}

        await announced(writer.set_pilot(T0, T0 + 24 * HOUR, T0), "pilot", None)
        await announced(writer.set_policy(HOUR), "policy", None)
        await announced(writer.put_grant("cam-1", T0, T0 + HOUR, frozenset({"pd"})), "grant", "cam-1")
        await announced(writer.revoke_grant("cam-1", T0 + 1), "grant", "cam-1")
        await writer.revoke_grant("cam-1", T0 + 2)  # already withdrawn: no change, no message
        await announced(writer.set_account_disabled(officer.id, True), "account", officer.id)
        await writer.set_account_disabled(officer.id, True)  # unchanged: no message
        await announced(writer.add_camera("cam-2", owner_id, "Back door", "tok-2"), "camera", "cam-2")
        await announced(writer.set_device_token("cam-2", "tok-3"), "camera", "cam-2")
        await announced(writer.delete_session("s1"), "session", officer.id)
        await writer.add_session("s2", officer.id, T0, T0 + HOUR)
        await writer.add_session("s3", officer.id, T0, T0 + HOUR)
        await announced(writer.delete_sessions_of(officer.id), "session", officer.id)  # one message for both
        await writer.delete_sessions_of(officer.id)  # none left: no message
        await announced(writer.set_camera_location("cam-2", (1.0, 2.0)), "camera", "cam-2")
        await writer.set_camera_location("cam-2", (1.0, 2.0))  # unchanged: no message
        await announced(writer.set_camera_location("cam-2", None), "camera", "cam-2")
        await announced(writer.set_camera_masks("cam-2", MASKS), "camera", "cam-2")
        await announced(writer.set_camera_masks("cam-2", []), "camera", "cam-2")  # cleared: a change too
        with pytest.raises(NotFound):
            await writer.set_camera_masks("cam-9", MASKS)  # unknown camera: no change, no message
        await announced(writer.set_policy(2 * HOUR), "policy", None)  # the next message is this one


async def test_versions_in_messages_match_the_records(open_store: OpenStore) -> None:
    store = await open_store()
    await _camera(store)
    async with contextlib.aclosing(store.subscribe()) as messages:
        await _next(messages)
        grant = await store.put_grant("cam-1", T0, T0 + HOUR, None)
        pilot = await store.set_pilot(T0, T0 + HOUR, T0)
        assert [(await _next(messages))["version"] for _ in range(2)] == [grant.version, pilot.version]
        masks_version = await store.set_camera_masks("cam-1", MASKS)
        assert await _next(messages) == {"kind": "camera", "id": "cam-1", "version": masks_version}
        assert (await store.get_camera("cam-1")).masks_version == masks_version


async def test_an_idle_channel_stays_open(open_store: OpenStore) -> None:
    # Silence longer than the socket timeout is answered by pings, not taken for a dead Redis.
    listener, writer = await open_store(socket_timeout=FAULT_TIMEOUT), await open_store()
    async with contextlib.aclosing(listener.subscribe()) as messages:
        await _next(messages)
        waiting = asyncio.create_task(_next(messages))
        await asyncio.sleep(FAULT_TIMEOUT * 5)
        assert not waiting.done()
        policy = await writer.set_policy(HOUR)
        assert await waiting == {"kind": "policy", "id": None, "version": policy.version}


async def test_hub_bus_carries_json_messages(open_store: OpenStore) -> None:
    sender, receiver = await open_store(), await open_store()
    async with contextlib.aclosing(receiver.subscribe_raw("withdrawn")) as messages:
        assert await _next(messages) == {"kind": "subscribed", "channel": "withdrawn"}
        await sender.publish_raw("other-topic", {"ignored": True})
        await sender.publish_raw("withdrawn", {"camera": "cam-1", "node": "hub-a", "closed": True})
        assert await _next(messages) == {"camera": "cam-1", "node": "hub-a", "closed": True}


# -- camera ownership ---------------------------------------------------------------------------------------


async def test_ownership_claim_renew_refuse_release(open_store: OpenStore) -> None:
    hub_a, hub_b = await open_store(), await open_store()
    assert await hub_a.camera_owner("cam-1") is None
    assert await hub_a.claim_camera("cam-1", "hub-a", "http://a:8080", ttl=30)
    assert await hub_b.camera_owner("cam-1") == ("hub-a", "http://a:8080")
    assert not await hub_b.claim_camera("cam-1", "hub-b", "http://b:8080", ttl=30)  # no stealing
    assert await hub_a.claim_camera("cam-1", "hub-a", "http://a:9090", ttl=30)  # renewal, new address
    assert await hub_b.camera_owner("cam-1") == ("hub-a", "http://a:9090")
    await hub_b.release_camera("cam-1", "hub-b")  # not hub-b's to release
    assert await hub_a.camera_owner("cam-1") == ("hub-a", "http://a:9090")
    await hub_a.release_camera("cam-1", "hub-a")
    assert await hub_b.camera_owner("cam-1") is None
    assert await hub_b.claim_camera("cam-1", "hub-b", "http://b:8080", ttl=30)
    assert await hub_a.camera_owner("cam-1") == ("hub-b", "http://b:8080")


async def test_ownership_expires_unless_renewed(open_store: OpenStore) -> None:
    hub_a, hub_b = await open_store(), await open_store()
    assert await hub_a.claim_camera("cam-1", "hub-a", "http://a", ttl=0.3)
    assert not await hub_b.claim_camera("cam-1", "hub-b", "http://b", ttl=0.3)
    await wait_until(_lapsed(hub_b, "cam-1"), 3.0, "the lease to lapse")
    assert await hub_b.claim_camera("cam-1", "hub-b", "http://b", ttl=30)
    assert await hub_a.camera_owner("cam-1") == ("hub-b", "http://b")


def _lapsed(store: RedisStore, camera_id: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await store.camera_owner(camera_id) is None

    return check


# -- layout ---------------------------------------------------------------------------------------------------


async def test_keys_live_under_the_prefix_and_values_are_json(open_store: OpenStore, raw: aredis.Redis) -> None:
    store, other = await open_store(), await open_store(prefix="other:")
    await _camera(store)
    await store.put_grant("cam-1", T0 + 1 / 3, T0 + HOUR, frozenset({"pd", "ab"}))
    assert await other.get_grant("cam-1") is None  # another prefix is another deployment
    assert await other.change_marker() == 0
    keys = [key async for key in raw.scan_iter("*")]
    assert keys and all(key.startswith("pl:") for key in keys), keys
    fields = await raw.hgetall("pl:grant:cam-1")
    assert {name: json.loads(value) for name, value in fields.items()} == {
        "camera_id": "cam-1",
        "starts_at": T0 + 1 / 3,
        "ends_at": T0 + HOUR,
        "agencies": ["ab", "pd"],
        "revoked_at": None,
        "version": int(await raw.get("pl:version") or 0),
        "pilot_run": 0,  # no pilot yet
        "audio": False,  # off unless the owner turns it on
    }


async def test_pilot_runs_and_account_versions_live_in_their_hashes(open_store: OpenStore, raw: aredis.Redis) -> None:
    store = await open_store()
    await _camera(store)
    pilot = await store.set_pilot(T0 + 1 / 3, T0 + HOUR, T0)
    fields = await raw.hgetall("pl:pilot")
    assert {name: json.loads(value) for name, value in fields.items()} == {
        "starts_at": T0 + 1 / 3,
        "ends_at": T0 + HOUR,
        "ended": False,
        "run": 1,
        "version": pilot.version,
    }
    ended = await store.set_pilot(T0 + 1 / 3, T0 + 0.5, T0 + 0.5)
    assert await raw.hmget("pl:pilot", ["run", "ended", "version"]) == ["1", "true", str(ended.version)]
    assert (await store.set_pilot(T0 + 1, T0 + HOUR, T0 + 1)).run == 2
    grant = await store.put_grant("cam-1", T0, T0 + HOUR, None)
    assert await raw.hmget("pl:grant:cam-1", ["pilot_run", "version"]) == ["2", str(grant.version)]
    rosa = await store.add_account("rosa", "h", Role.RESIDENT, None)
    disabled = await store.set_account_disabled(rosa.id, True)
    assert await raw.hget(f"pl:account:{rosa.id}", "version") == str(disabled.version) == await raw.get("pl:version")


async def test_camera_masks_live_in_the_camera_hash_as_json(open_store: OpenStore, raw: aredis.Redis) -> None:
    store = await open_store()
    await _camera(store)
    assert not await raw.hexists("pl:camera:cam-1", "masks")  # none until set
    version = await store.set_camera_masks("cam-1", MASKS)
    assert await raw.hmget("pl:camera:cam-1", ["masks", "masks_version"]) == [
        json.dumps(MASKS, sort_keys=True),  # verbatim: the script never re-encodes it
        str(version),
    ]
    assert await raw.get("pl:version") == str(version)


async def test_sessions_also_expire_in_redis(open_store: OpenStore, raw: aredis.Redis) -> None:
    store = await open_store()
    rosa = await store.add_account("rosa", "h", Role.RESIDENT, None)
    await store.add_session("s1", rosa.id, T0, T0 + HOUR)
    ttl = await raw.pttl("pl:session:s1") / 1000
    assert HOUR + SESSION_GRACE_SECONDS - 5 < ttl <= HOUR + SESSION_GRACE_SECONDS
    assert await store.purge_sessions(T0 + HOUR) == 1
    assert await raw.zcard("pl:sessions-by-expiry") == 0


async def test_an_accounts_session_index_follows_its_sessions(open_store: OpenStore, raw: aredis.Redis) -> None:
    store = await open_store()
    rosa = await store.add_account("rosa", "h", Role.RESIDENT, None)
    index = f"pl:sessions-of:{rosa.id}"
    await store.add_session("short", rosa.id, T0, T0 + 60)
    await store.add_session("long", rosa.id, T0, T0 + 2 * HOUR)
    await store.add_session("middle", rosa.id, T0, T0 + HOUR)
    await store.add_session("gone", rosa.id, T0, T0 + HOUR)
    assert await raw.smembers(index) == {"short", "long", "middle", "gone"}
    # The index lives as long as its longest session key.
    assert await raw.pttl(index) >= await raw.pttl("pl:session:long") > await raw.pttl("pl:session:middle")
    await store.delete_session("gone")
    assert await store.purge_sessions(T0 + 60) == 1
    assert await raw.smembers(index) == {"long", "middle"}
    assert await store.delete_sessions_of(rosa.id) == 2
    assert not await raw.exists(index)
    assert await raw.zcard("pl:sessions-by-expiry") == 0
    await store.add_session("again", rosa.id, T0, T0 + HOUR)
    assert await store.purge_sessions(T0 + HOUR) == 1
    assert not await raw.exists(index)


async def test_delete_sessions_of_skips_a_session_whose_key_expired(open_store: OpenStore, raw: aredis.Redis) -> None:
    store = await open_store()
    rosa = await store.add_account("rosa", "h", Role.RESIDENT, None)
    await store.add_session("s1", rosa.id, T0, T0 + HOUR)
    await store.add_session("s2", rosa.id, T0, T0 + HOUR)
    await raw.delete("pl:session:s1")  # as its Redis TTL would
    assert await store.delete_sessions_of(rosa.id) == 1
    assert await raw.zcard("pl:sessions-by-expiry") == 0


async def test_login_failures_key(open_store: OpenStore, raw: aredis.Redis) -> None:
    store = await open_store()
    rosa = await store.add_account("rosa", "h", Role.RESIDENT, None)
    key = f"pl:login-failures:{rosa.id}"
    for t in (0, 1, 2):
        await store.record_login_failure(rosa.id, T0 + t, 900.0)
    assert await raw.zcard(key) == 3
    assert 900 + LOGIN_FAILURE_GRACE_SECONDS - 5 < await raw.pttl(key) / 1000 <= 900 + LOGIN_FAILURE_GRACE_SECONDS
    assert await store.record_login_failure(rosa.id, T0 + 901, 900.0) == 2
    assert await raw.zcard(key) == 2  # the two older ones were dropped
    assert await store.count_login_failures(rosa.id, T0 + 901, 900.0) == 2
    assert await raw.zcard(key) == 2  # counting writes nothing
    await store.clear_login_failures(rosa.id)
    assert not await raw.exists(key)


async def test_access_request_keys(open_store: OpenStore, raw: aredis.Redis) -> None:
    store = await open_store()
    await _camera(store)
    await store.add_agency("pd", "City Police")
    otto = await store.add_account("otto", "h", Role.OFFICER, "pd")
    first = await store.add_access_request("cam-1", otto.id, "c-1", "r", HOUR, True, T0 + 1 / 3, T0 + 60)
    second = await store.add_access_request("cam-1", otto.id, "c-2", "r", HOUR, False, T0, T0 + 120)
    fields = await raw.hgetall(f"pl:access-request:{first.id}")
    assert {name: json.loads(value) for name, value in fields.items()} == {
        "id": first.id,
        "camera_id": "cam-1",
        "account_id": otto.id,
        "agency_id": "pd",
        "case_number": "c-1",
        "reason": "r",
        "duration_seconds": HOUR,
        "urgent": True,
        "created_at": T0 + 1 / 3,
        "expires_at": T0 + 60,
        "state": "pending",
        "answered_at": None,
    }
    assert await raw.get("pl:access-request-seq") == str(second.id)
    by_id = [(str(first.id), float(first.id)), (str(second.id), float(second.id))]
    for index in (
        "pl:access-requests",
        "pl:access-requests-of-camera:cam-1",
        f"pl:access-requests-of-account:{otto.id}",
    ):
        assert await raw.zrange(index, 0, -1, withscores=True) == by_id
    pending = "pl:access-requests-pending"
    assert await raw.zrange(pending, 0, -1, withscores=True) == [(str(first.id), T0 + 60), (str(second.id), T0 + 120)]
    # Answered or expired, a request leaves the pending set in the same script.
    await store.answer_access_request(second.id, RequestState.APPROVED, T0 + 1)
    assert await raw.zrange(pending, 0, -1) == [str(first.id)]
    assert await store.expire_access_requests(T0 + 60) != []
    assert await raw.zcard(pending) == 0
    assert json.loads(await raw.hget(f"pl:access-request:{first.id}", "answered_at") or "") == T0 + 60
    # Writes to access requests are not consent changes: no version, no message.
    assert await raw.get("pl:version") == "1"  # the camera's


async def test_records_from_before_the_new_fields_read_with_defaults(open_store: OpenStore, raw: aredis.Redis) -> None:
    # Written as a hub of the previous version wrote them: no lock, TOTP, last-seen, MFA, position or mask fields, no
    # pilot runs or account versions, and no per-account session index.
    store = await open_store()

    def encoded(**fields: object) -> list[str]:
        """HSET's items: name, JSON value, name, JSON value, ..."""
        return [part for name, value in fields.items() for part in (name, json.dumps(value))]

    account = encoded(
        id=7, username="rosa", password_hash="h", role="resident", agency_id=None, disabled=False, created_at=T0
    )
    await raw.hset("pl:account:7", items=account)
    await raw.hset("pl:account-by-username", "rosa", "7")
    await raw.zadd("pl:accounts", {"7": 7})
    await raw.hset("pl:session:s1", items=encoded(token_hash="s1", account_id=7, created_at=T0, expires_at=T0 + HOUR))
    await raw.zadd("pl:sessions-by-expiry", {"s1": T0 + HOUR})
    camera = encoded(id="cam-1", owner_id=7, name="Front door", token_hash="tok-1", created_at=T0)
    await raw.hset("pl:camera:cam-1", items=camera)
    await raw.sadd("pl:cameras", "cam-1")
    await raw.sadd("pl:cameras-of:7", "cam-1")
    await raw.hset("pl:camera-by-token", "tok-1", "cam-1")
    # A pilot and a grant from before pilot runs: both read as run 1, so the grant still counts in that pilot.
    await raw.hset("pl:pilot", items=encoded(starts_at=T0, ends_at=T0 + 10 * HOUR, version=2))
    grant = encoded(camera_id="cam-1", starts_at=T0, ends_at=T0 + HOUR, agencies=None, revoked_at=None, version=1)
    await raw.hset("pl:grant:cam-1", items=grant)
    await raw.sadd("pl:grants", "cam-1")
    await raw.set("pl:version", "2")

    assert await store.get_pilot() == Pilot(T0, T0 + 10 * HOUR, 2, run=1, ended=False)
    old_grant = Grant("cam-1", T0, T0 + HOUR, None, None, 1, pilot_run=1)
    assert await store.get_grant("cam-1") == old_grant
    assert await store.list_grants() == [old_grant]
    revoked = await store.revoke_grant("cam-1", T0 + 1)
    assert revoked is not None and revoked.pilot_run == 1
    # The running pilot extended stays run 1; a grant made now is of run 1 too.
    assert (await store.set_pilot(T0, T0 + 20 * HOUR, T0 + HOUR)).run == 1
    assert (await store.put_grant("cam-1", T0, T0 + HOUR, None)).pilot_run == 1

    rosa = Account(7, "rosa", Role.RESIDENT, None, False, T0, mfa_enrolled=False)
    assert await store.get_account(7) == rosa
    assert await store.list_accounts() == [rosa]
    assert await store.get_totp(7) == (None, -1)
    assert not await store.use_totp_step(7, 5)
    assert await store.get_session("s1") == Session("s1", 7, T0, T0 + HOUR, last_seen_at=T0, mfa_pending=False)
    assert await store.get_camera("cam-1") == Camera("cam-1", 7, "Front door", T0, lat=None, lon=None)
    assert await store.list_cameras(7) == [await store.camera_for_token("tok-1")]

    # And the new writes work on them.
    await store.touch_session("s1", T0 - 1)
    assert (await store.get_session("s1")).last_seen_at == T0  # not before its creation
    await store.touch_session("s1", T0 + 5)
    assert (await store.get_session("s1")).last_seen_at == T0 + 5
    assert await store.finish_mfa("s1") == Session("s1", 7, T0, T0 + HOUR, last_seen_at=T0 + 5)
    assert await store.record_login_failure(7, T0, 900.0) == 1
    assert (await store.set_totp(7, "SECRETSECRETSECR", enrolled=True)).mfa_enrolled
    assert await store.use_totp_step(7, 5)
    assert (await store.set_camera_location("cam-1", (1.0, 2.0))).lat == 1.0
    with pytest.raises(NotFound):
        await store.finish_mfa("s2")
    # A camera from before masks has none (version 0), and takes them.
    assert await store.get_camera_masks("cam-1") == (0, [])
    assert (await store.get_camera("cam-1")).masks_version == 0
    version = await store.set_camera_masks("cam-1", MASKS)
    assert await store.get_camera_masks("cam-1") == (version, MASKS)
    assert [c.masks_version for c in await store.list_cameras()] == [version]
    # An old account (rosa) has version 0 until it is disabled or enabled.
    assert (await store.get_account(7)).version == 0
    disabled = await store.set_account_disabled(7, True)
    assert disabled.version == await store.change_marker() > 0
    assert await store.set_account_disabled(7, False) == replace(
        disabled, disabled=False, version=await store.change_marker()
    )


# -- faults ---------------------------------------------------------------------------------------------------


async def test_open_fails_fast_without_a_server() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    await _fails_quickly(RedisStore.open(url, default_max_grant_seconds=DEFAULT_MAX, connect_timeout=FAULT_TIMEOUT))


async def _fault_store(server: RedisServer) -> RedisStore:
    return await RedisStore.open(
        server.url, default_max_grant_seconds=DEFAULT_MAX, connect_timeout=FAULT_TIMEOUT, socket_timeout=FAULT_TIMEOUT
    )


async def test_a_stopped_redis_is_unavailable_then_works_again(own_server: RedisServer) -> None:
    store = await _fault_store(own_server)
    try:
        await _camera(store)
        async with contextlib.aclosing(store.subscribe()) as messages:
            await _next(messages)
            own_server.pause()
            try:
                await _fails_quickly(store.get_grant("cam-1"))
                await _fails_quickly(store.put_grant("cam-1", T0, T0 + HOUR, None))
                await _fails_quickly(store.change_marker())
                await _fails_quickly(_next(messages))  # the pinged channel stays silent
                await _fails_quickly(RedisStore.open(own_server.url, default_max_grant_seconds=1, socket_timeout=0.2))
            finally:
                own_server.resume()
        granted = await store.put_grant("cam-1", T0, T0 + HOUR, None)
        assert await store.get_grant("cam-1") == granted
        async with contextlib.aclosing(store.subscribe()) as messages:
            assert (await _next(messages))["version"] == granted.version
    finally:
        await store.close()


async def test_a_killed_redis_is_unavailable_then_a_restarted_one_works(own_server: RedisServer) -> None:
    store = await _fault_store(own_server)
    try:
        await _camera(store)
        async with contextlib.aclosing(store.subscribe()) as messages:
            await _next(messages)
            own_server.kill()
            await _fails_quickly(_next(messages))  # the connection dropped: reconnect and reload
        await _fails_quickly(store.get_camera("cam-1"))
        await _fails_quickly(store.set_pilot(T0, T0 + HOUR, T0))
        own_server.restart()
        # Nothing was persisted: the restarted Redis is empty, and the scripts load again on first use.
        assert await store.change_marker() == 0
        await _camera(store)
        assert (await store.put_grant("cam-1", T0, T0 + HOUR, None)).version == 2
    finally:
        await store.close()


async def test_a_password_in_the_url_is_used_and_a_wrong_one_refused(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "auth", password="correct-horse-battery")
    server.start()
    try:
        store = await RedisStore.open(server.url, default_max_grant_seconds=3600)
        try:
            await store.add_agency("metro", "Metro")
            assert [a.id for a in await store.list_agencies()] == ["metro"]
        finally:
            await store.close()
        wrong = server.url.replace("correct-horse-battery", "wrong")
        with pytest.raises(Exception, match=r"(?i)auth|password|invalid"):
            await RedisStore.open(wrong, default_max_grant_seconds=3600)
        with pytest.raises(Exception, match=r"(?i)auth"):
            await RedisStore.open(f"redis://127.0.0.1:{server.port}/0", default_max_grant_seconds=3600)
    finally:
        server.stop()
