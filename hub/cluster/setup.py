"""Which cluster state a hub keeps: local on the embedded store, Redis when hubs share it."""

from __future__ import annotations

from aiohttp import web

from hub.cluster.base import ClusterState
from hub.cluster.local import LocalCluster
from hub.cluster.redis import RedisCluster
from hub.config import StoreKind
from hub.keys import CLUSTER, CONFIG, LIVE, REGISTRY, STORE, STREAMS
from hub.store.redis import RedisStore


def make_cluster(app: web.Application) -> ClusterState:
    """A local cluster state for one hub; a Redis one when hubs share Redis (started by the caller)."""
    config, store = app[CONFIG], app[STORE]
    streams, registry = app[STREAMS], app[REGISTRY]
    if config.store.kind is not StoreKind.REDIS or not isinstance(store, RedisStore):
        return LocalCluster(streams, registry, config.node_id())
    return RedisCluster(
        store,
        streams,
        registry,
        app[LIVE],
        node=config.node_id(),
        url=config.base_url(),
        # A hub's live views last as long as its camera leases after it was last heard from.
        lease_seconds=config.cluster.owner_ttl_seconds,
        command_seconds=config.cluster.confirm_timeout_seconds,
    )


def install_cluster(app: web.Application) -> ClusterState:
    """Make the hub's cluster state and share it as `app[CLUSTER]` (the caller starts and closes it)."""
    app[CLUSTER] = cluster = make_cluster(app)
    return cluster
