"""WHIP ingest (RFC 9725): a camera POSTs an SDP offer with its device token and gets 201 + Location."""

from __future__ import annotations

import logging

from aiohttp import web
from aiortc import MediaStreamTrack, RTCPeerConnection
from multidict import CIMultiDict

from hub.auth.identity import bearer_token, device
from hub.auth.throttle import source
from hub.auth.tokens import hash_token
from hub.errors import Clash, Missing, Unauthorized
from hub.keys import CONFIG, METRICS, ROUTER, RTC, STORE, STREAMS, THROTTLE
from hub.media.audio_sessions import accepts_audio, audio_sinks, ingest_audio
from hub.media.codecs import choose_for_publisher, order, video_transceiver
from hub.media.ice_servers import ICE, add_ice_links
from hub.media.publisher import Publisher
from hub.media.sdp import SDP_TYPE, apply_offer, read_offer
from hub.media.trickle import apply_patch, etag
from hub.store.base import Camera, NotFound

log = logging.getLogger(__name__)


async def authenticate_camera(request: web.Request, camera_id: str) -> Camera:
    """The camera whose device token the request carries; 401 unless it is `camera_id`'s token.

    The answer is the same whether or not `camera_id` exists (no store lookup by id): a bad token learns nothing.
    """
    token = bearer_token(request)
    if token is None:
        raise Unauthorized("a device token is required (Authorization: Bearer)", "device_token_required")
    store = request.app[STORE]
    try:
        camera = await store.camera_for_token(hash_token(token))
    except NotFound:
        camera = None
    if camera is None or camera.id != camera_id:
        raise Unauthorized("the device token is not valid for this camera", "device_token_invalid")
    return camera


@device
async def whip_post(request: web.Request) -> web.Response:
    """Create a WHIP session: answer the camera's offer, start feeding its frames to the gates."""
    camera_id = request.match_info["camera_id"]
    throttle = request.app[THROTTLE]
    throttle.take((throttle.offers_per_source, source(request)))
    camera = await authenticate_camera(request, camera_id)
    throttle.take((throttle.offers_per_account, f"camera:{camera.id}"))
    config = request.app[CONFIG]
    offer = await read_offer(request, config.media.max_sdp_bytes, "sendonly", config.limits.handshake_seconds)
    streams = request.app[STREAMS]
    if streams.device_refused(camera.id):
        raise Unauthorized("the device token is not valid for this camera", "device_token_invalid")
    if not streams.may_publish(camera.id):
        raise Clash("nobody is watching this camera; publish when the hub asks", "not_requested")
    media, metrics = config.media, request.app[METRICS]
    stream = streams.stream(camera.id)
    # The camera's codec for this session: what its viewers already get, else the configured one, else the other.
    codec = choose_for_publisher(offer, order(media.codec, stream.viewers_codec()))
    router = request.app[ROUTER]
    plain = stream.control is None  # a standard WHIP publisher, not our agent
    if plain and not await router.claim(camera.id):
        owner = await router.owner_url(camera.id)
        if owner is not None:
            raise web.HTTPTemporaryRedirect(owner + request.path_qs)
    pc = streams.peers.open(lambda: RTCPeerConnection(configuration=request.app[RTC]))
    publisher = Publisher(camera.id, pc, codec)
    publisher.token_hash = hash_token(bearer_token(request) or "")
    publisher.on_unusable = lambda why: _unusable(request.app, publisher, why)
    video = video_transceiver(pc, codec, "recvonly")
    audio = ingest_audio(pc, offer, accepts_audio(request.app, camera.id), audio_sinks(request.app, camera.id))

    @pc.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        if track.kind == "video":
            publisher.forward(track, video.receiver, media, metrics, stream.sinks)

    @pc.on("connectionstatechange")
    async def on_state() -> None:
        if pc.connectionState == "connected":
            publisher.connected()
        elif pc.connectionState in ("failed", "closed"):
            await _end_publishing(request.app, publisher)

    try:
        await apply_offer(pc, offer, video, audio=audio)
    except BaseException:
        await streams.peers.close(pc)
        raise
    await streams.attach_publisher(publisher)
    streams.peers.arm(pc, lambda: _end_publishing(request.app, publisher))
    log.info("camera %s: publishing %s over WHIP", camera.id, codec.value.upper())
    location = f"/whip/{camera.id}/{publisher.resource_id}"
    return web.Response(
        status=201,
        text=pc.localDescription.sdp,
        content_type=SDP_TYPE,
        headers=add_ice_links(
            CIMultiDict({"Location": location, "ETag": etag(pc.localDescription.sdp, offer)}),
            request.app[ICE],
            publisher.resource_id,
        ),
    )


@device
async def whip_delete(request: web.Request) -> web.Response:
    """End a WHIP session (the camera stops publishing)."""
    camera_id = request.match_info["camera_id"]
    await authenticate_camera(request, camera_id)
    streams = request.app[STREAMS]
    resource_id = request.match_info["resource_id"]
    publisher = streams.publisher(camera_id, resource_id)
    if publisher is None:
        if streams.publisher_ended(camera_id, resource_id):
            return web.Response(status=200)  # it ended already (its log line says why): deleting it again is fine
        raise Missing("no such WHIP session", "session_unknown")
    await _end_publishing(request.app, publisher)
    return web.Response(status=200)


def _unusable(app: web.Application, publisher: Publisher, why: str) -> None:
    """The camera's stream turned out to be one viewers cannot decode: say why, count it, end the session."""
    log.info("camera %s: ending its WHIP session: %s", publisher.camera_id, why)
    app[METRICS].unusable_streams.inc()
    app[STREAMS].spawn(_end_publishing(app, publisher), f"unusable-{publisher.camera_id}")


async def _end_publishing(app: web.Application, publisher: Publisher) -> None:
    """Close a WHIP session; a plain publisher's camera is no longer this hub's once it goes."""
    streams = app[STREAMS]
    await streams.detach_publisher(publisher)
    stream = streams.stream(publisher.camera_id)
    if stream.control is None and stream.publisher is None:
        await app[ROUTER].release(publisher.camera_id)


@device
async def whip_patch(request: web.Request) -> web.Response:
    """Trickle ICE for the camera's own WHIP session (hub/media/trickle.py; an ICE restart is answered 422)."""
    camera_id = request.match_info["camera_id"]
    await authenticate_camera(request, camera_id)
    publisher = request.app[STREAMS].publisher(camera_id, request.match_info["resource_id"])
    return await apply_patch(request, publisher.pc if publisher is not None else None)
