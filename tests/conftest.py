"""Shared fixtures: a seeded hub process on loopback, logged-in API clients, camera agents."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from hub.demo import Seeded
from porchlight_rtc.ice import enable_loopback
from tests.support.client import Api
from tests.support.procs import Hub
from tests.support.redis_server import RedisServer

PASSWORDS = {
    "alice": "alice-demo-pass",
    "bob": "bob-demo-pass",
    "olivia": "olivia-demo-pass",
    "sam": "sam-demo-pass",
    "ada": "ada-demo-pass",
}


@pytest.fixture(autouse=True, scope="session")
def _loopback_ice() -> None:
    # The test process's own aiortc peers (viewers) gather only 127.0.0.1.
    enable_loopback()


# Forwarding modes and codecs the end-to-end tests run under (parametrize `hub_env` with these).
MODES = {
    "passthrough-vp8": {},
    "transcode-vp8": {"PORCHLIGHT_MEDIA__FORWARDING": "transcode"},
    "passthrough-h264": {"PORCHLIGHT_MEDIA__CODEC": "h264"},
}


@pytest.fixture
def hub_env() -> dict[str, str]:
    """Extra environment for the hub process; tests parametrize it (see MODES)."""
    return {}


@pytest.fixture
def hub_mfa() -> bool:
    """Whether officers and admins of the `hub` log in with TOTP codes; a module overrides this to turn it on."""
    return False


@pytest.fixture
async def hub(tmp_path: Path, hub_env: dict[str, str], hub_mfa: bool) -> AsyncIterator[Hub]:
    """A seeded hub process (demo accounts, cameras, running pilot, 'front-door' opted in)."""
    instance = Hub(tmp_path, env=dict(hub_env), mfa=hub_mfa)
    instance.write_config()
    instance.seeded = await instance.seed()  # type: ignore[attr-defined]
    await instance.start()
    try:
        yield instance
    finally:
        await instance.stop()


@pytest.fixture
def tokens(hub: Hub) -> dict[str, str]:
    seeded: Seeded = hub.seeded  # type: ignore[attr-defined]
    return seeded.tokens


@pytest.fixture
async def login(hub: Hub) -> AsyncIterator[Callable[[str], Awaitable[Api]]]:
    """`await login("olivia")` gives an API client logged in as that demo account; all closed afterwards."""
    clients: list[Api] = []

    async def make(username: str) -> Api:
        api = Api(hub.url)
        clients.append(api)
        return await api.login(username, PASSWORDS[username])

    yield make
    for api in clients:
        await api.close()


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A real redis-server on loopback, shared by one test module (flush it between tests), always stopped."""
    with RedisServer.running(tmp_path_factory.mktemp("redis")) as server:
        yield server
