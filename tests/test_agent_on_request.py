"""The agent's --on-request hook (issue 16): when an officer asks for access to a camera, the hub tells the camera's
agent on its control channel and the agent runs the owner's command, without a shell, with the request in its
environment; what the command prints is logged. Real hub, real agent process, a small script as the command."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from device_agent import control
from tests.conftest import PASSWORDS
from tests.support.client import Api
from tests.support.procs import Hub, running_agent, seeded_hub, wait_until

pytestmark = pytest.mark.asyncio(loop_scope="module")

SCRIPT = """
import json, os, sys
names = [n for n in os.environ if n.startswith("PORCHLIGHT_REQUEST_")]
with open(sys.argv[1], "w") as out:
    json.dump({n: os.environ[n] for n in names}, out)
print("chime for request", os.environ["PORCHLIGHT_REQUEST_ID"])
"""


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def hub(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Hub]:
    async with seeded_hub(tmp_path_factory.mktemp("on-request-hub")) as instance:
        yield instance


async def test_the_agent_runs_its_command_with_the_request(hub: Hub, tmp_path: Path) -> None:
    script, out = tmp_path / "chime.py", tmp_path / "request.json"
    script.write_text(SCRIPT, encoding="utf-8")
    # A path with a space and a shell character: run as a command, never through a shell.
    odd = tmp_path / "my ;chime.py"
    odd.write_text(SCRIPT, encoding="utf-8")
    command = f"{sys.executable} '{odd}' {out}"
    token = hub.seeded.tokens["backyard"]  # type: ignore[attr-defined]
    async with running_agent(hub, "backyard", token, tmp_path, "--on-request", command) as agent:
        officer = await Api(hub.url).login("olivia", PASSWORDS["olivia"])
        try:
            ask = {"case": "CASE-77", "reason": "hit and run", "duration_seconds": 3600}
            status, answer = await officer.call("POST", "/api/cameras/backyard/requests", ask)
            assert status == 201, answer
        finally:
            await officer.close()
        await wait_until(lambda: out.exists() and out.stat().st_size > 0, 15, "the on-request command to run")
        await agent.wait_log(f"on-request: chime for request {answer['request']['id']}")
        env = json.loads(out.read_text(encoding="utf-8"))
        assert env["PORCHLIGHT_REQUEST_ID"] == str(answer["request"]["id"])
        assert env["PORCHLIGHT_REQUEST_CAMERA"] == "backyard"
        assert env["PORCHLIGHT_REQUEST_AGENCY"] == "metro-pd"
        assert env["PORCHLIGHT_REQUEST_REASON"] == "hit and run"
        assert env["PORCHLIGHT_REQUEST_DURATION"] == "3600"
        assert env["PORCHLIGHT_REQUEST_EXPIRES"] == answer["request"]["expires_at"]
        assert "CASE-77" not in agent.log()  # the case number is not the device's to log


async def test_a_malformed_request_message_is_refused() -> None:
    with pytest.raises(control.MalformedMessage):
        control.parse_message(json.dumps({"type": "request", "id": "7", "duration_seconds": 60}))
    with pytest.raises(control.MalformedMessage):
        control.parse_message(json.dumps({"type": "request", "id": 7, "duration_seconds": -1}))
    parsed = control.parse_message(json.dumps({"type": "request", "id": 7, "duration_seconds": 60, "reason": "a\nb"}))
    assert parsed == control.Request(7, "-", "-", "a?b", 60, "-")
