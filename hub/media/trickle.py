"""Trickle ICE over HTTP PATCH for WHIP and WHEP sessions (RFC 9725 section 4.3).

A client that sends its offer before it has gathered every candidate (or with none at all) PATCHes the session's
URL with an `application/trickle-ice-sdpfrag` body (RFC 8840) carrying the rest. The hub:
- answers 415 for another content type, 428 without `If-Match`, 412 when `If-Match` is neither `*` nor the
  session's entity-tag (sent as `ETag` with the 201), 400 for a fragment that is not well formed or holds more
  candidates than an offer may, 404 for a session that is gone;
- adds the fragment's candidates (and its end-of-candidates) to the session's ICE agent and answers 204 with no
  body and no ETag. Candidates the hub cannot use (not UDP, an address that is neither an IP literal nor an mDNS
  name, another ICE generation's `ufrag`) are dropped silently, as the RFC says;
- restarts ICE for a fragment with a new ice-ufrag and its ice-pwd (RFC 9725 section 4.3.2): the hub gathers new
  candidates under new credentials of its own, starts checks against the fragment's candidates and answers 200 with
  its new ice-ufrag, ice-pwd and candidates as an `application/trickle-ice-sdpfrag` body and the new ETag. The
  session's DTLS association, SRTP keys and media carry on over the old path until the new one has a nominated pair,
  then over the new one (porchlight_rtc/ice_restart.py); later PATCHes trickle candidates of the new generation. A
  fragment that changes only the ice-pwd, or names a new ice-ufrag without an ice-pwd, is 400
  `incomplete_ice_restart`; a session whose ICE or DTLS is not connected yet (or whose ICE failed) is 409
  `ice_restart_not_possible`, and keeps its ICE session as it is. A restart whose checks fail leaves the old path
  in use, and the ETag names the old ICE session again.
A refused PATCH changes nothing: the whole fragment is checked before any candidate is added.

The entity-tag names the ICE session: a hash of the hub's and the client's ICE username fragments (public in the
SDP; never the passwords), so it needs no state of its own and changes with every restart.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
import re
from dataclasses import dataclass, field

from aiohttp import web
from aioice import Candidate
from aiortc import RTCPeerConnection
from aiortc.rtcicetransport import RTCIceTransport, candidate_from_aioice

from hub.errors import BadRequest, Clash, HubError, Missing, TooLarge, WrongMediaType
from hub.keys import CONFIG
from hub.media.sdp import CANDIDATE_LINE, MAX_CANDIDATES, SlowRequest
from porchlight_rtc import ice_restart

log = logging.getLogger(__name__)

FRAGMENT_TYPE = "application/trickle-ice-sdpfrag"
# A fragment with an offer's worth of candidates (64, about 150 bytes each) is under 10 kB.
MAX_FRAGMENT_BYTES = 16 * 1024
_ICE_CHAR = r"[A-Za-z0-9+/]"
_UFRAG = re.compile(rf"^{_ICE_CHAR}{{4,256}}$")
_PWD = re.compile(rf"^{_ICE_CHAR}{{22,256}}$")
_CANDIDATE_TYPES = frozenset({"host", "srflx", "prflx", "relay"})
_FIRST_UFRAG = re.compile(r"(?m)^a=ice-ufrag:(\S+)")
_FIRST_PWD = re.compile(r"(?m)^a=ice-pwd:(\S+)")
_BUNDLE = re.compile(r"(?m)^a=group:BUNDLE[ \t]+(.+?)\s*$")


class PreconditionRequired(HubError):
    status = 428
    reason = "if_match_required"


class PreconditionFailed(HubError):
    status = 412
    reason = "etag_mismatch"


@dataclass
class Fragment:
    """What an `application/trickle-ice-sdpfrag` body says: ICE credentials if given, candidates per mid (None
    before any m= line), and whether it ends the candidates."""

    ufrag: str | None = None
    pwd: str | None = None
    candidates: list[tuple[str | None, str]] = field(default_factory=list)  # (mid, the line after "a=candidate:")
    end: bool = False


@dataclass
class Routes:
    """Where a session's candidates go: its media sections' mids, the bundled ones, the section that carries a
    bundle's ICE (or the first), and each mid's ICE transport."""

    mids: list[str]
    bundled: list[str]
    first: str | None
    transports: dict[str, RTCIceTransport]

    def mid_for(self, mid: str | None) -> str | None:
        """The mid whose transport takes a candidate the fragment names for `mid`."""
        # aiortc moves bundled sections onto the first one's transport and ignores candidates named for the others
        # (RFC 9725: a fragment carries only the first bundled section); a missing or unknown mid means that one.
        return mid if mid in self.mids and mid not in self.bundled else self.first

    def distinct(self) -> list[tuple[str, RTCIceTransport]]:
        """Each ICE transport once, with the first mid that uses it (the first bundled section's first)."""
        seen: dict[RTCIceTransport, str] = {}
        ordered = ([self.first] if self.first is not None else []) + self.mids
        for mid in ordered:
            transport = self.transports.get(mid)
            if transport is not None and transport not in seen:
                seen[transport] = mid
        return [(mid, transport) for transport, mid in seen.items()]


def etag(local_sdp: str, remote_sdp: str) -> str:
    """The strong entity-tag of a session's ICE session, from the hub's and the client's descriptions."""
    return _tag(_first(_FIRST_UFRAG, local_sdp), _first(_FIRST_UFRAG, remote_sdp))


def session_etag(pc: RTCPeerConnection) -> str | None:
    """The entity-tag of `pc`'s ICE session now (None before both descriptions are set); after an ICE restart,
    the latest generation's."""
    local, remote = pc.localDescription, pc.remoteDescription
    if local is None or remote is None:
        return None
    transport = _first_transport(routes(pc, remote.sdp))
    if transport is not None and ice_restart.restarted(transport):
        local_ufrag, remote_ufrag, _ = ice_restart.credentials(transport)
        return _tag(local_ufrag, remote_ufrag)
    return etag(local.sdp, remote.sdp)


def routes(pc: RTCPeerConnection, remote_sdp: str) -> Routes:
    """The session's candidate routes (see Routes)."""
    transports: dict[str, RTCIceTransport] = {}
    for transceiver in pc.getTransceivers():
        if transceiver.mid is not None:
            transports[transceiver.mid] = transceiver.receiver.transport.transport
    sctp = pc.sctp
    if sctp is not None and sctp.mid is not None:
        transports[sctp.mid] = sctp.transport.transport
    mids = list(transports)
    bundle = _first(_BUNDLE, remote_sdp)
    bundled = bundle.split() if bundle else []
    first = bundled[0] if bundled else (mids[0] if mids else None)
    return Routes(mids, bundled, first, transports)


async def apply_patch(request: web.Request, pc: RTCPeerConnection | None) -> web.Response:
    """Apply a trickle ICE PATCH to the session whose connection is `pc` (None: the session is gone); the caller
    has already checked that the request may touch this session."""
    if pc is None or pc.connectionState == "closed" or pc.remoteDescription is None:
        raise Missing("no such session", "session_unknown")
    if request.content_type != FRAGMENT_TYPE:
        raise WrongMediaType(f"a PATCH must be {FRAGMENT_TYPE}")
    current = session_etag(pc)
    _check_precondition(request.headers.get("If-Match"), current)
    fragment = parse_fragment(await _read_body(request))
    remote = pc.remoteDescription.sdp
    where = routes(pc, remote)
    transport = _first_transport(where)
    restarted = transport is not None and ice_restart.restarted(transport)
    if transport is not None and restarted:
        _, remote_ufrag, remote_pwd = ice_restart.credentials(transport)
        known = ice_restart.remote_candidate_count(transport)
    else:
        remote_ufrag, remote_pwd = _first(_FIRST_UFRAG, remote), _first(_FIRST_PWD, remote)
        known = len(CANDIDATE_LINE.findall(remote))
    if (fragment.ufrag is not None and fragment.ufrag != remote_ufrag) or (
        fragment.pwd is not None and fragment.pwd != remote_pwd
    ):
        return await _restart(pc, where, fragment, remote_ufrag)
    if known + len(fragment.candidates) > MAX_CANDIDATES:
        raise BadRequest(f"a session takes at most {MAX_CANDIDATES} ICE candidates in all", "too_many_candidates")
    added = await _apply(pc, where, fragment, remote_ufrag, restarted)
    log.info("trickle: %d of %d candidates added%s", added, len(fragment.candidates), ", end" if fragment.end else "")
    return web.Response(status=204)


def parse_fragment(text: str) -> Fragment:
    """Parse and check a fragment (RFC 8840: a= and m= lines); BadRequest `malformed_sdpfrag` if it is not one."""
    fragment = Fragment()
    mid: str | None = None
    lines = [line for line in text.replace("\r\n", "\n").split("\n") if line]
    if not lines:
        raise _malformed("the fragment is empty")
    for line in lines:
        if line.startswith("m="):
            mid = None  # a new media section: its mid follows
            continue
        if not line.startswith("a="):
            raise _malformed("a fragment has only a= and m= lines")
        value = line[2:]
        if value.startswith("mid:"):
            mid = value[4:]
        elif value.startswith("ice-ufrag:"):
            fragment.ufrag = _credential(value[10:], _UFRAG, "ice-ufrag", fragment.ufrag)
        elif value.startswith("ice-pwd:"):
            fragment.pwd = _credential(value[8:], _PWD, "ice-pwd", fragment.pwd)
        elif value.startswith("candidate:"):
            fragment.candidates.append((mid, _checked_candidate(value[10:])))
        elif value == "end-of-candidates":
            fragment.end = True
        # Other attributes (ice-options, group, ice-lite...) say nothing the hub acts on.
    if len(fragment.candidates) > MAX_CANDIDATES:
        raise BadRequest(f"a fragment takes at most {MAX_CANDIDATES} ICE candidates", "too_many_candidates")
    if not fragment.candidates and not fragment.end and fragment.ufrag is None and fragment.pwd is None:
        raise _malformed("the fragment carries no ICE candidates, credentials or end-of-candidates")
    return fragment


def _check_precondition(if_match: str | None, current: str | None) -> None:
    if if_match is None:
        raise PreconditionRequired("a PATCH needs If-Match with the session's ETag (or *)")
    tags = [tag.strip() for tag in if_match.split(",")]
    if "*" in tags:
        return
    # Strong comparison (RFC 9110 8.8.3.2): a weak tag never matches.
    if current is None or current not in tags:
        raise PreconditionFailed("If-Match does not name this session's current ICE session")


async def _read_body(request: web.Request) -> str:
    """The body as text, at most MAX_FRAGMENT_BYTES, arriving within the handshake time."""
    if request.content_length is not None and request.content_length > MAX_FRAGMENT_BYTES:
        raise TooLarge(f"a fragment is at most {MAX_FRAGMENT_BYTES} bytes")
    within = request.app[CONFIG].limits.handshake_seconds
    body = bytearray()
    try:
        async with asyncio.timeout(within):
            while len(body) <= MAX_FRAGMENT_BYTES:
                chunk = await request.content.read(MAX_FRAGMENT_BYTES + 1 - len(body))
                if not chunk:
                    break
                body += chunk
    except TimeoutError:
        raise SlowRequest(f"the fragment did not arrive within {within:.0f} s") from None
    if len(body) > MAX_FRAGMENT_BYTES:
        raise TooLarge(f"a fragment is at most {MAX_FRAGMENT_BYTES} bytes")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise _malformed("the fragment is not UTF-8 text") from None


def _credential(value: str, pattern: re.Pattern[str], name: str, earlier: str | None) -> str:
    if not pattern.match(value):
        raise _malformed(f"the fragment's {name} is not well formed")
    if earlier is not None and earlier != value:
        raise _malformed(f"the fragment names two values of {name}")
    return value


def _checked_candidate(text: str) -> str:
    """A candidate's text if it parses (RFC 8839 grammar, as far as the hub reads it)."""
    bits = text.split()
    try:
        candidate = Candidate.from_sdp(text)
    except (ValueError, IndexError):
        raise _malformed("a candidate line does not parse") from None
    if bits[6] != "typ" or candidate.type not in _CANDIDATE_TYPES or not 0 <= candidate.port <= 65535:
        raise _malformed("a candidate line does not parse")
    if candidate.component < 1 or candidate.priority < 0 or len(bits) % 2:
        raise _malformed("a candidate line does not parse")
    return text


async def _apply(
    pc: RTCPeerConnection, where: Routes, fragment: Fragment, remote_ufrag: str | None, restarted: bool
) -> int:
    """Add the usable candidates, then end-of-candidates if the fragment says so; how many were added. Before any
    restart they go through aiortc (pc.addIceCandidate); after one, to the latest ICE generation."""

    async def add(mid: str | None, candidate: Candidate | None) -> None:
        transport = where.transports.get(mid) if mid is not None else None
        if restarted and transport is not None:
            await ice_restart.add_remote_candidate(transport, candidate)
        elif candidate is not None:
            rtc = candidate_from_aioice(candidate)
            rtc.sdpMid = mid
            await pc.addIceCandidate(rtc)
        else:
            await pc.addIceCandidate(None)

    plain, mdns = _sorted_candidates(where, fragment, remote_ufrag)
    # IP candidates are added without yielding (so two PATCHes cannot both pass the cap); mDNS names are resolved
    # together (aioice waits up to a second for each).
    for mid, candidate in plain:
        await add(mid, candidate)
    await asyncio.gather(*(add(mid, candidate) for mid, candidate in mdns))
    if fragment.end:
        if restarted:
            await asyncio.gather(*(add(mid, None) for mid, _ in where.distinct()))
        else:
            await add(None, None)
    return len(plain) + len(mdns)


async def _restart(pc: RTCPeerConnection, where: Routes, fragment: Fragment, remote_ufrag: str | None) -> web.Response:
    """An ICE restart (RFC 9725 section 4.3.2): new credentials and candidates of the hub's, checks against the
    fragment's; 200 with the hub's new ones and the new entity-tag."""
    if fragment.ufrag is None or fragment.pwd is None or fragment.ufrag == remote_ufrag:
        raise BadRequest("an ICE restart gives a new ice-ufrag with its ice-pwd", "incomplete_ice_restart")
    transports = where.distinct()
    if not transports:
        raise Clash("this session has no ICE transport to restart", "ice_restart_not_possible")
    # Mid-handshake, DTLS reads through a task of its own that a swap could leave on the old connection.
    live = [t for t in pc.getTransceivers() if t.mid is not None and not t.stopped]
    if any(transceiver.receiver.transport.state != "connected" for transceiver in live):
        raise Clash("ICE cannot be restarted before DTLS has connected", "ice_restart_not_possible")
    try:
        restart = await ice_restart.prepare_restart([transport for _, transport in transports])
    except ice_restart.RestartNotPossible as exc:
        raise Clash(f"ICE cannot be restarted now: {exc}", "ice_restart_not_possible") from None

    def transport_of(mid: str | None) -> RTCIceTransport:
        return where.transports.get(mid or "", transports[0][1])

    try:
        plain, mdns = _sorted_candidates(where, fragment, fragment.ufrag)
        for mid, candidate in plain:
            await restart.add_remote_candidate(transport_of(mid), candidate)
        await asyncio.gather(*(restart.add_remote_candidate(transport_of(mid), c) for mid, c in mdns))
        if fragment.end:
            for _, transport in transports:
                await restart.add_remote_candidate(transport, None)
    except BaseException:
        await restart.discard()
        raise
    restart.start(fragment.ufrag, fragment.pwd)
    log.info("trickle: ICE restart with %d of %d candidates%s", len(plain) + len(mdns), len(fragment.candidates),
             ", end" if fragment.end else "")  # fmt: skip
    local = pc.localDescription.sdp
    media = _media_lines(local)
    lines = [f"a=ice-ufrag:{restart.ufrag}", f"a=ice-pwd:{restart.pwd}"]
    for mid, transport in transports:
        lines += [media.get(mid, "m=video 9 UDP/TLS/RTP/SAVPF 0"), f"a=mid:{mid}"]
        lines += [f"a=candidate:{candidate.to_sdp()}" for candidate in restart.local_candidates(transport)]
        lines.append("a=end-of-candidates")  # the hub gathers every candidate before it answers
    return web.Response(
        status=200,
        body=("\r\n".join(lines) + "\r\n").encode(),
        headers={"Content-Type": FRAGMENT_TYPE, "ETag": _tag(restart.ufrag, fragment.ufrag)},
    )


def _sorted_candidates(
    where: Routes, fragment: Fragment, remote_ufrag: str | None
) -> tuple[list[tuple[str | None, Candidate]], list[tuple[str | None, Candidate]]]:
    """The fragment's usable candidates with the mid whose transport takes each: IP ones, then mDNS ones."""
    plain: list[tuple[str | None, Candidate]] = []
    mdns: list[tuple[str | None, Candidate]] = []
    for mid, text in fragment.candidates:
        candidate = _usable(text, remote_ufrag)
        if candidate is not None:
            (mdns if candidate.host.endswith(".local") else plain).append((where.mid_for(mid), candidate))
    return plain, mdns


def _first_transport(where: Routes) -> RTCIceTransport | None:
    return where.transports.get(where.first) if where.first is not None else None


def _media_lines(sdp: str) -> dict[str, str]:
    """Each media section's m= line by its mid."""
    found: dict[str, str] = {}
    line_of_section = ""
    for line in sdp.splitlines():
        if line.startswith("m="):
            line_of_section = line
        elif line.startswith("a=mid:") and line_of_section:
            found.setdefault(line[6:], line_of_section)
    return found


def _tag(local_ufrag: str | None, remote_ufrag: str | None) -> str:
    digest = hashlib.sha256(f"{local_ufrag or ''} {remote_ufrag or ''}".encode()).hexdigest()
    return f'"{digest[:24]}"'


def _usable(text: str, remote_ufrag: str | None) -> Candidate | None:
    """The candidate aioice can use, or None for one the RFC says to drop silently."""
    bits = text.split()
    extensions = dict(zip(bits[8::2], bits[9::2], strict=False))
    if remote_ufrag is not None and extensions.get("ufrag", remote_ufrag) != remote_ufrag:
        return None  # another ICE generation's candidate
    candidate = Candidate.from_sdp(text)
    if candidate.transport.lower() != "udp" or candidate.type == "prflx":
        return None  # aioice speaks UDP only; peer-reflexive candidates are learned, not signalled
    if not candidate.host.endswith(".local"):
        try:
            ipaddress.ip_address(candidate.host)
        except ValueError:
            return None  # neither an address nor an mDNS name: nothing to resolve it with
    return candidate


def _first(pattern: re.Pattern[str], sdp: str) -> str | None:
    match = pattern.search(sdp)
    return match.group(1) if match else None


def _malformed(message: str) -> BadRequest:
    return BadRequest(message, "malformed_sdpfrag")
