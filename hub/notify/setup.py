"""The app's notifier (opened and closed in its cleanup context) and the hooks the consent paths call.

`request_made` and `view_started` return at once: they queue a job (and, for a request, send the camera's agent a
`request` message on its control channel in the background). Only the camera's owner is told.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, cast

import aiohttp
from aiohttp import web

from hub.keys import CONFIG, METRICS, STORE, STREAMS
from hub.notify import vapid
from hub.notify.dispatcher import Job, Notifier
from hub.notify.email import EmailSender
from hub.notify.messages import Notice, request_notice, view_notice
from hub.notify.push import PushSender
from hub.store.base import AccessRequest, Camera, NotFound, Store
from hub.store.push_base import PushStore
from hub.timefmt import iso

if TYPE_CHECKING:
    from hub.store.redis import RedisStore
    from hub.store.sqlite import SqliteStore

log = logging.getLogger(__name__)

NOTIFIER = web.AppKey("notifier", Notifier)
# The VAPID public key, as browsers take it for `applicationServerKey` (GET /api/push/key).
VAPID_PUBLIC = web.AppKey("vapid_public_key", str)


def push_store(store: Store) -> PushStore:
    """The store's notification seam (both stores implement it: see `_implements_push` below)."""
    return cast(PushStore, store)


async def notify_ctx(app: web.Application) -> AsyncIterator[None]:
    """Open the notifier (after the store and metrics exist), close it before they go."""
    config = app[CONFIG]
    key = vapid.load_or_create(config.notify.vapid_key_file or config.store.data_dir / vapid.DEFAULT_FILE)
    app[VAPID_PUBLIC] = vapid.application_server_key(key)
    timeout = config.notify.send_timeout_seconds
    async with aiohttp.ClientSession() as http:
        push = PushSender(key, config.notify.vapid_subject, http, timeout)
        email = EmailSender(config.notify, config.base_url()) if config.notify.smtp_host else None
        notifier = Notifier(
            push_store(app[STORE]),
            push,
            email,
            app[METRICS].registry,
            queue_size=config.notify.queue_size,
            timeout=timeout,
        )
        app[NOTIFIER] = notifier
        notifier.start()
        try:
            yield
        finally:
            await notifier.close()


def request_made(app: web.Application, item: AccessRequest, camera: Camera) -> None:
    """An officer asked to watch `camera`: tell its owner, and its agent if it is connected here."""
    store = app[STORE]

    async def make() -> Notice:
        agencies = {agency.id: agency.name for agency in await store.list_agencies()}
        name = agencies.get(item.agency_id) if item.agency_id else None
        return request_notice(item, camera.name, name, item.created_at)

    app[NOTIFIER].notify(Job(camera.owner_id, make, "request"))
    link = app[STREAMS].stream(camera.id).control
    if link is not None:
        message = {
            "type": "request",
            "id": item.id,
            "camera": camera.id,
            "agency": item.agency_id,
            "reason": item.reason,
            "duration_seconds": item.duration_seconds,
            "expires_at": iso(item.expires_at),
        }
        app[STREAMS].spawn(link.send(message), f"request-{item.id}-to-agent")


def view_started(
    app: web.Application, camera_id: str, owner_id: int, agency_id: str | None, case: str, reason: str, view: int
) -> None:
    """An officer started watching the camera (its view.started record is written): tell its owner."""
    store = app[STORE]

    async def make() -> Notice | None:
        try:
            camera = await store.get_camera(camera_id)
        except NotFound:
            return None
        agencies = {agency.id: agency.name for agency in await store.list_agencies()}
        name = agencies.get(agency_id) if agency_id else None
        return view_notice(camera_id, camera.name, name, case, reason, view)

    app[NOTIFIER].notify(Job(owner_id, make, "view"))


if TYPE_CHECKING:

    def _implements_push(sqlite: SqliteStore, redis: RedisStore) -> tuple[PushStore, PushStore]:
        # mypy proves here that both stores implement the notification seam.
        return sqlite, redis
