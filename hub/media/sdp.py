"""Checks on an incoming SDP offer before it reaches aiortc (type, size, shape), and applying it.

A bad offer gets a clear 4xx and touches no shared state; only a well-formed offer builds a peer connection. Whatever
goes wrong while aiortc applies an offer, the client hears one generic 400: no traceback, no internal detail.
"""

from __future__ import annotations

import asyncio
import logging
import re

from aiohttp import web
from aiortc import RTCPeerConnection, RTCRtpTransceiver, RTCSessionDescription
from aiortc.exceptions import OperationError
from aiortc.sdp import SessionDescription

from hub.errors import BadRequest, HubError, TooLarge, WrongMediaType
from hub.media.codecs import ACCEPTED

log = logging.getLogger(__name__)

SDP_TYPE = "application/sdp"
# A browser offers a handful of candidates per media section; applying 64 takes aiortc about 20 ms.
MAX_CANDIDATES = 64
CANDIDATE_LINE = re.compile(r"(?m)^a=candidate:")
_END_OF_CANDIDATES = re.compile(r"(?m)^a=end-of-candidates[ \t]*(?:\r?\n|\Z)")


class SlowRequest(HubError):
    status = 408
    reason = "request_timeout"


async def read_offer(request: web.Request, max_bytes: int, want_direction: str, within: float) -> str:
    """The offer's text, checked; `want_direction` is the offerer's video direction ("sendonly" or "recvonly").

    The whole body must arrive within `within` seconds. Raises WrongMediaType (415), TooLarge (413),
    SlowRequest (408) or BadRequest (400; `offer_incomplete` when the client closed its connection first).
    """
    if request.content_type != SDP_TYPE:
        raise WrongMediaType(f"the offer must be {SDP_TYPE}")
    body = await read_body(request, max_bytes, within)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest("the offer is not UTF-8 text", "malformed_sdp") from exc
    check_offer(text, want_direction)
    return text


async def read_body(request: web.Request, max_bytes: int, within: float) -> bytes:
    """An offer's body, read whole within `within` seconds and at most `max_bytes` long: TooLarge (413),
    SlowRequest (408) or BadRequest (400 `offer_incomplete`: the client closed its connection first)."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise TooLarge(f"the offer is larger than {max_bytes} bytes")
    try:
        async with asyncio.timeout(within):
            body = await _read_at_most(request, max_bytes + 1)
    except TimeoutError:
        raise SlowRequest(f"the offer did not arrive within {within:.0f} s") from None
    except ConnectionError:
        # The client closed or reset its connection before the whole body came: nobody may be left to hear the
        # answer, and nothing went wrong in the hub (no traceback, one line).
        log.info("an offer's connection closed before its body arrived")
        raise BadRequest("the connection closed before the whole offer arrived", "offer_incomplete") from None
    if len(body) > max_bytes:
        raise TooLarge(f"the offer is larger than {max_bytes} bytes")
    return body


async def _read_at_most(request: web.Request, limit: int) -> bytes:
    """The body up to `limit` bytes (a chunked body may arrive in many pieces)."""
    body = bytearray()
    while len(body) < limit:
        chunk = await request.content.read(limit - len(body))
        if not chunk:
            break
        body += chunk
    return bytes(body)


async def apply_offer(
    pc: RTCPeerConnection, offer: str, video: RTCRtpTransceiver, audio: RTCRtpTransceiver | None = None
) -> None:
    """Set the offer on `pc` and make its answer, taking only `video` and `audio` (every other stream inactive).

    Raises BadRequest: `codec_unsupported`, or `bad_offer` with one generic message for anything else aiortc
    refuses or trips over (the detail goes to the log, not to the client).
    """
    try:
        # An offer with no candidates relies on peer-reflexive ones: its end-of-candidates would fail ICE at once.
        await pc.setRemoteDescription(RTCSessionDescription(sdp=expect_peer_reflexive(offer), type="offer"))
        for transceiver in pc.getTransceivers():
            if transceiver is not video and transceiver is not audio:
                # One video stream is taken, and audio only as hub.media.audio_sessions sets it up (Opus, with the
                # owner's own consent: invariant 5); any other stream is not even received.
                transceiver.direction = "inactive"
        await pc.setLocalDescription(await pc.createAnswer())
    except OperationError as exc:
        # aiortc names the kind of the section with no codec in common ("... remote audio description ...").
        if "audio" in str(exc):
            raise BadRequest(
                "the offer's audio has no codec this hub can negotiate (it takes Opus, or leave audio out)",
                "codec_unsupported",
            ) from exc
        raise BadRequest(
            f"the offer's video has no codec in common with the hub ({ACCEPTED})", "codec_unsupported"
        ) from exc
    except Exception as exc:  # aiortc raises assorted errors on offers that parse but make no sense
        log.info("an offer could not be applied (%s)", type(exc).__name__)
        raise BadRequest("the offer could not be applied", "bad_offer") from exc


def expect_peer_reflexive(offer: str) -> str:
    """The offer without its end-of-candidates when it has no candidates at all.

    Some encoders send no candidates and rely on the hub learning their address from their ICE checks (peer-reflexive
    candidates). Told "no candidates, and no more to come", aioice fails ICE at once, before the client has even
    read the answer; without that line it waits for the checks (the handshake timer still bounds the wait).
    """
    if CANDIDATE_LINE.search(offer):
        return offer
    return _END_OF_CANDIDATES.sub("", offer)


def check_offer(text: str, want_direction: str) -> SessionDescription:
    """Parse and check an offer's shape; raises BadRequest with reason `malformed_sdp`."""
    if not text.startswith("v=0"):
        raise BadRequest("the offer is not SDP (it must start with v=0)", "malformed_sdp")
    try:
        parsed = SessionDescription.parse(text)
    except Exception as exc:  # aiortc's parser raises assorted errors on garbage
        raise BadRequest("the offer could not be parsed as SDP", "malformed_sdp") from exc
    videos = [m for m in parsed.media if m.kind == "video"]
    if not videos:
        raise BadRequest("the offer has no video", "malformed_sdp")
    # The hub's one video transceiver takes the first video section (any other is answered inactive): with another
    # direction there, a 201 would answer a session that carries no video.
    if videos[0].direction not in {want_direction, "sendrecv"}:
        raise BadRequest(f"the offer's video must be {want_direction}", "malformed_sdp")
    if sum(len(media.ice_candidates) for media in parsed.media) > MAX_CANDIDATES:
        # aioice pairs remote candidates in quadratic time, without yielding: 1,800 of them (128 KiB) held the
        # event loop, every viewer's frames and the gates' leases, for about 2 s (found by fuzzing).
        raise BadRequest(f"the offer has more than {MAX_CANDIDATES} ICE candidates", "malformed_sdp")
    for media in parsed.media:
        if media.ice is None or not media.ice.usernameFragment or not media.ice.password:
            raise BadRequest("the offer lacks ICE credentials", "malformed_sdp")
        if media.dtls is None or not media.dtls.fingerprints:
            raise BadRequest("the offer lacks a DTLS fingerprint", "malformed_sdp")
    mids = {media.rtp.muxId for media in parsed.media if media.rtp.muxId}
    for group in parsed.group:
        # aiortc moves every bundled stream onto the first mid's transport: a first mid that names no media section
        # leaves them with none, and then the connection can be neither answered nor closed (found by fuzzing).
        if group.semantic == "BUNDLE" and not {str(item) for item in group.items} <= mids:
            raise BadRequest("the offer's BUNDLE group names media the offer does not have", "malformed_sdp")
    return parsed
