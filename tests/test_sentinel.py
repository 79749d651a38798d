"""Redis Sentinel with real processes: a primary, a replica, three sentinels, two hubs that find the primary through
the sentinels, an agent and an officer watching. Consent-closing writes wait for the replica (WAIT) and say whether
they reached it; the primary killed mid-view closes the gates within the lease, the sentinels promote the replica,
the same view resumes, and a withdrawal acknowledged just before the kill is still in force.

Solo: the failover test judges when frames stop and start again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio

from hub.audit.signing import load_or_create_signer
from hub.demo import Seeded, seed
from hub.store.redis import RedisStore
from hub.store.redis_sentinel import RedisTarget
from tests.conftest import PASSWORDS
from tests.support.client import Api, Viewer
from tests.support.procs import Hub, running_agent
from tests.support.sentinel import MASTER, SentinelSet

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.solo]

CAM = "front-door"  # watched through the failover
LEASE = 1.0  # the hubs' consent lease: shorter than the sentinels' down-after (1.5 s), so the gates close first
WAIT_TIMEOUT = 0.5


@dataclass
class Rig:
    redis: SentinelSet
    a: Hub
    b: Hub
    seeded: Seeded

    def target(self) -> RedisTarget:
        sentinels = tuple(("127.0.0.1", node.port) for node in self.redis.sentinels)
        return RedisTarget(sentinels=sentinels, master=MASTER, password=self.redis.password)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def rig(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Rig]:
    tmp = tmp_path_factory.mktemp("sentinel")
    async with SentinelSet.running(tmp / "redis") as redis:
        target = RedisTarget(
            sentinels=tuple(("127.0.0.1", n.port) for n in redis.sentinels), master=MASTER, password=redis.password
        )
        store = await RedisStore.open(target, default_max_grant_seconds=7 * 86400)
        try:
            seeded = await seed(store)
        finally:
            await store.close()
        key = tmp / "audit-signer.key"
        load_or_create_signer(key, "porchlight.localhost/audit")
        env = {
            **redis.hub_env(tmp / "redis-password"),
            "PORCHLIGHT_STORE__REDIS_WAIT_TIMEOUT_SECONDS": str(WAIT_TIMEOUT),
            "PORCHLIGHT_CONSENT__LEASE_SECONDS": str(LEASE),
            "PORCHLIGHT_CONSENT__STORE_TIMEOUT_SECONDS": "0.5",
            "PORCHLIGHT_AUDIT__SIGNING_KEY_FILE": str(key),
        }
        hubs = [Hub(tmp / name, env={**env, "PORCHLIGHT_CLUSTER__NODE_ID": name}) for name in ("hub-a", "hub-b")]
        for hub in hubs:
            hub.tmp.mkdir()
            hub.write_config()
        try:
            await asyncio.gather(redis.ready(), *(hub.start() for hub in hubs))
            yield Rig(redis, hubs[0], hubs[1], seeded)
        finally:
            for hub in hubs:
                await hub.stop()


async def _opt_in_and_withdraw(owner: Api, camera: str) -> tuple[dict, float]:
    status, body = await owner.call("POST", f"/api/cameras/{camera}/grant", {"duration_seconds": 3600})
    assert status == 201, body
    began = time.monotonic()
    status, body = await owner.call("DELETE", f"/api/cameras/{camera}/grant")
    assert status == 200, body
    return body, time.monotonic() - began


async def test_a_withdrawal_says_whether_it_reached_the_replica(rig: Rig) -> None:
    owner = await Api(rig.b.url).login("bob", PASSWORDS["bob"])
    try:
        body, _ = await _opt_in_and_withdraw(owner, "porch")
        assert body["gates"]["replicated"] is True
        # A replica that does not answer: the withdrawal waits at most the WAIT timeout, closes the gates anyway
        # (confirmed: no hub carries the camera) and says it is not known to be on a replica.
        rig.redis.replica.pause()
        try:
            body, took = await _opt_in_and_withdraw(owner, "porch")
        finally:
            rig.redis.replica.resume()
        assert body["gates"]["replicated"] is False
        assert body["gates"]["confirmed"] is True
        assert WAIT_TIMEOUT * 0.9 <= took < WAIT_TIMEOUT + 1.0
        assert body["grant"]["revoked_at"] is not None and not body["grant"]["live"]
    finally:
        await owner.close()


async def test_primary_killed_mid_view_fails_over(rig: Rig, tmp_path: Path) -> None:
    async with running_agent(rig.a, CAM, rig.seeded.tokens[CAM], tmp_path):
        officer = await Api(rig.a.url).login("olivia", PASSWORDS["olivia"])
        viewer = Viewer(officer, CAM)
        assert await viewer.watch() == 201, viewer.error
        await viewer.wait_frames(10)
        # Acknowledged just before the kill, and said to be on the replica.
        owner = await Api(rig.b.url).login("alice", PASSWORDS["alice"])
        body, _ = await _opt_in_and_withdraw(owner, "backyard")
        assert body["gates"]["replicated"] is True

        # The replica's role, watched until the sentinels promote it: it cannot serve any hub as primary before.
        still_replica = time.time()

        async def watch_role() -> None:
            nonlocal still_replica
            while await rig.redis.role(rig.redis.replica) != "master":
                still_replica = time.time()
                await asyncio.sleep(0.05)

        watcher = asyncio.create_task(watch_role())
        killed_at = time.time()
        rig.redis.primary.kill()
        try:
            await rig.redis.wait_promoted()
            await asyncio.wait_for(watcher, 5)
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        assert still_replica > killed_at + LEASE + 0.3, "the failover came too soon to see the gates close"

        # The same view resumes: losing the store pauses a view, it does not end it (its WebRTC session is between
        # the hub and the viewer, not through Redis); the hub reloads from the new primary and its gate reopens.
        count = len(viewer.stamped())
        await viewer.wait_frames(count + 10, timeout=20)
        assert not viewer.track_ended.is_set()

        # Between the lease's end and the promotion nothing was captured and shown, nor received (one frame's slack).
        shut = killed_at + LEASE
        captured = [s for s in viewer.stamped() if shut * 1000 <= s <= still_replica * 1000]
        assert not captured, f"{len(captured)} frames captured after the lease ended reached the viewer"
        received = [f for f in viewer.frames if shut + 0.3 < f.received_at <= still_replica]
        assert not received, f"{len(received)} frames reached the viewer after the lease ended"

        # The withdrawal acknowledged before the kill holds on the new primary and on both hubs.
        store = await RedisStore.open(rig.target(), default_max_grant_seconds=7 * 86400)
        try:
            grant = await store.get_grant("backyard")
        finally:
            await store.close()
        assert grant is not None and grant.revoked_at is not None
        for hub in (rig.a, rig.b):
            other = await Api(hub.url).login("sam", PASSWORDS["sam"])
            refused = Viewer(other, "backyard")
            assert await refused.watch() == 403, refused.error
            await refused.close()
            await other.close()
        await owner.close()
        await viewer.close()
        await officer.close()
