"""WHEP egress: a logged-in officer POSTs an SDP offer (with a case number and a reason) to watch a camera.

The request goes on the audit record first (refused if it cannot be written), the gate decides before any media
is set up, and the view.started record is durable before the viewer's gated track joins the camera's feed; then
the camera's agent is asked to publish if this is its first viewer.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from aiohttp import web
from aiortc import RTCPeerConnection
from multidict import CIMultiDict

from hub.audit.events import Fields, actor, view_fields
from hub.audit.http import record
from hub.audit.record import Kind
from hub.auth.identity import Identity, ensure_identity, ensure_role
from hub.auth.throttle import source
from hub.config import ForwardingMode
from hub.consent.decision import Reason
from hub.consent.gate import OfficerPass
from hub.consent.registry import officer_state
from hub.errors import AuditUnavailable, BadRequest, CameraOffline, Forbidden, HubError, Missing
from hub.keys import CONFIG, METRICS, REGISTRY, ROUTER, RTC, STORE, STREAMS, THROTTLE
from hub.media.audio_sessions import viewer_audio
from hub.media.codecs import choose_for_viewer, order, video_transceiver
from hub.media.gated_track import DecodedTrack, EncodedTrack, GatedTrack
from hub.media.ice_servers import ICE, add_ice_links
from hub.media.relay_client import RELAYS
from hub.media.sdp import SDP_TYPE, apply_offer, read_offer
from hub.media.trickle import apply_patch, etag
from hub.media.viewer import Viewer
from hub.media.whep_events import events_link, open_stream, subscribe
from hub.notify.setup import view_started
from hub.store.base import NotFound, Role
from hub.text import free_text

log = logging.getLogger(__name__)

MAX_FIELD = 200


def closed(reason: Reason) -> Forbidden:
    """The gate's refusal of a view (403, its reason); the owner's stop says what would lift it."""
    if reason is Reason.STOPPED_BY_OWNER:
        return Forbidden(
            "the owner stopped your view of this camera; you may watch again only if the owner shares again or "
            "approves a new request",
            reason.value,
        )
    return Forbidden(f"the consent gate is closed: {reason.value}", reason.value)


def _purpose(request: web.Request) -> tuple[str, str]:
    case = request.query.get("case", "").strip()
    reason = request.query.get("reason", "").strip()
    if not case or not reason:
        raise BadRequest("a case number and a reason are required (?case=...&reason=...)", "purpose_required")
    if len(case) > MAX_FIELD or len(reason) > MAX_FIELD:
        raise BadRequest(f"case and reason are limited to {MAX_FIELD} characters", "purpose_too_long")
    # Shown to the camera's owner: no control or text-direction characters (bad_case, bad_reason).
    return free_text(case, "case", MAX_FIELD), free_text(reason, "reason", MAX_FIELD)


async def whep_post(request: web.Request) -> web.Response:
    """Create a WHEP session for an officer whose view the gate admits; every request is on the record."""
    identity = ensure_role(request, Role.OFFICER)
    app = request.app
    throttle = app[THROTTLE]
    throttle.take(
        (throttle.offers_per_source, source(request)), (throttle.offers_per_account, f"officer:{identity.account.id}")
    )
    # Refused before the record and the peer connection are made: a flood of offers from one officer stops here.
    app[STREAMS].peers.check(identity.account.id)
    camera_id = request.match_info["camera_id"]
    case, reason = _purpose(request)
    try:
        camera = await app[STORE].get_camera(camera_id)
    except NotFound:
        raise Missing(f"no camera {camera_id!r}", "camera_unknown") from None
    stream = app[STREAMS].stream(camera_id)
    config = app[CONFIG]
    elsewhere = False
    if stream.control is None and stream.publisher is None:
        owner = await app[ROUTER].owner_url(camera_id)
        if owner is not None and config.cluster.whep_redirect:
            # Redirects are allowed by WHIP/WHEP: the camera's stream lives on another hub (which records it).
            raise web.HTTPTemporaryRedirect(owner + request.path_qs)
        # Else relayed from there (hub/media/relay_client.py), this view recorded and gated here.
        elsewhere = owner is not None
    offer = await read_offer(request, config.media.max_sdp_bytes, "recvonly", config.limits.handshake_seconds)
    look = _Look(request, identity, view_fields(camera_id, camera.owner_id, case, reason))
    # On the record before anything else happens; if it cannot be written, the view is refused.
    look.request_seq = await record(request, Kind.VIEW_REQUESTED, look.purpose, required=True)
    registry = app[REGISTRY]
    state = officer_state(identity.account, identity.session, registry.idle_seconds)
    officer = registry.officer_pass(identity.session.token_hash, state)
    decision = registry.gate(camera_id).admit(time.time(), officer)
    if decision is not Reason.OK:
        app[METRICS].denials.labels(decision.value).inc()
        await look.deny(decision.value)
        raise closed(decision)
    if elsewhere:
        await _through_relay(look)
    if stream.control is None and stream.publisher is None:
        await look.deny("camera_offline")
        raise CameraOffline("the camera is not connected to this hub")
    viewer, answer = await _open_viewer(look, officer, offer)
    return web.Response(
        status=201,
        text=answer,
        content_type=SDP_TYPE,
        headers=add_ice_links(
            CIMultiDict(
                {
                    "Location": f"/whep/{camera_id}/{viewer.id}",
                    "Link": events_link(camera_id, viewer.id),
                    "ETag": etag(answer, offer),  # names the ICE session for trickle PATCHes (hub/media/trickle.py)
                }
            ),
            app[ICE],
            viewer.id,
        ),
    )


class _Look:
    """One WHEP request as the audit log sees it: who asks to watch what, why, and the request's record."""

    def __init__(self, request: web.Request, identity: Identity, purpose: Fields) -> None:
        self.request = request
        self.identity = identity
        self.purpose = purpose
        self.camera_id: str = purpose["camera"]
        self.request_seq: int | None = None

    async def deny(self, why: str) -> None:
        """Record the refusal (never blocks it: a refusal is safe whether or not the log takes it now)."""
        fields = {**self.purpose, "request": self.request_seq, "denied": why}
        await record(self.request, Kind.VIEW_DENIED, fields)

    async def start(self) -> int:
        """The view.started record, durable before the first frame; AuditUnavailable refuses the view."""
        fields = {**self.purpose, "request": self.request_seq}
        seq = await record(self.request, Kind.VIEW_STARTED, fields, required=True)
        assert seq is not None  # required appends return a position or raise
        return seq


async def _through_relay(look: _Look) -> None:
    """The camera's stream lives on another hub: relay it here (one relay per camera), or refuse on the record."""
    app = look.request.app
    try:
        await app[RELAYS].ensure(look.camera_id)
    except HubError as exc:
        app[METRICS].denials.labels(exc.reason).inc()
        await look.deny(exc.reason)
        raise


async def _open_viewer(look: _Look, officer: OfficerPass, offer: str) -> tuple[Viewer, str]:
    """The registered viewer and the SDP answer (taken before the viewer may end and drop its connection)."""
    app = look.request.app
    registry, streams, media = app[REGISTRY], app[STREAMS], app[CONFIG].media
    passthrough = media.forwarding is ForwardingMode.PASSTHROUGH
    camera_codec = streams.stream(look.camera_id).codec(media.codec)
    try:
        # Passthrough: the camera's own codec or nothing. Transcode: whatever the viewer takes, the camera's first.
        codec = choose_for_viewer(offer, order(media.codec, camera_codec), look.camera_id, passthrough)
        pc = streams.peers.open(lambda: RTCPeerConnection(configuration=app[RTC]), look.identity.account.id)
    except HubError as exc:
        await look.deny(exc.reason)
        raise
    viewer = Viewer(
        look.camera_id,
        look.identity.account.id,
        officer,
        pc,
        purpose=look.purpose,
        actor=actor(look.identity.account),
        source=look.request.remote,
    )
    viewer.codec = codec
    viewer.track = _viewer_track(app, viewer, officer)
    video = video_transceiver(pc, codec, "sendonly")
    viewer.track.send_with(video.sender)
    # Audio, if the viewer asks for it: set up whatever the grant says now, each packet gated on its own.
    audio = viewer_audio(pc, offer, registry.gate(look.camera_id), officer, app[METRICS].count_audio)
    viewer.audio = audio[1] if audio is not None else None

    @pc.on("connectionstatechange")
    async def on_state() -> None:
        if pc.connectionState in ("failed", "closed") and not viewer.ended:
            await streams.end_viewer(viewer, "viewer_gone")

    try:
        await apply_offer(pc, offer, video, audio=audio[0] if audio is not None else None)
    except BadRequest as exc:
        await _abandon(look, viewer, exc.reason)
        raise
    except BaseException:
        await _abandon(look, viewer, "hub_error")
        raise
    answer = pc.localDescription.sdp
    transport = look.request.transport
    if transport is None or transport.is_closing():
        # The client went while the connection was being set up: nobody would hear a 201, so nothing starts.
        await _abandon(look, viewer, "viewer_gone")
        raise BadRequest("the client went away before its answer", "viewer_gone")
    # Consent may have ended while the connection was being set up: ask the gate again before registering.
    decision = registry.gate(look.camera_id).admit(time.time(), officer)
    if decision is not Reason.OK:
        await _abandon(look, viewer, decision.value)
        raise closed(decision)
    try:
        viewer.view_id = await look.start()
    except AuditUnavailable:
        await _abandon(look, viewer, None)
        raise
    viewer.started_at = time.time()
    # The owner is told, in the background, now that the view is on the record.
    purpose, agency = look.purpose, look.identity.account.agency_id
    view_started(app, look.camera_id, purpose["owner"], agency, purpose["case"], purpose["reason"], viewer.view_id)
    # Only now does the viewer's track join the camera's feed: no frame before the record above is durable. The
    # gate is asked again there, after that write: a refusal now ends the view at once, on the record.
    refused = await streams.add_viewer(viewer)
    if refused is not None:
        app[METRICS].denials.labels(refused.value).inc()
        raise closed(refused)
    streams.peers.arm(pc, lambda: streams.end_viewer(viewer, "handshake_timeout"))
    log.info("viewer %s: account %d watching camera %s", viewer.id, look.identity.account.id, look.camera_id)
    return viewer, answer


def _viewer_track(app: web.Application, viewer: Viewer, officer: OfficerPass) -> GatedTrack[Any]:
    """The viewer's gated track for this hub's forwarding mode."""
    registry, streams, metrics, media = app[REGISTRY], app[STREAMS], app[METRICS], app[CONFIG].media
    passthrough = media.forwarding is ForwardingMode.PASSTHROUGH
    kind = EncodedTrack if passthrough else DecodedTrack
    track = kind(
        registry.gate(viewer.camera_id),
        officer,
        media.viewer_queue_frames,
        on_denied=lambda why: streams.deny(viewer, why),
        count=metrics.count_frame,
    )
    publisher = streams.stream(viewer.camera_id).publisher
    if isinstance(track, EncodedTrack) and publisher is not None:
        track.set_keyframes(publisher.keyframes)
    return track


async def _abandon(look: _Look, viewer: Viewer, reason: str | None) -> None:
    """Undo a viewer that was never registered: track stopped, connection closed, the refusal recorded."""
    viewer.mark_ended(reason or "audit_unavailable")
    await look.request.app[STREAMS].peers.close(viewer.pc)
    if reason is not None:
        await look.deny(reason)


def _own_viewer(request: web.Request) -> Viewer:
    identity = ensure_identity(request)
    viewer = request.app[STREAMS].viewer(request.match_info["viewer_id"])
    if (
        viewer is None
        or viewer.camera_id != request.match_info["camera_id"]
        or viewer.account_id != identity.account.id
    ):
        raise Missing("no such WHEP session", "session_unknown")
    return viewer


async def whep_delete(request: web.Request) -> web.Response:
    """End the caller's own WHEP session."""
    viewer = _own_viewer(request)
    await request.app[STREAMS].end_viewer(viewer, "viewer_left")
    return web.Response(status=200)


async def whep_patch(request: web.Request) -> web.Response:
    """Trickle ICE for the caller's own WHEP session (hub/media/trickle.py; an ICE restart is answered 422)."""
    return await apply_patch(request, _own_viewer(request).pc)


async def whep_events(request: web.Request) -> web.StreamResponse:
    """Server-sent events for one WHEP session: `end` and why when it ends (hub/media/whep_events.py)."""
    return await open_stream(request, _own_viewer(request))


async def whep_events_subscribe(request: web.Request) -> web.Response:
    """A new event stream for one WHEP session, of the types the body lists (hub/media/whep_events.py)."""
    return await subscribe(request, _own_viewer(request))
