"""Who hears of which live update: the filter of each page's event stream (`hub.live`), by who opened it.

- Admins: everything.
- `accounts`: admins only (who was created, locked, disabled or reset is nobody else's business).
- Residents: changes about their own cameras (`cameras`, `watchers`, `streams`, `requests`), public ones (the pilot,
  the policy) and, of the gates' changes that name no camera, only those that changed what they see: the pilot or
  the consent state of one of their cameras (compared with what they were last told). Which cameras they own is
  read when the stream opens and again whenever the gates changed (a camera may have been registered for them).
- Officers: every `cameras` change (their list shows the cameras opted in for them, so "the list may have changed"
  says no more than the list itself), `streams` of a camera they are admitted to now (whether it is online),
  `requests` they made. Never `watchers` (who else watches is not theirs to know; their own view has its own WHEP
  event stream), nothing about other accounts, nothing about other officers' requests.
- Any other topic: admins only (closed by default).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from hub.auth.identity import Identity
from hub.consent.decision import CameraState, Officer, Pilot, Reason, decide
from hub.consent.registry import GateRegistry, officer_state
from hub.live import Change
from hub.store.base import Account, CameraStore, Role

CAMERA_TOPICS = frozenset({"cameras", "watchers", "streams", "requests"})

View = tuple[Pilot | None, tuple[CameraState, ...]]


class Audience:
    """One event stream's entitlement: `accepts(change)` is its subscription's filter."""

    def __init__(self, identity: Identity, registry: GateRegistry, owned: frozenset[str]) -> None:
        self._account = identity.account
        self._officer: Officer | None = (
            officer_state(identity.account, identity.session) if identity.account.role is Role.OFFICER else None
        )
        self._registry = registry
        self._owned = owned
        self._told = self._view()
        # Set when the gates changed: which cameras a resident owns is read again (`refresh`).
        self.stale = False
        # Called when the listener should look again although no topic is due (`hub.live.Subscription.poke`).
        self.wake: Callable[[], None] = lambda: None

    @classmethod
    async def open(cls, identity: Identity, registry: GateRegistry, store: CameraStore) -> Audience:
        """The audience of `identity`'s stream (a resident's cameras read from `store`)."""
        return cls(identity, registry, await _owned(identity.account, store))

    def accepts(self, change: Change) -> bool:
        """Whether this stream is entitled to `change` (synchronous: called by every `publish`)."""
        role = self._account.role
        if role is Role.ADMIN:
            return True
        if change.topic == "accounts" or change.topic not in CAMERA_TOPICS:
            return False
        if role is Role.RESIDENT:
            return self._resident_accepts(change)
        if role is Role.OFFICER:
            return self._officer_accepts(change)
        return False

    def _resident_accepts(self, change: Change) -> bool:
        if change.camera is not None:
            return change.camera in self._owned
        if change.public:
            return change.topic == "cameras"
        if change.topic != "cameras" or change.account is not None:
            return False
        # The gates changed, camera unnamed: tell only if what this resident sees changed; and look again at which
        # cameras they own (a new one is announced by `refresh`).
        self.stale = True
        self.wake()
        view = self._view()
        if view == self._told:
            return False
        self._told = view
        return True

    def _officer_accepts(self, change: Change) -> bool:
        if change.topic == "cameras":
            return True
        if change.topic == "requests":
            return change.account is not None and change.account == self._account.id
        if change.topic == "streams" and change.camera is not None:
            state = self._registry.gate(change.camera).state
            return decide(time.time(), state, self._officer) is Reason.OK
        return False

    async def refresh(self, store: CameraStore) -> bool:
        """Read again which cameras a resident owns; True if that changed (their page should look again)."""
        self.stale = False
        owned = await _owned(self._account, store)
        if owned == self._owned:
            return False
        self._owned = owned
        self._told = self._view()
        return True

    def _view(self) -> View:
        """What a resident's page shows of the gates: the pilot and their cameras' consent state (the lease, renewed
        all the time, left out)."""
        if self._account.role is not Role.RESIDENT:
            return (None, ())
        states = tuple(replace(self._registry.gate(c).state, lease_until=0.0) for c in sorted(self._owned))
        return (self._registry.pilot, states)


async def _owned(account: Account, store: CameraStore) -> frozenset[str]:
    """The ids of the cameras a resident owns (none for anyone else)."""
    if account.role is not Role.RESIDENT:
        return frozenset()
    return frozenset(camera.id for camera in await store.list_cameras(owner_id=account.id))
