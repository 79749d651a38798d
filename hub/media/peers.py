"""Every peer connection the hub holds, counted against the caps, and closed if its handshake never completes.

A connection takes a slot before it is created and gives it back when it closes, whatever closed it (the
session's end, a failed handshake, an offer that could not be applied), so the count is always what is open.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Coroutine
from typing import Any

from aiortc import RTCPeerConnection

from hub.errors import Busy, RateLimited
from porchlight_rtc.dtls import on_handshake_failure

log = logging.getLogger(__name__)

Spawn = Callable[[Coroutine[Any, Any, Any], str], None]
# Told of every handshake that failed: the endpoint ("whip" for a camera, "whep" for a viewer) and the stage
# ("ice", "dtls" or "timeout").
Failed = Callable[[str, str], None]


class PeerBook:
    """The hub's open peer connections: at most `total` in all and `per_officer` for one officer's views."""

    def __init__(
        self, total: int, per_officer: int, handshake_seconds: float, spawn: Spawn, failed: Failed = lambda e, s: None
    ) -> None:
        self._spawn = spawn
        self._failed = failed
        self.total = total
        self.per_officer = per_officer
        self.handshake_seconds = handshake_seconds
        self._open: dict[RTCPeerConnection, int | None] = {}
        self._by_officer: Counter[int] = Counter()
        self._timers: dict[RTCPeerConnection, asyncio.TimerHandle] = {}

    def __len__(self) -> int:
        return len(self._open)

    def officer_count(self, account_id: int) -> int:
        """Connections open now for one officer's views."""
        return self._by_officer[account_id]

    def check(self, officer: int | None = None) -> None:
        """Raise if one more connection (for `officer`'s view, or a camera's when None) would pass a cap."""
        retry = max(1, round(self.handshake_seconds))
        if officer is not None and self._by_officer[officer] >= self.per_officer:
            raise RateLimited(f"at most {self.per_officer} views open at once per officer", retry)
        if len(self._open) >= self.total:
            raise Busy("the hub is at its limit of connections; try again shortly", retry)

    def open(self, pc_factory: Callable[[], RTCPeerConnection], officer: int | None = None) -> RTCPeerConnection:
        """A new peer connection holding a slot until it closes; raises like `check` when the caps are reached."""
        self.check(officer)
        pc = pc_factory()
        self._open[pc] = officer
        if officer is not None:
            self._by_officer[officer] += 1

        endpoint = "whip" if officer is None else "whep"
        connected = dtls_failed = False

        def on_dtls_failure(failure: object) -> None:
            nonlocal dtls_failed
            dtls_failed = True  # registered first, so known before `on_state` below hears of the failure

        on_handshake_failure(pc, on_dtls_failure)

        @pc.on("connectionstatechange")
        def on_state() -> None:
            nonlocal connected
            if pc.connectionState == "connected":
                connected = True
                self._disarm(pc)
            elif pc.connectionState == "failed" and not connected:
                ice_up = pc.iceConnectionState in ("connected", "completed")
                self._handshake_failed(endpoint, "dtls" if dtls_failed or ice_up else "ice")
            elif pc.connectionState == "closed":
                self._release(pc)

        return pc

    def arm(self, pc: RTCPeerConnection, on_timeout: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        """Call `on_timeout` (which must close `pc`) unless the connection is up within the handshake time."""
        if pc not in self._open or pc.connectionState == "connected":
            return

        def fire() -> None:
            self._timers.pop(pc, None)
            if pc in self._open and pc.connectionState != "connected":
                self._handshake_failed("whip" if self._open[pc] is None else "whep", "timeout")
                self._spawn(on_timeout(), "handshake-timeout")

        self._timers[pc] = asyncio.get_running_loop().call_later(self.handshake_seconds, fire)

    def _handshake_failed(self, endpoint: str, stage: str) -> None:
        # One INFO line each; a DTLS failure's (with its cause) comes from porchlight_rtc.dtls.
        if stage == "timeout":
            log.info(
                "a %s peer connection's handshake did not complete in %.0f s: closing it",
                endpoint.upper(),
                self.handshake_seconds,
            )
        elif stage == "ice":
            log.info("a %s peer connection failed: ICE found no working path to the peer", endpoint.upper())
        self._failed(endpoint, stage)

    async def close(self, pc: RTCPeerConnection | None) -> None:
        """Close `pc` (None: nothing to do) and give its slot back, even if closing fails (that is logged)."""
        if pc is None:
            return
        try:
            # Shielded: a caller cancelled mid-close (a control socket's handler, cancelled as its connection went)
            # would leave aiortc's close half done, and every later close() of the connection waiting forever.
            await asyncio.shield(pc.close())
        except Exception:
            log.exception("closing a peer connection failed")
        finally:
            self._release(pc)

    def _disarm(self, pc: RTCPeerConnection) -> None:
        timer = self._timers.pop(pc, None)
        if timer is not None:
            timer.cancel()

    def _release(self, pc: RTCPeerConnection) -> None:
        self._disarm(pc)
        if pc not in self._open:
            return
        officer = self._open.pop(pc)
        if officer is not None:
            self._by_officer[officer] -= 1
            if self._by_officer[officer] <= 0:
                del self._by_officer[officer]
