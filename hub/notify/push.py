"""One Web Push message to one browser: encrypted for it (RFC 8291, aes128gcm, by pywebpush), signed for its push
service (RFC 8292 VAPID, by py_vapid) and POSTed to its endpoint (RFC 8030) with the hub's aiohttp session.

An endpoint is a capability URL: only its origin is ever logged. A push service answering 404 or 410 says the
subscription is gone for good (the browser unsubscribed, or the user took the permission back); the caller forgets
it then.
"""

from __future__ import annotations

import json
import logging
import time
from enum import StrEnum
from urllib.parse import urlsplit

import aiohttp
from py_vapid import Vapid02
from pywebpush import WebPusher

from hub.notify.messages import Notice
from hub.store.push_base import PushSubscription

log = logging.getLogger(__name__)

# RFC 8292 4.2: a token valid for at most 24 hours; the push service judges `exp` by its own clock.
TOKEN_SECONDS = 12 * 3600


class Outcome(StrEnum):
    """What became of one delivery (the metric's label)."""

    SENT = "sent"
    GONE = "gone"  # 404/410: the subscription no longer exists
    FAILED = "failed"  # any other answer, a timeout, or no connection
    DROPPED = "dropped"  # never tried: the queue was full


def endpoint_origin(endpoint: str) -> str:
    """What of an endpoint may be logged: its scheme and host (the path is the browser's secret)."""
    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{parts.netloc}"


class PushSender:
    """Sends push messages with the hub's VAPID key over one aiohttp session."""

    def __init__(self, vapid: Vapid02, subject: str, http: aiohttp.ClientSession, timeout: float) -> None:
        self._vapid = vapid
        self._subject = subject
        self._http = http
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    def headers(self, endpoint: str, notice: Notice, now: float) -> dict[str, str]:
        """The VAPID Authorization (its `aud` the endpoint's origin), TTL and Urgency of one message."""
        claims = {"aud": endpoint_origin(endpoint), "exp": int(now) + TOKEN_SECONDS, "sub": self._subject}
        signed: dict[str, str] = self._vapid.sign(claims)
        return {
            "Authorization": signed["Authorization"],
            "TTL": str(notice.ttl),
            "Urgency": notice.urgency,
            "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream",
        }

    async def send(self, subscription: PushSubscription, notice: Notice) -> Outcome:
        """Encrypt `notice`'s payload for the browser and deliver it to its push service."""
        info = {"endpoint": subscription.endpoint, "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth}}
        data = json.dumps(notice.payload, separators=(",", ":")).encode()
        body = WebPusher(info).encode(data, "aes128gcm")["body"]
        headers = self.headers(subscription.endpoint, notice, time.time())
        origin = endpoint_origin(subscription.endpoint)
        try:
            async with self._http.post(
                subscription.endpoint, data=body, headers=headers, timeout=self._timeout, allow_redirects=False
            ) as response:
                status = response.status
        except TimeoutError:
            log.warning("push to %s: no answer in time", origin)
            return Outcome.FAILED
        except aiohttp.ClientError as exc:
            log.warning("push to %s failed: %s", origin, exc.__class__.__name__)
            return Outcome.FAILED
        if status in (404, 410):
            log.info("push to %s: subscription gone (%d); forgetting it", origin, status)
            return Outcome.GONE
        if not 200 <= status < 300:
            log.warning("push to %s refused: %d", origin, status)
            return Outcome.FAILED
        return Outcome.SENT
