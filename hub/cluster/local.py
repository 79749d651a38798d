"""One hub on the embedded store: its own streams are the whole cluster."""

from __future__ import annotations

from typing import Any

from hub.cluster.base import Ended, LiveView, Match, Seen
from hub.cluster.here import agent_status, agents_here, views_here
from hub.consent.registry import GateRegistry
from hub.media.masks import snapshot
from hub.media.streams import StreamManager


class LocalCluster:
    """Cluster state for a single hub: read from its streams and gates; there is nowhere else to act."""

    single_hub = True

    def __init__(self, streams: StreamManager, registry: GateRegistry, node: str = "local") -> None:
        self._streams, self._registry, self.node = streams, registry, node

    async def seen(self) -> Seen:
        agents = {camera_id: (status, self.node) for camera_id, status in agents_here(self._streams).items()}
        return Seen(views_here(self._streams, self.node), agents)

    async def views(self, camera_id: str | None = None) -> list[LiveView]:
        views = views_here(self._streams, self.node)
        return [view for view in views if camera_id is None or view.camera == camera_id]

    async def find(self, viewer_id: str) -> LiveView | None:
        return next((view for view in await self.views() if view.id == viewer_id), None)

    async def agent_status(self, camera_id: str) -> tuple[str, str] | None:
        status = agent_status(self._streams.stream(camera_id))
        return None if status is None else (status, self.node)

    def match(self, **criteria: Any) -> Match:
        return Match(**criteria)

    async def end_elsewhere(
        self, match: Match, reason: str, *, note: str | None = None, at: float | None = None
    ) -> Ended:
        return Ended()

    async def masks_applied(self, camera_id: str) -> int | None:
        # What this hub's gate holds: the agent's last confirmation, kept while it is away (-1 once it reconnects).
        return self._registry.gate(camera_id).state.masks_applied

    async def agent_masks(self, camera_id: str, version: int) -> None:
        return None

    async def snapshot(self, camera_id: str) -> bytes:
        return await snapshot(self._streams.stream(camera_id).control)

    def start(self) -> None:
        return None

    async def close(self) -> None:
        return None
