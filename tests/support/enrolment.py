"""Enrolment codes for tests, issued the real way: by a logged-in admin through the API (or the CLI)."""

from __future__ import annotations

from typing import Any

from tests.support.client import Api
from tests.support.secrets import SECRETS


def keep_secret(code: str) -> str:
    """Register an enrolment code (as shown and as typed without its dash) for the log scan; the code."""
    SECRETS.add(code, "enrolment code")
    SECRETS.add(code.replace("-", ""), "enrolment code")
    return code


async def account_id(admin: Api, username: str) -> int:
    """The id of `username`'s account, as the admin's account list shows it."""
    status, listing = await admin.call("GET", "/api/accounts")
    assert status == 200, listing
    return int(next(a["id"] for a in listing["accounts"] if a["username"] == username))


async def issue_code(admin: Api, username: str) -> dict[str, Any]:
    """POST /api/accounts/{id}/enrolment-code as `admin`: the answer ({"code", "expires_at", "replaced", ...})."""
    status, answer = await admin.call("POST", f"/api/accounts/{await account_id(admin, username)}/enrolment-code")
    assert status == 200, answer
    keep_secret(answer["code"])
    return dict(answer)
