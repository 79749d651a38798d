"""Passthrough specifics: joiners start on a keyframe, keyframe requests are shared, and a viewer whose gate
closed (the store stopped answering) resumes on a fresh keyframe with nothing captured while it was closed."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from hub.app import create_app, open_store
from hub.config import Config, load_config
from hub.consent.decision import Reason
from hub.demo import seed
from hub.keys import METRICS, REGISTRY
from hub.media.encoded import check_internals, is_keyframe
from hub.store.base import Store
from tests.conftest import PASSWORDS
from tests.support.client import Api, Viewer
from tests.support.procs import free_port, running_agent, wait_until

# Judges frame rates, gaps or latency under load: `make test` runs it alone, not beside another test (see Makefile).
pytestmark = pytest.mark.solo

CAM = "front-door"


class FlakyStore:
    """A real store whose change feed can be made to stop answering, as a lost store would."""

    def __init__(self, inner: Store) -> None:
        self._inner = inner
        self.down = False

    async def change_marker(self) -> int:
        if self.down:
            raise ConnectionError("store unreachable (test fault)")
        return await self._inner.change_marker()

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)


class InProcessHub:
    """The hub app on a real port in this process, so a test can reach its registry and its store."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env: dict[str, str] = {}
        self.config: Config = load_config(
            env={
                "PORCHLIGHT_STORE__DATA_DIR": str(tmp / "data"),
                "PORCHLIGHT_MEDIA__LOOPBACK": "true",
                "PORCHLIGHT_CONSENT__POLL_SECONDS": "0.05",
                "PORCHLIGHT_CONSENT__LEASE_SECONDS": "0.5",
                "PORCHLIGHT_CONSENT__STORE_TIMEOUT_SECONDS": "0.2",
                "PORCHLIGHT_AUTH__MFA_REQUIRED": "false",
            }
        )
        self.store: FlakyStore | None = None
        self.app = create_app(self.config, self._open)
        self.server = TestServer(self.app, host="127.0.0.1", port=self.port)

    async def _open(self, config: Config) -> Store:
        self.store = FlakyStore(await open_store(config))
        return self.store  # type: ignore[return-value]


@pytest.fixture
async def inproc(tmp_path: Path) -> AsyncIterator[tuple[InProcessHub, dict[str, str]]]:
    hub = InProcessHub(tmp_path)
    store = await open_store(hub.config)
    seeded = await seed(store)
    await store.close()
    await hub.server.start_server()
    try:
        yield hub, seeded.tokens
    finally:
        await hub.server.close()


def _decode_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "failed to decode" in r.getMessage()]


def test_aiortc_internals_are_where_passthrough_expects_them() -> None:
    check_internals()  # raises AiortcInternalsChanged naming what moved


@pytest.mark.parametrize(
    ("codec", "data", "expected"),
    [
        ("VP8", b"\x10\x02\x00\x9d\x01\x2a" + b"\x00" * 10, True),
        ("VP8", b"\x11\x02\x00\x9d\x01\x2a" + b"\x00" * 10, False),
        ("VP8", b"\x31\x02\x00\x00\x00\x00", False),
        ("H264", b"\x00\x00\x00\x01\x67\x42\x00\x00\x00\x01\x68\x00\x00\x00\x01\x65\x88", True),
        ("H264", b"\x00\x00\x00\x01\x41\x9a", False),
        ("OPUS", b"\x00", False),
    ],
    ids=["vp8 key", "vp8 inter", "vp8 garbage", "h264 idr", "h264 p-slice", "other codec"],
)
def test_keyframe_detection(codec: str, data: bytes, expected: bool) -> None:
    assert is_keyframe(codec, data) is expected


async def test_joiners_start_clean_and_share_keyframe_requests(
    inproc, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    hub, tokens = inproc
    caplog.set_level(logging.WARNING, logger="aiortc.rtcrtpreceiver")
    api = await Api(hub.url).login("olivia", PASSWORDS["olivia"])
    async with running_agent(hub, CAM, tokens[CAM], tmp_path):
        first = Viewer(api, CAM)
        assert await first.watch() == 201
        await first.wait_frames(20)
        requests = hub.app[METRICS].keyframe_requests
        before = requests._value.get()
        joiners = [Viewer(api, CAM) for _ in range(5)]
        assert await asyncio.gather(*(j.watch() for j in joiners)) == [201] * 5
        await asyncio.gather(*(j.wait_frames(5) for j in joiners))
        # Five joiners at once: one keyframe request, perhaps a second from the deferral, never a storm.
        assert 1 <= requests._value.get() - before <= 2
        for joiner in joiners:
            assert joiner.frames[0].stamp_ms is not None, "a joiner's first frame did not decode as a picture"
        assert _decode_errors(caplog) == []

        # A viewer's own picture loss indication is relayed to the camera (through the rate limit).
        relayed = hub.app[METRICS].keyframes_wanted.labels("viewer")
        assert relayed._value.get() == 0
        receiver = first.pc.getTransceivers()[0].receiver
        await receiver._send_rtcp_pli(receiver.getSynchronizationSources()[0].source)
        await wait_until(lambda: relayed._value.get() == 1, 5, "the viewer's PLI to reach the hub's requester")
        for viewer in [first, *joiners]:
            await viewer.close()
    await api.close()


async def test_resumed_viewer_shows_nothing_captured_while_closed(
    inproc, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    hub, tokens = inproc
    caplog.set_level(logging.WARNING, logger="aiortc.rtcrtpreceiver")
    registry = hub.app[REGISTRY]
    api = await Api(hub.url).login("olivia", PASSWORDS["olivia"])
    async with running_agent(hub, CAM, tokens[CAM], tmp_path):
        viewer = Viewer(api, CAM)
        assert await viewer.watch() == 201
        await viewer.wait_frames(10)

        assert hub.store is not None
        missed = hub.app[METRICS].lease_renewals_missed
        assert missed._value.get() == 0
        hub.store.down = True
        await wait_until(lambda: registry.lapsed(time.time()), 5, "the lease to lapse")
        assert missed._value.get() >= 1  # each poll that could not renew is counted
        closed_at = registry.lease_until
        assert registry.gate(CAM).admit(time.time(), viewer_pass(registry)) is Reason.STATE_STALE
        received = len(viewer.frames)
        await asyncio.sleep(0.5)  # the gate stays closed for a while: this is the span being checked
        hub.store.down = False
        await wait_until(lambda: not registry.lapsed(time.time()), 5, "the gate to reopen after a reload")
        reopened_at = time.time()
        await viewer.wait_frames(received + 10, timeout=10)

        assert not viewer.track_ended.is_set(), "a stale store must pause the viewer, not end it"
        stamps = [s / 1000 for s in viewer.stamped()]
        during = [s for s in stamps if closed_at <= s < reopened_at - 0.01]
        assert not during, f"{len(during)} frames captured while the gate was closed were shown"
        assert any(s >= reopened_at for s in stamps)
        assert _decode_errors(caplog) == []
        await viewer.close()
    await api.close()


def viewer_pass(registry):
    """The (only) officer pass the registry holds."""
    return next(iter(registry._passes.values()))
