"""Shared fixtures: a seeded hub process on loopback, logged-in API clients, camera agents."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from pathlib import Path

import aioice.ice
import pyotp
import pytest

from hub import demo
from hub.auth.passwords import hash_password
from hub.demo import Seeded
from porchlight_rtc.ice import enable_loopback
from tests.support.browser import SHARED, SharedChromium
from tests.support.client import Api
from tests.support.procs import Hub, seeded_hub
from tests.support.redis_server import RedisServer
from tests.support.secrets import SECRETS, observe

PASSWORDS = {
    "alice": "alice-demo-pass",
    "bob": "bob-demo-pass",
    "olivia": "olivia-demo-pass",
    "sam": "sam-demo-pass",
    "ada": "ada-demo-pass",
}
for _password in PASSWORDS.values():
    SECRETS.add(_password, "password")


@pytest.fixture(autouse=True, scope="session")
def _loopback_ice() -> None:
    # The test process's own aiortc peers (viewers) gather only 127.0.0.1.
    enable_loopback()


@pytest.fixture(autouse=True, scope="session")
def _demo_passwords_hashed_once() -> Iterator[None]:
    """Every seeded store in this process gets the same argon2id hash of each demo password (real, default
    parameters, one salt per password per test process) instead of a fresh one: five hashes cost ~3 s of CPU per
    seeded hub, and the suite seeds hundreds. A hub checks a log-in against the stored hash as it would any other."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(demo, "hash_password", functools.cache(hash_password))
        yield


@pytest.fixture(autouse=True, scope="session")
def _shared_chromium() -> Iterator[None]:
    """Pages in Chromium come from one browser per test process, each in a fresh context (tests/support/browser.py);
    it is launched on the first page and ended here."""
    shared = SharedChromium()
    token = SHARED.set(shared)
    try:
        yield
    finally:
        SHARED.reset(token)
        shared.close()


@pytest.fixture(autouse=True)
def _ice_addresses_kept() -> Iterator[None]:
    # A hub built in this process (create_app) chooses the addresses ICE gathers for the whole process: one built
    # from a configuration naming another address (the Kubernetes manifests' pod IP) left every later viewer of
    # that test worker without a usable candidate. Whatever a test does, the next one gathers as before.
    chosen = aioice.ice.get_host_addresses
    yield
    aioice.ice.get_host_addresses = chosen


# Forwarding modes and codecs the end-to-end tests run under (parametrize `hub_env` with these).
MODES = {
    "passthrough-vp8": {},
    "transcode-vp8": {"PORCHLIGHT_MEDIA__FORWARDING": "transcode"},
    "passthrough-h264": {"PORCHLIGHT_MEDIA__CODEC": "h264"},
}


@pytest.fixture
def hub_env() -> dict[str, str]:
    """Extra environment for the hub process; tests parametrize it (see MODES)."""
    return {}


@pytest.fixture
def hub_mfa() -> bool:
    """Whether officers and admins of the `hub` log in with TOTP codes; a module overrides this to turn it on."""
    return False


@pytest.fixture
async def hub(tmp_path: Path, hub_env: dict[str, str], hub_mfa: bool) -> AsyncIterator[Hub]:
    """A seeded hub process (demo accounts, cameras, running pilot, 'front-door' opted in)."""
    async with seeded_hub(tmp_path, hub_env, hub_mfa) as instance:
        yield instance


@pytest.fixture
def tokens(hub: Hub) -> dict[str, str]:
    seeded: Seeded = hub.seeded  # type: ignore[attr-defined]
    return seeded.tokens


@pytest.fixture
async def login(hub: Hub) -> AsyncIterator[Callable[[str], Awaitable[Api]]]:
    """`await login("olivia")` gives an API client logged in as that demo account; all closed afterwards."""
    clients: list[Api] = []

    async def make(username: str) -> Api:
        api = Api(hub.url)
        clients.append(api)
        return await api.login(username, PASSWORDS[username])

    yield make
    for api in clients:
        await api.close()


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A real redis-server on loopback, shared by one test module (flush it between tests), always stopped."""
    with RedisServer.running(tmp_path_factory.mktemp("redis")) as server:

        def running() -> bool:
            return server.proc is not None and server.proc.poll() is None

        SECRETS.watch(server.workdir / "redis.log", alive=running)
        yield server


# ---- Issue 8: no secret in any log the suite captures (tests/support/secrets.py) ----

# The levels the in-process log is captured at. Our own loggers at DEBUG, stricter than the INFO the hub and agents
# run at, so a secret in a debug line is caught too. Third-party loggers as `porchlight serve` and the agent run
# them (hub/cli.py, device_agent/cli.py): aiortc and aioice at WARNING (at DEBUG they log STUN credentials and
# SDP by design, which the hub never turns on), aiohttp at INFO, except the test servers' own access log: the hub
# replaces it with `hub.access`, captured above, so aiohttp's (query strings, user agents) is not the hub's log.
LOG_LEVELS = {
    "hub": logging.DEBUG,
    "device_agent": logging.DEBUG,
    "porchlight_rtc": logging.DEBUG,
    "porchlight": logging.DEBUG,
    "aiortc": logging.WARNING,
    "aioice": logging.WARNING,
    "aiohttp": logging.INFO,
    "aiohttp.access": logging.WARNING,
}


@pytest.fixture(autouse=True, scope="session")
def _log_secrets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Capture the in-process log to a file in the session's temporary directory and register what the test
    process's HTTP clients and TOTP enrolments handle as secrets; both are scanned for leaks at the end."""
    path = tmp_path_factory.mktemp("log-scan") / "in-process.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    before = {name: logging.getLogger(name).level for name in LOG_LEVELS}
    for name, level in LOG_LEVELS.items():
        logging.getLogger(name).setLevel(level)
    open_ = True
    SECRETS.watch(path, alive=lambda: open_)
    undo = observe(SECRETS)
    random_base32 = pyotp.random_base32

    def registered_base32(*args: object, **kwargs: object) -> str:
        secret = random_base32(*args, **kwargs)  # type: ignore[arg-type]
        SECRETS.add(secret, "TOTP secret")
        return secret

    pyotp.random_base32 = registered_base32
    SECRETS.roots.append(tmp_path_factory.getbasetemp())
    try:
        yield
    finally:
        pyotp.random_base32 = random_base32
        undo()
        for name, level in before.items():
            logging.getLogger(name).setLevel(level)
        root.removeHandler(handler)
        handler.close()
        open_ = False


# Each log is scanned as it grows: after the test body, after each fixture finishes (a hub's log is complete once
# its fixture stopped it, before `tmp_path` may remove it under a "failed" retention policy) and at the end. A leak
# found after a test's body or teardown fails that test (which also works in pytest-xdist's workers, whose session
# status does not reach the controller).
@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    return (yield from _scanned_after())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, object, object]:
    return (yield from _scanned_after())


def _scanned_after() -> Generator[None, object, object]:
    """Run the wrapped phase, then scan what the logs gained; new leaks fail the phase."""
    known = len(SECRETS.leaks)
    try:
        return (yield)
    finally:
        SECRETS.scan_pending()
        if len(SECRETS.leaks) > known:
            found = "\n".join(str(leak) for leak in SECRETS.leaks[known : known + 20])
            raise AssertionError(f"secrets in the captured logs (issue 8):\n{found}")


def pytest_fixture_post_finalizer(fixturedef: pytest.FixtureDef[object], request: pytest.FixtureRequest) -> None:
    SECRETS.scan_pending()


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # First of all sessionfinish hooks: pytest's own may remove the temporary directory after it.
    SECRETS.finish(SECRETS.roots)
    # Under pytest-xdist each worker scans its own logs and leaves its report in its temporary directory, which
    # lies in the controller's; the controller adds them up (workers finish before it does).
    # pytest's own factory (no public accessor): the same directory the tests' tmp_path live in.
    basetemp = session.config._tmp_path_factory.getbasetemp()  # type: ignore[attr-defined]
    if hasattr(session.config, "workerinput"):
        (basetemp / SCAN_REPORT).write_text(json.dumps(SECRETS.report()), encoding="utf-8")
    else:
        for report in sorted(basetemp.glob(f"*/{SCAN_REPORT}")):
            SECRETS.absorb(json.loads(report.read_text(encoding="utf-8")))
    if SECRETS.failed:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


SCAN_REPORT = "log-scan.json"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    leaks = [str(leak) for leak in SECRETS.leaks] + SECRETS.worker_leaks
    if leaks:
        terminalreporter.section("secrets in the captured logs (issue 8)", sep="=", red=True, bold=True)
        for leak in leaks[:50]:
            terminalreporter.write_line(leak)
        if len(leaks) > 50:
            terminalreporter.write_line(f"... and {len(leaks) - 50} more")
    terminalreporter.write_line(SECRETS.summary(), red=bool(leaks), green=not leaks)
