"""Issue 14 item 20: /metrics can be served on an address of its own (`http.metrics_host`, `http.metrics_port`);
the main address then answers 404 for it. Real hub processes, both ways."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from hub.config import ConfigError, load_config
from tests.support.procs import Hub, free_port


async def _get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, await response.text()


async def test_metrics_on_the_main_address_by_default(hub: Hub) -> None:
    status, text = await _get(f"{hub.url}/metrics")
    assert status == 200 and "porchlight_viewers" in text


async def test_metrics_on_their_own_address(tmp_path: Path) -> None:
    port = free_port()
    # A port alone binds 127.0.0.1 (http.metrics_host unset).
    hub = Hub(tmp_path, env={"PORCHLIGHT_HTTP__METRICS_PORT": str(port)})
    hub.write_config()
    await hub.start()
    try:
        metrics = f"http://127.0.0.1:{port}"
        status, text = await _get(f"{metrics}/metrics")
        assert status == 200 and "porchlight_viewers" in text and "porchlight_audit_records" in text
        assert (await _get(f"{hub.url}/metrics"))[0] == 404  # not on the main address any more
        for path in ("/healthz", "/api/me", "/", "/metrics/x"):  # and nothing but /metrics on its own
            assert (await _get(f"{metrics}{path}"))[0] == 404, path
        assert (await _get(f"{hub.url}/healthz"))[0] == 200
    finally:
        await hub.stop()
    with pytest.raises(aiohttp.ClientConnectionError):  # stopped with the hub
        await _get(f"http://127.0.0.1:{port}/metrics")


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({"PORCHLIGHT_HTTP__METRICS_HOST": "127.0.0.1"}, "metrics_host needs metrics_port"),
        ({"PORCHLIGHT_HTTP__PORT": "9000", "PORCHLIGHT_HTTP__METRICS_PORT": "9000"}, "must differ from port"),
        ({"PORCHLIGHT_HTTP__METRICS_PORT": "70000"}, "http.metrics_port"),
    ],
)
def test_metrics_address_is_validated(env: dict[str, str], problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        load_config(env=env)
