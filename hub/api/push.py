"""Notifications, the resident's side: the hub's VAPID public key, the browsers that receive Web Push messages,
and the e-mail address notices also go to.

A subscription names a URL the hub will POST to, so it is checked as an attacker would send it: https only (plain
http only to this machine, and only when `notify.allow_loopback_push` says so, for tests), no credentials, no IP
literal of this machine or a private network (the hub must not be made to knock on inside doors), at most 1024
characters; its keys must be what RFC 8291 needs (a P-256 point, a 16-byte secret).
"""

from __future__ import annotations

import base64
import ipaddress
from pathlib import Path
from typing import Annotated, Any, ClassVar
from urllib.parse import urlsplit

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import Field, field_validator

from hub.api.models import Body, parse
from hub.auth.identity import ensure_identity, ensure_role, public
from hub.errors import BadRequest
from hub.keys import CLOCK, CONFIG, STORE
from hub.notify.setup import VAPID_PUBLIC, push_store
from hub.store.base import Role

WEB_DIR = Path(__file__).resolve().parent.parent.parent / "web"
MAX_ENDPOINT = 1024
# One address, nothing a mail header could be split or extended with (no spaces, commas, angle brackets).
EMAIL_PATTERN = r"^[^@\s<>,;\"()\[\]\\]+@[^@\s<>,;\"()\[\]\\]+\.[^@\s<>,;\"()\[\]\\]+$"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def _b64url(value: str, size: int, what: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except ValueError:
        raise ValueError(f"{what} is not base64url") from None
    if len(raw) != size:
        raise ValueError(f"{what} must be {size} bytes")
    return raw


class PushKeys(Body):
    p256dh: Annotated[str, Field(min_length=86, max_length=88)]
    auth: Annotated[str, Field(min_length=22, max_length=24)]

    @field_validator("p256dh")
    @classmethod
    def _point(cls, value: str) -> str:
        raw = _b64url(value, 65, "p256dh")
        try:
            ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
        except ValueError:
            raise ValueError("p256dh is not a P-256 public key") from None
        return value

    @field_validator("auth")
    @classmethod
    def _secret(cls, value: str) -> str:
        _b64url(value, 16, "auth")
        return value


class PushSubscriptionBody(Body):
    """POST /api/push/subscriptions: a browser's `PushSubscription.toJSON()`."""

    endpoint: Annotated[str, Field(min_length=1, max_length=MAX_ENDPOINT)]
    # Browsers send it (usually null); the hub learns of an expired subscription from the push service's 404/410.
    expirationTime: int | float | None = None
    keys: PushKeys
    REASONS: ClassVar[dict[str, str]] = {"keys": "bad_keys"}


class EndpointBody(Body):
    """DELETE /api/push/subscriptions: which browser stops receiving them."""

    endpoint: Annotated[str, Field(min_length=1, max_length=MAX_ENDPOINT)]


class EmailBody(Body):
    """PUT /api/me/email: an address for notices, or null to stop them."""

    email: Annotated[str, Field(min_length=3, max_length=254, pattern=EMAIL_PATTERN)] | None


def check_endpoint(endpoint: str, allow_loopback: bool) -> None:
    """BadRequest (`bad_endpoint`) unless the hub may POST push messages to this URL (see the module doc)."""
    try:
        parts = urlsplit(endpoint)
        host = (parts.hostname or "").lower()
        parts.port  # noqa: B018 (a port that is not a number raises here)
    except ValueError:
        raise BadRequest("endpoint: not a URL", "bad_endpoint") from None
    if not host or parts.username is not None or parts.password is not None or parts.fragment:
        raise BadRequest("endpoint: an https:// URL with a host and no credentials", "bad_endpoint")
    if any(ch.isspace() or not ch.isprintable() for ch in endpoint):
        raise BadRequest("endpoint: no spaces or control characters", "bad_endpoint")
    loopback = host in LOOPBACK_HOSTS
    if loopback and allow_loopback:
        if parts.scheme not in ("http", "https"):
            raise BadRequest("endpoint: an http(s):// URL", "bad_endpoint")
        return
    if parts.scheme != "https":
        raise BadRequest("endpoint: push services are reached over https://", "bad_endpoint")
    if loopback or host.endswith(".localhost"):
        raise BadRequest("endpoint: not a push service's address", "bad_endpoint")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return  # a name: push services have names
    if not address.is_global:
        raise BadRequest("endpoint: not a push service's address", "bad_endpoint")


@public
async def vapid_key(request: web.Request) -> web.Response:
    """GET: the hub's VAPID public key (`applicationServerKey`), and whether it can send e-mail."""
    config = request.app[CONFIG]
    return web.json_response(
        {"key": request.app[VAPID_PUBLIC], "email": config.notify.smtp_host is not None},
        headers={"Cache-Control": "no-cache"},
    )


async def add_subscription(request: web.Request) -> web.Response:
    """POST (resident): this browser receives the account's notices from now on."""
    identity = ensure_role(request, Role.RESIDENT)
    body = await parse(request, PushSubscriptionBody)
    check_endpoint(body.endpoint, request.app[CONFIG].notify.allow_loopback_push)
    store = push_store(request.app[STORE])
    await store.add_push_subscription(
        identity.account.id, body.endpoint, body.keys.p256dh, body.keys.auth, request.app[CLOCK].now()
    )
    return web.json_response({"subscribed": True}, status=201)


async def delete_subscription(request: web.Request) -> web.Response:
    """DELETE {"endpoint"} (resident): this browser receives no more notices (idempotent)."""
    identity = ensure_role(request, Role.RESIDENT)
    body = await parse(request, EndpointBody)
    deleted = await push_store(request.app[STORE]).delete_push_subscription(body.endpoint, identity.account.id)
    return web.json_response({"deleted": deleted})


async def subscription_count(request: web.Request) -> web.Response:
    """GET (resident): how many browsers receive the account's notices (never their endpoints)."""
    identity = ensure_role(request, Role.RESIDENT)
    found = await push_store(request.app[STORE]).list_push_subscriptions(identity.account.id)
    return web.json_response({"subscriptions": len(found)})


async def get_email(request: web.Request) -> web.Response:
    """GET: the caller's address for notices (null: none), and whether this hub sends e-mail at all."""
    identity = ensure_identity(request)
    email = await push_store(request.app[STORE]).get_account_email(identity.account.id)
    return web.json_response(_email_json(request, email))


async def put_email(request: web.Request) -> web.Response:
    """PUT {"email": "..." | null} (resident): notices go to this address too (null: no more e-mail)."""
    identity = ensure_role(request, Role.RESIDENT)
    body = await parse(request, EmailBody)
    await push_store(request.app[STORE]).set_account_email(identity.account.id, body.email)
    return web.json_response(_email_json(request, body.email))


def _email_json(request: web.Request, email: str | None) -> dict[str, Any]:
    return {"email": email, "sending": request.app[CONFIG].notify.smtp_host is not None}


# The service worker gets its own policy: a worker's CSP is its script's, and it fetches (the API), imports (the
# pages' time words) and shows icons (its notifications') from this origin; nothing else.
WORKER_POLICY = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'"
)


@public
async def service_worker(request: web.Request) -> web.FileResponse:
    """GET /sw.js: the resident page's service worker (shows push notices, answers their actions), scope /."""
    return web.FileResponse(
        WEB_DIR / "sw.js",
        headers={
            "Content-Type": "text/javascript; charset=utf-8",
            "Service-Worker-Allowed": "/",
            "Cache-Control": "no-cache",
            "Content-Security-Policy": WORKER_POLICY,
        },
    )


@public
async def manifest(request: web.Request) -> web.FileResponse:
    """GET /manifest.webmanifest: what a phone needs to install the resident page on its home screen."""
    return web.FileResponse(
        WEB_DIR / "manifest.webmanifest", headers={"Content-Type": "application/manifest+json; charset=utf-8"}
    )


def add_push_routes(router: web.UrlDispatcher) -> None:
    """The notification routes, the service worker and the web app manifest."""
    router.add_get("/api/push/key", vapid_key)
    router.add_get("/api/push/subscriptions", subscription_count)
    router.add_post("/api/push/subscriptions", add_subscription)
    router.add_delete("/api/push/subscriptions", delete_subscription)
    router.add_get("/api/me/email", get_email)
    router.add_put("/api/me/email", put_email)
    router.add_get("/sw.js", service_worker)
    router.add_get("/manifest.webmanifest", manifest)
