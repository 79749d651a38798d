"""Recording what a request did: who (the logged-in account), from where (the client's address)."""

from __future__ import annotations

from aiohttp import web

from hub.audit.events import Fields, actor
from hub.audit.record import Kind
from hub.auth.identity import IDENTITY_KEY
from hub.keys import AUDIT
from hub.store.base import Account


async def record(
    request: web.Request,
    kind: Kind,
    fields: Fields | None = None,
    *,
    account: Account | None = None,
    required: bool = False,
) -> int | None:
    """Append an event for this request; `account` overrides the logged-in one (a log-in names its account).

    `required` events raise AuditUnavailable when they cannot be written (the caller must then refuse).
    """
    if account is None:
        identity = request.get(IDENTITY_KEY)
        account = identity.account if identity is not None else None
    return await request.app[AUDIT].append(
        kind, fields or {}, actor=actor(account), source=request.remote, required=required
    )
