"""One hub on the embedded store: it owns every camera, and its own gates are the only ones to close."""

from __future__ import annotations

from hub.routing.base import Closure


class LocalRouter:
    """Ownership and confirmation for a single hub: trivially here and immediate."""

    single_hub = True

    def __init__(self, node_id: str = "local") -> None:
        self.node_id = node_id

    async def claim(self, camera_id: str) -> bool:
        return True

    async def release(self, camera_id: str) -> None:
        return None

    async def owner_url(self, camera_id: str) -> str | None:
        return None

    async def peer(self, camera_id: str) -> tuple[str, str] | None:
        return None

    async def carry(self, camera_id: str) -> None:
        return None

    async def drop(self, camera_id: str) -> None:
        return None

    async def expect_closure(self, camera_id: str) -> object:
        return camera_id

    async def await_closure(self, token: object, version: int, written_at: float) -> Closure:
        # The withdrawing handler closed this hub's gates in memory before writing.
        return Closure(confirmed=True, hubs=(self.node_id,))

    async def confirm_closed(self, camera_id: str, version: int) -> None:
        return None

    async def close(self) -> None:
        return None
