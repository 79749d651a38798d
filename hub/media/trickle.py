"""Trickle ICE over HTTP PATCH for WHIP and WHEP sessions (RFC 9725 section 4.3).

A client that sends its offer before it has gathered every candidate (or with none at all) PATCHes the session's
URL with an `application/trickle-ice-sdpfrag` body (RFC 8840) carrying the rest. The hub:
- answers 415 for another content type, 428 without `If-Match`, 412 when `If-Match` is neither `*` nor the
  session's entity-tag (sent as `ETag` with the 201), 400 for a fragment that is not well formed or holds more
  candidates than an offer may, 404 for a session that is gone;
- adds the fragment's candidates (and its end-of-candidates) to the session's ICE agent and answers 204 with no
  body and no ETag. Candidates the hub cannot use (not UDP, an address that is neither an IP literal nor an mDNS
  name, another ICE generation's `ufrag`) are dropped silently, as the RFC says;
- answers 422 to an ICE restart (a fragment with another ice-ufrag or ice-pwd): aioice 0.13's Connection cannot
  restart (no new credentials, no new check list on a live connection), and RFC 9725 says a session that does
  trickle but not restarts answers 422. The session and its ICE agent carry on unchanged; a client whose network
  changed for good starts a new session (DELETE, then POST).
A refused PATCH changes nothing: the whole fragment is checked before any candidate is added.

The entity-tag names the ICE session: a hash of the hub's and the client's ICE username fragments (public in the
SDP; never the passwords), so it needs no state of its own and would change with a restart.
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
from aiortc import RTCIceCandidate, RTCPeerConnection
from aiortc.rtcicetransport import candidate_from_aioice

from hub.errors import BadRequest, HubError, Missing, TooLarge, WrongMediaType
from hub.keys import CONFIG
from hub.media.sdp import CANDIDATE_LINE, MAX_CANDIDATES, SlowRequest

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


class Unprocessable(HubError):
    status = 422
    reason = "ice_restart_unsupported"


@dataclass
class Fragment:
    """What an `application/trickle-ice-sdpfrag` body says: ICE credentials if given, candidates per mid (None
    before any m= line), and whether it ends the candidates."""

    ufrag: str | None = None
    pwd: str | None = None
    candidates: list[tuple[str | None, str]] = field(default_factory=list)  # (mid, the line after "a=candidate:")
    end: bool = False


def etag(local_sdp: str, remote_sdp: str) -> str:
    """The strong entity-tag of a session's ICE session, from the hub's and the client's descriptions."""
    local, remote = _first(_FIRST_UFRAG, local_sdp), _first(_FIRST_UFRAG, remote_sdp)
    digest = hashlib.sha256(f"{local or ''} {remote or ''}".encode()).hexdigest()
    return f'"{digest[:24]}"'


def session_etag(pc: RTCPeerConnection) -> str | None:
    """The entity-tag of `pc`'s ICE session now (None before both descriptions are set)."""
    local, remote = pc.localDescription, pc.remoteDescription
    if local is None or remote is None:
        return None
    return etag(local.sdp, remote.sdp)


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
    if (fragment.ufrag is not None and fragment.ufrag != _first(_FIRST_UFRAG, remote)) or (
        fragment.pwd is not None and fragment.pwd != _first(_FIRST_PWD, remote)
    ):
        raise Unprocessable("this hub does not do ICE restarts: end the session and start a new one")
    if len(CANDIDATE_LINE.findall(remote)) + len(fragment.candidates) > MAX_CANDIDATES:
        raise BadRequest(f"a session takes at most {MAX_CANDIDATES} ICE candidates in all", "too_many_candidates")
    added = await _apply(pc, fragment, remote)
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


async def _apply(pc: RTCPeerConnection, fragment: Fragment, remote: str) -> int:
    """Add the usable candidates, then end-of-candidates if the fragment says so; how many were added."""
    mids = [transceiver.mid for transceiver in pc.getTransceivers() if transceiver.mid is not None]
    bundle = _first(_BUNDLE, remote)
    bundled = bundle.split() if bundle else []
    first = bundled[0] if bundled else (mids[0] if mids else None)
    remote_ufrag = _first(_FIRST_UFRAG, remote)
    plain: list[RTCIceCandidate] = []
    mdns: list[RTCIceCandidate] = []
    for mid, text in fragment.candidates:
        candidate = _usable(text, remote_ufrag)
        if candidate is None:
            continue
        # aiortc moves bundled sections onto the first one's transport and ignores candidates named for the others
        # (RFC 9725: a fragment carries only the first bundled section); a missing or unknown mid means that one.
        candidate.sdpMid = mid if mid in mids and mid not in bundled else first
        (mdns if candidate.ip.endswith(".local") else plain).append(candidate)
    # IP candidates are added without yielding (so two PATCHes cannot both pass the cap); mDNS names are resolved
    # together (aioice waits up to a second for each).
    for candidate in plain:
        await pc.addIceCandidate(candidate)
    await asyncio.gather(*(pc.addIceCandidate(candidate) for candidate in mdns))
    if fragment.end:
        await pc.addIceCandidate(None)
    return len(plain) + len(mdns)


def _usable(text: str, remote_ufrag: str | None) -> RTCIceCandidate | None:
    """The candidate aiortc can use, or None for one the RFC says to drop silently."""
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
    return candidate_from_aioice(candidate)


def _first(pattern: re.Pattern[str], sdp: str) -> str | None:
    match = pattern.search(sdp)
    return match.group(1) if match else None


def _malformed(message: str) -> BadRequest:
    return BadRequest(message, "malformed_sdpfrag")
