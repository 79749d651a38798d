"""The store's notification seam: where an account's browsers receive Web Push messages, and its e-mail address.

A push subscription is what a browser's `PushManager.subscribe()` answers: the push service's endpoint URL (a
capability: whoever knows it may send to that browser, so it is never logged) and the browser's two keys for
message encryption (RFC 8291): `p256dh`, its P-256 public key, and `auth`, a 16-byte secret, both base64url.
An account may have several (a phone and a desk), at most `MAX_PUSH_PER_ACCOUNT`: a new one beyond that replaces
the oldest. An endpoint belongs to one account at a time: subscribing it again, from whichever account, replaces
it. None of this moves the change marker: the consent gate depends on none of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

# A person has a few browsers; more than this is a loop or an attack, and each costs a send per message.
MAX_PUSH_PER_ACCOUNT = 10


@dataclass(frozen=True, slots=True)
class PushSubscription:
    """One browser's Web Push subscription."""

    account_id: int
    endpoint: str
    p256dh: str
    auth: str
    created_at: float


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
