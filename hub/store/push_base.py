"""The store's notification seam: where an account's browsers receive Web Push messages, and its e-mail address.

A push subscription is what a browser's `PushManager.subscribe()` answers: the push service's endpoint URL (a
capability: whoever knows it may send to that browser, so it is never logged) and the browser's two keys for
message encryption (RFC 8291): `p256dh`, its P-256 public key, and `auth`, a 16-byte secret, both base64url.
An account may have several (a phone and a desk), at most `MAX_PUSH_PER_ACCOUNT`: a new one beyond that replaces
the oldest. An endpoint belongs to one account at a time: subscribing it again, from whichever account, replaces
it. None of this moves the change marker: the consent gate depends on none of it.

An answer token lets a notification answer an officer's request without a log-in (`hub.notify.answer_tokens`):
one per request and per subscription it was pushed to, only its SHA-256 hash stored, bound to the request, the
camera owner's account and the subscription's endpoint, valid until the request expires, spent once. Spending one
spends every token of its request (the request has one answer), atomically: of two taps at once, one wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

# A person has a few browsers; more than this is a loop or an attack, and each costs a send per message.
MAX_PUSH_PER_ACCOUNT = 10
# An answer token is kept this long past its request's expiry, so a late tap is told "expired" rather than "not
# valid"; then it is forgotten (as new ones are issued, or by Redis's key expiry).
ANSWER_TOKEN_KEEP_SECONDS = 24 * 3600


@dataclass(frozen=True, slots=True)
class PushSubscription:
    """One browser's Web Push subscription."""

    account_id: int
    endpoint: str
    p256dh: str
    auth: str
    created_at: float


class AnswerCheck(StrEnum):
    """What a presented answer token turned out to be (`PushStore.spend_answer_token`). Only `OK` answers; the
    others say why not."""

    OK = "ok"
    UNKNOWN = "unknown"  # no such token (a guess, a typo, or one forgotten long after its request expired)
    OTHER_REQUEST = "other_request"  # a real token, for another request
    USED = "used"  # spent already: by this token, another of its request's, or an answer on the page
    EXPIRED = "expired"  # its request expired
    UNSUBSCRIBED = "unsubscribed"  # the browser it was sent to no longer receives the account's notices


@dataclass(frozen=True, slots=True)
class AnswerToken:
    """One notification's answer token, as stored (its hash is the key)."""

    request_id: int
    account_id: int  # the camera's owner, who answers
    endpoint: str  # the subscription it was pushed to
    expires_at: float  # its request's expiry
    spent_at: float | None = None


class PushStore(Protocol):
    """Push subscriptions and e-mail addresses for notifications."""

    async def add_push_subscription(
        self, account_id: int, endpoint: str, p256dh: str, auth: str, now: float
    ) -> PushSubscription:
        """Keep a browser's subscription for the account (replacing any with the same endpoint, and the account's
        oldest beyond `MAX_PUSH_PER_ACCOUNT`). NotFound for an unknown account."""
        ...

    async def list_push_subscriptions(self, account_id: int) -> list[PushSubscription]:
        """The account's subscriptions, oldest first."""
        ...

    async def delete_push_subscription(self, endpoint: str, account_id: int | None = None) -> bool:
        """Forget the subscription with this endpoint (only if it is `account_id`'s, when given); whether one was."""
        ...

    async def set_account_email(self, account_id: int, email: str | None) -> None:
        """Set or (None) clear the account's e-mail address for notifications. NotFound for an unknown account."""
        ...

    async def get_account_email(self, account_id: int) -> str | None:
        """The account's e-mail address for notifications, if it set one."""
        ...

    async def add_answer_token(
        self, token_hash: str, request_id: int, account_id: int, endpoint: str, expires_at: float, now: float
    ) -> None:
        """Keep an answer token's hash, bound to the request, the account and the subscription's endpoint, valid
        until `expires_at`; tokens kept past `ANSWER_TOKEN_KEEP_SECONDS` after their expiry are forgotten.
        NotFound for an unknown request or account."""
        ...

    async def spend_answer_token(
        self, token_hash: str, request_id: int, now: float
    ) -> tuple[AnswerCheck, AnswerToken | None]:
        """Spend the token for `request_id`, atomically, and with it every other token of that request: `OK` and
        the token as found (unspent) once; otherwise why not (and the token, unless `UNKNOWN`), nothing spent.
        Checked in this order: unknown, for another request, spent, expired (`now` >= expires_at), the endpoint
        no longer the account's subscription."""
        ...

    async def spend_answer_tokens(self, request_id: int, now: float) -> int:
        """Spend every unspent token of the request (it was answered some other way); how many."""
        ...
