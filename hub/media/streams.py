"""Who is publishing and who is watching, per camera, on this hub; on-demand publishing follows from it.

The first authorized viewer of a camera makes the hub tell the camera's agent to publish (the agent logs
that someone is watching before its first frame leaves); the last one leaving, or consent ending, tells it to
stop and closes the hub's side of the publisher.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from hub.audit.log import AuditLog
from hub.audit.record import Kind, audit_time
from hub.config import LimitsConfig, MediaConfig, VideoCodec
from hub.consent.decision import Reason, closed_at
from hub.consent.registry import GateRegistry
from hub.live import LiveEvents
from hub.media.gated_track import EncodedTrack, GatedTrack
from hub.media.peers import PeerBook
from hub.media.publisher import Publisher
from hub.media.relay_sink import RelaySink
from hub.media.viewer import EndedViewers, Viewer
from hub.metrics import Metrics

log = logging.getLogger(__name__)


class ControlLink:
    """The control WebSocket of one camera's agent."""

    def __init__(self, camera_id: str, ws: web.WebSocketResponse, token_hash: str | None = None) -> None:
        self.camera_id = camera_id
        self.ws = ws
        # The hash of the device token it was opened with: a rotated token ends it.
        self.token_hash = token_hash
        self.publishing = False
        # The owner paused the camera at the device (`paused` / `resumed` from the agent): it publishes nothing.
        self.paused = False
        # Still pictures asked of the agent, by request id (see hub.media.masks.snapshot).
        self.snapshots: dict[str, asyncio.Future[dict[str, Any]]] = {}

    async def send(self, message: dict[str, Any]) -> None:
        """Send one JSON message; a link that went away is logged, not raised (the agent reconnects)."""
        if self.ws.closed:
            return
        try:
            await self.ws.send_json(message)
        except (ConnectionError, RuntimeError) as exc:
            log.info("camera %s: control message not delivered (%s)", self.camera_id, exc.__class__.__name__)


@dataclass
class CameraStream:
    """This hub's live state for one camera."""

    camera_id: str
    control: ControlLink | None = None
    publisher: Publisher | None = None
    viewers: dict[str, Viewer] = field(default_factory=dict)
    # Other hubs' relays of the camera (hub/media/relay_server.py): watchers as viewers are, never views on record.
    relays: dict[str, RelaySink] = field(default_factory=dict)
    # Who watches it on the other hubs (hub.cluster keeps it: `LiveView.watching()` each), for its agent's messages.
    elsewhere: list[dict[str, Any]] = field(default_factory=list)
    # Since when viewers have been waiting for a publisher's first frame (None while frames flow or nobody waits).
    # A session that connects and carries nothing (a relay from a hub whose agent never publishes, dropped for
    # silence and reopened) does not restart the wait.
    waiting_since: float | None = None
    # The codec its last publisher negotiated: what its next viewers get while it is not publishing.
    last_codec: VideoCodec | None = None

    def codec(self, configured: VideoCodec) -> VideoCodec:
        """The camera's video codec: its publisher's, else its last one's, else the hub's configured codec."""
        if self.publisher is not None:
            return self.publisher.codec
        return self.last_codec or configured

    def viewers_codec(self) -> VideoCodec | None:
        """The codec the camera's passthrough viewers were answered with (a new publisher should send it)."""
        return next((v.codec for v in self.viewers.values() if isinstance(v.track, EncodedTrack)), None)

    def watchers_message(self, kind: str) -> dict[str, Any]:
        """A control message ("publish" or "watchers") telling the owner's agent who is watching."""
        # The other hubs' viewers come through their relays: counted once, as the cluster lists them (or, until it
        # does, one per relay).
        watchers = len(self.viewers) + max(len(self.relays), len(self.elsewhere))
        viewers = [v.watching() for v in self.viewers.values()] + self.elsewhere
        return {"type": kind, "watchers": watchers, "viewers": viewers}

    def sinks(self) -> Iterator[GatedTrack[Any]]:
        """The gated tracks the camera's frames go to."""
        for viewer in self.viewers.values():
            if viewer.track is not None:
                yield viewer.track
        for relay in self.relays.values():
            if relay.track is not None:
                yield relay.track


class StreamManager:
    """All camera streams and viewer sessions of this hub."""

    def __init__(
        self,
        registry: GateRegistry,
        audit: AuditLog,
        metrics: Metrics,
        live: LiveEvents,
        media: MediaConfig,
        limits: LimitsConfig,
    ) -> None:
        self._registry = registry
        self._publish_timeout = media.publish_timeout_seconds
        self._silence = media.silence_seconds
        self._audit = audit
        self._live = live
        self._metrics = metrics
        self._streams: dict[str, CameraStream] = {}
        self._viewers: dict[str, Viewer] = {}
        self._ended = EndedViewers()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._rotating: set[str] = set()
        # WHIP sessions that ended (a failed handshake, silence, a rotated token): the camera's DELETE still gets
        # 200, not a 404 that reads as if the session had never been. The last 1,000, by resource id.
        self._ended_publishers: OrderedDict[str, str] = OrderedDict()
        self.peers = PeerBook(
            limits.peers_total,
            limits.peers_per_officer,
            limits.handshake_seconds,
            self.spawn,
            lambda endpoint, stage: metrics.handshake_failures.labels(endpoint, stage).inc(),
        )

    # Lookup ----------------------------------------------------------------------------------------------
    def stream(self, camera_id: str) -> CameraStream:
        """The camera's stream state, created empty on first use."""
        stream = self._streams.get(camera_id)
        if stream is None:
            stream = self._streams[camera_id] = CameraStream(camera_id)
        return stream

    def viewer(self, viewer_id: str) -> Viewer | None:
        """A live or recently ended viewer session."""
        return self._viewers.get(viewer_id) or self._ended.get(viewer_id)

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        """Run a background job that logs its own failure and is awaited at shutdown."""
        task = asyncio.create_task(self._guard(coro, name), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _guard(coro: Coroutine[Any, Any, Any], name: str) -> None:
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("background job %s failed", name)

    # Agents ----------------------------------------------------------------------------------------------
    async def attach_control(self, link: ControlLink) -> None:
        """A camera's agent connected: replace any older link, and ask it to publish if someone waits."""
        stream = self.stream(link.camera_id)
        old, stream.control = stream.control, link
        if old is not None and old is not link:
            await old.ws.close(code=4000, message=b"replaced by a newer connection")
        else:
            self._metrics.agents.inc()
        self._live.publish("streams", camera=link.camera_id)
        await link.send({"type": "hello", "camera_id": link.camera_id, "watchers": len(stream.viewers)})
        if (stream.viewers or stream.relays) and stream.publisher is None:
            await link.send(stream.watchers_message("publish"))

    async def detach_control(self, link: ControlLink) -> None:
        """A camera's agent went away; its publisher (if any) goes with it."""
        stream = self.stream(link.camera_id)
        if stream.control is not link:
            return
        stream.control = None
        self._metrics.agents.dec()
        self._live.publish("streams", camera=link.camera_id)
        if stream.publisher is not None:
            await self.detach_publisher(stream.publisher)

    async def disown(self, camera_id: str) -> None:
        """Another hub took over the camera: drop its agent's link and publisher here (the agent reconnects)."""
        stream = self.stream(camera_id)
        if stream.control is not None:
            await stream.control.ws.close(code=4001, message=b"camera served by another hub")
        if stream.publisher is not None:
            await self.detach_publisher(stream.publisher)

    # Device tokens ---------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def rotating(self, camera_id: str) -> Iterator[None]:
        """While a camera's device token is being replaced, its agent and publishers are refused here."""
        self._rotating.add(camera_id)
        try:
            yield
        finally:
            self._rotating.discard(camera_id)

    def device_refused(self, camera_id: str) -> bool:
        """Whether the camera's device token is being replaced right now (refuse its sockets and sessions)."""
        return camera_id in self._rotating

    def device_cameras(self) -> list[str]:
        """Cameras with an agent or a publisher on this hub."""
        return [s.camera_id for s in self._streams.values() if s.control is not None or s.publisher is not None]

    def device_tokens(self, camera_id: str) -> set[str]:
        """The device-token hashes the camera's agent and publisher here were opened with."""
        stream = self.stream(camera_id)
        hashes = {stream.control.token_hash if stream.control else None}
        hashes.add(stream.publisher.token_hash if stream.publisher else None)
        return {h for h in hashes if h is not None}

    async def end_device(self, camera_id: str, reason: str, token_hash: str | None = None) -> None:
        """End the camera's control socket and WHIP session here (only those opened with `token_hash`, if given);
        its viewers wait for a publisher as after any drop."""
        stream = self.stream(camera_id)
        link, publisher = stream.control, stream.publisher
        if link is not None and (token_hash is None or link.token_hash == token_hash):
            log.info("camera %s: ending its control socket (%s)", camera_id, reason)
            await link.ws.close(code=4003, message=reason.encode())
        if publisher is not None and (token_hash is None or publisher.token_hash == token_hash):
            log.info("camera %s: ending its WHIP session (%s)", camera_id, reason)
            await self.detach_publisher(publisher)

    # Publishers ------------------------------------------------------------------------------------------
    def may_publish(self, camera_id: str) -> bool:
        """An agent publishes only when asked; a plain WHIP publisher (no control link) always may."""
        stream = self.stream(camera_id)
        return stream.control is None or bool(stream.viewers or stream.relays)

    async def attach_publisher(self, publisher: Publisher) -> None:
        """A WHIP session was established; it replaces any older one of the same camera."""
        stream = self.stream(publisher.camera_id)
        old, stream.publisher = stream.publisher, publisher
        if publisher.receiving:
            stream.waiting_since = None
        stream.last_codec = publisher.codec
        publisher.on_first_frame = lambda: self._first_frame(publisher)
        for viewer in list(stream.viewers.values()):
            if isinstance(viewer.track, EncodedTrack) and viewer.codec is not publisher.codec:
                # Passthrough sends the camera's own bytes: a viewer answered with another codec could not decode them.
                await self.end_viewer(viewer, "camera_codec_changed")
        for track in stream.sinks():
            if isinstance(track, EncodedTrack):
                track.set_keyframes(publisher.keyframes)
        if old is not None:
            await self._close_publisher(old)
        else:
            self._metrics.publishers.inc()
        self._live.publish("streams", camera=publisher.camera_id)

    def _first_frame(self, publisher: Publisher) -> None:
        """The publisher's first frame arrived: the camera streams, its viewers no longer wait."""
        stream = self.stream(publisher.camera_id)
        if stream.publisher is publisher:
            stream.waiting_since = None
        self._live.publish("streams", camera=publisher.camera_id)

    async def detach_publisher(self, publisher: Publisher) -> None:
        """End a WHIP session (DELETE, agent gone, connection failed, nobody watching)."""
        stream = self.stream(publisher.camera_id)
        if stream.publisher is publisher:
            stream.publisher = None
            # A wait under way goes on (the session carried nothing); one that had ended starts again now.
            stream.waiting_since = (stream.waiting_since or time.time()) if stream.viewers else None
            self._metrics.publishers.dec()
            self._live.publish("streams", camera=publisher.camera_id)
        await self._close_publisher(publisher)

    async def _close_publisher(self, publisher: Publisher) -> None:
        self._ended_publishers[publisher.resource_id] = publisher.camera_id
        while len(self._ended_publishers) > 1000:
            self._ended_publishers.popitem(last=False)
        await publisher.stop()
        await self.peers.close(publisher.pc)

    def publisher(self, camera_id: str, resource_id: str) -> Publisher | None:
        publisher = self.stream(camera_id).publisher
        return publisher if publisher is not None and publisher.resource_id == resource_id else None

    def publisher_ended(self, camera_id: str, resource_id: str) -> bool:
        """Whether `resource_id` was one of the camera's WHIP sessions here that has ended."""
        return self._ended_publishers.get(resource_id) == camera_id

    # Viewers ---------------------------------------------------------------------------------------------
    async def add_viewer(self, viewer: Viewer) -> Reason | None:
        """Register a viewer if its gate still admits it; the first one of a camera asks its agent to publish.

        The gate is asked here, with no await between its answer and the viewer joining the feed and the agent
        being told: whatever awaited before (the view's record) may have let a withdrawal pass. A viewer refused
        now, or that already ended (its connection failed while its view was being recorded), is wound up at once,
        on the record, and never counted as watching. The gate's refusal, or None (joined, or had ended already).
        """
        gate = self._registry.gate(viewer.camera_id)
        reason = gate.admit(time.time(), viewer.officer)
        refused = reason.terminal and viewer.mark_ended(reason.value, closed_at(gate.state, reason, time.time()))
        if viewer.ended:
            await self._finish_viewer(viewer)
            return reason if refused else None
        stream = self.stream(viewer.camera_id)
        stream.viewers[viewer.id] = viewer
        self._viewers[viewer.id] = viewer
        self._metrics.viewers.inc()
        self._live.publish("watchers", camera=viewer.camera_id)
        if (stream.publisher is None or not stream.publisher.receiving) and stream.waiting_since is None:
            stream.waiting_since = time.time()
        if stream.control is not None:
            if stream.publisher is None and len(stream.viewers) + len(stream.relays) == 1:
                await stream.control.send(stream.watchers_message("publish"))
            else:
                await stream.control.send(stream.watchers_message("watchers"))
        return None

    def deny(self, viewer: Viewer, reason: Reason) -> None:
        """The gate refused a viewer for good (called from the frame path: no await there)."""
        now = time.time()
        if viewer.mark_ended(reason.value, closed_at(self._registry.gate(viewer.camera_id).state, reason, now)):
            self.spawn(self._finish_viewer(viewer), f"end-viewer-{viewer.id}")

    async def end_viewer(self, viewer: Viewer, reason: str, at: float | None = None, note: str | None = None) -> None:
        """End one viewer's session: track stopped, event sent (with `note`, an administrator's words, if given),
        connection closed, view closed."""
        if viewer.mark_ended(reason, at, note):
            await self._finish_viewer(viewer)

    async def _finish_viewer(self, viewer: Viewer) -> None:
        stream = self.stream(viewer.camera_id)
        if stream.viewers.pop(viewer.id, None) is not None:
            self._metrics.viewers.dec()
        self._viewers.pop(viewer.id, None)
        self._ended.add(viewer)
        if not any(v.officer is viewer.officer for v in self._viewers.values()):
            self._registry.release_pass(viewer.officer.session_hash)
        sent = await viewer.bytes_sent()
        await self.peers.close(viewer.pc)
        await self._record_end(viewer, sent)
        viewer.forget_media()  # kept in `_ended` without its media objects
        # After the record: a page told of the change finds the view's end on it.
        self._live.publish("watchers", camera=viewer.camera_id)
        if not stream.viewers and not stream.relays:
            stream.waiting_since = None
            await self._stop_publishing(stream, viewer.end_reason or "no_viewers")
        elif stream.control is not None:
            await stream.control.send(stream.watchers_message("watchers"))

    async def _record_end(self, viewer: Viewer, bytes_sent: int) -> None:
        """The view.ended record (kept and retried if the log is down: an end must never block)."""
        if viewer.view_id is None:
            return  # never started: its view.denied record says why
        now = time.time()
        fields = {
            **viewer.purpose,
            "view": viewer.view_id,
            "started": audit_time(viewer.started_at),
            "ended": audit_time(now),
            "duration_ms": max(0, round((now - viewer.started_at) * 1000)),
            "frames": viewer.track.frames_sent if viewer.track is not None else 0,
            # Audio packets sent to this viewer (0: video only; audio is a consent of its own).
            "audio_packets": viewer.audio.packets_sent if viewer.audio is not None else 0,
            "bytes": bytes_sent,
            "ended_by": viewer.end_reason or "ended",
        }
        await self._audit.append(Kind.VIEW_ENDED, fields, actor=viewer.actor, source=viewer.source, required=False)

    # Relays to other hubs (hub/media/relay_server.py) ------------------------------------------------------
    async def add_relay(self, relay: RelaySink) -> Reason | None:
        """Join another hub's relay to the camera's feed if its gate admits it now (no await between the answer and
        the join); the first watcher of a camera asks its agent to publish. The gate's refusal for good, or None
        (joined, or ended already). A gate closed for a while only (stale state, masks pending) holds its frames."""
        reason = relay.check(time.time())
        if relay.ended:
            return reason if reason.terminal else None
        stream = self.stream(relay.camera_id)
        stream.relays[relay.id] = relay
        if stream.publisher is not None and isinstance(relay.track, EncodedTrack):
            relay.track.set_keyframes(stream.publisher.keyframes)
        if stream.control is not None:
            first = stream.publisher is None and len(stream.viewers) + len(stream.relays) == 1
            await stream.control.send(stream.watchers_message("publish" if first else "watchers"))
        return None

    async def remove_relay(self, relay: RelaySink) -> None:
        """A relay left (its hub's last viewer went, or its gate closed): the last watcher gone stops the agent."""
        stream = self.stream(relay.camera_id)
        if stream.relays.pop(relay.id, None) is None:
            return
        if not stream.viewers and not stream.relays:
            stream.waiting_since = None
            await self._stop_publishing(stream, relay.end_reason or "no_viewers")
        elif stream.control is not None:
            await stream.control.send(stream.watchers_message("watchers"))

    def _check_relays(self, stream: CameraStream, now: float) -> None:
        for relay in list(stream.relays.values()):
            relay.check(now)

    async def _stop_publishing(self, stream: CameraStream, reason: str) -> None:
        if stream.control is None and stream.publisher is not None and stream.publisher.token_hash is None:
            # A relay from the camera's owning hub (hub/media/relay_client.py): nobody here watches, so it ends.
            await self.detach_publisher(stream.publisher)
        if stream.control is not None:
            await stream.control.send({"type": "stop", "reason": reason})
            # An agent is told to stop; closing our side too means a misbehaving one cannot keep sending.
            if stream.publisher is not None:
                await self.detach_publisher(stream.publisher)

    def live_viewers(self) -> list[Viewer]:
        """Every viewer session open on this hub."""
        return list(self._viewers.values())

    async def end_viewers_of(self, account_id: int, reason: str) -> int:
        """End every live view of one account (disabled, or its sessions ended); how many."""
        return await self._end_where(lambda viewer: viewer.account_id == account_id, reason)

    async def end_viewers_of_session(self, session_hash: str, reason: str) -> int:
        """End every live view opened with one log-in session; how many."""
        return await self._end_where(lambda viewer: viewer.officer.session_hash == session_hash, reason)

    def end_views_now(self, camera_id: str, account_id: int, reason: str) -> asyncio.Future[list[None]]:
        """End every live view of one account of one camera: each stops and is told `reason` now, before this
        returns (nothing awaited); what follows (connections closed, the records) runs in tasks, awaited through
        the future returned. For a caller that must act before those finish (the owner's stop writes its bar)."""
        ending = [
            viewer
            for viewer in self._viewers.values()
            if viewer.camera_id == camera_id and viewer.account_id == account_id and viewer.mark_ended(reason)
        ]
        return asyncio.gather(*(self._finish_viewer(viewer) for viewer in ending))

    async def _end_where(self, which: Callable[[Viewer], bool], reason: str) -> int:
        ending = [viewer for viewer in self._viewers.values() if which(viewer)]
        for viewer in ending:
            await self.end_viewer(viewer, reason)
        return len(ending)

    async def end_camera(self, camera_id: str, reason: str, at: float | None = None) -> None:
        """Consent for the camera ended (at `at`): every viewer stops at once, then connections close, agent
        stops."""
        stream = self.stream(camera_id)
        ending = [viewer for viewer in stream.viewers.values() if viewer.mark_ended(reason, at)]
        self._check_relays(stream, time.time())
        await asyncio.gather(*(self._finish_viewer(viewer) for viewer in ending))
        await self._stop_publishing(stream, reason)

    async def sweep(self, now: float | None = None) -> None:
        """End viewers whose gate closed for good with no frame to notice (expiry, pilot end), viewers whose
        camera never started publishing, and publishers whose camera has gone silent (a lost network); forget
        ended sessions kept long enough."""
        now = time.time() if now is None else now
        self._ended.forget_old()
        for stream in list(self._streams.values()):
            self._check_relays(stream, now)
            if stream.publisher is not None and stream.publisher.silent_for() > self._silence:
                log.warning("camera %s: no video for %.0f s; ending its WHIP session", stream.camera_id, self._silence)
                await self.detach_publisher(stream.publisher)
        for viewer in list(self._viewers.values()):
            gate = self._registry.gate(viewer.camera_id)
            reason = gate.admit(now, viewer.officer)
            if reason.terminal:
                await self.end_viewer(viewer, reason.value, closed_at(gate.state, reason, now))
            elif self._waited_too_long(self.stream(viewer.camera_id), viewer, now):
                await self.end_viewer(viewer, "camera_not_publishing")

    def _waited_too_long(self, stream: CameraStream, viewer: Viewer, now: float) -> bool:
        # Counted from when this viewer began waiting: the camera's wait, or the viewer's start if it came later.
        if stream.waiting_since is None:
            return False
        return now - max(stream.waiting_since, viewer.started_at) > self._publish_timeout

    async def close(self) -> None:
        """Shut down: end every viewer and publisher, wait for background jobs."""
        for viewer in list(self._viewers.values()):
            await self.end_viewer(viewer, "hub_shutdown")
        for stream in self._streams.values():
            if stream.publisher is not None:
                await self.detach_publisher(stream.publisher)
            if stream.control is not None:
                await stream.control.ws.close(code=1001, message=b"hub shutting down")
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
