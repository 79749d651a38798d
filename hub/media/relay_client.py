"""The asking hub's end of a relay: one internal session per camera another hub streams, fanned out here.

An admitted officer's view of a camera whose agent reached another hub opens (or joins) a relay: this hub offers
to receive the camera's video, signs the offer (hub/routing/peer_auth.py) and POSTs it to the owning hub's
`/relay/{camera_id}`. The session becomes the camera's `stream.publisher` here (a `Publisher` whose connection is
this hub's client side, `token_hash` None), so this hub's viewers attach to it as to any publisher, each gated
here as always. It ends when this hub's last viewer of the camera leaves. If it drops (the owning hub died), the
viewers wait as for any publisher, and the keeper opens it again from whichever hub the camera's agent reaches
next (or the agent publishes here directly). While it is open, this hub is one of the camera's carriers in Redis:
a withdrawal waits for its confirmation too.

The session always offers to receive the camera's audio (Opus): the owning hub sends it only while the camera's
grant allows audio (each packet gated there), and this hub hands it to the viewers who asked for audio, each gated
here per officer as for a camera of its own. Audio turned off or on mid-view needs no new session.

A relay that ends while this hub's viewers still wait for it, with the camera's consent still live, was lost
mid-view: counted in porchlight_relay_failures_total as `lost` (its connection failed, or the owning hub closed it)
or `silent` (it carried no frame for media.silence_seconds); the keeper opens it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from urllib.parse import quote

import aiohttp
from aiohttp import web
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from yarl import URL

from hub.config import VideoCodec
from hub.consent.decision import decide_relay
from hub.errors import HubError, RelayFailed, RelayUnavailable
from hub.keys import CONFIG, METRICS, REGISTRY, ROUTER, RTC, STREAMS
from hub.media.audio_sessions import audio_sinks, receive_audio
from hub.media.codecs import kind_of, offered_video, preferences
from hub.media.publisher import Publisher
from hub.media.sdp import SDP_TYPE
from hub.routing.peer_auth import PEER_AUTH

log = logging.getLogger(__name__)

# How often the keeper looks for viewers waiting on a camera another hub streams, and for idle relays.
KEEP_SECONDS = 0.5
REQUEST_SECONDS = 5.0
# What an operator should look at when the owning hub refuses a relay for one of these reasons.
HINTS = {
    "peer_auth_failed": ": the hubs do not share one secret (cluster.peer_secret_file)",
    "peer_auth_stale": ": the hubs' clocks disagree",
}


class RelayPublisher(Publisher):
    """The camera's publisher on this hub when another hub streams it: this hub's client side of the relay."""

    def __init__(
        self,
        camera_id: str,
        pc: RTCPeerConnection,
        node: str,
        base_url: str,
        on_stop: Callable[[RelayPublisher], None],
    ) -> None:
        super().__init__(camera_id, pc, VideoCodec.VP8)
        self.token_hash = None  # a relay: no device token; it ends with this hub's last viewer of the camera
        self.node = node  # the owning hub
        self.base_url = base_url  # its internal URL
        self.location: str | None = None  # the relay's resource on the owning hub, once it answered
        self.opened = False  # set up and counted in porchlight_relays
        # Told once, as the relay stops (no await before: it sees the camera's viewers as they were then).
        self.on_stop = on_stop
        # Why it ended, if it ends while viewers here wait: "lost" (the connection failed or the owning hub closed
        # it) or "silent" (the hub ended it for carrying nothing), and whether it did.
        self.cause = "silent"
        self.lost_mid_view = False
        self.stopping = False

    async def stop(self) -> None:
        if not self.stopping:
            self.stopping = True
            self.on_stop(self)
        await super().stop()


class RelayClient:
    """This hub's relays from other hubs: at most one per camera, opened on demand, kept while viewers wait."""

    def __init__(self, app: web.Application) -> None:
        self._app = app
        self._locks: dict[str, asyncio.Lock] = {}
        self._relays: dict[str, RelayPublisher] = {}  # open (or opening) relays, by camera
        self._ended: list[RelayPublisher] = []
        self._idle: set[str] = set()
        self._http: aiohttp.ClientSession | None = None
        self._keeper: asyncio.Task[None] | None = None
        self._closing = False

    async def start(self) -> None:
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=REQUEST_SECONDS))
        self._keeper = asyncio.create_task(self._keep(), name="relay-keeper")

    async def close(self) -> None:
        """Stop the keeper, end every relay (the owning hubs are told), close the HTTP client."""
        self._closing = True
        if self._keeper is not None:
            self._keeper.cancel()
            await asyncio.gather(self._keeper, return_exceptions=True)
        streams = self._app[STREAMS]
        for publisher in list(self._relays.values()):
            await streams.detach_publisher(publisher)
        await self._wind_up()
        if self._http is not None:
            await self._http.close()

    def open_count(self) -> int:
        """Relays open (or opening) on this hub."""
        return len(self._relays)

    async def ensure(self, camera_id: str) -> bool:
        """Make sure the camera has a publisher here, through a relay from the hub that streams it if need be
        (one per camera: concurrent callers wait for the first). False if no hub streams it; raises RelayFailed or
        RelayUnavailable (counted) if the owning hub refuses or cannot be reached."""
        lock = self._locks.setdefault(camera_id, asyncio.Lock())
        async with lock:
            stream = self._app[STREAMS].stream(camera_id)
            if stream.control is not None or stream.publisher is not None:
                return True
            peer = await self._app[ROUTER].peer(camera_id)
            if peer is None:
                return False
            await self._open(camera_id, *peer)
            return True

    async def _open(self, camera_id: str, node: str, base_url: str) -> None:
        app = self._app
        streams, router, metrics, media = app[STREAMS], app[ROUTER], app[METRICS], app[CONFIG].media
        pc = streams.peers.open(lambda: RTCPeerConnection(configuration=app[RTC]))
        publisher = RelayPublisher(camera_id, pc, node, base_url, self._stopped)
        video = pc.addTransceiver("video", direction="recvonly")
        # The owning hub answers with the camera's own codec: offer both the hub sends.
        video.setCodecPreferences([*preferences(VideoCodec.VP8), *preferences(VideoCodec.H264)])
        # The camera's audio, whenever its grant allows it (gated there), to this hub's viewers (gated here).
        receive_audio(pc, audio_sinks(app, camera_id))

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if track.kind == "video":
                publisher.forward(track, video.receiver, media, metrics, streams.stream(camera_id).sinks)

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState == "connected":
                publisher.connected()
            elif pc.connectionState in ("failed", "closed"):
                if not publisher.stopping:
                    publisher.cause = "lost"  # not ended by this hub: the connection failed or the owner closed it
                await streams.detach_publisher(publisher)

        self._relays[camera_id] = publisher
        try:
            await pc.setLocalDescription(await pc.createOffer())
            # A carrier before any frame arrives: a withdrawal made anywhere from now on waits for this hub too.
            await router.carry(camera_id)
            answer, publisher.location = await self._post(publisher, pc.localDescription.sdp)
            await self._apply_answer(publisher, answer)
        except BaseException:
            # Closes the connection; the wind-up drops the carrier and ends the owning hub's side if it answered.
            await streams.detach_publisher(publisher)
            await self._wind_up()
            raise
        publisher.opened = True
        metrics.relays.labels("asking").inc()
        await streams.attach_publisher(publisher)
        streams.peers.arm(pc, lambda: streams.detach_publisher(publisher))
        log.info("camera %s: relaying from hub %s", camera_id, node)

    async def _post(self, publisher: RelayPublisher, offer: str) -> tuple[str, str]:
        """The owning hub's answer and the relay's URL there; RelayFailed or RelayUnavailable, counted."""
        assert self._http is not None
        path = f"/relay/{quote(publisher.camera_id, safe='')}"
        body = offer.encode()
        headers = {"Content-Type": SDP_TYPE, **self._app[PEER_AUTH].sign("POST", path, body)}
        failures = self._app[METRICS].relay_failures
        try:
            async with self._http.post(
                URL(publisher.base_url + path, encoded=True), data=body, headers=headers, allow_redirects=False
            ) as response:
                text = await response.text()
                if response.status != 201:
                    reason = _reason_of(text, response.status)
                    failures.labels(reason).inc()
                    log.warning(
                        "camera %s: hub %s refused a relay request (%s)%s",
                        publisher.camera_id,
                        publisher.node,
                        reason,
                        HINTS.get(reason, ""),
                    )
                    raise RelayFailed(f"the hub that streams the camera refused to relay it here: {reason}")
                location = response.headers.get("Location", "")
        except (aiohttp.ClientError, TimeoutError) as exc:
            failures.labels("unreachable").inc()
            log.warning(
                "camera %s: hub %s did not answer a relay request (%s)",
                publisher.camera_id,
                publisher.node,
                type(exc).__name__,
            )
            raise RelayUnavailable("the hub that streams the camera cannot be reached") from None
        return text, publisher.base_url + location

    async def _apply_answer(self, publisher: RelayPublisher, answer: str) -> None:
        """Take the owning hub's answer; RelayFailed (counted as `bad_answer`) if this hub cannot."""
        try:
            publisher.codec = _codec_of(answer)
            await publisher.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        except Exception as exc:
            self._app[METRICS].relay_failures.labels("bad_answer").inc()
            log.warning(
                "camera %s: hub %s answered a relay request with an answer this hub cannot take (%s)",
                publisher.camera_id,
                publisher.node,
                type(exc).__name__,
            )
            raise RelayFailed("the hub that streams the camera answered the relay with nothing this hub takes") from exc

    def _stopped(self, publisher: RelayPublisher) -> None:
        """A relay stops: to be wound up; lost mid-view if viewers here still wait for it (not replaced by a
        publisher of the camera's own, not ending with the hub)."""
        self._ended.append(publisher)
        stream = self._app[STREAMS].stream(publisher.camera_id)
        publisher.lost_mid_view = (
            publisher.opened
            and not self._closing
            and stream.publisher is None
            and stream.control is None
            and bool(stream.viewers)
        )

    async def _hang_up(self, publisher: RelayPublisher) -> None:
        """Tell the owning hub the relay ended (it would notice the connection closing, later)."""
        if publisher.location is None or self._http is None:
            return
        path = URL(publisher.location, encoded=True).raw_path
        headers = self._app[PEER_AUTH].sign("DELETE", path, b"")
        try:
            async with self._http.delete(URL(publisher.location, encoded=True), headers=headers) as response:
                await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.info("camera %s: hub %s not told the relay ended (%s)", publisher.camera_id, publisher.node, exc)

    async def _wind_up(self) -> None:
        """Relays that stopped: off the books, the owning hub told, no longer a carrier."""
        while self._ended:
            publisher = self._ended.pop()
            if self._relays.get(publisher.camera_id) is publisher:
                del self._relays[publisher.camera_id]
            if publisher.opened:
                self._app[METRICS].relays.labels("asking").dec()
                log.info("camera %s: relay from hub %s ended", publisher.camera_id, publisher.node)
            # Judged now, not as it stopped: a withdrawal the owning hub acted on first (closing the relay) has
            # reached this hub's gate by now, and a relay that consent ended is no failure.
            state = self._app[REGISTRY].gate(publisher.camera_id).state
            if publisher.lost_mid_view and not decide_relay(time.time(), state).terminal:
                self._app[METRICS].relay_failures.labels(publisher.cause).inc()
                log.warning(
                    "camera %s: the relay from hub %s was lost mid-view (%s); its viewers here wait for it to reopen",
                    publisher.camera_id,
                    publisher.node,
                    publisher.cause,
                )
            await self._hang_up(publisher)
            if publisher.camera_id not in self._relays:
                with contextlib.suppress(Exception):
                    await self._app[ROUTER].drop(publisher.camera_id)

    async def _keep(self) -> None:
        while True:
            await asyncio.sleep(KEEP_SECONDS)
            try:
                await self._wind_up()
                await self._reopen()
                await self._end_idle()
            except Exception:
                log.exception("relay keeper: a pass failed")

    async def _reopen(self) -> None:
        """Viewers here waiting on a camera no hub publishes here: open a relay if another hub streams it now."""
        streams = self._app[STREAMS]
        for camera_id in {viewer.camera_id for viewer in streams.live_viewers()}:
            stream = streams.stream(camera_id)
            if stream.control is None and stream.publisher is None:
                try:
                    await self.ensure(camera_id)
                except HubError as exc:
                    log.info("camera %s: relay not reopened yet (%s)", camera_id, exc.reason)

    async def _end_idle(self) -> None:
        """A relay nobody here watches (its opener's view never started) ends on the keeper's second look."""
        streams = self._app[STREAMS]
        for camera_id, publisher in list(self._relays.items()):
            stream = streams.stream(camera_id)
            if stream.viewers or stream.publisher is not publisher or self._locks[camera_id].locked():
                self._idle.discard(camera_id)
            elif camera_id in self._idle:
                self._idle.discard(camera_id)
                await streams.detach_publisher(publisher)
            else:
                self._idle.add(camera_id)


def _codec_of(answer: str) -> VideoCodec:
    """The video codec the owning hub answered with (the camera's)."""
    for codec in offered_video(answer):
        kind = kind_of(codec)
        if kind is not None:
            return kind
    raise RelayFailed("the relay's answer has no video codec this hub takes")


def _reason_of(text: str, status: int) -> str:
    """The refusal's reason as the owning hub gave it (its JSON error), or the status."""
    try:
        reason = json.loads(text).get("reason")
    except (ValueError, AttributeError):
        reason = None
    return reason if isinstance(reason, str) and reason.isidentifier() else f"http_{status}"


RELAYS: web.AppKey[RelayClient] = web.AppKey("relays", RelayClient)
