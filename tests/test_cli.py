"""The `porchlight` admin commands, on their own and against a running hub."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.support.client import Viewer
from tests.support.procs import ROOT, Hub, running_agent


def porchlight(hub: Hub, *args: str, password: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin"}
    if password is not None:
        env["PORCHLIGHT_PASSWORD"] = password
    return subprocess.run(
        [sys.executable, "-m", "hub", "--config", str(hub.config_path), *args],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=60, check=False,
    )  # fmt: skip


def test_admin_commands_build_a_working_setup(tmp_path: Path) -> None:
    hub = Hub(tmp_path)
    hub.write_config()
    ok = [
        porchlight(hub, "agency", "add", "metro", "Metro PD"),
        porchlight(hub, "account", "add", "rita", "--role", "resident", password="rita-password"),
        porchlight(hub, "account", "add", "otto", "--role", "officer", "--agency", "metro", password="otto-password"),
        porchlight(hub, "pilot", "set", "--start", "now", "--end", "+45d"),
        porchlight(hub, "policy", "set", "--max-grant-seconds", "3600"),
    ]
    for result in ok:
        assert result.returncode == 0, result.stderr
    added = porchlight(hub, "camera", "add", "gate", "--owner", "rita", "--name", "Garden gate")
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip().startswith("pld_")
    token_file = tmp_path / "gate.token"
    rotated = porchlight(hub, "camera", "token", "gate", "--token-file", str(token_file))
    assert rotated.returncode == 0 and token_file.read_text().startswith("pld_")
    assert token_file.stat().st_mode & 0o777 == 0o600
    listing = porchlight(hub, "account", "list").stdout
    assert "rita" in listing and "otto" in listing and "officer" in listing
    assert "rita-password" not in listing
    assert "running" not in porchlight(hub, "pilot", "show").stdout  # shows the window itself
    assert "Z" in porchlight(hub, "pilot", "show").stdout
    for action in ("unlock", "reset-mfa"):
        result = porchlight(hub, "account", action, "otto")
        assert result.returncode == 0, result.stderr
    # Every change is on the audit record, with no password in it; the log verifies against its checkpoint.
    with sqlite3.connect(hub.config().store.data_dir / "audit.sqlite3") as db:
        records = [json.loads(body) for (body,) in db.execute("SELECT body FROM records ORDER BY position")]
    kinds = [r["kind"] for r in records]
    assert kinds == [
        "agency.created", "account.created", "account.created", "pilot.changed", "policy.changed",
        "camera.registered", "camera.token_issued", "account.unlocked", "account.mfa_reset",
    ]  # fmt: skip
    assert records[2]["account"] == {"id": 2, "username": "otto", "role": "officer", "agency": "metro"}
    assert all(r["hub"] == "cli" and r["actor"] is None for r in records)
    assert "password" not in json.dumps(records)
    saved = tmp_path / "checkpoint.txt"
    saved.write_text(porchlight(hub, "audit", "checkpoint").stdout, encoding="utf-8")
    verified = porchlight(hub, "audit", "verify", "--checkpoint", str(saved))
    assert verified.returncode == 0 and "ok: 9 records" in verified.stdout, verified.stderr


def test_admin_command_errors_are_clear(tmp_path: Path) -> None:
    hub = Hub(tmp_path)
    hub.write_config()
    bad = porchlight(hub, "account", "add", "x", "--role", "officer", "--agency", "nope", password="long-enough")
    assert bad.returncode != 0 and "agency" in bad.stderr
    short = porchlight(hub, "account", "add", "y", "--role", "resident", password="short")
    assert short.returncode != 0 and "8 characters" in short.stderr
    assert porchlight(hub, "camera", "add", "c", "--owner", "ghost").returncode != 0
    (tmp_path / "bad.toml").write_text("[http]\nprot = 1\n")
    result = subprocess.run(
        [sys.executable, "-m", "hub", "--config", str(tmp_path / "bad.toml"), "pilot", "show"],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )  # fmt: skip
    assert result.returncode != 0 and "http.prot: unknown key" in result.stderr


async def test_disabling_an_officer_ends_the_view(hub, tokens, login, tmp_path: Path) -> None:
    async with running_agent(hub, "front-door", tokens["front-door"], tmp_path) as agent:
        viewer = Viewer(await login("olivia"), "front-door")
        assert await viewer.watch() == 201
        await viewer.wait_frames(5)
        result = porchlight(hub, "account", "disable", "olivia")
        assert result.returncode == 0, result.stderr
        event = await viewer.wait_end()
        assert event["reason"] == "account_disabled"
        await agent.wait_log("publishing stopped")
        await viewer.close()


async def test_logging_out_ends_the_view(hub, tokens, login, tmp_path: Path) -> None:
    async with running_agent(hub, "front-door", tokens["front-door"], tmp_path):
        officer = await login("olivia")
        viewer = Viewer(officer, "front-door")
        assert await viewer.watch() == 201
        await viewer.wait_frames(5)
        status, _ = await officer.call("POST", "/api/logout")
        assert status == 200
        event = await viewer.wait_end()
        assert event["reason"] == "session_expired"
        await viewer.close()


async def test_pilot_end_acts_through_the_running_hub(hub, tokens, login, tmp_path: Path) -> None:
    """Issue 14 item 19: with a hub running, `porchlight pilot end` acts through it (its admin socket) and returns
    once its gates are closed: no frame captured after the command printed reaches the officer."""
    async with running_agent(hub, "front-door", tokens["front-door"], tmp_path):
        viewer = Viewer(await login("olivia"), "front-door")
        assert await viewer.watch() == 201
        await viewer.wait_frames(5)
        result = await asyncio.to_thread(porchlight, hub, "pilot", "end")
        returned = time.time()
        assert result.returncode == 0, result.stderr
        assert "done by the running hub" in result.stdout
        event = await viewer.wait_end()
        assert event["reason"] == "pilot_over"
        late = [stamp for stamp in viewer.stamped() if stamp >= returned * 1000]
        assert not late, f"{len(late)} frames captured after the command returned reached the officer"
        await viewer.close()


def test_with_no_hub_running_the_cli_says_it_wrote_the_store(tmp_path: Path) -> None:
    hub = Hub(tmp_path)
    hub.write_config()
    result = porchlight(hub, "pilot", "set", "--start", "now", "--end", "+1d")
    assert result.returncode == 0, result.stderr
    assert "no hub is running" in result.stdout
