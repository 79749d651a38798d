"""ICE restarts on a live aiortc connection, keeping its DTLS association (RFC 8445 section 9, RFC 9725 4.3.2).

aiortc 1.16 has no ICE restart: an RTCIceTransport wraps one aioice Connection for life, and aioice 0.13's
Connection cannot take new credentials or start a new check list once connected. What they do have: the DTLS
transport reads and writes only through its ICE transport's `_recv` and `_send` attributes, and a Connection hands
every datagram that is not STUN to its receive queue, `_queue`. So a restart runs a second Connection beside the
first and swaps it in:

1. `prepare_restart` makes, per ICE transport, a fresh Connection with new local credentials and the old one's
   role, STUN/TURN servers and transport policy, and gathers its candidates (on the addresses porchlight_rtc.ice
   chose, like every Connection). It shares the live Connection's receive queue, so media that arrives on the new
   path reaches DTLS at once (the peer may switch a moment before we do), through the same datagram filter
   (porchlight_rtc.datagrams: only from addresses of its own candidate pairs);
2. `Restart.start` gives it the peer's new credentials (candidates come before or after, `add_remote_candidate`)
   and connects it in the background, while the old Connection keeps carrying media;
3. once it has a nominated pair it becomes the transport's connection (`_connection`, `_recv`, `_send`, and the
   gatherer's `_connection`). The old one is detached first, from the shared queue (its `close()` wakes a pending
   read with end-of-stream, which would end DTLS) and from the transport's monitor task (which marks the transport
   failed when the Connection it watches reports closed; it is woken with a neutral event and then watches the new
   one), and then closed.
DTLS, SRTP and the RTP senders and receivers never notice. A restart whose checks fail leaves the old Connection in
place (and `credentials` names the old ICE session again); a second restart replaces one still pending. A restart
needs a connected transport (state "completed"): while the initial checks still run there is no DTLS reader to keep
fed, and a transport that failed or closed has already ended its DTLS (the old Connection's close ended the read).

The aiortc and aioice internals this relies on are checked by `check_internals()` at install (`patch_aiortc`), so an
upgrade that moves them fails at start-up, naming them.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import secrets
import string
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aioice import Candidate, Connection
from aioice.ice import ConnectionEvent
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcicetransport import RTCIceGatherer, RTCIceTransport

log = logging.getLogger(__name__)

_STATE = "_porchlight_ice_generations"
_INSTALLED = "_porchlight_ice_restarts_checked"
_ICE_CHARS = string.ascii_letters + string.digits + "+/"


class AiortcIceInternalsChanged(RuntimeError):
    """The pinned aiortc or aioice no longer has an internal that ICE restarts rely on."""


class RestartNotPossible(RuntimeError):
    """The transport cannot be restarted now (not connected, closed, or a restart is being prepared)."""


@dataclass(eq=False)
class _Generations:
    """Per ICE transport: the Connection waiting to take over, if any, and the tasks that drive it."""

    pending: Connection | None = None
    preparing: bool = False
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    restarts: int = 0


@dataclass(eq=False)
class Restart:
    """One ICE restart of one or more ICE transports of a peer connection (they share credentials, as aiortc's do):
    new local credentials `ufrag` and `pwd`, and a gathered Connection per transport, not yet in use."""

    ufrag: str
    pwd: str
    connections: dict[RTCIceTransport, Connection]
    outcome: dict[RTCIceTransport, asyncio.Future[bool]] = field(default_factory=dict)

    def local_candidates(self, transport: RTCIceTransport) -> list[Candidate]:
        """The new candidates gathered for `transport`."""
        return self.connections[transport].local_candidates

    async def add_remote_candidate(self, transport: RTCIceTransport, candidate: Candidate | None) -> None:
        """Give `transport`'s new Connection a remote candidate of the new generation (None: end-of-candidates)."""
        await _add(self.connections[transport], candidate)

    def start(self, remote_ufrag: str, remote_pwd: str) -> None:
        """Set the peer's new credentials and start the checks; each transport switches to its new Connection when
        that has a nominated pair (see `wait`). A restart still pending on a transport is discarded."""
        for transport, connection in self.connections.items():
            state = _generations(transport)
            state.preparing = False
            if transport.state != "completed":
                self.outcome[transport] = _done(False)
                _spawn(state, _close_detached(connection))
                continue
            if state.pending is not None:
                _spawn(state, _close_detached(state.pending))
            connection.remote_username = remote_ufrag
            connection.remote_password = remote_pwd
            state.pending = connection
            state.restarts += 1
            self.outcome[transport] = _spawn(state, _connect(transport, state, connection))

    async def wait(self) -> bool:
        """Whether every transport switched to its new Connection (False: some restart failed or was replaced)."""
        results = await asyncio.gather(*self.outcome.values())
        return all(results)

    async def discard(self) -> None:
        """Close the new Connections of a restart that will not be started (the old ones carry on)."""
        for transport, connection in self.connections.items():
            _generations(transport).preparing = False
            await _close_detached(connection)


def check_internals() -> None:
    """Raise AiortcIceInternalsChanged naming every aiortc or aioice internal a restart needs that is missing."""
    missing: list[str] = []
    gatherer = RTCIceGatherer(iceServers=[])
    transport = RTCIceTransport(gatherer)
    connection: Any = getattr(transport, "_connection", None)
    recv, send = getattr(connection, "recv", None), getattr(connection, "send", None)
    if connection is None or getattr(gatherer, "_connection", None) is not connection:
        missing.append("RTCIceTransport._connection (the gatherer's Connection)")
    elif getattr(transport, "_recv", None) != recv or getattr(transport, "_send", None) != send:
        missing.append("RTCIceTransport._recv/_send bound to its Connection")
    wanted = ("_queue", "_emit_event", "_event_waiter", "_nominated", "_components", "_transport_policy", "_use_ipv4",
              "_use_ipv6", "_closed", "remote_is_lite", "stun_server", "turn_server", "turn_transport")  # fmt: skip
    probe = Connection(ice_controlling=False)
    missing += [f"aioice Connection.{name}" for name in wanted if not hasattr(probe, name)]
    if not isinstance(getattr(probe, "_queue", None), asyncio.Queue):
        missing.append("aioice Connection._queue as an asyncio.Queue")
    sources: dict[str, tuple[Any, str]] = {
        "RTCDtlsTransport._recv_next reading self.transport._recv()": (
            RTCDtlsTransport._recv_next,
            "transport._recv()",
        ),
        "RTCDtlsTransport._send_rtp writing self.transport._send()": (RTCDtlsTransport._send_rtp, "transport._send("),
        "RTCDtlsTransport._write_ssl writing self.transport._send()": (RTCDtlsTransport._write_ssl, "transport._send("),
        "RTCIceTransport._monitor watching self._connection.get_event()": (
            RTCIceTransport._monitor,
            "self._connection.get_event()",
        ),
        "RTCIceTransport.addRemoteCandidate using self._connection": (
            RTCIceTransport.addRemoteCandidate,
            "self._connection.add_remote_candidate",
        ),
        "aioice Connection.recvfrom reading self._queue": (Connection.recvfrom, "self._queue.get()"),
        "aioice Connection.close waking self._queue": (Connection.close, "self._queue.put_nowait(None)"),
    }
    for name, (function, needle) in sources.items():
        try:
            if needle not in inspect.getsource(function):
                missing.append(name)
        except (OSError, TypeError):
            missing.append(name)
    if missing:
        raise AiortcIceInternalsChanged(
            "ICE restarts rely on aiortc/aioice internals that are gone: " + ", ".join(missing)
        )


def install_ice_restarts() -> None:
    """Check, at start-up, that the internals restarts swap are where they were (nothing is patched globally;
    idempotent)."""
    if getattr(RTCIceTransport, _INSTALLED, False):
        return
    check_internals()
    setattr(RTCIceTransport, _INSTALLED, True)


def restarted(transport: RTCIceTransport) -> bool:
    """Whether `transport` has been restarted (its ICE session is no longer the one in the SDP)."""
    state = getattr(transport, _STATE, None)
    return state is not None and state.restarts > 0


def credentials(transport: RTCIceTransport) -> tuple[str, str | None, str | None]:
    """The latest ICE generation's local ufrag, remote ufrag and remote pwd (the pending one, if a restart is
    pending). Before any restart the remote ones may not be set yet: read the SDP then."""
    connection = _latest(transport)
    return connection.local_username, connection.remote_username, connection.remote_password


def remote_candidate_count(transport: RTCIceTransport) -> int:
    """How many remote candidates the latest ICE generation has."""
    return len(_latest(transport).remote_candidates)


async def add_remote_candidate(transport: RTCIceTransport, candidate: Candidate | None) -> None:
    """Add a trickled candidate (None: end-of-candidates) to the latest generation of a restarted transport.
    Candidates after that generation's end-of-candidates are ignored, as aiortc ignores them."""
    await _add(_latest(transport), candidate)


async def prepare_restart(transports: Sequence[RTCIceTransport]) -> Restart:
    """New credentials and a gathered Connection for each transport, not yet checking nor in use. Raises
    RestartNotPossible if a transport is not connected or another restart of it is being prepared."""
    for transport in transports:
        if transport.state != "completed":
            raise RestartNotPossible(f"the ICE transport is {transport.state}, not connected")
        if _generations(transport).preparing:
            raise RestartNotPossible("another ICE restart is being prepared")
    ufrag = "".join(secrets.choice(_ICE_CHARS) for _ in range(8))
    pwd = "".join(secrets.choice(_ICE_CHARS) for _ in range(24))
    connections = {transport: _fresh(transport._connection, ufrag, pwd) for transport in transports}
    for transport in transports:
        _generations(transport).preparing = True
    restart = Restart(ufrag, pwd, connections)
    try:
        await asyncio.gather(*(connection.gather_candidates() for connection in connections.values()))
    except BaseException:
        await restart.discard()
        raise
    return restart


def _fresh(live: Any, ufrag: str, pwd: str) -> Connection:
    """A Connection like `live` (role, servers, policy, address families) with new credentials, sharing its
    receive queue."""
    connection: Any = Connection(
        ice_controlling=live.ice_controlling,
        components=len(live._components) or 1,
        stun_server=live.stun_server,
        turn_server=live.turn_server,
        turn_username=live.turn_username,
        turn_password=live.turn_password,
        turn_ssl=live.turn_ssl,
        turn_transport=live.turn_transport,
        use_ipv4=live._use_ipv4,
        use_ipv6=live._use_ipv6,
        transport_policy=live._transport_policy,
        local_username=ufrag,
        local_password=pwd,
    )
    connection.remote_is_lite = live.remote_is_lite
    connection._queue = live._queue
    return connection  # type: ignore[no-any-return]


def _generations(transport: RTCIceTransport) -> _Generations:
    state: _Generations | None = getattr(transport, _STATE, None)
    if state is None:
        state = _Generations()
        setattr(transport, _STATE, state)
        # The transport closes only its current Connection: close a pending one with it.
        transport.on("statechange", lambda: _on_state(transport, state))
    return state


def _on_state(transport: RTCIceTransport, state: _Generations) -> None:
    if transport.state == "closed" and state.pending is not None:
        pending, state.pending = state.pending, None
        _spawn(state, _close_detached(pending))


def _latest(transport: RTCIceTransport) -> Any:
    state: _Generations | None = getattr(transport, _STATE, None)
    if state is not None and state.pending is not None:
        return state.pending
    return transport._connection


async def _add(connection: Connection, candidate: Candidate | None) -> None:
    # aioice refuses candidates after end-of-candidates; aiortc ignores them, and so do we.
    with contextlib.suppress(ValueError):
        await connection.add_remote_candidate(candidate)


async def _connect(transport: RTCIceTransport, state: _Generations, connection: Connection) -> bool:
    """Run the new Connection's checks; switch the transport to it once it has a nominated pair."""
    try:
        await connection.connect()
    except ConnectionError:
        if state.pending is connection:
            state.pending = None
            log.info("ICE restart failed: the previous path stays in use")
        await _close_detached(connection)
        return False
    if state.pending is not connection or transport.state != "completed":
        await _close_detached(connection)  # replaced by a later restart, or the transport ended meanwhile
        return False
    state.pending = None
    await _take_over(transport, connection)
    return True


async def _take_over(transport: RTCIceTransport, connection: Connection) -> None:
    old: Any = transport._connection
    ice: Any = transport
    ice._connection = connection
    ice.iceGatherer._connection = connection
    ice._recv = connection.recv
    ice._send = connection.send
    # The monitor task waits on the old Connection's next event: a neutral one makes it loop and watch the new one.
    old._emit_event(ConnectionEvent())
    log.info("ICE restart complete: media moved to the new path")
    await _close_detached(old)


async def _close_detached(connection: Any) -> None:
    """Close a Connection that shares a receive queue without ending that queue's reader."""
    connection._queue = asyncio.Queue()
    await connection.close()


def _spawn(state: _Generations, coroutine: Any) -> asyncio.Task[Any]:
    task: asyncio.Task[Any] = asyncio.ensure_future(coroutine)
    state.tasks.add(task)
    task.add_done_callback(state.tasks.discard)
    return task


def _done(value: bool) -> asyncio.Future[bool]:
    future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
    future.set_result(value)
    return future
