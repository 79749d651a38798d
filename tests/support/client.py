"""Test-side clients: a logged-in API session and a real aiortc WHEP viewer that reads capture stamps."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError
from yarl import URL

from device_agent.stamp import read_stamp
from tests.support.secrets import SECRETS


class Api:
    """An HTTP session logged in as one account (cookie jar that accepts 127.0.0.1 cookies)."""

    def __init__(self, base: str) -> None:
        self.base = base
        # No cap on connections: each viewer holds its event stream open, and aiohttp's default of 100 made the 101st
        # viewer's offer wait for one to close (bench.fanout's workers at 125 viewers each never got ready).
        self.http = aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True), connector=aiohttp.TCPConnector(limit=0)
        )
        self.csrf = ""

    async def login(self, username: str, password: str, code: str | None = None) -> Api:
        body = {"username": username, "password": password, **({"code": code} if code else {})}
        # Issue 8: no log may show the password, nor the session token, CSRF token and cookie of the answer.
        SECRETS.add(password, "password")
        async with self.http.post(f"{self.base}/api/login", json=body) as r:
            assert r.status == 200, await r.text()
            answer = await r.json()
            self.csrf = answer["csrf_token"]
            SECRETS.add_json(answer)
            for morsel in r.cookies.values():
                SECRETS.add(morsel.value, "cookie")
        return self

    @property
    def headers(self) -> dict[str, str]:
        """What a state-changing request of this session carries (the cookie comes from the jar)."""
        return {"X-CSRF-Token": self.csrf}

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.http.request(method, f"{self.base}{path}", json=body, headers=self.headers) as response:
            text = await response.text()
            return response.status, json.loads(text) if text else None

    async def close(self) -> None:
        await self.http.close()


@dataclass
class Frame:
    received_at: float
    stamp_ms: int | None
    image: Any = None  # the decoded picture (BGR ndarray), kept only when the viewer is told to


@dataclass
class Viewer:
    """One WHEP viewer: offers recvonly video, decodes every frame it gets, records capture stamps."""

    api: Api
    camera_id: str
    pc: RTCPeerConnection = field(default_factory=lambda: RTCPeerConnection(RTCConfiguration(iceServers=[])))
    frames: list[Frame] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    location: str | None = None
    status: int | None = None
    error: dict[str, Any] | None = None
    track_ended: asyncio.Event = field(default_factory=asyncio.Event)
    got_end: asyncio.Event = field(default_factory=asyncio.Event)
    new_frame: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    keep_images: bool = False  # keep every decoded picture (for pixel checks; memory grows with the frames)

    async def watch(self, case: str = "CASE-1", reason: str = "test") -> int:
        """POST the offer; on 201 set the answer, start reading frames and the event stream."""
        self.pc.addTransceiver("video", direction="recvonly")

        @self.pc.on("track")
        def on_track(track: Any) -> None:
            self._tasks.append(asyncio.create_task(self._read(track)))

        await self.pc.setLocalDescription(await self.pc.createOffer())
        SECRETS.add_sdp(self.pc.localDescription.sdp)  # ICE passwords must stay out of every log (issue 8)
        url = f"{self.api.base}/whep/{self.camera_id}"
        async with self.api.http.post(
            url,
            params={"case": case, "reason": reason},
            data=self.pc.localDescription.sdp,
            headers={"Content-Type": "application/sdp", **self.api.headers},
        ) as response:
            self.status = response.status
            body = await response.text()
            SECRETS.add_sdp(body)
            if response.status != 201:
                self.error = json.loads(body)
                await self.pc.close()
                return response.status
            # Relative URLs resolve against the final URL: a redirect may have sent us to another hub.
            self.location = str(response.url.join(URL(response.headers["Location"])))
            link = response.links.get("urn:ietf:params:whep:ext:core:server-sent-events")
            events_url = str(response.url.join(URL(str(link["url"])))) if link is not None else None
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=body, type="answer"))
        if events_url is not None:
            self._tasks.append(asyncio.create_task(self._listen(str(events_url))))
        return 201

    async def _read(self, track: Any) -> None:
        try:
            while True:
                frame = await track.recv()
                image = frame.to_ndarray(format="bgr24")
                self.frames.append(Frame(time.time(), read_stamp(image), image if self.keep_images else None))
                self.new_frame.set()
        except MediaStreamError:
            pass
        finally:
            self.track_ended.set()

    async def _listen(self, url: str) -> None:
        async with self.api.http.get(url) as response:
            event_type = None
            async for raw in response.content:
                line = raw.decode().rstrip("\n")
                if line.startswith("event:"):
                    event_type = line.split(":", 1)[1].strip()
                elif line.startswith("data:") and event_type:
                    self.events.append(json.loads(line.split(":", 1)[1]))
                    if event_type == "end":
                        self.got_end.set()

    def stamped(self) -> list[int]:
        return [f.stamp_ms for f in self.frames if f.stamp_ms is not None]

    async def wait_frames(self, count: int, timeout: float = 20.0) -> None:
        async def enough() -> None:
            while len(self.stamped()) < count:
                self.new_frame.clear()
                await self.new_frame.wait()

        try:
            await asyncio.wait_for(enough(), timeout)
        except TimeoutError:
            raise AssertionError(f"viewer got {len(self.stamped())} stamped frames, wanted {count}") from None

    async def wait_end(self, timeout: float = 10.0) -> dict[str, Any]:
        await asyncio.wait_for(self.got_end.wait(), timeout)
        return self.events[-1]

    async def hang_up(self) -> int:
        assert self.location is not None
        async with self.api.http.delete(self.location, headers=self.api.headers) as response:
            return response.status

    async def close(self) -> None:
        await self.pc.close()
        for task in self._tasks:
            task.cancel()
        # Wait for our own tasks without swallowing a cancellation aimed at the caller.
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def close_code(ws: aiohttp.ClientWebSocketResponse, timeout: float = 10.0) -> int | None:
    """Read past a control socket's text messages until the hub closes it; the close code it gave."""
    message = await ws.receive(timeout=timeout)
    while message.type is aiohttp.WSMsgType.TEXT:
        message = await ws.receive(timeout=timeout)
    assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), message
    return message.data if message.type is aiohttp.WSMsgType.CLOSE else ws.close_code
