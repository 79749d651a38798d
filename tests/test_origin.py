"""Issue 14 item 14: a request's Origin is compared with the hub's configured addresses (`http.public_url`, the
listening address and, on loopback, its other names), never with the request's own Host: a page whose name is made
to resolve to the hub (DNS rebinding) sends `Host` and `Origin` both its own, and must be refused."""

from __future__ import annotations

import aiohttp
import pytest

from hub.auth.csrf import allowed_origins, normal_origin
from hub.config import HttpConfig
from tests.conftest import PASSWORDS
from tests.support.procs import Hub

FORGED = {"Host": "evil.example", "Origin": "http://evil.example"}


@pytest.mark.parametrize(
    ("http", "accepted", "refused"),
    [
        (
            HttpConfig(host="127.0.0.1", port=8080),
            ["http://127.0.0.1:8080", "http://localhost:8080", "HTTP://LocalHost:8080"],
            ["http://127.0.0.1:8081", "https://127.0.0.1:8080", "http://evil.example", "null", "", "http://[::1]:8080"],
        ),
        (
            HttpConfig(host="0.0.0.0", port=9000),
            ["http://localhost:9000", "http://127.0.0.1:9000"],
            ["http://192.168.1.20:9000", "http://evil.example:9000"],
        ),
        (
            HttpConfig(host="10.0.0.5", port=8080, public_url="https://hub.example.org/"),
            ["https://hub.example.org", "https://hub.example.org:443", "http://10.0.0.5:8080"],
            ["http://hub.example.org", "http://localhost:8080", "http://127.0.0.1:8080", "https://evil.example"],
        ),
        (
            HttpConfig(host="::1", port=8080),
            ["http://[::1]:8080", "http://localhost:8080"],
            ["http://127.0.0.1:8080", "http://[::2]:8080"],
        ),
    ],
    ids=["loopback", "wildcard", "public-url", "ipv6-loopback"],
)
def test_allowed_origins_come_from_the_configuration(http: HttpConfig, accepted: list[str], refused: list[str]) -> None:
    origins = allowed_origins(http)
    for origin in accepted:
        assert normal_origin(origin) in origins, origin
    for origin in refused:
        assert normal_origin(origin) not in origins, origin


async def test_a_forged_host_and_origin_pair_is_refused(hub: Hub, login, tokens) -> None:
    alice = await login("alice")
    async with aiohttp.ClientSession() as http:
        body = {"username": "bob", "password": PASSWORDS["bob"]}
        async with http.post(f"{hub.url}/api/login", json=body, headers=FORGED) as response:
            assert (response.status, (await response.json())["reason"]) == (403, "bad_origin")
        bearer = {"Authorization": f"Bearer {tokens['front-door']}"}
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(f"{hub.url}/control/front-door", headers={**bearer, **FORGED})
        assert refused.value.status == 403
    # The event stream, with a valid session cookie: refused for where it comes from, not for who asks.
    async with alice.http.get(f"{hub.url}/api/events", headers=FORGED) as response:
        assert (response.status, (await response.json())["reason"]) == (403, "bad_origin")
    # The hub's own origins pass, by either loopback name.
    for origin in (hub.url, f"http://localhost:{hub.port}"):
        async with aiohttp.ClientSession() as http:
            body = {"username": "bob", "password": PASSWORDS["bob"]}
            async with http.post(f"{hub.url}/api/login", json=body, headers={"Origin": origin}) as response:
                assert response.status == 200, origin
