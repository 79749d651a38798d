"""A viewer's outgoing audio: the camera's Opus packets, each checked by the consent gate's audio check.

Audio is a consent of its own (invariant 5): a packet passes only if the view is admitted (withdrawal, expiry,
pilot end, agency, account, session, fresh state) and the grant allows audio. The decisive check is in `recv`, the
moment aiortc's sender takes the packet to packetize it (a track that returns `av.Packet`s is sent without
encoding): no await between the decision and the hand-off, exactly like video frames in `hub.media.gated_track`.
A refused packet is dropped and the view goes on; only the video track ends a view.

Every packet's final decision is counted (`count`: /metrics' `porchlight_audio_packets_total{reason}`): `ok` as it is
handed to the sender, a refusal's reason for the refused packet and for those still queued, which it drops.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import av
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from hub.consent.decision import Reason
from hub.consent.gate import CameraGate, OfficerPass
from hub.media.audio_tap import AudioPacket

# Half a second of 20 ms packets: a slow viewer loses audio, never grows memory.
QUEUE_PACKETS = 25


class GatedAudioTrack(MediaStreamTrack):
    """Audio for one viewer of one camera, admitted packet by packet."""

    kind = "audio"

    def __init__(
        self,
        gate: CameraGate,
        officer: OfficerPass,
        capacity: int = QUEUE_PACKETS,
        count: Callable[[Reason, int], None] = lambda reason, packets: None,
    ) -> None:
        super().__init__()
        self._gate = gate
        self._officer = officer
        self._count = count
        self._packets: deque[AudioPacket] = deque(maxlen=capacity)
        self._ready = asyncio.Event()
        self.packets_sent = 0  # for the view's audit record
        self.packets_refused = 0

    def offer(self, item: AudioPacket) -> None:
        """Queue a packet from the camera (never blocks; drops the oldest when full). A packet arriving while the
        gate refuses audio is dropped here too, so none captured then goes out once audio is turned on again."""
        if self.readyState != "live":
            return
        reason = self._gate.admit_audio(time.time(), self._officer)
        if reason is not Reason.OK:
            self._refuse(reason)
            return
        self._packets.append(item)
        self._ready.set()

    def stop(self) -> None:
        """End the track and wake a waiting `recv` so the sender finishes."""
        super().stop()
        self._packets.clear()
        self._ready.set()

    async def recv(self) -> av.Packet[Any]:
        """The next admitted packet; raises MediaStreamError once the track has ended."""
        while True:
            while not self._packets:
                if self.readyState != "live":
                    raise MediaStreamError
                self._ready.clear()
                await self._ready.wait()
            if self.readyState != "live":
                raise MediaStreamError
            item = self._packets.popleft()
            reason = self._gate.admit_audio(time.time(), self._officer)
            if reason is Reason.OK:
                self.packets_sent += 1
                self._count(reason, 1)
                return item.packet
            self._refuse(reason)

    def _refuse(self, reason: Reason) -> None:
        # Everything queued was offered before this refusal: none of it may go out after it.
        dropped = 1 + len(self._packets)
        self.packets_refused += dropped
        self._count(reason, dropped)
        self._packets.clear()
