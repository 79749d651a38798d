"""`porchlight account enrolment-code USERNAME`: issue an officer or admin a one-time code to enrol a second factor
(hub/auth/enrolment_codes.py), print it once, and put the issue on the audit record (never the code).

The code goes straight into the store: the running hub reads it there at the enrolment, so there is nothing for a
hub to apply first.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from hub.app import open_store
from hub.audit.events import account_fields
from hub.audit.record import Kind, audit_time
from hub.audit.setup import open_audit
from hub.auth import enrolment_codes
from hub.config import Config
from hub.errors import AuditUnavailable
from hub.store.base import NotFound
from hub.timefmt import iso


def add_parser(account: Any) -> None:
    """The `account enrolment-code` subcommand (on the `account` subparsers)."""
    issue = account.add_parser(
        "enrolment-code", help="issue a one-time code to enrol a second factor (printed once; replaces older ones)"
    )
    issue.add_argument("username")


async def run(args: argparse.Namespace, config: Config) -> None:
    """Issue the code and print it; SystemExit with a message for an unknown or unsuitable account."""
    store = await open_store(config)
    try:
        try:
            account, _ = await store.find_account(args.username)
            code, expires_at, replaced = await enrolment_codes.issue(
                store, account, time.time(), config.auth.enrolment_code_seconds
            )
        except (NotFound, enrolment_codes.NotEnrolling) as exc:
            raise SystemExit(str(exc)) from None
        kind = Kind.ENROLMENT_CODE_REPLACED if replaced else Kind.ENROLMENT_CODE_ISSUED
        audit = await open_audit(config, "cli", background=False)
        try:
            await audit.append(kind, {**account_fields(account), "expires": audit_time(expires_at)})
        except AuditUnavailable:
            raise SystemExit("the code was issued but the audit log could not record it: issue another") from None
        finally:
            await audit.close()
    finally:
        await store.close()
    print(f"enrolment code for {account.username}: {code}")
    print(f"valid until {iso(expires_at)}, once{'; the earlier code no longer works' if replaced else ''}")
    print("give it to them in person or by phone, never with the password")
