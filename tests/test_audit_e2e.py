"""The audit log in a running hub: every look recorded before its first frame, and no record means no view."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis

from tests.support.client import Api, Viewer
from tests.support.cluster import two_hubs
from tests.support.procs import ROOT, Hub, running_agent, wait_until

CAM = "front-door"


def _records(hub: Hub) -> list[dict[str, Any]]:
    """Every record in the hub's audit file, read behind its back (WAL lets a reader in while it writes)."""
    path = hub.config().store.data_dir / "audit.sqlite3"
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return [json.loads(body) for (body,) in db.execute("SELECT body FROM records ORDER BY position")]


async def _refused(officer: Api) -> Viewer:
    viewer = Viewer(officer, CAM)
    assert await viewer.watch("CASE-LOCKED") == 503
    assert viewer.error is not None and viewer.error["reason"] == "audit_unavailable", viewer.error
    return viewer


async def test_a_view_is_on_the_record_before_its_first_frame(hub, tokens, login, tmp_path: Path) -> None:
    async with running_agent(hub, CAM, tokens[CAM], tmp_path):
        officer = await login("olivia")
        viewer = Viewer(officer, CAM)
        assert await viewer.watch("CASE-77", "burglary") == 201
        await viewer.wait_frames(1)
        # The first frame is here: the view.started record must already be durable (it was written before the
        # viewer's track joined the feed).
        kinds = [(r["kind"], r.get("case")) for r in _records(hub)]
        assert ("view.requested", "CASE-77") in kinds and ("view.started", "CASE-77") in kinds
        await viewer.wait_frames(10)
        assert await viewer.hang_up() == 200
        await viewer.close()

        def ended() -> list[dict[str, Any]]:
            return [r for r in _records(hub) if r["kind"] == "view.ended"]

        await wait_until(ended, 10, "the view.ended record")
    records = {r["kind"]: r for r in _records(hub) if r.get("case") == "CASE-77"}
    started, end = records["view.started"], records["view.ended"]
    assert started["request"] == records["view.requested"]["seq"] and end["view"] == started["seq"]
    assert started["actor"]["username"] == "olivia" and started["actor"]["agency"] == "metro-pd"
    # The officer's address is not in the record (owners read it): a salted commitment to it is.
    assert "source" not in started and len(started["source_commitment"]) == 64 and started["owner"] == end["owner"]
    assert end["ended_by"] == "viewer_left" and end["reason"] == "burglary"
    assert end["frames"] >= len(viewer.frames) >= 10 and end["bytes"] > 1000
    assert end["duration_ms"] > 0 and end["started"] < end["ended"]
    # Log-ins are on the record too, without the password.
    logins = [r for r in _records(hub) if r["kind"] == "login.ok"]
    assert any(r["actor"]["username"] == "olivia" for r in logins)
    assert "olivia-demo-pass" not in json.dumps(_records(hub))
    assert await hub.metric("porchlight_audit_records") == len(_records(hub))
    assert await hub.metric("porchlight_audit_pending") == 0


async def test_no_view_when_the_audit_file_cannot_be_written(hub, tokens, login, tmp_path: Path) -> None:
    async with running_agent(hub, CAM, tokens[CAM], tmp_path) as agent:
        officer = await login("olivia")
        # Another process holds the audit file's write lock: the hub cannot put a view on the record.
        blocker = sqlite3.connect(hub.config().store.data_dir / "audit.sqlite3", isolation_level=None)
        try:
            blocker.execute("BEGIN EXCLUSIVE")
            viewer = await _refused(officer)
            assert not viewer.frames and not agent.log_has("publishing started")
            assert await hub.metric("porchlight_publishers") == 0
        finally:
            blocker.close()
        # Once the log can be written again, the same officer can watch.
        viewer = Viewer(officer, CAM)
        assert await viewer.watch("CASE-AFTER") == 201
        await viewer.wait_frames(3)
        await viewer.close()
    assert not [r for r in _records(hub) if r.get("case") == "CASE-LOCKED"]


async def test_no_view_when_redis_refuses_writes(tmp_path: Path) -> None:
    async with two_hubs(tmp_path, a_via_proxy=False) as cluster:
        hub = cluster.b
        async with running_agent(hub, CAM, cluster.seeded.tokens[CAM], tmp_path) as agent:
            officer = await Api(hub.url).login("olivia", "olivia-demo-pass")
            client = redis.Redis.from_url(cluster.redis.url)
            try:
                # Redis refuses every write (as it does without enough replicas): the view cannot be recorded.
                client.config_set("min-replicas-to-write", 1)
                viewer = await _refused(officer)
                assert not viewer.frames and not agent.log_has("publishing started")
            finally:
                client.config_set("min-replicas-to-write", 0)
                client.close()
            viewer = Viewer(officer, CAM)
            assert await viewer.watch("CASE-AFTER") == 201
            await viewer.wait_frames(3)
            await viewer.close()
            await officer.close()


@pytest.mark.parametrize("hub_env", [{"PORCHLIGHT_AUDIT__EXPIRY_SCAN_SECONDS": "0.1"}])
async def test_consent_admin_and_log_in_events_are_recorded(hub, login, tmp_path: Path) -> None:
    alice, ada = await login("alice"), await login("ada")
    # A grant that runs out is recorded once it has (nothing else happens at that moment: the gate just closes).
    status, body = await alice.call("POST", "/api/cameras/backyard/grant", {"duration_seconds": 0.3})
    assert status == 201, body

    def expired() -> list[dict[str, Any]]:
        return [r for r in _records(hub) if r["kind"] == "consent.expired" and r["camera"] == "backyard"]

    await wait_until(expired, 10, "the consent.expired record")
    # Not hers: refused (as an unknown camera is, since issue 14 item 13), and no record.
    assert (await alice.call("POST", "/api/cameras/porch/grant", {}))[0] in (403, 404)
    status, _ = await alice.call("POST", "/api/cameras/front-door/grant", {"duration_seconds": 600})
    assert status == 201
    assert (await alice.call("DELETE", "/api/cameras/front-door/grant"))[0] == 200
    assert (await ada.call("PUT", "/api/policy", {"max_grant_seconds": 3600}))[0] == 200
    status, pilot = await ada.call("GET", "/api/pilot")
    window = {"starts_at": pilot["pilot"]["starts_at"], "ends_at": "2099-01-01T00:00:00Z"}
    assert (await ada.call("PUT", "/api/pilot", window))[0] == 200
    async with aiohttp.ClientSession() as anonymous:
        async with anonymous.post(f"{hub.url}/api/login", json={"username": "alice", "password": "wrong"}) as r:
            assert r.status == 401
        async with anonymous.post(f"{hub.url}/api/login", json={"username": "nobody", "password": "x"}) as r:
            assert r.status == 401
    status, answer = await alice.call("GET", "/api/audit/records?camera=backyard")
    assert status == 200
    _check_with_the_cli(hub, answer, tmp_path)
    assert (await alice.call("POST", "/api/logout"))[0] == 200

    records = _records(hub)
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_kind.setdefault(record["kind"], []).append(record)
    assert [r["seq"] for r in records] == list(range(len(records)))
    granted = {r["camera"]: r for r in by_kind["consent.granted"]}
    assert granted["backyard"]["actor"]["username"] == "alice" and granted["backyard"]["agencies"] is None
    [withdrawn] = by_kind["consent.withdrawn"]
    assert withdrawn["camera"] == "front-door" and withdrawn["version"] > granted["front-door"]["version"]
    [expiry] = expired()
    assert expiry["version"] == granted["backyard"]["version"] and expiry["actor"] is None
    assert by_kind["policy.changed"][0]["max_grant_seconds"] == 3600
    assert by_kind["pilot.changed"][0]["ends"] == "2099-01-01T00:00:00.00Z"
    assert by_kind["pilot.changed"][0]["actor"]["role"] == "admin"
    assert sorted(r["why"] for r in by_kind["login.failed"]) == ["bad_password", "unknown_user"]
    assert all("source" not in r and r["source_commitment"] for r in by_kind["login.failed"])
    [read] = by_kind["audit.read"]
    assert read["scope"] == "camera" and read["camera"] == "backyard" and read["actor"]["username"] == "alice"
    assert by_kind["logout"][0]["actor"]["username"] == "alice"
    assert '"wrong"' not in json.dumps(records)  # the password tried is not on the record
    assert len(granted) == 2  # the refused opt-in on porch wrote nothing


def _check_with_the_cli(hub: Hub, answer: dict[str, Any], tmp_path: Path) -> None:
    """`porchlight audit check` accepts what the API gave the resident, and refuses it once a record is altered."""
    key = subprocess.run(
        [sys.executable, "-m", "hub", "--config", str(hub.config_path), "audit", "key"],
        capture_output=True, text=True, cwd=ROOT, check=True,
    ).stdout.strip()  # fmt: skip
    saved = tmp_path / "records.json"

    def check(data: dict[str, Any]) -> subprocess.CompletedProcess[str]:
        saved.write_text(json.dumps(data), encoding="utf-8")
        return subprocess.run(
            [sys.executable, "-m", "hub", "audit", "check", str(saved), "--key", key],
            capture_output=True, text=True, cwd=ROOT, check=False,
        )  # fmt: skip

    good = check(answer)
    assert good.returncode == 0 and f"ok: {len(answer['records'])} record(s)" in good.stdout, good.stdout
    answer["records"][0]["record"] = answer["records"][0]["record"].replace("backyard", "frontyard")
    bad = check(answer)
    assert bad.returncode == 1 and "FAILED" in bad.stdout and "signature does not verify" in bad.stdout


async def test_views_left_open_by_a_killed_hub_are_ended_on_the_record(hub, tokens, login, tmp_path: Path) -> None:
    async with running_agent(hub, CAM, tokens[CAM], tmp_path):
        viewer = Viewer(await login("olivia"), CAM)
        assert await viewer.watch("CASE-KILLED") == 201
        await viewer.wait_frames(3)
        assert hub.proc is not None
        await hub.proc.stop(signal.SIGKILL)  # no chance to write view.ended
        await viewer.close()
    await hub.start()

    def ends() -> list[dict[str, Any]]:
        return [r for r in _records(hub) if r["kind"] == "view.ended" and r["case"] == "CASE-KILLED"]

    await wait_until(ends, 10, "the orphaned view to be ended on the record")
    [end] = ends()
    [started] = [r for r in _records(hub) if r["kind"] == "view.started" and r["case"] == "CASE-KILLED"]
    assert end["view"] == started["seq"] and end["ended_by"] == "hub_restarted"
    assert end["ended"] is None and end["duration_ms"] is None and end["actor"] == started["actor"]
