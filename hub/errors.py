"""The hub's few domain errors and the one place they become HTTP responses (JSON with a reason)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from hub.store.base import Conflict, NotFound, StoreUnavailable

log = logging.getLogger(__name__)


class HubError(Exception):
    """An error with an HTTP status and a short machine-readable reason."""

    status = 500
    reason = "internal_error"
    # Seconds after which a retry may succeed (the Retry-After header), for refusals that pass.
    retry_after: int | None = None

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason


class BadRequest(HubError):
    status = 400
    reason = "bad_request"


class Unauthorized(HubError):
    status = 401
    reason = "unauthorized"


class Forbidden(HubError):
    status = 403
    reason = "forbidden"


class Missing(HubError):
    status = 404
    reason = "not_found"


class Clash(HubError):
    status = 409
    reason = "conflict"


class TooLarge(HubError):
    status = 413
    reason = "too_large"


class Refused(HubError):
    """A request a limit turned away; `retry_after` (whole seconds) says when to come back."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateLimited(Refused):
    """Too many requests of one kind from one client."""

    status = 429
    reason = "rate_limited"


class Busy(Refused):
    """The hub is at a limit of its own (connections in all)."""

    status = 503
    reason = "busy"


class WrongMediaType(HubError):
    status = 415
    reason = "unsupported_media_type"


class CameraOffline(HubError):
    """The camera's agent is not connected (and no other hub streams it)."""

    status = 503
    reason = "camera_offline"


class RelayFailed(HubError):
    """The hub that streams the camera refused to relay it here (its gate, the hub-to-hub signature, or it no
    longer streams the camera), or the relay could not be set up."""

    status = 502
    reason = "relay_failed"


class RelayUnavailable(HubError):
    """The hub that streams the camera could not be reached to relay it here."""

    status = 503
    reason = "relay_unavailable"


class HubSilent(HubError):
    """The hub holding a view did not answer in time (it may be dying: its lease ends its views' entries)."""

    status = 504
    reason = "hub_not_answering"


class AuditUnavailable(HubError):
    """The audit log could not record an event that must be on the record first (a view, a log-in)."""

    status = 503
    reason = "audit_unavailable"


def error_response(status: int, reason: str, message: str) -> web.Response:
    """The JSON body every error shares."""
    response = web.json_response({"reason": reason, "message": message}, status=status)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="porchlight"'
    return response


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Map domain errors and aiohttp's own HTTP errors to JSON; log anything unexpected with its traceback."""
    try:
        return await handler(request)
    except HubError as exc:
        response = error_response(exc.status, exc.reason, str(exc))
        if exc.retry_after is not None:
            response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except NotFound as exc:
        return error_response(404, "not_found", str(exc))
    except StoreUnavailable:
        return error_response(503, "store_unavailable", "the store is not answering; try again shortly")
    except Conflict as exc:
        return error_response(409, "conflict", str(exc))
    except web.HTTPRequestEntityTooLarge:
        return error_response(413, "too_large", "request body too large")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(exc.status, exc.reason.lower().replace(" ", "_"), exc.reason)
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return error_response(500, "internal_error", "internal error")
