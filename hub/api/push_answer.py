"""Answering an officer's request from a notification, without a log-in: `POST /api/requests/{id}/answer`
{"token", "answer": "approve" | "decline"}.

The token (hub/notify/answer_tokens.py, where the attacker's view is written down) is the credential: the route
is public and reads no session. It goes through the same consent actions as the page's Approve and Decline (the
same grant, the same records, the camera's owner as their actor) with `via: "notification"` on the records.
Refusals say why: 403 `answer_token_invalid` (not a token of this hub), `answer_token_other_request`,
`answer_token_unsubscribed` (that browser no longer receives the account's notices) or `account_disabled`;
409 `answer_token_used` (answered already, from a notification or the page); 410 `request_expired`.
"""

from __future__ import annotations

import logging
import time
from typing import Annotated, Any, Literal

import limits
from aiohttp import web
from pydantic import Field

from hub.api.cameras import grant_json
from hub.api.models import Body, parse
from hub.api.requests import request_json, requests_names
from hub.auth.csrf import csrf_exempt
from hub.auth.identity import public
from hub.auth.throttle import Rule, source
from hub.auth.tokens import hash_token
from hub.consent.actions import Who
from hub.errors import Clash, Forbidden, HubError, Missing
from hub.keys import ACTIONS, REGISTRY, STORE, THROTTLE
from hub.notify.setup import push_store
from hub.store.base import NotFound
from hub.store.push_base import AnswerCheck

log = logging.getLogger(__name__)

# Answers from notifications per client address: a person taps a few; a token has 256 random bits, so this and
# the pause after each refusal only keep a guesser from costing the store anything.
ANSWERS = Rule("answers from notifications from this address", limits.parse("30/minute"))
# What the answer's records say besides the usual: it was given from a notification, not on the page.
VIA = "notification"


class Gone(HubError):
    """What the token answered is over (its request expired)."""

    status = 410
    reason = "request_expired"


class AnswerBody(Body):
    """POST /api/requests/{id}/answer: the push message's `answer_token` and the button tapped."""

    token: Annotated[str, Field(min_length=1, max_length=100)]
    answer: Literal["approve", "decline"]


def refusal(check: AnswerCheck) -> HubError:
    """Why a token that is not `OK` answers nothing, as the service worker shows it."""
    if check is AnswerCheck.USED:
        return Clash("this request has been answered already", "answer_token_used")
    if check is AnswerCheck.EXPIRED:
        return Gone("this request expired before it was answered")
    if check is AnswerCheck.OTHER_REQUEST:
        return Forbidden("that answer token is for another request: answer on your page", "answer_token_other_request")
    if check is AnswerCheck.UNSUBSCRIBED:
        return Forbidden(
            "notifications are turned off on that device: answer on your page", "answer_token_unsubscribed"
        )
    return Forbidden("that answer token is not valid: answer on your page", "answer_token_invalid")


# Public, and exempt from the CSRF check: the answer acts on the token in the body alone, never on the session
# cookie a browser would attach (so a forged cross-site request has nothing to ride on), and the service worker
# that sends it has no session when it matters most (it ended while the phone was in a pocket). The Origin check
# still applies.
@public
@csrf_exempt
async def answer(request: web.Request) -> web.Response:
    """POST {"token", "answer"}: approve or decline a request with a notification's answer token, no log-in."""
    app = request.app
    app[THROTTLE].take((ANSWERS, source(request)))
    try:
        request_id = int(request.match_info["request_id"])
    except ValueError:
        raise Missing("no such request", "request_unknown") from None
    body = await parse(request, AnswerBody)
    store = app[STORE]
    check, token = await push_store(store).spend_answer_token(hash_token(body.token), request_id, time.time())
    if check is not AnswerCheck.OK or token is None:
        log.info("an answer from a notification to request %d was refused: %s", request_id, check.value)
        if check in (AnswerCheck.UNKNOWN, AnswerCheck.OTHER_REQUEST):
            await app[THROTTLE].pause_after_failure()  # as every failed authentication
        raise refusal(check)
    try:
        item = await store.get_access_request(request_id)
        camera = await store.get_camera(item.camera_id)
        owner = await store.get_account(token.account_id)
    except NotFound:
        raise refusal(AnswerCheck.UNKNOWN) from None
    if camera.owner_id != owner.id:
        raise refusal(AnswerCheck.UNKNOWN)
    if owner.disabled:
        raise Forbidden("this account is disabled", "account_disabled")
    who = Who(owner, request.remote, via=VIA)
    actions = app[ACTIONS]
    try:
        if body.answer == "approve":
            answered, grant = await actions.approve_request(item, owner.id, who)
        else:
            answered, grant = await actions.decline_request(item, owner.id, who), None
    except Clash as exc:
        if exc.reason == "request_expired":  # expired between the token's check and the answer
            raise Gone(str(exc)) from None
        raise
    names = await requests_names(request)
    answer_json: dict[str, Any] = {"request": request_json(answered, *names), "via": VIA}
    if grant is not None:
        answer_json["grant"] = grant_json(grant, time.time(), app[REGISTRY].pilot)
    return web.json_response(answer_json, headers={"Cache-Control": "no-store"})


def add_answer_route(router: web.UrlDispatcher) -> None:
    """The route (added with the other request routes, before any that could match it)."""
    router.add_post("/api/requests/{request_id}/answer", answer)
