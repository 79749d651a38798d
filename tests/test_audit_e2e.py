"""The audit log in a running hub: every look recorded before its first frame, and no record means no view."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import redis

from tests.support.client import Api, Viewer
from tests.support.cluster import two_hubs
from tests.support.procs import Hub, running_agent, wait_until

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
    assert started["source"] == "127.0.0.1" and started["owner"] == end["owner"]
    assert end["ended_by"] == "viewer_left" and end["reason"] == "burglary"
    assert end["frames"] >= len(viewer.frames) >= 10 and end["bytes"] > 1000
    assert end["duration_ms"] > 0 and end["started"] < end["ended"]
    # Log-ins are on the record too, without the password.
    logins = [r for r in _records(hub) if r["kind"] == "login.ok"]
    assert any(r["actor"]["username"] == "olivia" for r in logins)
    assert "olivia-demo-pass" not in json.dumps(_records(hub))


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
