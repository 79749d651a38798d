"""`porchlight demo`: a hub on the embedded store, seeded accounts, a running pilot, three synthetic cameras.

Demo passwords are fixed and printed on purpose: this is a local demonstration, never a deployment.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from hub.access_log import AccessLogger
from hub.app import create_app, open_store
from hub.audit.events import Fields, account_fields, grant_fields, pilot_fields
from hub.audit.log import AuditLog
from hub.audit.record import Kind, audit_time
from hub.audit.setup import open_audit
from hub.auth import enrolment_codes
from hub.auth.passwords import hash_password
from hub.auth.tokens import hash_token, new_token
from hub.config import Config
from hub.store.base import NotFound, Role, Store

log = logging.getLogger(__name__)

PILOT_DAYS = 45
AGENCIES = {"metro-pd": "Metro Police Department", "county-so": "County Sheriff's Office"}
ACCOUNTS = [
    # username, password, role, agency
    ("alice", "alice-demo-pass", Role.RESIDENT, None),
    ("bob", "bob-demo-pass", Role.RESIDENT, None),
    ("olivia", "olivia-demo-pass", Role.OFFICER, "metro-pd"),
    ("sam", "sam-demo-pass", Role.OFFICER, "county-so"),
    ("ada", "ada-demo-pass", Role.ADMIN, None),
]
CAMERAS = [("front-door", "alice", "Front door"), ("backyard", "alice", "Backyard"), ("porch", "bob", "Porch")]
# Where the demo's cameras are, for the officers' map (a few streets apart).
LOCATIONS = {"front-door": (51.5072, -0.1276), "backyard": (51.5074, -0.1279), "porch": (51.5101, -0.1340)}
OPTED_IN = "front-door"


@dataclass
class Seeded:
    """What `seed` made: device tokens by camera id (fresh on every run; only hashes are stored)."""

    tokens: dict[str, str] = field(default_factory=dict)


async def seed(store: Store, now: float | None = None, audit: AuditLog | None = None) -> Seeded:
    """Create the demo's agencies, accounts, cameras, pilot and one opt-in; idempotent; new device tokens.

    With `audit`, what is created goes on the record too (the demo's log then starts like a real one).
    """
    now = time.time() if now is None else now

    async def note(kind: Kind, fields: Fields) -> None:
        if audit is not None:
            await audit.append(kind, fields)

    known_agencies = {agency.id for agency in await store.list_agencies()}
    for agency_id, name in AGENCIES.items():
        if agency_id not in known_agencies:
            await store.add_agency(agency_id, name)
            await note(Kind.AGENCY_CREATED, {"agency": agency_id, "name": name})
    owners = {}
    for username, password, role, agency in ACCOUNTS:
        try:
            account, _ = await store.find_account(username)
        except NotFound:
            account = await store.add_account(username, hash_password(password), role, agency)
            await note(Kind.ACCOUNT_CREATED, account_fields(account))
        owners[username] = account.id
    seeded = Seeded()
    for camera_id, owner, name in CAMERAS:
        token = new_token("pld_")
        try:
            await store.get_camera(camera_id)
            await store.set_device_token(camera_id, hash_token(token))
        except NotFound:
            await store.add_camera(camera_id, owners[owner], name, hash_token(token), LOCATIONS[camera_id])
            await note(Kind.CAMERA_REGISTERED, {"camera": camera_id, "owner": owners[owner]})
        seeded.tokens[camera_id] = token
    pilot = await store.get_pilot()
    if pilot is None or not pilot.starts_at <= now < pilot.ends_at:
        pilot = await store.set_pilot(now, now + PILOT_DAYS * 86400, now)
        await note(Kind.PILOT_CHANGED, pilot_fields(pilot))
    grant = await store.get_grant(OPTED_IN)
    # A grant from an earlier pilot does not count in this one: opt in again.
    if grant is None or grant.revoked_at is not None or grant.ends_at <= now or grant.pilot_run != pilot.run:
        grant = await store.put_grant(OPTED_IN, now, now + 8 * 3600, None)
        await note(Kind.CONSENT_GRANTED, grant_fields(grant, (await store.get_camera(OPTED_IN)).owner_id))
    return seeded


def agent_command(hub_url: str, camera_id: str, token_file: Path, name: str) -> list[str]:
    """The command line of one synthetic camera agent on loopback."""
    return [
        sys.executable, "-m", "device_agent", "--hub", hub_url, "--camera", camera_id,
        "--token-file", str(token_file), "--source", "synthetic", "--name", name, "--loopback",
    ]  # fmt: skip


def _write_token(path: Path, token: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(token + "\n", encoding="utf-8")


async def _demo(config: Config) -> None:
    store = await open_store(config)
    try:
        audit = await open_audit(config, "demo-seed", background=False)
        try:
            seeded = await seed(store, audit=audit)
            codes = await issue_enrolment_codes(store, audit, config) if config.auth.mfa_required else {}
        finally:
            await audit.close()
    finally:
        await store.close()
    runner = web.AppRunner(create_app(config), access_log_class=AccessLogger)
    await runner.setup()
    await web.TCPSite(runner, config.http.host, config.http.port).start()
    url = _listening_url(config, runner)
    agents = []
    for camera_id, _, name in CAMERAS:
        token_file = config.store.data_dir / "tokens" / f"{camera_id}.token"
        _write_token(token_file, seeded.tokens[camera_id])
        agents.append(await asyncio.create_subprocess_exec(*agent_command(url, camera_id, token_file, name)))
    _banner(url, config.auth.mfa_required, codes)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for agent in agents:
            with contextlib.suppress(ProcessLookupError):
                agent.terminate()
        for agent in agents:
            try:
                await asyncio.wait_for(agent.wait(), 10)
            except TimeoutError:
                agent.kill()
                await agent.wait()
        await runner.cleanup()


async def issue_enrolment_codes(store: Store, audit: AuditLog, config: Config) -> dict[str, str]:
    """A one-time enrolment code (hub/auth/enrolment_codes.py) for each demo officer and admin with no second factor
    yet, issued the real way and on the record: username -> code. Each replaces any code of an earlier run."""
    codes = {}
    for username, _, role, _ in ACCOUNTS:
        account, _ = await store.find_account(username)
        if role not in enrolment_codes.ENROLLING_ROLES or account.mfa_enrolled:
            continue
        now = time.time()
        code, expires_at, replaced = await enrolment_codes.issue(
            store, account, now, config.auth.enrolment_code_seconds
        )
        kind = Kind.ENROLMENT_CODE_REPLACED if replaced else Kind.ENROLMENT_CODE_ISSUED
        await audit.append(kind, {**account_fields(account), "expires": audit_time(expires_at)})
        codes[username] = code
    return codes


def _listening_url(config: Config, runner: web.AppRunner) -> str:
    """The URL to print: the configured public one, else the address the hub really listens on (port 0 asks the
    system for a free port, which the configuration does not know)."""
    if config.http.public_url or not runner.addresses:
        return config.base_url()
    port = runner.addresses[0][1]
    return f"http://{config.http.host}:{port}"


def _banner(url: str, mfa: bool, codes: dict[str, str]) -> None:
    lines = [
        "",
        f"Porchlight demo hub: {url}",
        f"Pages: {url}/resident  {url}/officer  {url}/admin  {url}/transparency",
        "Second factor (TOTP) for officers and admins: "
        + (
            "ON: enrol it at the first log-in with the account's one-time enrolment code"
            if mfa
            else "OFF in this demo (the pages say so); --mfa turns it on"
        ),
        "Log-ins (username / password, role):",
        *(f"  {u:<8} {p:<18} {r.value}{' (' + a + ')' if a else ''}" for u, p, r, a in ACCOUNTS),
        *(
            ["Enrolment codes (each works once, until it expires; admins issue new ones on the admin page):"]
            + [f"  {username:<8} {code}" for username, code in codes.items()]
            if codes
            else []
        ),
        f"Cameras: {', '.join(c for c, _, _ in CAMERAS)}; '{OPTED_IN}' is opted in for 8 hours.",
        "Try: curl -c jar -H 'Content-Type: application/json' "
        f'-d \'{{"username":"olivia","password":"olivia-demo-pass"}}\' {url}/api/login',
        f"     curl -b jar {url}/api/cameras",
        "Stop with Ctrl-C.",
        "",
    ]
    print("\n".join(lines), flush=True)


def run_demo(config: Config, port: int | None, data_dir: Path, mfa: bool = False) -> None:
    """Run the demo until Ctrl-C on `port` (None: the configured http.port, which PORCHLIGHT_HTTP__PORT sets):
    loopback ICE, the embedded store under `data_dir`; second factors off unless `mfa` (every page then says they
    are off)."""
    http = config.http if port is None else config.http.model_copy(update={"port": port})
    config = config.model_copy(
        update={
            "http": http,
            "store": config.store.model_copy(update={"data_dir": data_dir}),
            "media": config.media.model_copy(update={"loopback": True}),
            "auth": config.auth.model_copy(update={"mfa_required": mfa}),
        }
    )
    asyncio.run(_demo(config))
