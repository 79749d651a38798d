"""Enrolling the TOTP second factor: a secret and its QR code, then one code from the app to confirm it.

Both steps need the one-time enrolment code an admin issued for the account (hub/api/enrolment.py): the password
alone never enrols a second factor. The first step only checks it; the confirmation uses it up, so a typo in the
authenticator's code does not cost a new one.
"""

from __future__ import annotations

from aiohttp import web

from hub.api.body import json_body
from hub.api.enrolment import enrolment_code, present
from hub.api.session import MFA_ROLES, me_json
from hub.audit.events import account_fields
from hub.audit.http import record
from hub.audit.record import Kind
from hub.auth import totp
from hub.auth.identity import Identity, enrolment, ensure_identity
from hub.errors import BadRequest, Clash, Forbidden
from hub.keys import CLOCK, CONFIG, STORE


def _enrolling(request: web.Request) -> Identity:
    identity = ensure_identity(request)
    if identity.account.role not in MFA_ROLES:
        raise Forbidden("only officers and admins use a second factor", "wrong_role")
    if identity.account.mfa_enrolled:
        raise Clash("a second factor is already enrolled; an admin can reset it", "mfa_already_enrolled")
    return identity


@enrolment
async def start(request: web.Request) -> web.Response:
    """POST {"enrolment_code"}: a new secret for the caller, as text, an otpauth URI and a QR code (SVG) to scan."""
    identity = _enrolling(request)
    code = enrolment_code(await json_body(request))
    await present(request, identity, code, "enrol", spend=False)
    secret = totp.new_secret()
    await request.app[STORE].set_totp(identity.account.id, secret, enrolled=False)
    uri = totp.provisioning_uri(secret, identity.account.username, request.app[CONFIG].auth.totp_issuer)
    return web.json_response({"secret": secret, "uri": uri, "qr_svg": totp.qr_svg(uri)})


@enrolment
async def confirm(request: web.Request) -> web.Response:
    """POST {"code", "enrolment_code"}: the first code from the app proves it holds the secret; the enrolment code
    is used up and the session becomes a full one."""
    identity = _enrolling(request)
    body = await json_body(request)
    code, enrolling_with = body.get("code"), enrolment_code(body)
    if not isinstance(code, str):
        raise BadRequest("code must be the 6 digits of your authenticator app", "bad_code")
    store, account_id = request.app[STORE], identity.account.id
    await present(request, identity, enrolling_with, "confirm", spend=False)
    secret, _ = await store.get_totp(account_id)
    if secret is None:
        raise BadRequest("start the enrolment first", "mfa_not_started")
    step = totp.matching_step(secret, code, request.app[CLOCK].now())
    if step is None:
        raise BadRequest("that code does not match: check the app and the clock", "bad_code")
    # Used up only now, atomically: of two confirmations racing with one enrolment code, one wins.
    await present(request, identity, enrolling_with, "confirm", spend=True)
    account = await store.set_totp(account_id, secret, enrolled=True)
    await store.use_totp_step(account_id, step)  # this code is spent
    session = await store.finish_mfa(identity.session.token_hash)
    await record(request, Kind.ACCOUNT_MFA_ENROLLED, account_fields(account))
    return web.json_response(me_json(request, Identity(account, session)))
