"""`porchlight`: run the hub, run the demo, and administer the store (accounts, agencies, cameras, pilot).

Consent-relevant subcommands (pilot, policy, disable, enable, second-factor reset, device tokens) act through the
hub running on the same data directory, over its admin socket, and return once its gates are closed; with no hub
running they write the configured store directly, and say so. The others write the store directly.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from hub import enrolment_cli
from hub.access_log import AccessLogger
from hub.admin_socket import HubRefused, ask_hub, socket_path
from hub.app import LINGERING_SECONDS, create_app, open_store
from hub.audit import cli as audit_cli
from hub.audit.events import Fields, account_fields, pilot_fields, policy_fields
from hub.audit.log import AuditLog
from hub.audit.record import Kind
from hub.audit.setup import open_audit
from hub.auth.passwords import hash_password
from hub.auth.tokens import hash_token, new_token
from hub.config import Config, ConfigError, load_config
from hub.errors import AuditUnavailable
from hub.store.base import NotFound, Role, Store
from hub.text import clean_text
from hub.timefmt import iso, parse_time

log = logging.getLogger("porchlight")

PASSWORD_ENV = "PORCHLIGHT_PASSWORD"
# These log ICE candidates (addresses) and SDP at INFO/DEBUG: keep them at WARNING.
QUIET_LOGGERS = ("aioice", "aiortc")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="porchlight", description=__doc__)
    parser.add_argument("--config", type=Path, help="TOML configuration file (or PORCHLIGHT_CONFIG)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the hub")
    demo = sub.add_parser("demo", help="run a hub with seeded accounts and three synthetic cameras")
    # No default here: an unset --port leaves the configured port (file, or PORCHLIGHT_HTTP__PORT; 8080 if neither).
    demo.add_argument("--port", type=int, help="listen on this port (default: the configured http.port)")
    demo.add_argument("--data-dir", type=Path, default=Path("data/demo"))
    demo.add_argument("--mfa", action="store_true", help="require TOTP codes of officers and admins (off by default)")

    agency = sub.add_parser("agency", help="agencies").add_subparsers(dest="action", required=True)
    add = agency.add_parser("add")
    add.add_argument("agency_id")
    add.add_argument("name")
    agency.add_parser("list")

    account = sub.add_parser("account", help="accounts").add_subparsers(dest="action", required=True)
    add = account.add_parser("add", help=f"add an account; the password comes from ${PASSWORD_ENV} or a prompt")
    add.add_argument("username")
    add.add_argument("--role", choices=[r.value for r in Role], required=True)
    add.add_argument("--agency")
    for action in ("disable", "enable", "unlock", "reset-mfa"):
        account.add_parser(action).add_argument("username")
    enrolment_cli.add_parser(account)
    account.add_parser("list")

    camera = sub.add_parser("camera", help="cameras and device tokens").add_subparsers(dest="action", required=True)
    add = camera.add_parser("add", help="register a camera and print its device token (shown once)")
    add.add_argument("camera_id")
    add.add_argument("--owner", required=True, help="the resident's username")
    add.add_argument("--name", default="")
    add.add_argument("--lat", type=float, help="latitude (WGS84 degrees), for the officers' map")
    add.add_argument("--lon", type=float, help="longitude (WGS84 degrees)")
    add.add_argument("--token-file", type=Path, help="write the token here (mode 600) instead of printing it")
    token = camera.add_parser("token", help="issue a new device token (the old one stops working)")
    token.add_argument("camera_id")
    token.add_argument("--token-file", type=Path)
    camera.add_parser("list")

    pilot = sub.add_parser("pilot", help="the pilot window").add_subparsers(dest="action", required=True)
    setp = pilot.add_parser("set", help="set or extend the pilot (ISO 8601 times, or 'now', or +HOURSh)")
    setp.add_argument("--start", required=True)
    setp.add_argument("--end", required=True)
    pilot.add_parser("end", help="end the pilot now")
    pilot.add_parser("show")

    policy = sub.add_parser("policy", help="consent policy").add_subparsers(dest="action", required=True)
    policy.add_parser("set").add_argument("--max-grant-seconds", type=float, required=True)
    audit_cli.add_parser(sub)
    return parser


def _when(text: str, now: float) -> float:
    """'now', '+3h' / '+45d' relative to now, or an ISO 8601 time."""
    if text == "now":
        return now
    if text.startswith("+") and text[-1] in "hd":
        amount = float(text[1:-1])
        return now + amount * (3600 if text[-1] == "h" else 86400)
    return parse_time(text)


def _password(username: str) -> str:
    password = os.environ.get(PASSWORD_ENV)
    if password is None:
        password = getpass.getpass(f"password for {username}: ")
    if len(password) < 8:
        raise SystemExit("the password must have at least 8 characters")
    return password


def _emit_token(token: str, path: Path | None) -> None:
    if path is None:
        print(token)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    print(f"device token written to {path}")


async def _admin(args: argparse.Namespace, store: Store, audit: AuditLog) -> None:
    now = time.time()

    async def note(kind: Kind, fields: Fields) -> None:
        # The change is made; say so loudly if it could not be put on the record.
        try:
            await audit.append(kind, fields)
        except AuditUnavailable:
            raise SystemExit(f"the change was made but the audit log could not record it ({kind.value})") from None

    match (args.command, args.action):
        case ("agency", "add"):
            agency = await store.add_agency(args.agency_id, args.name)
            await note(Kind.AGENCY_CREATED, {"agency": agency.id, "name": agency.name})
            print(f"agency {agency.id} added")
        case ("agency", "list"):
            for agency in await store.list_agencies():
                print(f"{agency.id}\t{agency.name}")
        case ("account", "add"):
            role = Role(args.role)
            account = await store.add_account(args.username, hash_password(_password(args.username)), role, args.agency)
            await note(Kind.ACCOUNT_CREATED, account_fields(account))
            print(f"account {account.username} ({account.role.value}) added with id {account.id}")
        case ("account", "disable" | "enable"):
            account, _ = await store.find_account(args.username)
            account = await store.set_account_disabled(account.id, args.action == "disable")
            if account.disabled:
                await store.delete_sessions_of(account.id)
            await note(Kind.ACCOUNT_DISABLED if account.disabled else Kind.ACCOUNT_ENABLED, account_fields(account))
            print(f"account {account.username} {args.action}d")
        case ("account", "unlock"):
            account, _ = await store.find_account(args.username)
            await store.clear_login_failures(account.id)  # nothing locks an account; this ends the log-in delay
            await note(Kind.ACCOUNT_UNLOCKED, account_fields(account))
            print(f"account {account.username}: failed log-ins forgotten")
        case ("account", "reset-mfa"):
            account, _ = await store.find_account(args.username)
            account = await store.set_totp(account.id, None, enrolled=False)
            await store.delete_sessions_of(account.id)
            await note(Kind.ACCOUNT_MFA_RESET, account_fields(account))
            print(f"account {account.username}: second factor reset; issue an enrolment code for it to enrol again")
        case ("account", "list"):
            for account in await store.list_accounts():
                state = "disabled" if account.disabled else "active"
                print(f"{account.id}\t{account.username}\t{account.role.value}\t{account.agency_id or '-'}\t{state}")
        case ("camera", "add"):
            owner, _ = await store.find_account(args.owner)
            if owner.role is not Role.RESIDENT:
                raise SystemExit(f"{args.owner} is not a resident")
            token = new_token("pld_")
            location = (args.lat, args.lon) if args.lat is not None and args.lon is not None else None
            name = clean_text(args.name or args.camera_id, "name", 100)  # ValueError (exits) on control chars
            await store.add_camera(args.camera_id, owner.id, name, hash_token(token), location)
            await note(Kind.CAMERA_REGISTERED, {"camera": args.camera_id, "owner": owner.id})
            _emit_token(token, args.token_file)
        case ("camera", "token"):
            token = new_token("pld_")
            await store.set_device_token(args.camera_id, hash_token(token))
            camera = await store.get_camera(args.camera_id)
            await note(Kind.CAMERA_TOKEN_ISSUED, {"camera": camera.id, "owner": camera.owner_id})
            _emit_token(token, args.token_file)
        case ("camera", "list"):
            for camera in await store.list_cameras():
                print(f"{camera.id}\t{camera.name}\towner {camera.owner_id}")
        case ("pilot", "set"):
            pilot = await store.set_pilot(_when(args.start, now), _when(args.end, now), now)
            await note(Kind.PILOT_CHANGED, pilot_fields(pilot))
            print(f"pilot {iso(pilot.starts_at)} .. {iso(pilot.ends_at)} (version {pilot.version})")
        case ("pilot", "end"):
            current = await store.get_pilot()
            if current is None:
                raise SystemExit("there is no pilot")
            pilot = await store.set_pilot(min(current.starts_at, now), now, now)
            await note(Kind.PILOT_CHANGED, pilot_fields(pilot))
            print(f"pilot ended at {iso(pilot.ends_at)}")
        case ("pilot", "show"):
            current = await store.get_pilot()
            print("no pilot" if current is None else f"{iso(current.starts_at)} .. {iso(current.ends_at)}")
        case ("policy", "set"):
            policy = await store.set_policy(args.max_grant_seconds)
            await note(Kind.POLICY_CHANGED, policy_fields(policy))
            print(f"max grant {policy.max_grant_seconds:g} s (version {policy.version})")


def _hub_action(args: argparse.Namespace, now: float) -> tuple[str, dict[str, Any]] | None:
    """The admin-socket action for a consent-relevant command (None for the others, which only add things)."""
    match (args.command, args.action):
        case ("pilot", "set"):
            return "pilot-set", {"starts_at": _when(args.start, now), "ends_at": _when(args.end, now)}
        case ("pilot", "end"):
            return "pilot-end", {}
        case ("policy", "set"):
            return "policy-set", {"max_grant_seconds": args.max_grant_seconds}
        case ("account", "disable" | "enable" | "reset-mfa"):
            return f"account-{args.action}", {"username": args.username}
        case ("camera", "token"):
            return "camera-token", {"camera_id": args.camera_id}
    return None


async def _through_hub(args: argparse.Namespace, config: Config) -> bool:
    """Run a consent-relevant command through the running hub (its gates close before it answers); False when no
    hub listens on this data directory's admin socket."""
    action = _hub_action(args, time.time())
    if action is None:
        return False
    try:
        answer = await ask_hub(socket_path(config.store.data_dir), *action)
    except HubRefused as exc:
        raise SystemExit(f"the hub refused: {exc}") from None
    if answer is None:
        return False
    if "token" in answer:
        _emit_token(answer.pop("token"), args.token_file)
    done = ", ".join(f"{key} {value}" for key, value in answer.items())
    print(f"{args.command} {args.action}: done by the running hub ({done})")
    return True


async def _run_admin(args: argparse.Namespace, config: Config) -> None:
    if await _through_hub(args, config):
        return
    if _hub_action(args, time.time()) is not None:
        print("(no hub is running on this data directory: the store is written directly)")
    store = await open_store(config)
    try:
        audit = await open_audit(config, "cli", background=False)
    except BaseException:
        await store.close()
        raise
    try:
        await _admin(args, store, audit)
    except NotFound as exc:
        raise SystemExit(str(exc)) from None
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    finally:
        await audit.close()
        await store.close()


def serve(config: Config) -> None:
    """Run the hub until SIGINT or SIGTERM."""
    web.run_app(
        create_app(config),
        host=config.http.host,
        port=config.http.port,
        print=lambda _: log.info("hub listening on %s", config.base_url()),
        handle_signals=True,
        shutdown_timeout=5,
        lingering_time=LINGERING_SECONDS,
        access_log_class=AccessLogger,
        access_log=logging.getLogger("hub.access"),
    )


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `porchlight` command."""
    args = _parser().parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        raise SystemExit(f"porchlight: {exc}") from None
    logging.basicConfig(
        level=config.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger().level))
    if args.command == "serve":
        serve(config)
        return
    if args.command == "demo":
        from hub.demo import run_demo

        run_demo(config, args.port, args.data_dir, args.mfa)
        return
    if args.command == "audit":
        raise SystemExit(asyncio.run(audit_cli.run(args, config)))
    if (args.command, args.action) == ("account", "enrolment-code"):
        asyncio.run(enrolment_cli.run(args, config))
        return
    asyncio.run(_run_admin(args, config))


if __name__ == "__main__":
    main()
