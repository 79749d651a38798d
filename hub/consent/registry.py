"""The hub's in-memory consent state: one gate per camera, one pass per watching session.

The registry builds snapshots from the store and swaps them into the gates. Closing is done in memory first
and made sticky until the store confirms it, so a reload racing a withdrawal can never reopen a gate.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Protocol

from hub.consent.decision import CameraState, Grant, Officer, Pilot, audio_granted
from hub.consent.gate import CameraGate, OfficerPass
from hub.store.base import Account, Camera, CameraStore, ConsentStore, LoginStore, NotFound, Role, Session
from hub.store.view_bars_base import ViewBar, ViewBarStore

log = logging.getLogger(__name__)

GONE_SECONDS = 600.0


class ConsentSources(CameraStore, ConsentStore, ViewBarStore, LoginStore, Protocol):
    """What a reload reads: cameras, grants, the pilot and bars for the gates; sessions and accounts for the
    passes."""


def officer_state(account: Account, session: Session | None, idle_seconds: float = math.inf) -> Officer:
    """The gate's view of an account and its log-in session (a missing session has expired). The session ends at
    its absolute timeout or when it has been idle for `idle_seconds`, whichever comes first."""
    expires = 0.0 if session is None else min(session.expires_at, session.last_seen_at + idle_seconds)
    return Officer(
        account_id=account.id,
        agency_id=account.agency_id,
        is_officer=account.role is Role.OFFICER,
        enabled=not account.disabled,
        session_expires_at=expires,
        version=account.version,
    )


class GateRegistry:
    """Gates and passes for this hub, kept in step with the store."""

    def __init__(self, idle_seconds: float = math.inf) -> None:
        self.idle_seconds = idle_seconds
        self._gates: dict[str, CameraGate] = {}
        self._passes: dict[str, OfficerPass] = {}
        self._cameras: set[str] = set()
        self._pilot: Pilot | None = None
        self._grants: dict[str, Grant] = {}
        # Closures made in memory whose store write has not been applied yet.
        self._pending_revocations: dict[str, float] = {}
        self._pending_pilot_end: float | None = None
        self._pending_pilot_ended = False
        # Accounts being disabled here (closed in memory, store write not settled), and the newest account state
        # known: (version, enabled). An account state read before a newer one is never installed.
        self._closing_accounts: set[int] = set()
        self._accounts: dict[int, tuple[int, bool]] = {}
        # Log-in sessions seen gone from the store (log-out, timeout, disable), with when: a pass of one never
        # reopens for a request that read the session before it went. Kept for GONE_SECONDS, far longer than any
        # request takes (tokens are never reused).
        self._gone_sessions: dict[str, float] = {}
        # Cameras whose masks are being changed: held (masks pending) until the new version is known. True marks a
        # hold whose write failed: the next reload, which reads whatever the store has, lifts it.
        self._mask_holds: dict[str, bool] = {}
        # Until when this hub's view of the store counts as fresh; the gates close when it passes.
        self._lease_until = -math.inf
        self._reload_lock = asyncio.Lock()
        # This hub's clock strays too far from the store's: the lease is not renewed (see hub.sync.refresh).
        self.clock_strays = False
        # The store server this hub's state was read from (hub.sync.refresh): another may have lost writes applied here.
        self.followed_server: str | None = None
        # Told when consent or the pilot changed (the pages' live updates); never on lease renewals.
        self.on_change: Callable[[], None] = lambda: None
        # Privacy masks per camera: the version its owner set, and the version its agent confirmed applying.
        self._masks_version: dict[str, int] = {}
        self._masks_applied: dict[str, int] = {}
        # Told (camera id) when a camera's mask version rose: its agent must be sent the new masks.
        self.on_masks_changed: Callable[[str], None] = lambda camera_id: None
        # Audio being turned off here (closed in memory, store write in flight: how many such writes), and cameras
        # whose audio-off write failed (held off until a later audio change or opt-in of the camera lands).
        self._audio_closing: dict[str, int] = {}
        self._audio_failed: set[str] = set()
        # Told (camera id) when whether the camera's grant allows audio changed: its agent starts or stops sending.
        self.on_audio_changed: Callable[[str], None] = lambda camera_id: None
        # Officers barred from a camera by its owner (camera id -> account id -> the barred grant's starts_at): as
        # the store last said, and those barred here (kept whatever a reload reads, until the camera's grant is
        # replaced: this hub's own bar holds before its store write lands, and if that write fails).
        self._bars: dict[str, dict[int, float]] = {}
        self._own_bars: dict[str, dict[int, float]] = {}

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
        """The shared pass for a log-in session, created on first use; `state` replaces the pass's unless it was
        read before a newer account state this hub knows (versions decide, never arrival order)."""
        state = self._newest(state)
        if session_hash in self._gone_sessions:
            state = replace(state, session_expires_at=0.0)
        existing = self._passes.get(session_hash)
        if existing is None:
            existing = OfficerPass(session_hash, state)
            self._passes[session_hash] = existing
        elif state.version >= existing.state.version:
            existing.state = state
        return existing

    def _newest(self, state: Officer) -> Officer:
        known = self._accounts.get(state.account_id)
        if known is not None and known[0] > state.version:
            state = replace(state, version=known[0], enabled=known[1])
        if state.account_id in self._closing_accounts:
            state = replace(state, enabled=False)
        return state

    def close_account(self, account_id: int) -> None:
        """An account is being disabled: every pass of it stops admitting at once (before the store's change
        arrives) and stays closed until `settle_account` installs the store's answer."""
        self._closing_accounts.add(account_id)
        for officer_pass in self._passes.values():
            if officer_pass.state.account_id == account_id:
                officer_pass.state = replace(officer_pass.state, enabled=False)

    def session_gone(self, session_hash: str) -> None:
        """A log-in session ended: its pass (if any) stops admitting now and never reopens."""
        now = time.monotonic()
        while self._gone_sessions and next(iter(self._gone_sessions.values())) < now - GONE_SECONDS:
            del self._gone_sessions[next(iter(self._gone_sessions))]  # oldest first
        self._gone_sessions.pop(session_hash, None)  # to the end: the dict stays oldest first
        self._gone_sessions[session_hash] = now
        officer_pass = self._passes.get(session_hash)
        if officer_pass is not None:
            officer_pass.state = replace(officer_pass.state, session_expires_at=0.0)

    def settle_account_unknown(self, account_id: int) -> None:
        """The account being disabled does not exist: nothing to hold closed for it."""
        self._closing_accounts.discard(account_id)

    def settle_account(self, account: Account) -> None:
        """Install an account's state as the store answered it (its write landed, or another hub's change)."""
        self._closing_accounts.discard(account.id)
        self._learn_account(account.id, account.version, not account.disabled)

    def _learn_account(self, account_id: int, version: int, enabled: bool) -> None:
        known = self._accounts.get(account_id)
        if known is not None and known[0] > version:
            return
        self._accounts[account_id] = (version, enabled)
        for officer_pass in self._passes.values():
            if officer_pass.state.account_id == account_id and officer_pass.state.version <= version:
                officer_pass.state = self._newest(replace(officer_pass.state, version=version, enabled=enabled))

    def hold_masks(self, camera_id: str) -> None:
        """The owner is changing the camera's masks: hold its video now, before the store write (as a withdrawal
        closes first), until `require_masks` installs the new version and its agent confirms it."""
        self._mask_holds[camera_id] = False
        self._rebuild([camera_id])
        self.on_change()

    def mask_write_failed(self, camera_id: str) -> None:
        """The masks' store write failed: keep holding until a reload reads what the store has (fail closed)."""
        if camera_id in self._mask_holds:
            self._mask_holds[camera_id] = True

    def require_masks(self, camera_id: str, version: int) -> None:
        """The owner set masks `version`: the camera's gates close until its agent confirms applying it."""
        held = self._mask_holds.pop(camera_id, None) is not None
        raised = version > self._masks_version.get(camera_id, 0)
        if raised:
            self._masks_version[camera_id] = version
        if raised or held:
            self._rebuild([camera_id])
            self.on_change()
        if raised:
            self.on_masks_changed(camera_id)

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
            ended = pilot.ended or self._pending_pilot_ended
            pilot = replace(pilot, ends_at=min(pilot.ends_at, self._pending_pilot_end), ended=ended)
        grant = self._grants.get(camera_id)
        pending = self._pending_revocations.get(camera_id)
        if pending is not None:
            if grant is None:
                grant = Grant(camera_id, 0.0, 0.0, frozenset(), pending)
            else:
                grant = replace(grant, revoked_at=min(grant.revoked_at or math.inf, pending))
        if grant is not None and grant.audio and (camera_id in self._audio_closing or camera_id in self._audio_failed):
            grant = replace(grant, audio=False)
        version = max(pilot.version if pilot else 0, grant.version if grant else 0)
        masks_version, masks_applied = self._masks_version.get(camera_id, 0), self._masks_applied.get(camera_id, 0)
        if camera_id in self._mask_holds:
            masks_version, masks_applied = max(masks_version, 1), -1
        barred: frozenset[int] = frozenset()
        if grant is not None:
            kept = (self._bars.get(camera_id, {}), self._own_bars.get(camera_id, {}))
            barred = frozenset(a for bars in kept for a, starts_at in bars.items() if starts_at == grant.starts_at)
        return CameraState(
            camera_id=camera_id,
            known=camera_id in self._cameras,
            pilot=pilot,
            grant=grant,
            lease_until=self._lease_until,
            version=version,
            masks_version=masks_version,
            masks_applied=masks_applied,
            barred=barred,
        )

    def _rebuild(self, camera_ids: Iterable[str], *, force: bool = False) -> None:
        for camera_id in camera_ids:
            gate = self.gate(camera_id)
            audio_before = audio_granted(gate.state)
            state = self._build(camera_id)
            if force:
                gate.reset(state)  # `resync`: the store lost writes, so its older versions are the truth
            else:
                gate.swap(state)
            if audio_granted(gate.state) != audio_before:
                self.on_audio_changed(camera_id)

    # Changes ---------------------------------------------------------------------------------------------
    def close_camera(self, camera_id: str, at: float) -> None:
        """Withdraw in memory now (before the store write): no frame after `at` passes this hub."""
        self._pending_revocations[camera_id] = at
        self._rebuild([camera_id])
        self.on_change()

    def bar(self, camera_id: str, account_id: int) -> bool:
        """The camera's owner stopped this officer's view: bar the account from the camera in memory now (before
        the store write), for the grant this hub holds; no view of it passes or starts here from this call on.
        False if this hub knows no grant of the camera (nothing admits anyone then)."""
        grant = self._grants.get(camera_id)
        if grant is None:
            return False
        self._own_bars.setdefault(camera_id, {})[account_id] = grant.starts_at
        self._rebuild([camera_id])
        return True

    def apply_bar(self, bar: ViewBar) -> None:
        """Install a bar as the store wrote it (against the grant the store holds, which this hub may not yet)."""
        self._bars.setdefault(bar.camera_id, {})[bar.account_id] = bar.grant_starts_at
        self._rebuild([bar.camera_id])

    def _forget_replaced_bars(self) -> None:
        """Drop this hub's own bars of grants since replaced (the store's are read afresh with every reload)."""
        for camera_id, bars in list(self._own_bars.items()):
            grant = self._grants.get(camera_id)
            for account_id, starts_at in list(bars.items()):
                if grant is None or grant.starts_at != starts_at:
                    del bars[account_id]
            if not bars:
                del self._own_bars[camera_id]

    def close_audio(self, camera_id: str) -> None:
        """Turn the camera's audio off in memory now (before the store write): no audio packet passes this hub from
        here on, whatever a reload reads, until `audio_settled` or `audio_write_failed`."""
        self._audio_closing[camera_id] = self._audio_closing.get(camera_id, 0) + 1
        self._rebuild([camera_id])
        self.on_change()

    def audio_settled(self, camera_id: str, grant: Grant | None) -> None:
        """An audio-off write made here (after `close_audio`) has landed (`grant` as the store answered): install
        it; an audio-off write that had failed before no longer holds."""
        self._end_audio_closing(camera_id)
        self._audio_failed.discard(camera_id)
        self.apply_grant(grant, camera_id)

    def audio_opened(self, camera_id: str, grant: Grant | None) -> None:
        """An audio-on write made here has landed: install it (a failed audio-off no longer holds). An audio-off of
        the camera still under way keeps holding: only its own `audio_settled` ends it, so a late "on" reply
        cannot reopen audio the owner has just turned off."""
        self._audio_failed.discard(camera_id)
        self.apply_grant(grant, camera_id)

    def audio_write_failed(self, camera_id: str) -> None:
        """An audio-off write failed: audio stays off here until a later change of the camera's audio or grant
        lands (fail closed)."""
        self._end_audio_closing(camera_id)
        self._audio_failed.add(camera_id)
        self._rebuild([camera_id])

    def _end_audio_closing(self, camera_id: str) -> None:
        left = self._audio_closing.pop(camera_id, 0) - 1
        if left > 0:
            self._audio_closing[camera_id] = left

    def audio_closed(self, camera_id: str, version: int) -> bool:
        """Whether the camera's gate here holds a grant of at least `version` that lets no audio through."""
        grant = self.gate(camera_id).state.grant
        return grant is not None and grant.version >= version and not audio_granted(self.gate(camera_id).state)

    def close_pilot(self, at: float, *, ended: bool) -> None:
        """Shorten the pilot to `at` in memory now (before the store write); `ended`: it ends now, on this hub's
        gates whatever the clock says."""
        self._pending_pilot_end = at
        self._pending_pilot_ended = ended
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
            self._audio_failed.discard(camera_id)  # a new grant or a withdrawal written here replaces it
        self._rebuild([camera_id])
        self.on_change()

    def apply_pilot(self, pilot: Pilot | None, *, settle: bool = False) -> None:
        """Install the store's pilot unless an older version; `settle` also drops a pending pilot end."""
        if pilot is None or self._pilot is None or pilot.version >= self._pilot.version:
            self._pilot = pilot
        if settle:
            self._pending_pilot_end = None
            self._pending_pilot_ended = False
        self._rebuild(list(self._gates))
        self.on_change()

    def withdrawn(self, camera_id: str, version: int) -> bool:
        """Whether the camera's gate here holds a withdrawal of at least `version` (it admits nothing)."""
        grant = self.gate(camera_id).state.grant
        return grant is not None and grant.version >= version and grant.revoked_at is not None

    @property
    def lease_until(self) -> float:
        return self._lease_until

    def lapsed(self, now: float) -> bool:
        """Whether the lease has run out (the gates are closed as stale)."""
        return now >= self._lease_until

    def renew(self, until: float) -> None:
        """Extend the lease after the store answered; never call it for a lapsed lease before a full reload."""
        self._lease_until = until
        # Only the lease moves (every other change rebuilt its gates when it happened): four times a second over
        # 1,500 cameras, rebuilding each state from scratch cost the hub 5% of a core.
        for gate in self._gates.values():
            gate.extend_lease(until)

    def expire_lease(self) -> None:
        """Close every gate as stale now (this hub's clock strays too far from the store's)."""
        self._lease_until = -math.inf
        self._rebuild(list(self._gates))

    async def reload(self, store: ConsentSources) -> None:
        """Read everything consent depends on from the store and swap every gate and pass."""
        async with self._reload_lock:
            await self._load(store)

    def held_withdrawals(self) -> dict[str, Grant]:
        """The withdrawn grants this hub holds as the store answered them (camera id -> grant), for `hub.sync` to
        write again to a store that lost them."""
        return {camera_id: grant for camera_id, grant in self._grants.items() if grant.revoked_at is not None}

    def held_disabled(self) -> dict[int, int]:
        """The accounts this hub knows disabled, with the version of that state (account id -> version)."""
        return {account_id: version for account_id, (version, enabled) in self._accounts.items() if not enabled}

    async def resync(self, store: ConsentSources) -> None:
        """Reload taking the store as the truth: it lost writes this hub had applied (a failover, a restart without
        its append-only file), so every version held in memory (grants, the pilot, accounts, masks) is dropped
        rather than kept as newer. Closures made here and not yet settled (`close_camera`, `close_pilot`,
        `close_account`, audio off, mask holds) and sessions seen gone still hold. Cameras whose masks went back
        are held until their agents confirm the masks the store has (sent to them through `on_masks_changed`).
        The caller keeps the gates closed (the lease expired) until this returns."""
        async with self._reload_lock:
            self._grants, self._pilot, self._accounts = {}, None, {}
            cameras = await self._load(store, force_passes=True)
            self._rebuild(list(self._gates), force=True)
            # Masks the store has older than this hub knew (set, or applied by an agent): the store's apply again,
            # and the camera's video is held until its agent confirms them (it applies the lost ones until then).
            stored = {camera.id: camera.masks_version for camera in cameras}
            for camera_id in set(self._masks_version) | set(self._masks_applied):
                known = max(self._masks_version.get(camera_id, 0), self._masks_applied.get(camera_id, 0))
                if stored.get(camera_id, 0) < known:
                    self._masks_version[camera_id] = stored.get(camera_id, 0)
                    self._masks_applied[camera_id] = -1
                    self._rebuild([camera_id])
                    self.on_masks_changed(camera_id)

    async def _load(self, store: ConsentSources, *, force_passes: bool = False) -> list[Camera]:
        failed_holds = [camera_id for camera_id, failed in self._mask_holds.items() if failed]
        cameras = await store.list_cameras()
        grants = await store.list_grants()
        pilot = await store.get_pilot()
        bars = await store.list_view_bars(time.time())
        self._cameras = {camera.id for camera in cameras}
        for camera_id in failed_holds:
            self._mask_holds.pop(camera_id, None)
        raised = [c.id for c in cameras if c.masks_version > self._masks_version.get(c.id, 0)]
        for camera in cameras:
            self._masks_version[camera.id] = max(camera.masks_version, self._masks_version.get(camera.id, 0))
        if pilot is None or self._pilot is None or pilot.version >= self._pilot.version:
            self._pilot = pilot
        for grant in grants:
            current = self._grants.get(grant.camera_id)
            if current is None or grant.version >= current.version:
                self._grants[grant.camera_id] = grant
        self._bars = {}
        for bar in bars:
            self._bars.setdefault(bar.camera_id, {})[bar.account_id] = bar.grant_starts_at
        self._forget_replaced_bars()
        self._rebuild(set(self._gates) | self._cameras)
        await self._reload_passes(store, force=force_passes)
        for camera_id in raised:
            self.on_masks_changed(camera_id)
        self.on_change()
        return cameras

    async def _reload_passes(self, store: LoginStore, *, force: bool = False) -> None:
        for session_hash, officer_pass in list(self._passes.items()):
            await self._reload_pass(store, session_hash, officer_pass, force=force)

    async def _reload_pass(
        self, store: LoginStore, session_hash: str, officer_pass: OfficerPass, *, force: bool = False
    ) -> None:
        try:
            session = await store.get_session(session_hash)
            account = await store.get_account(session.account_id)
        except NotFound:
            self.session_gone(session_hash)  # log-out, timeout, disabled, reset: nothing of it may pass
            await self._learn_why(store, officer_pass.state.account_id)
            return
        self._learn_account(account.id, account.version, not account.disabled)
        state = self._newest(officer_state(account, session, self.idle_seconds))
        if force or state.version >= officer_pass.state.version:
            officer_pass.state = state

    async def _learn_why(self, store: LoginStore, account_id: int) -> None:
        """A session went with its account's disable: learn that, so its viewers are told the right reason."""
        try:
            account = await store.get_account(account_id)
        except NotFound:
            self._learn_account(account_id, 1 << 62, False)  # the account is gone: nothing of it passes
            return
        self._learn_account(account.id, account.version, not account.disabled)

    async def reload_passes_of(self, store: LoginStore, account_id: int) -> None:
        """Re-read the sessions of one account's passes (its log-ins were just ended)."""
        for session_hash, officer_pass in list(self._passes.items()):
            if officer_pass.state.account_id == account_id:
                await self._reload_pass(store, session_hash, officer_pass)

    async def refresh_idle_passes(self, store: LoginStore, now: float, margin: float) -> None:
        """Re-read the sessions of passes whose idle deadline falls within `margin`: a request on any hub may
        have kept them alive (the store holds their last-seen time)."""
        for session_hash, officer_pass in list(self._passes.items()):
            if now <= officer_pass.state.session_expires_at <= now + margin:
                await self._reload_pass(store, session_hash, officer_pass)
