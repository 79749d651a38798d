"""'+1 hour' against a withdrawal from another page: the extension reads the live grant, then writes the longer
one. A withdrawal that lands in between must win (the owner's last word), not be overwritten by the camera shared
again. Both stores refuse a write that names a grant version no longer current (tests/test_store_contract.py);
this holds the extension's write at the store while the withdrawal goes through, on a hub in this process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import PASSWORDS
from tests.support.client import Api
from tests.support.inproc import InProcHub, inproc_hub

CAM = "front-door"


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[InProcHub]:
    async with inproc_hub(tmp_path) as instance:
        yield instance


async def test_a_withdrawal_between_the_extensions_read_and_write_wins(hub: InProcHub) -> None:
    owner = await Api(hub.url).login("alice", PASSWORDS["alice"])
    try:
        status, body = await owner.call("POST", f"/api/cameras/{CAM}/grant", {"duration_seconds": 3600})
        assert status == 201, body
        hub.store.hold("put_grant")
        extend = asyncio.create_task(
            owner.call("POST", f"/api/cameras/{CAM}/grant", {"duration_seconds": 7200, "extend": True})
        )
        await asyncio.wait_for(hub.store.reached["put_grant"].wait(), 10)
        status, body = await owner.call("DELETE", f"/api/cameras/{CAM}/grant")  # from the owner's other tab
        assert status == 200, body
        hub.store.release("put_grant")
        status, body = await extend
        assert status == 409 and body["reason"] == "grant_changed", body
        grant = await hub.store.get_grant(CAM)
        assert grant is not None and grant.revoked_at is not None  # withdrawn, as the owner's last click said
        assert time.time() < grant.ends_at  # refused for the change, not for running out
        gate = hub.registry.gate(CAM).state.grant
        assert gate is not None and gate.revoked_at is not None
    finally:
        await owner.close()
