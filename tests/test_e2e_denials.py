"""Denials: every refusal is a clear 401/403/404 with a JSON reason, and no media flows.

Refusals that change nothing on the hub share one hub for the module (`quiet_hub`); those that change a grant
first have a hub of their own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from hub.timefmt import parse_time
from tests.conftest import PASSWORDS
from tests.support.client import Api, Viewer
from tests.support.procs import Hub, running_agent, seeded_hub


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def quiet_hub(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Hub]:
    """One seeded hub for the tests whose requests are all refused and change nothing."""
    async with seeded_hub(tmp_path_factory.mktemp("denials")) as instance:
        yield instance


async def _sdp_offer() -> str:
    from aiortc import RTCConfiguration, RTCPeerConnection

    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver("video", direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    await pc.close()
    return sdp


async def test_whep_denials(hub, tokens, login, tmp_path: Path) -> None:
    resident, admin = await login("alice"), await login("ada")
    # backyard: never opted in; porch: opted in for another agency only; front-door: opted in for everyone.
    bob = await login("bob")
    status, body = await bob.call(
        "POST", "/api/cameras/porch/grant", {"duration_seconds": 600, "agencies": ["county-so"]}
    )
    assert status == 201, body
    olivia = await login("olivia")
    async with running_agent(hub, "front-door", tokens["front-door"], tmp_path) as agent:
        cases = [
            (olivia, "backyard", 403, "no_grant"),
            (olivia, "porch", 403, "agency_out_of_scope"),
            (olivia, "nowhere", 404, "camera_unknown"),
            (resident, "front-door", 403, "wrong_role"),
            (admin, "front-door", 403, "wrong_role"),
            (Api(hub.url), "front-door", 401, "login_required"),
        ]
        for api, camera, status, reason in cases:
            viewer = Viewer(api, camera)
            assert await viewer.watch() == status, (camera, viewer.error)
            assert viewer.error is not None and viewer.error["reason"] == reason, viewer.error
            assert viewer.error["message"]
        await cases[-1][0].close()
        assert await hub.metric("porchlight_viewers") == 0
        assert await hub.metric("porchlight_publishers") == 0
        assert not agent.log_has("publishing started")


async def test_expired_grant_is_denied(hub, login) -> None:
    resident = await login("alice")
    status, body = await resident.call("POST", "/api/cameras/front-door/grant", {"duration_seconds": 0.5})
    assert status == 201
    olivia = await login("olivia")
    # The grant runs out by the clock alone: waiting for its end time is the condition itself.
    await asyncio.sleep(max(0.0, parse_time(body["grant"]["ends_at"]) - time.time()) + 0.01)
    viewer = Viewer(olivia, "front-door")
    assert await viewer.watch() == 403
    assert viewer.error is not None and viewer.error["reason"] == "grant_expired"


@pytest.mark.asyncio(loop_scope="module")
async def test_case_and_reason_are_required(quiet_hub: Hub) -> None:
    olivia = await Api(quiet_hub.url).login("olivia", PASSWORDS["olivia"])
    try:
        for params in ({}, {"case": "C-1"}, {"reason": "x"}, {"case": " ", "reason": "x"}):
            async with olivia.http.post(
                f"{quiet_hub.url}/whep/front-door", params=params, data=await _sdp_offer(),
                headers={"Content-Type": "application/sdp", **olivia.headers},
            ) as response:  # fmt: skip
                assert response.status == 400
                assert (await response.json())["reason"] == "purpose_required"
    finally:
        await olivia.close()


@pytest.mark.parametrize(
    ("headers", "camera", "status", "reason"),
    [
        ({}, "front-door", 401, "device_token_required"),
        ({"Authorization": "Bearer pld_wrong"}, "front-door", 401, "device_token_invalid"),
        ({"Authorization": "Bearer {backyard}"}, "front-door", 401, "device_token_invalid"),
        # The same answer whether or not the camera exists (issue 14 item 13: nothing to learn by probing).
        ({"Authorization": "Bearer {front-door}"}, "nowhere", 401, "device_token_invalid"),
    ],
    ids=["missing token", "wrong token", "another camera's token", "unknown camera"],
)
@pytest.mark.asyncio(loop_scope="module")
async def test_whip_denials(quiet_hub: Hub, headers, camera, status, reason) -> None:
    hub, tokens = quiet_hub, quiet_hub.seeded.tokens  # type: ignore[attr-defined]
    headers = {k: v.format(**tokens) for k, v in headers.items()}
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{hub.url}/whip/{camera}", data=await _sdp_offer(), headers={**headers, "Content-Type": "application/sdp"}
        ) as response:
            assert response.status == status
            assert (await response.json())["reason"] == reason
        async with http.get(f"{hub.url}/control/{camera}", headers=headers) as response:
            assert response.status == status
    assert await hub.metric("porchlight_publishers") == 0


@pytest.mark.asyncio(loop_scope="module")
async def test_agent_publishes_only_when_asked(quiet_hub: Hub) -> None:
    """A connected agent's WHIP POST without a viewer is refused: on demand only."""
    hub, tokens = quiet_hub, quiet_hub.seeded.tokens  # type: ignore[attr-defined]
    async with aiohttp.ClientSession() as http:
        auth = {"Authorization": f"Bearer {tokens['front-door']}"}
        async with http.ws_connect(f"{hub.url}/control/front-door", headers=auth) as ws:
            hello = await ws.receive_json()
            assert hello["type"] == "hello"
            async with http.post(
                f"{hub.url}/whip/front-door",
                data=await _sdp_offer(),
                headers={**auth, "Content-Type": "application/sdp"},
            ) as response:
                assert response.status == 409
                assert (await response.json())["reason"] == "not_requested"
