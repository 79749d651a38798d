"""Officers' addresses stay out of what owners read and verify (issue 14, item 8), on both stores.

An officer watches a camera; its owner reads the camera's records: the answer and its proofs verify with
`porchlight audit check` and hold no client address anywhere, not even in a record written before addresses left
the log (given redacted). An admin reads the address, and that the record's commitment matches it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hub.audit.record import Kind, Record, audit_time, encode
from hub.audit.setup import open_audit_store, signer_for
from hub.config import load_config
from hub.demo import seed
from hub.store.redis import RedisStore
from tests.support.client import Api, Viewer
from tests.support.cluster import hub_env
from tests.support.procs import ROOT, Hub, running_agent, wait_until
from tests.support.redis_server import RedisServer
from tests.support.secrets import SECRETS

CAM = "front-door"
OLD_ADDRESS = "198.51.100.77"
LOOPBACK = ("127.0.0.1", "::1")


@contextlib.asynccontextmanager
async def _hub(kind: str, tmp: Path, request: pytest.FixtureRequest) -> AsyncIterator[Hub]:
    """A seeded hub on SQLite or on a real redis-server, whose log already holds a record written the old way
    (an officer's address in its signed bytes)."""
    await asyncio.to_thread(tmp.mkdir)
    if kind == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        server.flushall()
        hub = Hub(tmp, env=hub_env("hub-a", server.url, tmp / "signer.key"))
        hub.write_config()
        store = await RedisStore.open(server.url, default_max_grant_seconds=7 * 86400)
        try:
            hub.seeded = await seed(store)  # type: ignore[attr-defined]
        finally:
            await store.close()
        for token in hub.seeded.tokens.values():  # type: ignore[attr-defined]
            SECRETS.add(token, "device token")
    else:
        hub = Hub(tmp)
        hub.write_config()
        hub.seeded = await hub.seed()  # type: ignore[attr-defined]
    await _write_an_old_record(hub)
    await hub.start()
    try:
        yield hub
    finally:
        await hub.stop()


async def _write_an_old_record(hub: Hub) -> None:
    """A view.started as hubs wrote it before: `source` holds the officer's address, signed into the leaf."""
    config = load_config(hub.config_path, env=hub.env)
    signer = signer_for(config)
    store = await open_audit_store(config)
    try:
        await store.bind_key(signer.verifier.text())
        seq = await store.size()
        fields = {
            "seq": seq, "time": audit_time(1_790_000_000), "kind": Kind.VIEW_STARTED.value, "hub": "old-hub",
            "source": OLD_ADDRESS, "actor": {"id": 9, "username": "olivia", "role": "officer", "agency": "metro-pd"},
            "camera": CAM, "owner": 2, "case": "OLD-CASE", "reason": "before the change", "request": 0,
        }  # fmt: skip
        body = encode(fields)
        assert await store.append(seq, [(Record(body, signer.sign_record(body)), CAM)]) is None
    finally:
        await store.close()


def _cli(hub: Hub, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "hub", "--config", str(hub.config_path), *args]
    env = {**os.environ, **hub.env}
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False, env=env)


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
async def test_owners_read_and_verify_no_address_admins_read_it(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with _hub(kind, tmp_path / "hub", request) as hub:
        tokens: dict[str, str] = hub.seeded.tokens  # type: ignore[attr-defined]
        clients = [Api(hub.url) for _ in range(3)]
        try:
            alice, olivia, ada = clients
            await alice.login("alice", "alice-demo-pass")
            await olivia.login("olivia", "olivia-demo-pass")
            await ada.login("ada", "ada-demo-pass")
            async with running_agent(hub, CAM, tokens[CAM], tmp_path):
                viewer = Viewer(olivia, CAM)
                assert await viewer.watch("CASE-ADDR", "canvass") == 201
                await viewer.wait_frames(3)
                assert await viewer.hang_up() == 200
                await viewer.close()

                async def ended() -> bool:
                    status, page = await alice.call("GET", f"/api/audit/records?camera={CAM}")
                    return status == 200 and any(i["fields"]["kind"] == "view.ended" for i in page["records"])

                await wait_until(ended, 15, "the view's end on the record")

            status, answer = await alice.call("GET", f"/api/audit/records?camera={CAM}")
            assert status == 200, answer
            text = json.dumps(answer)
            for address in (*LOOPBACK, OLD_ADDRESS):
                assert address not in text, address
            by_case = [i for i in answer["records"] if i["fields"].get("case") == "CASE-ADDR"]
            started = next(i for i in by_case if i["fields"]["kind"] == "view.started")
            assert "source" not in started["fields"] and len(started["fields"]["source_commitment"]) == 64
            [old] = [i for i in answer["records"] if i["fields"].get("case") == "OLD-CASE"]
            assert old["redacted"] == ["source"] and "record" not in old and "signature" not in old
            assert answer["next"] is None

            # The owner's answer verifies, the old record by its place in the log.
            key = _cli(hub, "audit", "key").stdout.strip()
            saved = tmp_path / "records.json"
            saved.write_text(text, encoding="utf-8")
            checked = _cli(hub, "audit", "check", str(saved), "--key", key)
            assert checked.returncode == 0, checked.stdout + checked.stderr
            assert f"ok: {len(answer['records'])} record(s)" in checked.stdout
            assert "1 of them came without their text" in checked.stdout
            old["leaf"] = by_case[0].get("leaf") or "A" * 43 + "="
            saved.write_text(json.dumps(answer), encoding="utf-8")
            assert _cli(hub, "audit", "check", str(saved), "--key", key).returncode == 1

            # An admin reads the addresses, and that the signed commitments match them.
            status, kept = await ada.call("GET", f"/api/audit/sources?seq={started['seq']}&seq={old['seq']}")
            assert status == 200, kept
            by_seq = {entry["seq"]: entry for entry in kept["sources"]}
            assert by_seq[started["seq"]]["address"] == "127.0.0.1"
            assert by_seq[started["seq"]]["commitment_matches"] is True
            assert by_seq[old["seq"]] == {"seq": old["seq"], "kind": "view.started", "address": OLD_ADDRESS,
                                          "in_record": True}  # fmt: skip
            status, walked = await ada.call("GET", "/api/audit/sources?limit=1000")
            assert status == 200 and {e["seq"] for e in walked["sources"]} >= set(by_seq)
            # Nobody else does.
            for api in (alice, olivia):
                status, body = await api.call("GET", f"/api/audit/sources?seq={started['seq']}")
                assert status == 403, body
            # An admin's look at the addresses is on the record.
            status, page = await ada.call("GET", "/api/audit/records?limit=1000")
            reads = [i["fields"] for i in page["records"] if i["fields"]["kind"] == "audit.read"]
            assert any(r.get("scope") == "sources" and r["actor"]["username"] == "ada" for r in reads)
        finally:
            for api in clients:
                await api.close()
