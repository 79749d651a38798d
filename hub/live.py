"""Live updates for the pages: what changed on this hub, as server-sent events, so no page has to reload.

Producers (`publish`) are the gates (consent and pilot changes, from any hub once the change reaches this one),
the streams (agents, publishers and viewers coming and going) and the API handlers. Each change names a topic and
its subject: the camera it is about, the account it is about, `public` (the pilot, the policy: anyone may know
they changed), or nothing known (the gates say only that something changed).

Every open event stream is a `Subscription` with a filter decided by who opened it (`hub.live_scope`): a change
reaches only the subscriptions entitled to its subject, and a change that reaches nobody is not sent. Each
subscription keeps only the set of topics it has yet to be told, so nothing is shared between subscribers (no
global counter or backlog that would tell one user how busy the others are). An event names only topics; the page
then asks the JSON API, which applies the caller's permissions as always (`hub/api/events.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Change:
    """One change: its topic and its subject (a camera, an account, public, or none known)."""

    topic: str
    camera: str | None = None
    account: int | None = None
    public: bool = False


Filter = Callable[[Change], bool]
"""Whether a subscriber is entitled to a change (called synchronously by `publish`: no await, no I/O)."""


class Subscription:
    """One listener (an open event stream): its filter and the topics it has yet to be told."""

    def __init__(self, accepts: Filter) -> None:
        self._accepts = accepts
        self._topics: set[str] = set()
        self._ready = asyncio.Event()

    def offer(self, change: Change) -> None:
        """Keep `change`'s topic if this subscriber is entitled to it; a filter that fails denies (and logs)."""
        try:
            accepted = self._accepts(change)
        except Exception:
            log.exception("live-update filter failed on topic %s; not sent", change.topic)
            return
        if accepted:
            self.add(change.topic)

    def add(self, topic: str) -> None:
        """Tell this subscriber `topic` changed (its own filter has decided already)."""
        self._topics.add(topic)
        self._ready.set()

    def poke(self) -> None:
        """Wake the listener with nothing to send (its filter asked to look again, e.g. at what it owns)."""
        self._ready.set()

    def take(self) -> list[str]:
        """The topics not yet told, sorted; forgotten here."""
        topics = sorted(self._topics)
        self._topics.clear()
        self._ready.clear()
        return topics

    async def wait(self, timeout: float) -> bool:
        """Until there is something to tell (or a poke): True; or `timeout` passes: False."""
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
        except TimeoutError:
            return False
        return True


class LiveEvents:
    """The hub's live-update hub: producers publish changes, each subscription keeps those meant for it."""

    def __init__(self) -> None:
        self.closed = False
        self._subscriptions: set[Subscription] = set()

    def publish(
        self, topic: str, *, camera: str | None = None, account: int | None = None, public: bool = False
    ) -> None:
        """Say that `topic` changed for `camera` and/or `account` (or `public`ly); never blocks: safe anywhere."""
        change = Change(topic, camera, account, public)
        for subscription in list(self._subscriptions):
            subscription.offer(change)

    @contextlib.contextmanager
    def subscribe(self, accepts: Filter) -> Iterator[Subscription]:
        """A subscription with filter `accepts`, for as long as the block runs."""
        subscription = Subscription(accepts)
        self._subscriptions.add(subscription)
        try:
            yield subscription
        finally:
            self._subscriptions.discard(subscription)

    @property
    def subscribers(self) -> int:
        """How many subscriptions are open."""
        return len(self._subscriptions)

    def close(self) -> None:
        """The hub is stopping: wake every subscriber so its stream ends now, not at its next keep-alive."""
        self.closed = True
        for subscription in self._subscriptions:
            subscription.poke()
