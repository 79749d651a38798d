"""The hub's in-memory consent state: one gate per camera, one pass per watching session.

The registry builds snapshots from the store and swaps them into the gates. Closing is done in memory first
and made sticky until the store confirms it, so a reload racing a withdrawal can never reopen a gate.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import replace

from hub.consent.decision import CameraState, Grant, Officer, Pilot
from hub.consent.gate import CameraGate, OfficerPass
from hub.store.base import Account, NotFound, Role, Session, Store

log = logging.getLogger(__name__)


def officer_state(account: Account, session: Session | None) -> Officer:
    """The gate's view of an account and its log-in session (a missing session has expired)."""
    return Officer(
        account_id=account.id,
        agency_id=account.agency_id,
        is_officer=account.role is Role.OFFICER,
        enabled=not account.disabled,
        session_expires_at=session.expires_at if session is not None else 0.0,
    )


class GateRegistry:
    """Gates and passes for this hub, kept in step with the store."""

    def __init__(self) -> None:
        self._gates: dict[str, CameraGate] = {}
        self._passes: dict[str, OfficerPass] = {}
        self._cameras: set[str] = set()
        self._pilot: Pilot | None = None
        self._grants: dict[str, Grant] = {}
        # Closures made in memory whose store write has not been applied yet.
        self._pending_revocations: dict[str, float] = {}
        self._pending_pilot_end: float | None = None
        # Until when this hub's view of the store counts as fresh; the gates close when it passes.
        self._lease_until = -math.inf
        self._reload_lock = asyncio.Lock()
        # Told when consent or the pilot changed (the pages' live updates); never on lease renewals.
        self.on_change: Callable[[], None] = lambda: None
        # Privacy masks per camera: the version its owner set, and the version its agent confirmed applying.
        self._masks_version: dict[str, int] = {}
        self._masks_applied: dict[str, int] = {}
        # Told (camera id) when a camera's mask version rose: its agent must be sent the new masks.
        self.on_masks_changed: Callable[[str], None] = lambda camera_id: None

    # Reading ---------------------------------------------------------------------------------------------
    def gate(self, camera_id: str) -> CameraGate:
        """The camera's gate; an unknown camera gets a closed gate that a later reload may fill in."""
        gate = self._gates.get(camera_id)
        if gate is None:
            gate = CameraGate(self._build(camera_id))
            self._gates[camera_id] = gate
        return gate

    @property
    def pilot(self) -> Pilot | None:
        return self._pilot

    def officer_pass(self, session_hash: str, state: Officer) -> OfficerPass:
        """The shared pass for a log-in session, created on first use."""
        existing = self._passes.get(session_hash)
        if existing is None:
            existing = OfficerPass(session_hash, state)
            self._passes[session_hash] = existing
        else:
            existing.state = state
        return existing

    def close_account(self, account_id: int) -> None:
        """An account was disabled: every pass of it stops admitting at once (before the store's change arrives)."""
        for officer_pass in self._passes.values():
            if officer_pass.state.account_id == account_id:
                officer_pass.state = replace(officer_pass.state, enabled=False)

    def require_masks(self, camera_id: str, version: int) -> None:
        """The owner set masks `version`: the camera's gates close until its agent confirms applying it."""
        if version > self._masks_version.get(camera_id, 0):
            self._masks_version[camera_id] = version
            self._rebuild([camera_id])
            self.on_masks_changed(camera_id)
            self.on_change()

    def masks_unknown(self, camera_id: str) -> None:
        """The camera's agent (re)connected: what it masks is unknown until it confirms."""
        self._masks_applied[camera_id] = -1
        self._rebuild([camera_id])

    def masks_confirmed(self, camera_id: str, version: int) -> None:
        """The camera's agent applies masks `version` to every frame it sends from now on."""
        self._masks_applied[camera_id] = version
        self._rebuild([camera_id])
        self.on_change()

    def release_pass(self, session_hash: str) -> None:
        """Forget a pass nobody watches with any more."""
        self._passes.pop(session_hash, None)

    # Building --------------------------------------------------------------------------------------------
    def _build(self, camera_id: str) -> CameraState:
        pilot = self._pilot
        if pilot is not None and self._pending_pilot_end is not None:
            pilot = replace(pilot, ends_at=min(pilot.ends_at, self._pending_pilot_end))
        grant = self._grants.get(camera_id)
        pending = self._pending_revocations.get(camera_id)
        if pending is not None:
            if grant is None:
                grant = Grant(camera_id, 0.0, 0.0, frozenset(), pending)
            else:
                grant = replace(grant, revoked_at=min(grant.revoked_at or math.inf, pending))
        version = max(pilot.version if pilot else 0, grant.version if grant else 0)
        return CameraState(
            camera_id=camera_id,
            known=camera_id in self._cameras,
            pilot=pilot,
            grant=grant,
            lease_until=self._lease_until,
            version=version,
            masks_version=self._masks_version.get(camera_id, 0),
            masks_applied=self._masks_applied.get(camera_id, 0),
        )

    def _rebuild(self, camera_ids: Iterable[str]) -> None:
        for camera_id in camera_ids:
            self.gate(camera_id).swap(self._build(camera_id))

    # Changes ---------------------------------------------------------------------------------------------
    def close_camera(self, camera_id: str, at: float) -> None:
        """Withdraw in memory now (before the store write): no frame after `at` passes this hub."""
        self._pending_revocations[camera_id] = at
        self._rebuild([camera_id])
        self.on_change()

    def close_pilot(self, at: float) -> None:
        """End the pilot in memory now (before the store write)."""
        self._pending_pilot_end = at
        self._rebuild(list(self._gates))
        self.on_change()

    def apply_grant(self, grant: Grant | None, camera_id: str, *, settle: bool = False) -> None:
        """Install the store's grant for one camera unless an older version; `settle` (this hub's own write
        has landed) also drops the camera's pending in-memory closure."""
        current = self._grants.get(camera_id)
        if grant is None:
            if settle:
                self._grants.pop(camera_id, None)
        elif current is None or grant.version >= current.version:
            self._grants[camera_id] = grant
        if settle:
            self._pending_revocations.pop(camera_id, None)
        self._rebuild([camera_id])
        self.on_change()

    def apply_pilot(self, pilot: Pilot | None, *, settle: bool = False) -> None:
        """Install the store's pilot unless an older version; `settle` also drops a pending pilot end."""
        if pilot is None or self._pilot is None or pilot.version >= self._pilot.version:
            self._pilot = pilot
        if settle:
            self._pending_pilot_end = None
        self._rebuild(list(self._gates))
        self.on_change()

    @property
    def lease_until(self) -> float:
        return self._lease_until

    def lapsed(self, now: float) -> bool:
        """Whether the lease has run out (the gates are closed as stale)."""
        return now >= self._lease_until

    def renew(self, until: float) -> None:
        """Extend the lease after the store answered; never call it for a lapsed lease before a full reload."""
        self._lease_until = until
        self._rebuild(list(self._gates))

    async def reload(self, store: Store) -> None:
        """Read everything consent depends on from the store and swap every gate and pass."""
        async with self._reload_lock:
            cameras = await store.list_cameras()
            grants = await store.list_grants()
            pilot = await store.get_pilot()
            self._cameras = {camera.id for camera in cameras}
            raised = [c.id for c in cameras if c.masks_version > self._masks_version.get(c.id, 0)]
            for camera in cameras:
                self._masks_version[camera.id] = max(camera.masks_version, self._masks_version.get(camera.id, 0))
            if pilot is None or self._pilot is None or pilot.version >= self._pilot.version:
                self._pilot = pilot
            for grant in grants:
                current = self._grants.get(grant.camera_id)
                if current is None or grant.version >= current.version:
                    self._grants[grant.camera_id] = grant
            self._rebuild(set(self._gates) | self._cameras)
            await self._reload_passes(store)
            for camera_id in raised:
                self.on_masks_changed(camera_id)
            self.on_change()

    async def _reload_passes(self, store: Store) -> None:
        for session_hash, officer_pass in list(self._passes.items()):
            try:
                session = await store.get_session(session_hash)
                account = await store.get_account(session.account_id)
            except NotFound:
                # The session is gone; say why if it went with its account (disabled, so its sessions ended).
                disabled = await _disabled(store, officer_pass.state.account_id)
                officer_pass.state = replace(officer_pass.state, session_expires_at=0.0, enabled=not disabled)
                continue
            officer_pass.state = officer_state(account, session)


async def _disabled(store: Store, account_id: int) -> bool:
    try:
        return (await store.get_account(account_id)).disabled
    except NotFound:
        return True
