"""The owning hub's relay endpoint: another hub pulls a camera's encoded stream for its own viewers.

`POST /relay/{camera_id}` (an SDP offer, signed by the asking hub: hub/routing/peer_auth.py) answers 201 with the
SDP answer and a Location; `DELETE` on that Location ends the relay. Nothing is opened for a request whose signature
fails (401), for an unknown camera (404) or one this hub does not stream (409). The relay's gate is the camera's
consent alone (hub/media/relay_sink.py): the asking hub records its officers' views and gates each of them, so
nothing here goes on the audit log as a view.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from aiohttp import web
from aiortc import RTCPeerConnection

from hub.auth.identity import device
from hub.config import ForwardingMode
from hub.consent.decision import Reason
from hub.errors import BadRequest, Clash, Forbidden, Missing
from hub.keys import CONFIG, METRICS, REGISTRY, RTC, STORE, STREAMS
from hub.media.audio_sessions import viewer_audio
from hub.media.codecs import choose_for_viewer, order, video_transceiver
from hub.media.gated_track import DecodedTrack, EncodedTrack, GatedTrack
from hub.media.relay_sink import RELAY_PASS, RelayGate, RelaySink
from hub.media.sdp import SDP_TYPE, apply_offer, check_offer, read_body
from hub.routing.peer_auth import PEER_AUTH
from hub.store.base import NotFound

log = logging.getLogger(__name__)

RELAY_SINKS: web.AppKey[dict[str, RelaySink]] = web.AppKey("relay_sinks", dict)


def refused(reason: Reason) -> Forbidden:
    """The camera's consent refuses the relay (403, the gate's reason)."""
    return Forbidden(f"the camera's consent gate is closed: {reason.value}", reason.value)


async def _signed_body(request: web.Request) -> tuple[str, bytes]:
    """The asking hub's node id and the request's body, once its signature holds (401 otherwise). The body is
    bounded in size and time before anything is computed over it, as every offer is."""
    limits = request.app[CONFIG]
    body = await read_body(request, limits.media.max_sdp_bytes, limits.limits.handshake_seconds)
    node = request.app[PEER_AUTH].verify(request.method, request.raw_path, request.headers, body)
    return node, body


@device  # authenticated by the hub-to-hub signature, never by a user's token
async def relay_post(request: web.Request) -> web.Response:
    """Open a relay of the camera to the asking hub: 201 with the answer, or a refusal with nothing opened."""
    node, body = await _signed_body(request)
    app = request.app
    camera_id = request.match_info["camera_id"]
    try:
        await app[STORE].get_camera(camera_id)
    except NotFound:
        raise Missing(f"no camera {camera_id!r}", "camera_unknown") from None
    streams = app[STREAMS]
    stream = streams.stream(camera_id)
    # Only the hub the camera's agent reached serves relays: never a relay of a relay.
    if stream.control is None and (stream.publisher is None or stream.publisher.token_hash is None):
        raise Clash("this hub does not stream the camera", "not_owner")
    if request.content_type != SDP_TYPE:
        raise BadRequest(f"the offer must be {SDP_TYPE}", "malformed_sdp")
    try:
        offer = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest("the offer is not UTF-8 text", "malformed_sdp") from exc
    check_offer(offer, "recvonly")
    gate = RelayGate(app[REGISTRY].gate(camera_id))
    reason = gate.admit(time.time(), RELAY_PASS)
    if reason.terminal:  # stale state or pending masks only hold frames back, as for a viewer
        raise refused(reason)
    sink, answer = await _open(app, camera_id, node, gate, offer)
    log.info("camera %s: relayed to hub %s", camera_id, node)
    return web.Response(
        status=201, text=answer, content_type=SDP_TYPE, headers={"Location": f"/relay/{camera_id}/{sink.id}"}
    )


async def _open(app: web.Application, camera_id: str, node: str, gate: RelayGate, offer: str) -> tuple[RelaySink, str]:
    streams, media, metrics = app[STREAMS], app[CONFIG].media, app[METRICS]
    passthrough = media.forwarding is ForwardingMode.PASSTHROUGH
    codec = choose_for_viewer(offer, order(media.codec, streams.stream(camera_id).codec(media.codec)), camera_id, True)
    pc = streams.peers.open(lambda: RTCPeerConnection(configuration=app[RTC]))
    sink = RelaySink(camera_id, node, pc, gate)
    sink.on_end = lambda ended: streams.spawn(_finish(app, ended), f"relay-end-{ended.id}")
    kind = EncodedTrack if passthrough else DecodedTrack

    def denied(why: Reason) -> None:
        sink.end(why.value)

    track: GatedTrack[Any] = kind(
        gate, RELAY_PASS, media.viewer_queue_frames, on_denied=denied, count=metrics.count_frame
    )
    sink.track = track
    video = video_transceiver(pc, codec, "sendonly")
    track.send_with(video.sender)
    # The camera's audio as for a viewer, whatever the grant says now: each packet passes only while it allows audio.
    audio = viewer_audio(pc, offer, gate, RELAY_PASS, metrics.count_audio)
    sink.audio = audio[1] if audio is not None else None

    @pc.on("connectionstatechange")
    async def on_state() -> None:
        if pc.connectionState in ("failed", "closed"):
            sink.end("relay_gone")

    try:
        await apply_offer(pc, offer, video, audio=audio[0] if audio is not None else None)
    except BaseException:
        sink.end_reason = "bad_offer"
        await streams.peers.close(pc)
        raise
    answer = pc.localDescription.sdp
    # Counted before it joins: an end from here on (a frame refused, the connection gone) winds it up once.
    app[RELAY_SINKS][sink.id] = sink
    metrics.relays.labels("owner").inc()
    refusal = await streams.add_relay(sink)
    if refusal is not None:
        sink.end(refusal.value)
        raise refused(refusal)
    streams.peers.arm(pc, lambda: _timed_out(sink))
    return sink, answer


async def _timed_out(sink: RelaySink) -> None:
    sink.end("handshake_timeout")


async def _finish(app: web.Application, sink: RelaySink) -> None:
    """Wind up an ended relay: off the camera's feed (the agent stops if nobody else watches), connection closed."""
    if app[RELAY_SINKS].pop(sink.id, None) is not None:
        app[METRICS].relays.labels("owner").dec()
        log.info("camera %s: relay to hub %s ended (%s)", sink.camera_id, sink.node, sink.end_reason)
    streams = app[STREAMS]
    await streams.remove_relay(sink)
    await streams.peers.close(sink.pc)


@device
async def relay_delete(request: web.Request) -> web.Response:
    """End a relay (the asking hub's last viewer left); only the hub that opened it may."""
    node, _ = await _signed_body(request)
    sink = request.app[RELAY_SINKS].get(request.match_info["relay_id"])
    if sink is None or sink.camera_id != request.match_info["camera_id"] or sink.node != node:
        raise Missing("no such relay", "relay_unknown")
    sink.end("relay_closed")
    return web.Response(status=200)
