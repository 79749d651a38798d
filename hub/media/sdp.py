"""Checks on an incoming SDP offer before it reaches aiortc: type, size, shape.

A bad offer gets a clear 4xx and touches no shared state; only a well-formed offer builds a peer connection.
"""

from __future__ import annotations

from aiohttp import web
from aiortc.sdp import SessionDescription

from hub.errors import BadRequest, TooLarge, WrongMediaType

SDP_TYPE = "application/sdp"


async def read_offer(request: web.Request, max_bytes: int, want_direction: str) -> str:
    """The offer's text, checked; `want_direction` is the offerer's video direction ("sendonly" or "recvonly").

    Raises WrongMediaType (415), TooLarge (413) or BadRequest (400).
    """
    if request.content_type != SDP_TYPE:
        raise WrongMediaType(f"the offer must be {SDP_TYPE}")
    if request.content_length is not None and request.content_length > max_bytes:
        raise TooLarge(f"the offer is larger than {max_bytes} bytes")
    body = await request.content.read(max_bytes + 1)
    if len(body) > max_bytes:
        raise TooLarge(f"the offer is larger than {max_bytes} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest("the offer is not UTF-8 text", "malformed_sdp") from exc
    check_offer(text, want_direction)
    return text


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
    allowed = {want_direction, "sendrecv"}
    if not any(m.direction in allowed for m in videos):
        raise BadRequest(f"the offer's video must be {want_direction}", "malformed_sdp")
    for media in parsed.media:
        if media.ice is None or not media.ice.usernameFragment or not media.ice.password:
            raise BadRequest("the offer lacks ICE credentials", "malformed_sdp")
        if media.dtls is None or not media.dtls.fingerprints:
            raise BadRequest("the offer lacks a DTLS fingerprint", "malformed_sdp")
    return parsed
