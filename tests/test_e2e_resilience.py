"""A restart keeps the state and the agent reconnects; bad offers get 4xx and the hub keeps serving."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from tests.support.client import Viewer
from tests.support.procs import running_agent

CAM = "front-door"


async def test_restart_keeps_state_and_agent_reconnects(hub, tokens, login, tmp_path: Path) -> None:
    resident = await login("alice")
    status, before = await resident.call("POST", "/api/cameras/backyard/grant", {"duration_seconds": 3600})
    assert status == 201
    async with running_agent(hub, CAM, tokens[CAM], tmp_path) as agent:
        assert await hub.stop() == 0
        await agent.wait_log("reconnecting in")
        await hub.start()
        await agent.wait_log_count("hub says hello", 2, timeout=30)

        # Accounts, sessions, cameras, grants and the pilot survived.
        status, body = await resident.call("GET", "/api/cameras")
        assert status == 200
        grants = {camera["id"]: camera["grant"] for camera in body["cameras"]}
        assert grants["backyard"] == before["grant"]
        assert grants[CAM]["live"] is True
        status, body = await resident.call("GET", "/api/pilot")
        assert body["pilot"]["state"] == "running"

        viewer = Viewer(await login("olivia"), CAM)
        assert await viewer.watch() == 201, viewer.error
        await viewer.wait_frames(5)
        await viewer.close()


def _bad_offers() -> list[tuple[str, bytes, str, int, str]]:
    sdp = "application/sdp"
    return [
        ("not sdp", b"hello there", sdp, 400, "malformed_sdp"),
        ("garbage after v=0", b"v=0\r\nm=video banana\r\n", sdp, 400, "malformed_sdp"),
        ("no video", b"v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n", sdp, 400, "malformed_sdp"),
        ("binary", b"v=0\xff\xfe\x00", sdp, 400, "malformed_sdp"),
        ("oversized", b"v=0\r\n" + b"a=x-padding:" + b"x" * 140_000 + b"\r\n", sdp, 413, "too_large"),
        ("wrong type", b"v=0\r\n", "application/json", 415, "unsupported_media_type"),
    ]


@pytest.mark.parametrize("endpoint", ["whip", "whep"])
async def test_bad_offers_are_refused_and_hub_keeps_serving(hub, tokens, login, tmp_path, endpoint) -> None:
    olivia = await login("olivia")
    async with running_agent(hub, CAM, tokens[CAM], tmp_path):
        for name, body, content_type, status, reason in _bad_offers():
            if endpoint == "whip":
                headers = {"Authorization": f"Bearer {tokens[CAM]}", "Content-Type": content_type}
                async with aiohttp.ClientSession() as http, http.post(
                    f"{hub.url}/whip/{CAM}", data=body, headers=headers
                ) as response:  # fmt: skip
                    got = response.status, (await response.json())["reason"]
            else:
                async with olivia.http.post(
                    f"{hub.url}/whep/{CAM}", params={"case": "C-9", "reason": "test"}, data=body,
                    headers={"Content-Type": content_type, **olivia.headers},
                ) as response:  # fmt: skip
                    got = response.status, (await response.json())["reason"]
            assert got == (status, reason), name
        assert await hub.metric("porchlight_viewers") == 0
        viewer = Viewer(olivia, CAM)
        assert await viewer.watch() == 201, viewer.error
        await viewer.wait_frames(5)
        await viewer.close()


async def test_viewer_of_a_camera_that_never_publishes_is_told(hub, tokens, login) -> None:
    await hub.stop()
    hub.env = {"PORCHLIGHT_MEDIA__PUBLISH_TIMEOUT_SECONDS": "1"}
    await hub.start()
    auth = {"Authorization": f"Bearer {tokens[CAM]}"}
    async with aiohttp.ClientSession() as http, http.ws_connect(f"{hub.url}/control/{CAM}", headers=auth) as ws:
        assert (await ws.receive_json())["type"] == "hello"
        assert (await ws.receive_json()) == {"type": "masks", "version": 0, "masks": []}
        assert (await ws.receive_json()) == {"type": "audio", "audio": False}  # no microphone unless the grant says
        viewer = Viewer(await login("olivia"), CAM)
        assert await viewer.watch() == 201
        publish = await ws.receive_json()
        assert (publish["type"], publish["watchers"]) == ("publish", 1)
        assert [(v["officer"], v["agency"]) for v in publish["viewers"]] == [("olivia", "metro-pd")]
        # This "agent" never publishes: the viewer is ended with a reason, and the agent told to stop.
        assert (await viewer.wait_end(timeout=10))["reason"] == "camera_not_publishing"
        assert (await ws.receive_json()) == {"type": "stop", "reason": "camera_not_publishing"}
        await viewer.close()


async def test_camera_offline_is_a_clear_503(hub, login) -> None:
    viewer = Viewer(await login("olivia"), CAM)
    assert await viewer.watch() == 503
    assert viewer.error is not None and viewer.error["reason"] == "camera_offline"


async def test_vanished_viewer_is_cleaned_up(hub, tokens, login, tmp_path: Path) -> None:
    """A viewer that closes its connection without a DELETE: the hub ends the view and the camera stops."""
    async with running_agent(hub, CAM, tokens[CAM], tmp_path) as agent:
        viewer = Viewer(await login("olivia"), CAM)
        assert await viewer.watch() == 201
        await viewer.wait_frames(5)
        await viewer.close()
        await agent.wait_log("publishing stopped", timeout=30)
        assert await hub.metric("porchlight_viewers") == 0
