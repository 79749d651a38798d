"""The notifier: a bounded queue and one background task that sends what is queued, so that whoever notifies
(an officer's request, a view that starts) never waits on a push service or an SMTP server.

Each job names the account to tell and how to make its notice (made in the task: any store read it needs is not
on the caller's path). A full queue drops the job, counted. Every delivery has a timeout; its outcome is counted
in `porchlight_notifications_total{channel, outcome}`; failures are logged without the endpoint's secret path,
the address, or the message (which carries a case number).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from prometheus_client import CollectorRegistry, Counter

from hub.notify import answer_tokens
from hub.notify.email import EmailSender
from hub.notify.messages import Notice
from hub.notify.push import Outcome, PushSender
from hub.store.push_base import PushStore, PushSubscription

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Job:
    """Tell `account_id` what `make` says (None: nothing to say after all)."""

    account_id: int
    make: Callable[[], Awaitable[Notice | None]]
    what: str  # for the log: "request", "view"


class Notifier:
    """Queue notices; `start()` the sending task, `close()` it at shutdown."""

    def __init__(
        self,
        store: PushStore,
        push: PushSender | None,
        email: EmailSender | None,
        registry: CollectorRegistry,
        *,
        queue_size: int,
        timeout: float,
    ) -> None:
        self._store = store
        self._push = push
        self._email = email
        self._timeout = timeout
        self._queue: asyncio.Queue[Job] = asyncio.Queue(queue_size)
        self._task: asyncio.Task[None] | None = None
        self.counter = Counter(
            "porchlight_notifications_total",
            "Notifications to residents by channel (push, email; queue for those dropped before any try) and "
            "outcome (sent, gone: the subscription no longer exists and was forgotten, failed, dropped).",
            ["channel", "outcome"],
            registry=registry,
        )

    def notify(self, job: Job) -> None:
        """Queue a job; never waits (a full queue drops it, counted and logged)."""
        try:
            self._queue.put_nowait(job)
        except asyncio.QueueFull:
            self.counter.labels("queue", Outcome.DROPPED).inc()
            log.warning("notification queue full: a %s notification was dropped", job.what)

    def start(self) -> None:
        """Start sending."""
        self._task = asyncio.create_task(self._run(), name="notifier")

    async def close(self) -> None:
        """Stop sending; what is still queued is dropped."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if not self._queue.empty():
            log.info("notifier stopped with %d notification(s) unsent", self._queue.qsize())

    async def _run(self) -> None:
        while True:
            job = await self._queue.get()
            try:
                await self._deliver(job)
            except Exception:
                log.exception("a %s notification could not be sent", job.what)

    async def _deliver(self, job: Job) -> None:
        notice = await asyncio.wait_for(job.make(), self._timeout)
        if notice is None:
            return
        sends: list[Awaitable[None]] = []
        if self._push is not None:
            for subscription in await asyncio.wait_for(
                self._store.list_push_subscriptions(job.account_id), self._timeout
            ):
                sends.append(self._push_one(subscription, notice))
        if self._email is not None:
            address = await asyncio.wait_for(self._store.get_account_email(job.account_id), self._timeout)
            if address:
                sends.append(self._email_one(address, notice))
        # One browser's slow push service does not hold up the others, nor its failure their counts.
        for result in await asyncio.gather(*sends, return_exceptions=True):
            if isinstance(result, Exception):
                log.error("a %s notification failed", job.what, exc_info=result)

    async def _push_one(self, subscription: PushSubscription, notice: Notice) -> None:
        assert self._push is not None
        notice = await self._with_answer_token(subscription, notice)
        try:
            outcome = await asyncio.wait_for(self._push.send(subscription, notice), self._timeout)
        except TimeoutError:
            log.warning("push notification timed out")
            outcome = Outcome.FAILED
        if outcome is Outcome.GONE:
            await self._store.delete_push_subscription(subscription.endpoint, subscription.account_id)
        self.counter.labels("push", outcome).inc()

    async def _email_one(self, address: str, notice: Notice) -> None:
        assert self._email is not None
        try:
            outcome = await asyncio.wait_for(self._email.send(address, notice), self._timeout)
        except TimeoutError:
            log.warning("notification e-mail timed out")
            outcome = Outcome.FAILED
        self.counter.labels("email", outcome).inc()

    async def _with_answer_token(self, subscription: PushSubscription, notice: Notice) -> Notice:
        """The notice as this browser gets it: with its own answer token when it is a request's (without one, should
        the store not keep it: the service worker then answers with the session, or opens the page)."""
        if notice.answerable is None:
            return notice
        target = notice.answerable
        try:
            token = await asyncio.wait_for(
                answer_tokens.issue(self._store, subscription, target.request_id, target.expires_at, time.time()),
                self._timeout,
            )
        except Exception as exc:
            log.warning("request %d's notification goes without an answer token: %r", target.request_id, exc)
            return notice
        return replace(notice, payload={**notice.payload, "answer_token": token})
