"""A hub inside the test process (aiohttp's TestServer on loopback), for tests that reach into its objects or put
a real store or audit log behind a delaying proxy; agents and viewers talk to it over real HTTP and WebRTC."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from hub.app import create_app, open_store
from hub.config import Config, load_config
from hub.demo import Seeded, seed
from hub.keys import ACTIONS, AUDIT, REGISTRY, STREAMS
from hub.store.base import Store
from tests.support.procs import free_port


class Held:
    """A real object behind a proxy that can hold chosen calls: `hold(name, when)` makes calls of method `name`
    whose arguments satisfy `when` wait until `release(name)`; everything else passes straight through."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._holds: dict[str, tuple[Callable[..., bool], asyncio.Event]] = {}
        self.reached: dict[str, asyncio.Event] = {}
        self.delays: dict[str, float] = {}

    def hold(self, name: str, when: Callable[..., bool] = lambda *a, **k: True) -> None:
        self._holds[name] = (when, asyncio.Event())
        self.reached[name] = asyncio.Event()

    def release(self, name: str) -> None:
        self._holds.pop(name)[1].set()

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._inner, name)
        if not asyncio.iscoroutinefunction(target):
            return target

        async def call(*args: Any, **kwargs: Any) -> Any:
            held = self._holds.get(name)
            if held is not None and held[0](*args, **kwargs):
                self.reached[name].set()
                await held[1].wait()
            if name in self.delays:
                await asyncio.sleep(self.delays[name])  # injected latency: the fault under test, not a wait
            return await target(*args, **kwargs)

        return call


@dataclass
class InProcHub:
    """What tests/support/procs' agents and clients need of a hub (`url`, `env`), plus its app."""

    url: str
    app: web.Application
    config: Config
    seeded: Seeded
    store: Held
    env: dict[str, str] = field(default_factory=dict)

    @property
    def actions(self) -> Any:
        return self.app[ACTIONS]

    @property
    def registry(self) -> Any:
        return self.app[REGISTRY]

    @property
    def streams(self) -> Any:
        return self.app[STREAMS]

    def hold_audit(self) -> Held:
        """Put the audit log's store behind a `Held` proxy (from now on)."""
        audit = self.app[AUDIT]
        if not isinstance(audit.store, Held):
            audit.store = Held(audit.store)
        return audit.store


@contextlib.asynccontextmanager
async def inproc_hub(tmp: Path, env: dict[str, str] | None = None) -> AsyncIterator[InProcHub]:
    """A seeded hub (demo accounts and cameras, running pilot, 'front-door' opted in) in this process."""
    config = load_config(
        env={
            "PORCHLIGHT_STORE__DATA_DIR": str(tmp / "data"),
            "PORCHLIGHT_AUTH__MFA_REQUIRED": "false",
            "PORCHLIGHT_MEDIA__LOOPBACK": "true",
            **(env or {}),
        }
    )
    store = await open_store(config)
    seeded = await seed(store)
    await store.close()
    held: list[Held] = []

    async def factory(cfg: Config) -> Store:
        proxy = Held(await open_store(cfg))
        held.append(proxy)
        return proxy  # a Store in all but name: it passes every call through

    server = TestServer(create_app(config, store_factory=factory), host="127.0.0.1", port=free_port())
    await server.start_server()
    try:
        yield InProcHub(str(server.make_url("")).rstrip("/"), server.app, config, seeded, held[0])
    finally:
        await server.close()
