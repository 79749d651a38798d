"""The agent's main loop: hold the control WebSocket to a hub and publish only when told to.

The owner is told (a WARNING log line, then an optional hook) that someone is watching before the source is
even opened, so no frame leaves before they know (invariant 3). Losing the control channel stops publishing:
video flows only while the hub that asked for it can also tell us to stop.

The owner's privacy masks are kept in memory across reconnects and applied to every frame until the hub sends
others; a malformed masks message changes nothing. Snapshots are answered off the control worker.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import aiohttp

from device_agent import control
from device_agent.config import AgentConfig
from device_agent.endpoints import control_url, hub_label
from device_agent.masks import LiveMasks, MaskSet
from device_agent.publication import Publication
from device_agent.snapshot import Snapshots, grab_still
from device_agent.stamp import Image
from device_agent.watching import WatchLog

logger = logging.getLogger(__name__)

WatchingHook = Callable[[int], Awaitable[None]]
HEARTBEAT = 10.0
_CONNECT_TIMEOUT = aiohttp.ClientTimeout(total=None, connect=10, sock_connect=5)
_REJECTED = {401: "bad device token", 403: "device token not allowed for this camera", 404: "unknown camera"}


class Agent:
    """One camera's agent. `run(shutdown)` returns after `shutdown` is set and everything is closed."""

    def __init__(self, config: AgentConfig, on_watching: WatchingHook | None = None) -> None:
        self._config = config
        self._on_watching = on_watching
        self._rtc_config = config.rtc_configuration()
        self._lock = asyncio.Lock()  # start and stop never interleave
        self._publication: Publication | None = None
        self._hub: str = config.hubs[0]
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._session: aiohttp.ClientSession | None = None
        self._shutting_down = False
        self._teardowns: set[asyncio.Future[None]] = set()
        self._replies: set[asyncio.Task[None]] = set()  # confirmations sent from the frame path
        self.watching = WatchLog(config.camera_id, config.on_watch)
        self.masks = LiveMasks(self._masks_applied)
        self._snapshots = Snapshots(config.camera_id, self._still, self._send)

    @property
    def publishing(self) -> bool:
        """True while a WHIP session is established."""
        return self._publication is not None

    async def run(self, shutdown: asyncio.Event) -> None:
        """Connect, obey the hub, reconnect with backoff; on `shutdown`, stop publishing and close."""
        async with aiohttp.ClientSession(timeout=_CONNECT_TIMEOUT) as session:
            self._session = session
            loop_task = asyncio.create_task(self._connect_loop(), name="porchlight-agent-control")
            stop_task = asyncio.create_task(shutdown.wait())
            try:
                await asyncio.wait({loop_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                self._shutting_down = True
                stop_task.cancel()
                loop_task.cancel()
                for result in await asyncio.gather(loop_task, stop_task, return_exceptions=True):
                    if isinstance(result, Exception):
                        logger.error("camera %s: control loop crashed", self._config.camera_id, exc_info=result)
                await self._stop_publishing("agent shutting down")
                await asyncio.gather(*self._teardowns, *self._replies, return_exceptions=True)
                await self.watching.close()
                self._session = None
        logger.info("camera %s: agent stopped", self._config.camera_id)

    async def _connect_loop(self) -> None:
        """Forever: connect to the next hub, serve it until the connection ends, back off."""
        backoff = control.Backoff(cap=self._config.max_backoff)
        index = 0
        while True:
            self._hub = self._config.hubs[index % len(self._config.hubs)]
            try:
                if await self._connect_once():
                    backoff.reset()
            except Exception:
                logger.exception("camera %s: unexpected error on the control channel", self._config.camera_id)
            index += 1  # on failure or loss, try the next hub in order
            delay = backoff.next()
            logger.info("camera %s: reconnecting in %.1f s", self._config.camera_id, delay)
            await asyncio.sleep(delay)

    async def _connect_once(self) -> bool:
        """One connection to `self._hub`; True if it was established (so the backoff starts over)."""
        assert self._session is not None
        camera, hub = self._config.camera_id, hub_label(self._hub)
        headers = {"Authorization": f"Bearer {self._config.token}"}
        try:
            ws = await self._session.ws_connect(
                control_url(self._hub, camera), headers=headers, heartbeat=HEARTBEAT, autoping=True
            )
        except aiohttp.WSServerHandshakeError as exc:
            if exc.status in _REJECTED:
                logger.error(
                    "camera %s: hub %s refused the control channel: HTTP %d (%s)",
                    camera,
                    hub,
                    exc.status,
                    _REJECTED[exc.status],
                )
            else:
                logger.warning("camera %s: hub %s answered HTTP %d", camera, hub, exc.status)
            return False
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            logger.warning("camera %s: cannot reach hub %s: %s", camera, hub, type(exc).__name__)
            return False
        async with ws:
            self._ws = ws
            # Messages are obeyed in order by a worker, so this task keeps reading (and answering the hub's
            # pings) while a slow source or WHIP handshake is under way.
            inbox: asyncio.Queue[str] = asyncio.Queue()
            worker = asyncio.create_task(self._obey(inbox), name="porchlight-agent-obey")
            try:
                logger.info("camera %s: control channel open to %s", camera, hub)
                await self._send_state()
                await self._serve(ws, inbox)
                logger.warning("camera %s: control channel to %s closed (code %s)", camera, hub, ws.close_code)
            finally:
                worker.cancel()
                await asyncio.wait([worker])
                await self._snapshots.close()  # before stopping: a one-off capture holds the publishing lock
                # Video flows only while the hub can tell us to stop; on shutdown, report before closing.
                await self._stop_publishing("agent shutting down" if self._shutting_down else "control channel closed")
                self.watching.clear()  # without the hub we cannot know who still watches
                self._ws = None
        return True

    async def _serve(self, ws: aiohttp.ClientWebSocketResponse, inbox: asyncio.Queue[str]) -> None:
        """Queue the hub's text messages until the WebSocket closes."""
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                inbox.put_nowait(str(msg.data))
            elif msg.type == aiohttp.WSMsgType.ERROR:
                logger.warning("camera %s: control channel error", self._config.camera_id)
                return
            else:
                logger.info("camera %s: ignoring a non-text control frame", self._config.camera_id)

    async def _obey(self, inbox: asyncio.Queue[str]) -> None:
        """Handle queued messages one at a time; an unexpected error is logged and the next message handled."""
        while True:
            text = await inbox.get()
            try:
                await self._handle(text)
            except Exception:
                logger.exception("camera %s: failed to handle a control message", self._config.camera_id)

    async def _handle(self, text: str) -> None:
        camera = self._config.camera_id
        try:
            message = control.parse_message(text)
        except control.MalformedMessage as exc:
            if exc.kind == "masks":
                # Fail closed: the masks in force stay in force.
                logger.error("camera %s: %s; still applying masks version %s", camera, exc, self.masks.current.version)
            else:
                logger.warning("camera %s: ignoring a malformed control message: %s", camera, exc)
            return
        match message:
            case control.Hello(camera_id=hub_camera):
                logger.info("camera %s: hub says hello", camera)
                if hub_camera is not None and hub_camera != camera:
                    logger.warning("camera %s: hub greeted camera %s instead", camera, hub_camera)
            case control.Publish(watchers=watchers, viewers=viewers):
                self.watching.update(viewers)  # the owner hears who, before anything is captured
                await self._start_publishing(watchers)
            case control.Watchers(watchers=watchers, viewers=viewers):
                self.watching.update(viewers)
                logger.info("camera %s: %d officer(s) watching", camera, watchers)
            case control.Stop(reason=reason):
                self.watching.clear()
                if self._publication is None:
                    logger.info("camera %s: hub asked to stop (%s); not publishing", camera, reason)
                await self._stop_publishing(f"hub asked: {reason}")
            case control.Masks(version=version, masks=masks):
                logger.info("camera %s: %d privacy mask(s), version %d", camera, len(masks), version)
                # No await between the swap and reading `publishing`: _stop_publishing cannot run in between.
                self.masks.replace(MaskSet(version, masks), producing=self._publication is not None)
            case control.Snapshot(id=request_id):
                await self._snapshots.request(request_id)
            case control.Unknown(type=kind):
                logger.info("camera %s: ignoring unknown control message type %s", camera, kind)

    async def _send_state(self) -> None:
        await self._send(control.state_message(self.publishing))

    async def _send(self, text: str) -> None:
        """Send one message to the hub if connected; a lost connection is logged, not raised."""
        ws = self._ws
        if ws is None or ws.closed:
            return
        try:
            await ws.send_str(text)
        except (aiohttp.ClientError, ConnectionError) as exc:
            logger.info("camera %s: could not reach the hub: %s", self._config.camera_id, type(exc).__name__)

    def _masks_applied(self, version: int) -> None:
        """Called from the frame path once frames carry masks `version`: confirm without holding the frame up."""
        logger.info("camera %s: masks version %d applied to every frame from now on", self._config.camera_id, version)
        reply = asyncio.create_task(self._send(control.masks_applied_message(version)))
        self._replies.add(reply)
        reply.add_done_callback(self._replies.discard)

    async def _still(self) -> Image:
        """A raw picture for a snapshot: from the running capture, else from the source opened briefly."""
        async with self._lock:
            publication = self._publication
            if publication is None:
                # Under the lock, so a "publish" waits for the source to close instead of opening it twice.
                config = self._config
                return await grab_still(config.source, config.width, config.height, config.display_name)
        return await publication.track.still()  # outside the lock: a "stop" never waits for a frame

    async def _start_publishing(self, watchers: int) -> None:
        """Tell the owner, then open the source and publish; a no-op if already publishing."""
        camera = self._config.camera_id
        async with self._lock:
            if self._publication is not None:
                logger.info("camera %s: already publishing (%d watching)", camera, watchers)
                return
            if watchers < 1:
                logger.warning("camera %s: ignoring publish with nobody watching", camera)
                return
            # The owner hears about it before anything is captured, let alone sent.
            logger.warning("camera %s: %d officer(s) watching; starting to publish", camera, watchers)
            if not await self._notify_owner(watchers):
                return
            publication = await Publication.open(self._config, self._hub, self._rtc_config, self._session, self.masks)
            if publication is None:
                return
            self._publication = publication
            publication.watcher = asyncio.create_task(self._watch(publication))
            logger.info(
                "camera %s: publishing started (%s, %s, %d fps)",
                camera,
                self._config.source.label,
                self._config.codec,
                self._config.fps,
            )
        await self._send_state()

    async def _notify_owner(self, watchers: int) -> bool:
        if self._on_watching is None:
            return True
        try:
            await self._on_watching(watchers)
        except Exception:
            # Fail closed: if the owner may not have been told, nothing is sent.
            logger.exception("camera %s: watching hook failed; not publishing", self._config.camera_id)
            return False
        return True

    async def _watch(self, publication: Publication) -> None:
        """Stop publishing if the WebRTC connection or the source dies under us."""
        await publication.ended()
        if self._publication is publication:
            await self._stop_publishing("connection or source failed")

    async def _stop_publishing(self, reason: str) -> None:
        """Stop sending, DELETE the WHIP session, close the source; a no-op if not publishing."""
        async with self._lock:
            publication, self._publication = self._publication, None
            if publication is None:
                return
            publication.track.enabled = False  # not one more frame, even while the DELETE is in flight
            self.masks.idle()  # so masks not yet carried by a frame are in force for all there will be
            if publication.watcher is not None and publication.watcher is not asyncio.current_task():
                publication.watcher.cancel()
            # Shielded and tracked: a cancelled caller must not cut the DELETE short, and `run` waits for it.
            teardown = asyncio.ensure_future(publication.close(self._config.camera_id, reason))
            self._teardowns.add(teardown)
            teardown.add_done_callback(self._teardowns.discard)
            await asyncio.shield(teardown)
        await self._send_state()
