"""Views a hub started and never ended because it stopped abruptly (killed, crashed, power lost).

At start a hub looks for view.started records written under its own node id with no view.ended, and ends them
on the record (`ended_by: hub_restarted`). When the view really ended is unknown, so `ended`, `duration_ms`,
`frames` and `bytes` are null: the record says so rather than guess.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from hub.audit.log import AuditLog
from hub.audit.record import Kind

log = logging.getLogger(__name__)

CHUNK = 10_000
VIEW_FIELDS = ("camera", "owner", "case", "reason")


async def sweep(audit: AuditLog, hub: str, before: int) -> None:
    """`close_orphaned_views` as a background task: errors are logged, never raised into nothing."""
    try:
        await close_orphaned_views(audit, hub, before)
    except Exception:
        log.exception("audit: closing the views of this hub's last run failed")


async def close_orphaned_views(audit: AuditLog, hub: str, before: int) -> int:
    """End, on the record, this hub's views among the first `before` records that have no end; how many."""
    open_views: dict[int, dict[str, Any]] = {}
    for start in range(0, before, CHUNK):
        for record in await audit.read(start, min(before, start + CHUNK)):
            # Most records are not views: look at the bytes before paying for a parse.
            if b'"kind":"view.started"' not in record.body and b'"kind":"view.ended"' not in record.body:
                continue
            fields = json.loads(record.body)
            if fields["kind"] == Kind.VIEW_STARTED and fields.get("hub") == hub:
                open_views[fields["seq"]] = fields
            elif fields["kind"] == Kind.VIEW_ENDED:
                open_views.pop(fields.get("view"), None)
    for seq, started in open_views.items():
        fields = {name: started.get(name) for name in VIEW_FIELDS}
        fields.update(
            view=seq, started=started["time"], ended=None, duration_ms=None, frames=None, bytes=None,
            ended_by="hub_restarted",
        )  # fmt: skip
        await audit.append(Kind.VIEW_ENDED, fields, actor=started.get("actor"), source=started.get("source"),
                           required=False)  # fmt: skip
    if open_views:
        log.warning("audit: %d view(s) left open by this hub's last run are now ended on the record", len(open_views))
    return len(open_views)
