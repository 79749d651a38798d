"""Issue 14 item 13: probing learns nothing. A resident gets the same answer for another resident's camera as for
a camera that does not exist, on every owner route; WHIP and the control WebSocket answer a bad device token the
same whether or not the camera exists. Against a real hub process."""

from __future__ import annotations

from typing import Any

import aiohttp
from aiortc import RTCConfiguration, RTCPeerConnection

from tests.support.client import Api
from tests.support.procs import Hub

OTHERS = "front-door"  # alice's camera; bob probes it
UNKNOWN = "no-such-camera"
OWNER_ROUTES: list[tuple[str, str, Any]] = [
    ("POST", "/api/cameras/{id}/grant", {"duration_seconds": 600}),
    ("DELETE", "/api/cameras/{id}/grant", None),
    ("PUT", "/api/cameras/{id}/location", {"lat": 51.5, "lon": -0.12}),
    ("GET", "/api/cameras/{id}/masks", None),
    ("PUT", "/api/cameras/{id}/masks", {"masks": []}),
    ("GET", "/api/cameras/{id}/snapshot", None),
    ("GET", "/api/audit/records?camera={id}", None),
]


async def _answer(api: Api, method: str, path: str, body: Any, camera_id: str) -> tuple[int, str, str]:
    """Status, reason and message, with the camera id the caller gave written as `{id}`."""
    status, answer = await api.call(method, path.format(id=camera_id), body)
    assert isinstance(answer, dict), (method, path, status, answer)
    return status, answer["reason"], answer["message"].replace(camera_id, "{id}")


async def test_another_residents_camera_answers_as_an_unknown_one(hub: Hub, login) -> None:
    bob = await login("bob")
    for method, path, body in OWNER_ROUTES:
        others = await _answer(bob, method, path, body, OTHERS)
        unknown = await _answer(bob, method, path, body, UNKNOWN)
        assert others == unknown, (method, path)
        assert others[:2] == (404, "not_found"), (method, path)
    # The owner is answered as before (the routes were reached, not refused for another reason).
    alice = await login("alice")
    status, answer = await alice.call("GET", f"/api/cameras/{OTHERS}/masks")
    assert status == 200 and answer["masks"] == [], answer


async def _offer() -> str:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        pc.addTransceiver("video", direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())
        return str(pc.localDescription.sdp)
    finally:
        await pc.close()


async def test_a_bad_device_token_answers_alike_for_known_and_unknown_cameras(hub: Hub, tokens) -> None:
    offer = await _offer()
    for token in ("pld_not-a-token-of-any-camera", tokens["backyard"]):
        answers = []
        for camera_id in ("front-door", UNKNOWN):
            headers = {"Authorization": f"Bearer {token}"}
            async with aiohttp.ClientSession() as http:
                async with http.post(
                    f"{hub.url}/whip/{camera_id}", data=offer, headers={**headers, "Content-Type": "application/sdp"}
                ) as response:
                    whip = (response.status, (await response.json())["reason"])
                async with http.get(f"{hub.url}/control/{camera_id}", headers=headers) as response:
                    control = (response.status, (await response.json())["reason"])
            answers.append((whip, control))
        assert answers[0] == answers[1], answers
        assert answers[0] == ((401, "device_token_invalid"), (401, "device_token_invalid")), answers
