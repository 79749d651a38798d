"""One-time enrolment codes over the API: an admin issues one (POST /api/accounts/{id}/enrolment-code), and the
enrolment steps (hub/api/mfa.py) check and use it up (`present`). See hub/auth/enrolment_codes.py."""

from __future__ import annotations

import limits
from aiohttp import web

from hub.api.session import account_json
from hub.audit.events import Fields, account_fields
from hub.audit.http import record
from hub.audit.record import Kind, audit_time
from hub.auth import enrolment_codes
from hub.auth.identity import Identity, ensure_role
from hub.auth.throttle import Rule
from hub.errors import BadRequest, Clash, Forbidden, Missing
from hub.keys import CLOCK, CONFIG, STORE, THROTTLE
from hub.store.base import EnrolmentCheck, Role
from hub.timefmt import iso

# Enrolment steps that present a code, per account: an enrolment takes two, a few more for typos; 50-bit codes are
# far beyond guessing at this rate, and each wrong one also waits the failed-authentication pause.
ATTEMPTS = Rule("enrolment attempts on this account", limits.parse("10/hour"))


async def issue_code(request: web.Request) -> web.Response:
    """POST (admin): a new one-time enrolment code for an officer or admin with no second factor yet, replacing any
    earlier one. The answer is the only place the code ever appears: hand it over out of band."""
    ensure_role(request, Role.ADMIN)
    app = request.app
    try:
        account = await app[STORE].get_account(int(request.match_info["account_id"]))
    except ValueError:
        raise Missing("no such account", "account_unknown") from None
    now = app[CLOCK].now()
    try:
        code, expires_at, replaced = await enrolment_codes.issue(
            app[STORE], account, now, app[CONFIG].auth.enrolment_code_seconds
        )
    except enrolment_codes.NotEnrolling as exc:
        raise Clash(str(exc), "not_enrolling") from None
    kind = Kind.ENROLMENT_CODE_REPLACED if replaced else Kind.ENROLMENT_CODE_ISSUED
    await record(request, kind, {**account_fields(account), "expires": audit_time(expires_at)})
    answer = {"account": account_json(account), "code": code, "expires_at": iso(expires_at), "replaced": replaced}
    return web.json_response(answer, headers={"Cache-Control": "no-store"})


def enrolment_code(body: dict[str, object]) -> str:
    """The `enrolment_code` of a request body (400 if missing)."""
    code = body.get("enrolment_code")
    if not isinstance(code, str) or not code.strip():
        raise BadRequest("enter the enrolment code an admin gave you", "enrolment_code_required")
    return code


async def present(request: web.Request, identity: Identity, code: str, step: str, *, spend: bool) -> None:
    """Check the caller's enrolment code (with `spend`, use it up); refuse a wrong, expired or used one as a failed
    authentication: counted against the account's attempts, paused, on the record."""
    app = request.app
    throttle, account = app[THROTTLE], identity.account
    if not spend:  # a confirmation checks first, then spends: one attempt
        throttle.take((ATTEMPTS, str(account.id)))
    found = await enrolment_codes.check(app[STORE], account.id, code, app[CLOCK].now(), spend=spend)
    fields: Fields = {**account_fields(account), "step": step}
    if found is not EnrolmentCheck.OK:
        await record(request, Kind.ENROLMENT_CODE_REFUSED, {**fields, "why": found.value})
        raise Forbidden("that enrolment code is not valid: ask an admin for a new one", "enrolment_code_invalid")
    if spend:
        await record(request, Kind.ENROLMENT_CODE_USED, fields)
