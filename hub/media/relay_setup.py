"""Wiring the relay between hubs into the app: the hub-to-hub secret, the owning side's routes and sinks, and the
asking side's client (hub/media/relay_server.py, hub/media/relay_client.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from hub.keys import CONFIG
from hub.media.relay_client import RELAYS, RelayClient
from hub.media.relay_server import RELAY_SINKS, relay_delete, relay_post
from hub.routing.peer_auth import PEER_AUTH, PeerAuth, load_or_create_secret


async def relay_ctx(app: web.Application) -> AsyncIterator[None]:
    """The shared secret (made in the data directory on first start unless `cluster.peer_secret_file` names it),
    the relays this hub serves and the relays it asks for; after `_state_ctx` (it uses its streams and router)."""
    config = app[CONFIG]
    app[PEER_AUTH] = PeerAuth(config.node_id(), load_or_create_secret(config.peer_secret_path()))
    app[RELAY_SINKS] = {}
    app[RELAYS] = client = RelayClient(app)
    await client.start()
    try:
        yield
    finally:
        await client.close()
        for sink in list(app[RELAY_SINKS].values()):
            sink.end("hub_shutdown")


def add_relay_routes(router: web.UrlDispatcher) -> None:
    """`POST /relay/{camera_id}` and `DELETE /relay/{camera_id}/{relay_id}`, signed by the asking hub."""
    router.add_post("/relay/{camera_id}", relay_post)
    router.add_delete("/relay/{camera_id}/{relay_id}", relay_delete)
