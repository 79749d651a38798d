"""`porchlight demo` runs the main job: hub, three synthetic camera agents, seeded log-ins; Ctrl-C ends all."""

from __future__ import annotations

import signal
from pathlib import Path

from tests.conftest import PASSWORDS
from tests.support.client import Api, Viewer
from tests.support.procs import free_port, spawn


async def test_demo_serves_video_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    demo = await spawn(
        "demo", ["-m", "hub", "demo", "--port", str(port), "--data-dir", str(tmp_path / "demo")], tmp_path / "demo.log"
    )
    try:
        await demo.wait_log("Stop with Ctrl-C", timeout=60)
        text = demo.log()
        assert f"http://127.0.0.1:{port}" in text
        for username, password in PASSWORDS.items():
            assert username in text and password in text
        await demo.wait_log_count("hub says hello", 3, timeout=30)

        officer = await Api(f"http://127.0.0.1:{port}").login("olivia", PASSWORDS["olivia"])
        status, body = await officer.call("GET", "/api/cameras")
        assert status == 200 and [c["id"] for c in body["cameras"]] == ["front-door"]
        viewer = Viewer(officer, "front-door")
        assert await viewer.watch() == 201, viewer.error
        await viewer.wait_frames(5)
        await viewer.close()
        await officer.close()
    finally:
        code = await demo.stop(signal.SIGINT, timeout=30)
    assert code == 0, demo.log()
    assert demo.log().count("agent stopped") == 3
