"""`porchlight demo` runs the main job: hub, three synthetic camera agents, seeded log-ins; Ctrl-C ends all."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import aiohttp

from tests.conftest import PASSWORDS
from tests.support.client import Api, Viewer
from tests.support.procs import ROOT, free_port, spawn


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


async def test_demo_honours_the_port_in_the_environment(tmp_path: Path) -> None:
    """PORCHLIGHT_HTTP__PORT is the demo's port when no --port is given (the flag's default once hid it), and the
    banner names the port it really listens on."""
    port = free_port()
    demo = await spawn(
        "demo-env-port",
        ["-m", "hub", "demo", "--data-dir", str(tmp_path / "demo")],
        tmp_path / "demo.log",
        env={"PORCHLIGHT_HTTP__PORT": str(port)},
    )
    try:
        await demo.wait_log("Stop with Ctrl-C", timeout=60)
        assert f"Porchlight demo hub: http://127.0.0.1:{port}\n" in demo.log()
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/healthz") as response:
            assert response.status == 200
    finally:
        code = await demo.stop(signal.SIGINT, timeout=30)
    assert code == 0, demo.log()


def test_make_demo_passes_its_port() -> None:
    """`make demo PORT=9000` runs the demo on port 9000; without PORT, the configuration decides (8080 by default)."""
    with_port = subprocess.run(
        ["make", "-n", "demo", "PORT=9000"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert "-m hub demo --port 9000" in with_port, with_port
    without = subprocess.run(["make", "-n", "demo"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "-m hub demo" in without and "--port" not in without, without
