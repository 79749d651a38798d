"""The agent's main loop: hold the control WebSocket to a hub and publish only when told to.

The owner is told (a WARNING log line, then an optional hook) that someone is watching before the source is
even opened, so no frame leaves before they know (invariant 3). Losing the control channel stops publishing:
video flows only while the hub that asked for it can also tell us to stop.

The owner's privacy masks are kept in memory across reconnects and applied to every frame until the hub sends
others; a malformed masks message changes nothing. Snapshots are answered off the control worker.

The owner can pause the camera at the device, with no hub and no log-in (`porchlight-agent pause` over the local
socket, or a button through `--button-command`): the running track stops producing at once (it reads the pause
before every frame), the WHIP session is torn down, and only then is the hub told (`paused`, also on every
connect while paused), which withdraws the camera's consent on the record. While paused, "publish" is refused and
no snapshot is taken. The pause survives restarts (device_agent.pause). Resuming only makes the camera able to
publish again: the hub withdrew the consent, so the owner must opt in again before anyone can watch.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import aiohttp

from device_agent import control
from device_agent.audio_source import AudioPermission, audio_allowed_in
from device_agent.button import ButtonHook
from device_agent.config import AgentConfig
from device_agent.endpoints import control_url, hub_label
from device_agent.local_socket import LocalControlServer
from device_agent.masks import LiveMasks, MaskSet
from device_agent.on_request import RequestHook
from device_agent.pause import PauseError, PauseState
from device_agent.publication import Publication
from device_agent.snapshot import SnapshotError, Snapshots, grab_still
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
        self.requests = RequestHook(config.camera_id, config.on_request)
        self.pause = PauseState(config.pause_file)
        self.pause.listen(self._pause_changed)
        self.masks = LiveMasks(self._masks_applied)
        # Whether the hub says the camera's grant allows audio (only matters with --audio-source).
        self.audio = AudioPermission()
        self._snapshots = Snapshots(config.camera_id, self._still, self._send)

    @property
    def publishing(self) -> bool:
        """True while a WHIP session is established."""
        return self._publication is not None

    @property
    def paused(self) -> bool:
        """True while the owner has paused the camera at the device."""
        return self.pause.paused

    async def run(self, shutdown: asyncio.Event) -> None:
        """Connect, obey the hub, reconnect with backoff; on `shutdown`, stop publishing and close.

        The local control socket is opened first (OSError, e.g. `SocketInUse`, if it cannot be): the owner's pause
        works before, and without, any hub."""
        camera = self._config.camera_id
        if self.paused:
            logger.warning("camera %s: paused at the camera (since before this start): publishing nothing", camera)
        local = None
        if self._config.socket_path is not None:
            local = LocalControlServer(self._config.socket_path, self.local_command)
            await local.start()
            logger.info("camera %s: local control socket ready", camera)
        async with aiohttp.ClientSession(timeout=_CONNECT_TIMEOUT) as session:
            self._session = session
            loop_task = asyncio.create_task(self._connect_loop(), name="porchlight-agent-control")
            stop_task = asyncio.create_task(shutdown.wait())
            tasks = {loop_task, stop_task}
            if self._config.button_command:
                button = ButtonHook(camera, self._config.button_command, self._press, self._config.max_backoff)
                tasks.add(asyncio.create_task(button.run(), name="porchlight-agent-button"))
            try:
                await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            finally:
                self._shutting_down = True
                for task in tasks:
                    task.cancel()
                for result in await asyncio.gather(*tasks, return_exceptions=True):
                    if isinstance(result, Exception):
                        logger.error("camera %s: agent task crashed", camera, exc_info=result)
                if local is not None:
                    await local.close()
                await self._stop_publishing("agent shutting down")
                await asyncio.gather(*self._teardowns, *self._replies, return_exceptions=True)
                await self.watching.close()
                await self.requests.close()
                self._session = None
        logger.info("camera %s: agent stopped", camera)

    # -- the owner's pause ---------------------------------------------------------------------------------

    async def local_command(self, command: str) -> dict[str, object]:
        """A command from the local socket (pause, resume, toggle, status); the state after it."""
        persisted = True
        if command != "status":
            paused = not self.paused if command == "toggle" else command == "pause"
            persisted = self.set_paused(paused, "the local socket")
        await asyncio.sleep(0)  # let the stop begin, so `publishing` below is current where it can be
        return {"camera": self._config.camera_id, "paused": self.paused, "publishing": self.publishing,
                "persisted": persisted}  # fmt: skip

    async def _press(self, word: str) -> None:
        """A line from the button command: pause, resume or toggle."""
        paused = not self.paused if word == "toggle" else word == "pause"
        self.set_paused(paused, "the button")

    def set_paused(self, paused: bool, via: str) -> bool:
        """Pause or resume now (the capture loop sees it at its next frame); False if it could not be kept in the
        state file, in which case it holds only until the agent stops (logged)."""
        try:
            changed = self.pause.set(paused)
        except PauseError as exc:
            logger.error("camera %s: %s; the pause holds only until the agent stops", self._config.camera_id, exc)
            return False
        if not changed:
            logger.info("camera %s: already %s (%s)", self._config.camera_id, "paused" if paused else "resumed", via)
        return True

    def _pause_changed(self, paused: bool) -> None:
        """Called as the flag changes, before anything is awaited: the running track stops producing at once."""
        camera = self._config.camera_id
        if paused:
            publication = self._publication
            if publication is not None:
                publication.track.enabled = False  # not one more frame, before anything else happens
            logger.warning("camera %s: paused at the camera: publishing nothing until resumed here", camera)
            self._background(self._stop_publishing("paused at the camera"))
            self._background(self._send(control.paused_message()))
        else:
            logger.warning(
                "camera %s: resumed at the camera: it publishes again only once its owner opts in again", camera
            )
            self._background(self._send(control.resumed_message()))

    def _background(self, job: Coroutine[Any, Any, None]) -> None:
        """Run `job` as a task that `run` waits for before it returns."""
        task = asyncio.ensure_future(job)
        self._replies.add(task)
        task.add_done_callback(self._replies.discard)

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
                if self.paused:
                    await self._send(control.paused_message())  # a hub that missed it withdraws now
                await self._serve(ws, inbox)
                logger.warning("camera %s: control channel to %s closed (code %s)", camera, hub, ws.close_code)
            finally:
                worker.cancel()
                await asyncio.wait([worker])
                await self._snapshots.close()  # before stopping: a one-off capture holds the publishing lock
                self.audio.set(False)  # without the hub's word, no audio
                # Video flows only while the hub can tell us to stop; on shutdown, report before closing.
                await self._stop_publishing("agent shutting down" if self._shutting_down else "control channel closed")
                self.watching.clear()  # without the hub we cannot know who still watches
                self._ws = None
        return True

    async def _serve(self, ws: aiohttp.ClientWebSocketResponse, inbox: asyncio.Queue[str]) -> None:
        """Queue the hub's text messages until the WebSocket closes."""
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                # Audio on or off takes effect at once, never queued behind a slow handshake.
                allowed = audio_allowed_in(str(msg.data))
                if allowed is None:
                    inbox.put_nowait(str(msg.data))
                elif self.audio.set(allowed) and self._config.audio_source is not None:
                    said = "shares" if allowed else "stopped sharing"
                    logger.warning("camera %s: the owner %s audio", self._config.camera_id, said)
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
            case control.Request() as request:
                self.requests.arrived(request)
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
        """A raw picture for a snapshot: from the running capture, else from the source opened briefly; none
        while paused at the camera."""
        if self.paused:
            raise SnapshotError("paused at the camera")
        image = await self._capture_still()
        if self.paused:  # paused while the picture was being taken: it stays here
            raise SnapshotError("paused at the camera")
        return image

    async def _capture_still(self) -> Image:
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
            if self.paused:
                logger.warning("camera %s: the hub asked to publish; refused: paused at the camera", camera)
                return
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
            publication = await Publication.open(
                self._config, self._hub, self._rtc_config, self._session, self.masks, self.pause, self.audio
            )
            if publication is None:
                return
            if self.paused:  # paused during the handshake: its track produced nothing, and it goes now
                publication.track.enabled = False
                await publication.close(camera, "paused at the camera")
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
