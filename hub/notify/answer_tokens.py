"""Answer tokens: how a notification answers an officer's request when the resident's session has ended.

Each "Officer asks to watch" push message carries its own token (`answer_token` in the payload), made for one
subscription when the message is sent to it. The service worker (web/sw.js) presents it to
`POST /api/requests/{id}/answer` (hub/api/push_answer.py) on a tap of Approve or Decline. Only the token's SHA-256
is stored (`hub.store.push_base.PushStore`), bound to (the request, the camera owner's account, the subscription's
endpoint) and valid until the request expires. Spending it spends every token of its request, in one atomic store
step; an answer on the page spends them too (`spend_for_request`, from `hub.consent.actions`).

Thinking as an attacker:
- Reading it in transit: the payload is encrypted to the browser (RFC 8291, aes128gcm, keyed by the browser's
  P-256 key and auth secret). The push service relays ciphertext; the hub keeps no plaintext copy.
- Reading it at rest: the store holds only the hash; a copy of the database answers nothing. 256 random bits: the
  hash cannot be inverted nor the token guessed (the endpoint is rate-limited per address all the same, and each
  refusal waits the failed-authentication pause).
- Reading it in logs or history: it travels in a POST body, never in a URL (the access log writes method, path and
  status only; a URL would land in proxies' logs and the browser's history), and nothing logs it.
- Forging the request around it (CSRF): the route ignores the session cookie; it acts on the token alone, which a
  page on another site cannot know. The Origin check still refuses requests from other sites.
- A leaked token (a stolen phone's notification, a shoulder-surfed payload) answers only its one request, once,
  and only until the request expires; approving gives the agency that asked what the owner would have been asked
  for, nothing more, and the owner can withdraw at any moment, on the record like every answer
  (`via: "notification"`). Turning notifications off on that browser (or the push service saying it is gone)
  kills its tokens: the endpoint must still be the account's subscription when one is spent.
- E-mail is not encrypted to its reader: an e-mail never carries a token.
"""

from __future__ import annotations

import logging

from hub.auth.tokens import hash_token, new_token
from hub.store.push_base import PushStore, PushSubscription

log = logging.getLogger(__name__)

ANSWER_TOKEN_PREFIX = "pla_"


async def issue(
    store: PushStore, subscription: PushSubscription, request_id: int, expires_at: float, now: float
) -> str:
    """A fresh token answering `request_id` from the message sent to `subscription`, kept (hashed) in the store."""
    token = new_token(ANSWER_TOKEN_PREFIX)
    await store.add_answer_token(
        hash_token(token), request_id, subscription.account_id, subscription.endpoint, expires_at, now
    )
    return token


async def spend_for_request(store: PushStore, request_id: int, now: float) -> None:
    """The request was answered: spend every token of it. A failure is logged, not raised: the answer stands, and a
    token that stayed unspent still cannot answer it again (the store takes one answer per request)."""
    try:
        await store.spend_answer_tokens(request_id, now)
    except Exception:
        log.warning("could not spend the answer tokens of request %d", request_id, exc_info=True)
