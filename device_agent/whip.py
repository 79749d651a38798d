"""A WHIP (RFC 9725) publisher: one send-only video session with the hub.

The offer carries every ICE candidate (aiortc gathers them all in setLocalDescription), so there is no
trickle; the answer comes back in the 201 response, whose Location is the session resource to DELETE at the
end. A publisher is single use: start it once, stop it once (stop is idempotent).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Literal

import aiohttp
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.rtcrtpparameters import RTCRtpCodecCapability
from yarl import URL

from device_agent.endpoints import endpoint

logger = logging.getLogger(__name__)

Codec = Literal["vp8", "h264"]
MAX_REDIRECTS = 3
REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=10)
_MIME = {"vp8": "video/vp8", "h264": "video/h264"}


class WhipError(Exception):
    """The hub refused or botched a WHIP exchange. `status` is None when there was no usable response."""

    def __init__(self, status: int | None, reason: str | None) -> None:
        self.status = status
        self.reason = reason
        super().__init__(f"WHIP request failed: HTTP {status}: {reason or 'no reason given'}")


def codec_preferences(codec: Codec) -> list[RTCRtpCodecCapability]:
    """The sender's capabilities, `codec` first (every profile of it), then the other, then RTX for
    retransmissions: the hub takes its own preferred codec when offered, so an agent works with any hub."""
    capabilities = RTCRtpSender.getCapabilities("video").codecs
    ranked = [_MIME[codec], *(mime for mime in _MIME.values() if mime != _MIME[codec])]
    chosen = [c for mime in ranked for c in capabilities if c.mimeType.lower() == mime]
    if not any(c.mimeType.lower() == _MIME[codec] for c in chosen):
        raise ValueError(f"aiortc cannot send {codec}")
    return chosen + [c for c in capabilities if c.mimeType.lower() == "video/rtx"]


async def _reason(response: aiohttp.ClientResponse) -> str | None:
    """The "reason" or "error" of a JSON error body, else the HTTP reason phrase; never more than 200 chars."""
    try:
        body = json.loads(await response.text())
    except (ValueError, UnicodeDecodeError, aiohttp.ClientError):
        body = None
    reason = body.get("reason") or body.get("error") if isinstance(body, dict) else None
    text = str(reason) if reason is not None else response.reason
    return text[:200] if text else None


class WhipPublisher:
    """Publishes one video track to `{hub_url}/whip/{camera_id}` with a bearer token."""

    def __init__(
        self,
        hub_url: str,
        camera_id: str,
        token: str,
        rtc_config: RTCConfiguration,
        codec: Codec = "vp8",
        *,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self._endpoint = endpoint(hub_url, "whip", camera_id)
        self._camera_id = camera_id
        self._token = token
        self._rtc_config = rtc_config
        self._codec: Codec = codec
        self._session = session
        self._owns_session = session is None
        self._pc: RTCPeerConnection | None = None
        self._resource: URL | None = None
        self._stopping: asyncio.Task[None] | None = None
        self.ended = asyncio.Event()  # set when the connection fails or closes under us

    @property
    def resource(self) -> str | None:
        """The session resource URL once the hub has accepted the offer."""
        return str(self._resource) if self._resource else None

    @property
    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"}

    async def start(self, track: MediaStreamTrack, audio: MediaStreamTrack | None = None) -> None:
        """Offer `track` send-only with the configured codec (and `audio`, if given, as Opus) and apply the hub's
        answer; WhipError if refused."""
        if self._pc is not None or self._stopping is not None:
            raise RuntimeError("a WhipPublisher is single use")
        if self._session is None:
            self._session = aiohttp.ClientSession()
        pc = self._pc = RTCPeerConnection(configuration=self._rtc_config)
        pc.on("connectionstatechange", self._on_connection_state)
        try:
            transceiver = pc.addTransceiver(track, direction="sendonly")
            transceiver.setCodecPreferences(codec_preferences(self._codec))
            if audio is not None:
                pc.addTransceiver(audio, direction="sendonly").setCodecPreferences(
                    [c for c in RTCRtpSender.getCapabilities("audio").codecs if c.mimeType.lower() == "audio/opus"]
                )
            await pc.setLocalDescription(await pc.createOffer())
            answer = await self._post_offer(pc.localDescription.sdp)
            await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        except BaseException:
            await self.stop()  # DELETE whatever the hub created and close the connection
            raise
        logger.debug("camera %s: WHIP session accepted", self._camera_id)

    async def _post_offer(self, offer: str) -> str:
        """POST the offer, following up to MAX_REDIRECTS 307/308 redirects; returns the answer SDP."""
        session = self._session
        assert session is not None
        url = self._endpoint
        headers = {**self._headers, "Content-Type": "application/sdp"}
        for _ in range(MAX_REDIRECTS + 1):
            async with session.post(
                url, data=offer.encode(), headers=headers, allow_redirects=False, timeout=REQUEST_TIMEOUT
            ) as response:
                location = response.headers.get("Location")
                if response.status in (307, 308):
                    url = self._redirect(url, location, response.status)
                    continue
                if response.status != 201:
                    raise WhipError(response.status, await _reason(response))
                if not location:
                    raise WhipError(201, "answer without a Location header")
                # Record the resource first so a failure below still DELETEs it.
                self._resource = url.join(URL(location))
                answer = await response.text()
                if not answer.startswith("v=0"):
                    raise WhipError(201, "answer is not an SDP")
                return answer
        raise WhipError(None, f"more than {MAX_REDIRECTS} redirects")

    def _redirect(self, url: URL, location: str | None, status: int) -> URL:
        if not location:
            raise WhipError(status, "redirect without a Location header")
        target = url.join(URL(location))
        if url.scheme == "https" and target.scheme != "https":
            # Never send the bearer token in clear because a redirect said so.
            raise WhipError(status, "refusing a redirect from https to plain http")
        logger.info("camera %s: WHIP endpoint redirected (HTTP %d)", self._camera_id, status)
        return target

    def _on_connection_state(self) -> None:
        pc = self._pc
        if pc is not None and pc.connectionState in ("failed", "closed") and self._stopping is None:
            logger.warning("camera %s: WebRTC connection %s", self._camera_id, pc.connectionState)
            self.ended.set()

    async def stop(self) -> None:
        """Close the connection and DELETE the session resource (404 is fine); safe to call repeatedly."""
        if self._stopping is None:
            self._stopping = asyncio.ensure_future(self._stop())
        await asyncio.shield(self._stopping)

    async def _stop(self) -> None:
        try:
            if self._pc is not None:
                await self._pc.close()  # first, so no media leaves even if the DELETE hangs
            if self._resource is not None and self._session is not None:
                await self._delete(self._session, self._resource)
        finally:
            self.ended.set()
            if self._owns_session and self._session is not None:
                await self._session.close()

    async def _delete(self, session: aiohttp.ClientSession, resource: URL) -> None:
        try:
            async with session.delete(resource, headers=self._headers, timeout=REQUEST_TIMEOUT) as response:
                if response.status == 404:
                    logger.debug("camera %s: WHIP session already gone", self._camera_id)
                elif response.status >= 300:
                    logger.warning("camera %s: WHIP DELETE answered HTTP %d", self._camera_id, response.status)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            logger.warning("camera %s: WHIP DELETE failed: %s", self._camera_id, type(exc).__name__)
