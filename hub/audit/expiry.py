"""Recording grants that ran out, and access requests nobody answered: nothing else notices those moments (the
gate closes by comparing times).

Every hub scans; the store's `claim` makes sure one record is written per grant even with many hubs.
"""

from __future__ import annotations

import asyncio
import logging
import time

from aiohttp import web

from hub.audit.events import expiry_fields, request_fields
from hub.audit.record import Kind
from hub.keys import AUDIT, CONFIG, LIVE, STORE
from hub.store.base import NotFound, StoreUnavailable

log = logging.getLogger(__name__)


async def record_expiries(app: web.Application, now: float, seen: set[tuple[str, int]]) -> int:
    """Write consent.expired for every grant that ended by `now` unrevoked and is not recorded yet."""
    store, audit = app[STORE], app[AUDIT]
    written = 0
    for grant in await store.list_grants():
        key = (grant.camera_id, grant.version)
        if grant.revoked_at is not None or grant.ends_at > now or key in seen:
            continue
        if await audit.store.claim(f"expired:{grant.camera_id}:{grant.version}"):
            try:
                owner = (await store.get_camera(grant.camera_id)).owner_id
            except NotFound:
                continue
            await audit.append(Kind.CONSENT_EXPIRED, expiry_fields(grant, owner), required=False)
            app[LIVE].publish("cameras", camera=grant.camera_id)
            written += 1
        seen.add(key)
    return written


async def record_request_expiries(app: web.Application, now: float) -> int:
    """Expire the access requests nobody answered in time, each on the record once (whichever hub expired it)."""
    store, audit = app[STORE], app[AUDIT]
    expired = await store.expire_access_requests(now)
    for item in expired:
        try:
            owner = (await store.get_camera(item.camera_id)).owner_id
        except NotFound:
            continue
        await audit.append(Kind.ACCESS_EXPIRED, request_fields(item, owner), required=False)
        app[LIVE].publish("requests", camera=item.camera_id, account=item.account_id)
    return len(expired)


async def watch(app: web.Application) -> None:
    """Scan every `audit.expiry_scan_seconds` until cancelled."""
    seen: set[tuple[str, int]] = set()
    while True:
        try:
            await record_expiries(app, time.time(), seen)
            await record_request_expiries(app, time.time())
        except StoreUnavailable as exc:
            log.warning("audit: expiry scan skipped: %s", exc)
        except Exception:
            log.exception("audit: expiry scan failed")
        await asyncio.sleep(app[CONFIG].audit.expiry_scan_seconds)
