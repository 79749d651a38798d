"""Many hubs sharing Redis: ownership leases on cameras, change messages, and withdrawal confirmations.

A camera's stream lives on the hub its agent reached; that hub holds a renewed lease on the camera in Redis
(node id, public URL and the internal URL other hubs' relays use). A hub relaying the camera from its owner holds a
lease of its own as one of the camera's carriers. Every hub answers a withdrawal with a confirmation once its gates
are closed; the withdrawing hub waits for each hub that carried the camera just before the write or just after it.
Pub/sub can lose messages: after every (re)subscription the hub reloads everything, and the change marker it
polls for its consent lease catches anything missed in between.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from hub.routing.base import Closure
from hub.store.base import StoreUnavailable
from hub.store.redis import RedisStore

log = logging.getLogger(__name__)

CLOSURES = "closures"  # bus topic: {"camera", "version", "node"} from each hub carrying the camera
RETRY_SECONDS = 0.5

OnChange = Callable[[dict[str, Any]], Awaitable[None]]


class RedisRouter:
    """Ownership, change messages and confirmations for one hub among many."""

    single_hub = False

    def __init__(
        self,
        store: RedisStore,
        node_id: str,
        url: str,
        *,
        internal_url: str | None = None,
        owner_ttl: float,
        confirm_timeout: float,
        lease_seconds: float,
        on_change: OnChange,
        on_lost: Callable[[str], Awaitable[None]],
    ) -> None:
        self._store = store
        self.node_id = node_id
        self._url = url
        self._internal_url = internal_url or url
        self._owner_ttl = owner_ttl
        self._confirm_timeout = confirm_timeout
        self._lease_seconds = lease_seconds
        self._on_change = on_change
        self._on_lost = on_lost
        self._owned: set[str] = set()
        self._carried: set[str] = set()  # cameras relayed here from their owner
        self._waiters: dict[str, set[asyncio.Queue[tuple[str, int]]]] = {}
        self._closures_ready = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Start following changes and confirmations, and renewing this hub's camera leases."""
        self._tasks = [
            asyncio.create_task(self._follow_changes(), name="router-changes"),
            asyncio.create_task(self._follow_closures(), name="router-closures"),
            asyncio.create_task(self._renew(), name="router-renew"),
        ]

    async def close(self) -> None:
        """Stop the background tasks and give up every camera this hub holds."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for camera_id in list(self._owned):
            with contextlib.suppress(StoreUnavailable):
                await self.release(camera_id)
        for camera_id in list(self._carried):
            with contextlib.suppress(StoreUnavailable):
                await self.drop(camera_id)

    # Ownership ---------------------------------------------------------------------------------------------
    async def claim(self, camera_id: str) -> bool:
        if await self._store.claim_camera(camera_id, self.node_id, self._url, self._owner_ttl, self._internal_url):
            self._owned.add(camera_id)
            return True
        return False

    async def release(self, camera_id: str) -> None:
        self._owned.discard(camera_id)
        await self._store.release_camera(camera_id, self.node_id)

    async def owner_url(self, camera_id: str) -> str | None:
        owner = await self._store.camera_owner(camera_id)
        if owner is None or owner[0] == self.node_id:
            return None
        return owner[1]

    async def peer(self, camera_id: str) -> tuple[str, str] | None:
        owner = await self._store.camera_peer(camera_id)
        if owner is None or owner[0] == self.node_id:
            return None
        return owner

    async def carry(self, camera_id: str) -> None:
        self._carried.add(camera_id)
        await self._store.carry_camera(camera_id, self.node_id, self._owner_ttl)

    async def drop(self, camera_id: str) -> None:
        self._carried.discard(camera_id)
        await self._store.drop_carrier(camera_id, self.node_id)

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self._owner_ttl / 3)
            for camera_id in list(self._carried):
                with contextlib.suppress(StoreUnavailable):
                    await self._store.carry_camera(camera_id, self.node_id, self._owner_ttl)
            for camera_id in list(self._owned):
                try:
                    kept = await self.claim(camera_id)
                except StoreUnavailable:
                    continue  # the consent lease closes the gates if this lasts; keep trying
                if not kept:
                    log.warning("camera %s: another hub took over its stream", camera_id)
                    self._owned.discard(camera_id)
                    await self._on_lost(camera_id)

    # Confirmations -----------------------------------------------------------------------------------------
    async def expect_closure(self, camera_id: str) -> object:
        queue: asyncio.Queue[tuple[str, int]] = asyncio.Queue()
        self._waiters.setdefault(camera_id, set()).add(queue)
        # Taken before the write as well as after it: a relay the owner ends on seeing the withdrawal drops its
        # carrier entry, perhaps before the read after the write, yet it carried the camera until then.
        return camera_id, queue, await self._carrying(camera_id) or ()

    async def _carrying(self, camera_id: str) -> tuple[str, ...] | None:
        """The camera's owner and carriers as Redis has them now; None if it cannot say."""
        try:
            owner = await self._store.camera_owner(camera_id)
            carriers = await self._store.camera_carriers(camera_id)
        except StoreUnavailable:
            return None
        return (*([owner[0]] if owner is not None else []), *carriers)

    async def await_closure(self, token: object, version: int, written_at: float) -> Closure:
        assert isinstance(token, tuple)
        camera_id: str = token[0]
        queue: asyncio.Queue[tuple[str, int]] = token[1]
        before: tuple[str, ...] = token[2]
        here: tuple[str, ...] = (self.node_id,) if self._carries(camera_id) else ()
        try:
            after = await self._carrying(camera_id)
            hubs = tuple(dict.fromkeys([*here, *before, *(after or ())]))
            unconfirmed = Closure(confirmed=False, closed_by=written_at + self._lease_seconds, hubs=hubs)
            if after is None:
                return unconfirmed
            # This hub closed its own gates before the write; every other carrier confirms its own.
            waiting = {node for node in hubs if node != self.node_id}
            if not waiting:
                return Closure(confirmed=True, hubs=hubs)
            if not self._closures_ready.is_set():
                return unconfirmed
            async with asyncio.timeout(self._confirm_timeout):
                while waiting:
                    node, confirmed = await queue.get()
                    if confirmed >= version:
                        waiting.discard(node)
            return Closure(confirmed=True, hubs=hubs)
        except TimeoutError:
            return unconfirmed
        finally:
            self._waiters.get(camera_id, set()).discard(queue)

    def _carries(self, camera_id: str) -> bool:
        return camera_id in self._owned or camera_id in self._carried

    async def confirm_closed(self, camera_id: str, version: int) -> None:
        # Whether or not this hub carries the camera now: one whose relay ended a moment ago may still be awaited.
        await self._store.publish_raw(CLOSURES, {"camera": camera_id, "version": version, "node": self.node_id})

    async def _follow_closures(self) -> None:
        while True:
            try:
                async for message in self._store.subscribe_raw(CLOSURES):
                    if message.get("kind") == "subscribed":
                        self._closures_ready.set()
                        continue
                    camera_id, version = message.get("camera"), message.get("version")
                    node = message.get("node")
                    if isinstance(camera_id, str) and isinstance(version, int) and isinstance(node, str):
                        for queue in self._waiters.get(camera_id, ()):
                            queue.put_nowait((node, version))
            except StoreUnavailable:
                self._closures_ready.clear()
                await asyncio.sleep(RETRY_SECONDS)

    # Changes -----------------------------------------------------------------------------------------------
    async def _follow_changes(self) -> None:
        while True:
            try:
                async for message in self._store.subscribe():
                    await self._on_change(message)
            except StoreUnavailable:
                log.warning("router: lost the change feed; resubscribing (everything reloads then)")
                await asyncio.sleep(RETRY_SECONDS)
            except Exception:
                log.exception("router: applying a change failed; resubscribing")
                await asyncio.sleep(RETRY_SECONDS)
