"""The cluster benchmark's rig: hub processes A, B, C on one real redis-server (`tests.support.cluster.many_hubs`:
the demo seed, one audit key and one hub-to-hub secret for all) and one camera agent on hub A.

Every hub forwards in passthrough, answers WHEP for another hub's camera through the relay (not 307), and has every
limit the benchmark would trip lifted: its one officer logs in on every hub for each phase and opens tens of views,
all from 127.0.0.1, where the relays between hubs come from too.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from hub.demo import Seeded
from tests.support.cluster import many_hubs
from tests.support.procs import Hub, Proc, running_agent
from tests.support.redis_server import RedisServer

CAMERA = "front-door"
NAMES = ("a", "b", "c")
# The hub's limits are for people: 10 log-ins a minute per account and 60 per address, 8 peers per officer, 30
# offers a minute per officer and 120 per address, 256 peers in all.
LIFTED = {
    "PORCHLIGHT_LIMITS__LOGIN_PER_SOURCE": "100000/minute",
    "PORCHLIGHT_LIMITS__LOGIN_PER_ACCOUNT": "100000/minute",
    "PORCHLIGHT_LIMITS__OFFERS_PER_SOURCE": "100000/minute",
    "PORCHLIGHT_LIMITS__OFFERS_PER_ACCOUNT": "100000/minute",
    "PORCHLIGHT_LIMITS__PEERS_PER_OFFICER": "100000",
    "PORCHLIGHT_LIMITS__PEERS_TOTAL": "100000",
}
SETTINGS = {
    **LIFTED,
    "PORCHLIGHT_MEDIA__FORWARDING": "passthrough",
    "PORCHLIGHT_CLUSTER__WHEP_REDIRECT": "false",  # the default, said here: the benchmark measures the relay
}


@dataclass
class Rig:
    """The running rig: Redis, the hubs by name ("a" owns the camera), the demo seed and the camera's agent."""

    redis: RedisServer
    hubs: dict[str, Hub]
    seeded: Seeded
    agent: Proc

    @property
    def owner(self) -> Hub:
        return self.hubs[NAMES[0]]


@contextlib.asynccontextmanager
async def cluster_rig(tmp: Path, appendonly: bool = False) -> AsyncIterator[Rig]:
    """Start Redis (`appendonly`: an AOF fsynced on every write, as deployed), hubs A, B and C, and the camera's
    agent on hub A; stop every process on the way out, whatever happened."""
    # Hub A straight to Redis: the tests' cuttable proxy would put this process on A's path to the store.
    async with many_hubs(tmp, len(NAMES), appendonly=appendonly, a_via_proxy=False, env=SETTINGS) as started:
        hubs = dict(zip(NAMES, started.hubs, strict=True))
        owner = hubs[NAMES[0]]
        async with running_agent(owner, CAMERA, started.seeded.tokens[CAMERA], owner.tmp) as agent:
            yield Rig(started.redis, hubs, started.seeded, agent)
