"""Reading the log costs the hub little and grows the log by nothing per read (issue 14, item 16): records come
in pages a cursor walks exactly once, the public routes are rate-limited per address, and a resident's reads
add at most one record per window."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.client import Api
from tests.support.procs import ROOT, Hub

CAM = "front-door"
PUBLIC = [
    "/transparency",
    "/api/transparency",
    "/api/transparency.csv",
    "/api/audit/checkpoint",
    "/api/audit/key",
    "/api/audit/proof/inclusion?seq=0&size=1",
    "/api/audit/proof/consistency?from=1&to=1",
]


async def _walk(api: Api, query: str, limit: int) -> list[dict[str, Any]]:
    """Every page of `query`, following `next` until it is null."""
    pages: list[dict[str, Any]] = []
    after = ""
    while True:
        status, page = await api.call("GET", f"/api/audit/records?{query}&limit={limit}{after}")
        assert status == 200, page
        assert len(page["records"]) <= limit
        pages.append(page)
        if page["next"] is None:
            return pages
        assert page["next"] == page["records"][-1]["seq"]
        after = f"&after={page['next']}"


async def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, cwd=ROOT, check=False)


def _seqs(pages: list[dict[str, Any]]) -> list[int]:
    return [item["seq"] for page in pages for item in page["records"]]


async def test_a_cursor_walks_every_record_once(hub: Hub, login: Any, tmp_path: Path) -> None:
    alice, ada = await login("alice"), await login("ada")
    for _ in range(12):  # two records about the camera each time
        assert (await alice.call("DELETE", f"/api/cameras/{CAM}/grant"))[0] == 200
        assert (await alice.call("POST", f"/api/cameras/{CAM}/grant", {"duration_seconds": 600}))[0] == 201
    pages = await _walk(alice, f"camera={CAM}", 5)
    walked = _seqs(pages)
    assert len(pages) >= 5 and walked == sorted(set(walked)), walked
    status, whole = await alice.call("GET", f"/api/audit/records?camera={CAM}&limit=1000")
    assert status == 200 and whole["next"] is None
    assert walked == [item["seq"] for item in whole["records"] if item["seq"] <= walked[-1]]
    assert all(item["fields"]["camera"] == CAM for page in pages for item in page["records"])

    # `porchlight audit check` follows the pages: each against its own checkpoint, each record once.
    key = (await _run(sys.executable, "-m", "hub", "--config", str(hub.config_path), "audit", "key")).stdout.strip()
    saved = tmp_path / "pages.json"
    saved.write_text(json.dumps(pages), encoding="utf-8")
    check = [sys.executable, "-m", "hub", "audit", "check", str(saved), "--key", key]
    done = await _run(*check)
    assert done.returncode == 0 and f"ok: {len(walked)} record(s)" in done.stdout, done.stdout
    saved.write_text(json.dumps([pages[1], pages[0]]), encoding="utf-8")
    done = await _run(*check)
    assert done.returncode == 1 and "out of order" in done.stdout, done.stdout

    # An admin walks the whole log the same way: every position once, in order.
    log = _seqs(await _walk(ada, "x=1", 9))
    assert log == list(range(len(log))) and len(log) > len(walked)
    for bad in ("limit=0", "after=-1", "limit=x"):
        status, body = await ada.call("GET", f"/api/audit/records?{bad}")
        assert status == 400 and body["reason"] == "bad_query", bad


async def test_a_residents_reads_do_not_grow_the_log(hub: Hub, login: Any) -> None:
    alice = await login("alice")

    async def size() -> int:
        status, page = await alice.call("GET", f"/api/audit/records?camera={CAM}&limit=1")
        assert status == 200
        return int(page["checkpoint"]["size"])

    first = await size()
    for _ in range(15):
        await size()
    # One audit.read (the first read of the hour) at most, however many reads.
    assert await size() <= first + 1
    _, page = await alice.call("GET", f"/api/audit/records?camera={CAM}&limit=1000")
    reads = [i["fields"] for i in page["records"] if i["fields"]["kind"] == "audit.read"]
    assert len(reads) == 1 and reads[0]["actor"]["username"] == "alice"


@pytest.mark.parametrize("hub_env", [{"PORCHLIGHT_LIMITS__PUBLIC_PER_SOURCE": "10/minute"}])
async def test_public_routes_are_rate_limited_per_address(hub: Hub) -> None:
    async with aiohttp.ClientSession() as anonymous:
        for n in range(10):
            async with anonymous.get(f"{hub.url}{PUBLIC[n % len(PUBLIC)]}") as response:
                # (The log may be too short for the proofs asked: a 400 counts against the allowance too.)
                assert response.status in (200, 400), (PUBLIC[n % len(PUBLIC)], await response.text())
        for path in PUBLIC:
            async with anonymous.get(f"{hub.url}{path}") as response:
                assert response.status == 429, path
                assert int(response.headers["Retry-After"]) >= 1
                if path != "/transparency":
                    assert (await response.json())["reason"] == "rate_limited"
    assert await hub.metric("porchlight_audit_pending") == 0
