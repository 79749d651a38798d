"""The cluster benchmark's rig: one real redis-server, hub processes A, B, C on it, and one camera agent on hub A.

Every hub runs passthrough forwarding with every limit the benchmark would trip lifted (its one officer logs in
from one address on every hub for each phase and opens tens of views; the relays between hubs come from the same
address), shares the audit signing key and, once the hub knows `cluster.peer_secret_file`, the hub-to-hub secret.
Hubs of a tree without that setting are started without it (they then answer a WHEP request for a camera of another
hub with 307, which the benchmark notices and reports).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from hub.audit.signing import load_or_create_signer
from hub.config import ClusterConfig
from hub.demo import Seeded, seed
from hub.store.redis import RedisStore
from tests.support.cluster import hub_env
from tests.support.procs import Hub, Proc, running_agent
from tests.support.redis_server import RedisServer
from tests.support.secrets import SECRETS

CAMERA = "front-door"
NAMES = ("a", "b", "c")
# The hub's limits are for people; the benchmark's one officer logs in on every hub per phase (10 a minute per
# account, 60 per address by default) and opens a view per viewer (8 peers per officer, 30 offers a minute), all
# from 127.0.0.1, as the relays between hubs do.
LIFTED = {
    "PORCHLIGHT_LIMITS__LOGIN_PER_SOURCE": "100000/minute",
    "PORCHLIGHT_LIMITS__LOGIN_PER_ACCOUNT": "100000/minute",
    "PORCHLIGHT_LIMITS__OFFERS_PER_SOURCE": "100000/minute",
    "PORCHLIGHT_LIMITS__OFFERS_PER_ACCOUNT": "100000/minute",
    "PORCHLIGHT_LIMITS__PEERS_PER_OFFICER": "100000",
    "PORCHLIGHT_LIMITS__PEERS_TOTAL": "100000",
}
MEDIA = {"PORCHLIGHT_MEDIA__FORWARDING": "passthrough"}


def relay_configurable() -> bool:
    """Whether this tree's hub knows the hub-to-hub secret (`cluster.peer_secret_file`): the relay's setting."""
    return "peer_secret_file" in ClusterConfig.model_fields


def cluster_settings(tmp: Path) -> dict[str, str]:
    """The environment every hub of the rig shares about the cluster: the hub-to-hub secret (written to a file
    only this user reads) and WHEP answered through the relay, when this tree's hub has those settings."""
    env: dict[str, str] = {}
    fields = ClusterConfig.model_fields
    if "peer_secret_file" in fields:
        secret = tmp / "peer-secret"
        secret.touch(mode=0o600)
        value = secrets.token_urlsafe(32)
        secret.write_text(value, encoding="utf-8")
        SECRETS.add(value, "hub-to-hub secret")  # no hub log may show it (the suite scans them; issue 8)
        env["PORCHLIGHT_CLUSTER__PEER_SECRET_FILE"] = str(secret)
    if "whep_redirect" in fields:
        env["PORCHLIGHT_CLUSTER__WHEP_REDIRECT"] = "false"
    return env


@dataclass
class Rig:
    """The running rig: Redis, the hubs by name ("a" owns the camera), the demo seed and the camera's agent."""

    redis: RedisServer
    hubs: dict[str, Hub]
    seeded: Seeded
    agent: Proc

    @property
    def owner(self) -> Hub:
        return self.hubs["a"]


@contextlib.asynccontextmanager
async def cluster_rig(tmp: Path, names: tuple[str, ...] = NAMES) -> AsyncIterator[Rig]:
    """Start Redis (seeded with the demo), the hubs of `names` (the first one owns the camera) and the camera's
    agent on the first hub; stop every process on the way out, whatever happened."""
    with RedisServer.running(tmp / "redis") as redis:
        store = await RedisStore.open(redis.url, default_max_grant_seconds=7 * 86400)
        try:
            seeded = await seed(store)
        finally:
            await store.close()
        key = tmp / "audit-signer.key"
        load_or_create_signer(key, "porchlight.localhost/audit")
        shared = {**LIFTED, **MEDIA, **cluster_settings(tmp)}
        hubs = {name: Hub(tmp / name, env={**hub_env(f"hub-{name}", redis.url, key), **shared}) for name in names}
        async with contextlib.AsyncExitStack() as stack:
            for hub in hubs.values():
                hub.tmp.mkdir()
                hub.write_config()
                stack.push_async_callback(hub.stop)
            # At once (each takes seconds); every start finishes before a failure is raised, so none is left half-way.
            started = await asyncio.gather(*(hub.start() for hub in hubs.values()), return_exceptions=True)
            for outcome in started:
                if isinstance(outcome, BaseException):
                    raise outcome
            owner = hubs[names[0]]
            agent = await stack.enter_async_context(running_agent(owner, CAMERA, seeded.tokens[CAMERA], owner.tmp))
            yield Rig(redis, hubs, seeded, agent)
