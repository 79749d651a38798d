"""The local admin socket: how `porchlight` (the CLI) acts through a running hub.

A hub listens on a Unix socket in its data directory (mode 0600: only the hub's own user may connect, which is
the authentication). The CLI's consent-relevant commands (pilot, policy, disable, enable, second-factor reset,
device tokens) send their action here, so they run as the same consent actions the JSON API runs: gates closed in
memory first, and the answer comes once they are. With no hub listening, the CLI writes the store itself.

Requests: POST /<action> with a JSON object; answers: JSON with the action's result, or {"error", "reason"}.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from hub.audit.events import account_fields
from hub.audit.record import Kind
from hub.consent.actions import ConsentActions, Who
from hub.errors import HubError
from hub.store.base import Conflict, NotFound
from hub.timefmt import iso

log = logging.getLogger(__name__)

SOCKET_NAME = "admin.sock"
CLI = Who(via="cli")
ACTIONS_KEY = web.AppKey("actions", ConsentActions)


def socket_path(data_dir: Path) -> Path:
    """Where a hub with this data directory listens for the CLI."""
    return data_dir / SOCKET_NAME


async def _run(request: web.Request) -> web.Response:
    actions = request.app[ACTIONS_KEY]
    try:
        body = await request.json()
        answer = await _act(actions, request.match_info["action"], body)
    except HubError as exc:
        return web.json_response({"error": str(exc), "reason": exc.reason}, status=exc.status)
    except (NotFound, Conflict, ValueError) as exc:
        return web.json_response({"error": str(exc), "reason": "refused"}, status=400)
    return web.json_response(answer)


async def _act(actions: ConsentActions, action: str, body: dict[str, Any]) -> dict[str, Any]:
    store = actions.store
    match action:
        case "pilot-set":
            pilot, gates = await actions.set_pilot(float(body["starts_at"]), float(body["ends_at"]), CLI)
            return {"starts_at": iso(pilot.starts_at), "ends_at": iso(pilot.ends_at), "version": pilot.version,
                    "run": pilot.run, "confirmed": gates.confirmed, "closed_by": iso(gates.closed_by)}  # fmt: skip
        case "pilot-end":
            pilot, gates = await actions.end_pilot(CLI)
            return {"ends_at": iso(pilot.ends_at), "confirmed": gates.confirmed, "closed_by": iso(gates.closed_by)}
        case "policy-set":
            policy = await actions.set_policy(float(body["max_grant_seconds"]), CLI)
            return {"max_grant_seconds": policy.max_grant_seconds, "version": policy.version}
        case "account-disable" | "account-enable" | "account-reset-mfa":
            account, _ = await store.find_account(str(body["username"]))
            if action == "account-disable":
                account, ended, gates = await actions.disable_account(account.id, CLI)
                return {"username": account.username, "views_ended": ended, "confirmed": gates.confirmed}
            if action == "account-enable":
                account = await actions.enable_account(account.id, CLI)
                return {"username": account.username}
            account = await store.set_totp(account.id, None, enrolled=False)
            ended = await actions.end_sessions_of(account.id, "mfa_reset")
            await actions.record(Kind.ACCOUNT_MFA_RESET, account_fields(account), CLI)
            return {"username": account.username, "views_ended": ended}
        case "camera-token":
            return {"token": await actions.rotate_device_token(str(body["camera_id"]), CLI)}
    raise web.HTTPNotFound()


def _clear(path: Path) -> None:
    """Make room for the socket (a few syscalls on a local directory: not worth a thread)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


@contextlib.asynccontextmanager
async def serving(actions: ConsentActions, path: Path) -> AsyncIterator[None]:
    """Listen on `path` while the block runs (a stale socket of a hub that died is replaced)."""
    app = web.Application()
    app[ACTIONS_KEY] = actions
    app.router.add_post("/{action}", _run)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    _clear(path)
    old_mask = os.umask(0o177)  # created 0600: the socket's permissions are its authentication
    try:
        await web.UnixSite(runner, str(path)).start()
    except OSError as exc:
        log.error("admin socket: cannot listen (%s); the CLI will write the store directly", exc.strerror)
    finally:
        os.umask(old_mask)
    try:
        yield
    finally:
        await runner.cleanup()
        _clear(path)


class HubRefused(Exception):
    """The running hub refused the action; the message says why."""


async def ask_hub(path: Path, action: str, body: dict[str, Any]) -> dict[str, Any] | None:
    """Run `action` through the hub listening on `path`: its answer, or None when no hub listens there."""
    try:
        connector = aiohttp.UnixConnector(path=str(path))
    except OSError:
        return None
    try:
        async with (
            aiohttp.ClientSession(connector=connector) as session,
            session.post(f"http://hub/{action}", json=body) as response,
        ):
            answer: dict[str, Any] = await response.json()
    except (aiohttp.ClientConnectorError, FileNotFoundError):
        return None  # no socket, or a stale one of a hub that is gone
    if response.status != 200:
        raise HubRefused(str(answer.get("error", f"refused ({response.status})")))
    return answer
