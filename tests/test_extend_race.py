"""Two pages of one owner racing. '+1 hour' reads the live grant, then writes the longer one: a withdrawal that
lands in between must win (the owner's last word), not be overwritten by the camera shared again. Audio on, the
same: it lands on the grant the owner saw or not at all. Both stores refuse a write that names a grant version no
longer current (tests/test_store_contract.py); here the write is held at the store while the other page acts, on a
hub in this process."""

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


async def test_audio_on_lands_only_on_the_grant_the_owner_saw(hub: InProcHub) -> None:
    """Audio turned on from one page while another page opts in again without audio: the new grant stays silent."""
    owner = await Api(hub.url).login("alice", PASSWORDS["alice"])
    try:
        status, body = await owner.call("POST", f"/api/cameras/{CAM}/grant", {"duration_seconds": 3600})
        assert status == 201, body
        hub.store.hold("set_grant_audio")
        audio_on = asyncio.create_task(owner.call("PUT", f"/api/cameras/{CAM}/grant/audio", {"audio": True}))
        await asyncio.wait_for(hub.store.reached["set_grant_audio"].wait(), 10)
        status, body = await owner.call("POST", f"/api/cameras/{CAM}/grant", {"duration_seconds": 1800})
        assert status == 201, body
        hub.store.release("set_grant_audio")
        status, body = await audio_on
        assert status == 409 and body["reason"] == "grant_changed", body
        grant = await hub.store.get_grant(CAM)
        assert grant is not None and grant.audio is False
        assert hub.registry.gate(CAM).state.grant.audio is False
    finally:
        await owner.close()
