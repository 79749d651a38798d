"""Prometheus metrics, one registry per app (no module-level state), served at /metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, ProcessCollector, generate_latest

from hub.consent.decision import Reason


class Metrics:
    """The hub's counters and gauges."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        # process_open_fds, process_resident_memory_bytes and the like: what a leak would show first.
        ProcessCollector(registry=self.registry)
        self.refusals = Counter(
            "porchlight_refusals_total",
            "Requests turned away by a limit (rate_limited, busy) before any work was done for them.",
            ["reason"],
            registry=self.registry,
        )
        self.frames = Counter(
            "porchlight_frames_total",
            "Frames the consent gate decided on, by decision reason (ok = forwarded).",
            ["reason"],
            registry=self.registry,
        )
        self.audio_packets = Counter(
            "porchlight_audio_packets_total",
            "Audio packets the consent gate decided on, by decision reason (ok = forwarded; audio_off = the grant "
            "has no audio, the view goes on).",
            ["reason"],
            registry=self.registry,
        )
        self.viewers = Gauge("porchlight_viewers", "Viewer sessions open now.", registry=self.registry)
        self.publishers = Gauge("porchlight_publishers", "Cameras publishing to this hub now.", registry=self.registry)
        self.lease_renewals_missed = Counter(
            "porchlight_lease_renewals_missed_total",
            "Polls of the store that did not renew the consent lease (the store did not answer in time); each gate "
            "closes once the lease runs out.",
            registry=self.registry,
        )
        self.clock_offset = Gauge(
            "porchlight_clock_offset_seconds",
            "How far the store's clock (Redis TIME) is ahead of this hub's, measured at each lease renewal.",
            registry=self.registry,
        )
        self.agents = Gauge(
            "porchlight_agents_connected", "Camera agents on the control channel.", registry=self.registry
        )
        self.denials = Counter(
            "porchlight_denials_total",
            "Requests to watch refused, by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.keyframe_requests = Counter(
            "porchlight_keyframe_requests_total",
            "Keyframe requests (RTCP PLI) sent to cameras, after rate limiting.",
            registry=self.registry,
        )
        self.keyframes_wanted = Counter(
            "porchlight_keyframes_wanted_total",
            "Viewers' needs for a keyframe, by cause (join, resume, behind, viewer PLI/FIR), before rate limiting.",
            ["cause"],
            registry=self.registry,
        )
        self.offer_refusals = Counter(
            "porchlight_offer_refusals_total",
            "WHIP and WHEP offers refused, by endpoint and reason (codec_unsupported, device_token_invalid, ...).",
            ["endpoint", "reason"],
            registry=self.registry,
        )
        self.handshake_failures = Counter(
            "porchlight_handshake_failures_total",
            "WebRTC handshakes that failed after the answer, by endpoint and stage (ice, dtls, timeout).",
            ["endpoint", "stage"],
            registry=self.registry,
        )
        self.unusable_streams = Counter(
            "porchlight_unusable_streams_total",
            "WHIP sessions ended because their video turned out to be one viewers cannot decode.",
            registry=self.registry,
        )
        self.relays = Gauge(
            "porchlight_relays",
            "Relays between hubs open now, by this hub's role: owner (sends a camera it streams to another hub) or "
            "asking (receives a camera another hub streams, for its own viewers).",
            ["role"],
            registry=self.registry,
        )
        self.relay_failures = Counter(
            "porchlight_relay_failures_total",
            "Relays this hub asked for and could not open, by reason (the owning hub's refusal such as "
            "peer_auth_failed, unreachable, bad_answer), and relays lost while its viewers watched (lost: the "
            "connection failed or the owning hub closed it; silent: it carried no frame for media.silence_seconds).",
            ["reason"],
            registry=self.registry,
        )
        for role in ("owner", "asking"):
            self.relays.labels(role)  # exported as 0 from the start: "no relay" is a reading, not a gap
        # Label children are created once, so the per-frame count is a plain attribute call.
        self._frame_children = {reason: self.frames.labels(reason.value) for reason in Reason}
        self._audio_children = {reason: self.audio_packets.labels(reason.value) for reason in Reason}

    def watch_audit(self, records: Callable[[], int], pending: Callable[[], int]) -> None:
        """Gauges read from the audit log when scraped: its size as this hub knows it, and records not yet written
        (above zero for long means the audit store is refusing writes)."""
        size = Gauge("porchlight_audit_records", "Records in the audit log (this hub's view).", registry=self.registry)
        size.set_function(records)
        queued = Gauge("porchlight_audit_pending", "Audit records queued, not yet durable.", registry=self.registry)
        queued.set_function(pending)

    def watch_peers(self, peers: Callable[[], int]) -> None:
        """Gauges read when scraped: the peer connections the hub holds, and its asyncio tasks (both return to
        their idle level when sessions end; a climb that never falls is a leak)."""
        open_peers = Gauge("porchlight_peer_connections", "WebRTC peer connections open now.", registry=self.registry)
        open_peers.set_function(peers)
        tasks = Gauge("porchlight_asyncio_tasks", "asyncio tasks alive in the hub.", registry=self.registry)
        tasks.set_function(lambda: len(asyncio.all_tasks()))

    def keyframe_wanted(self, cause: str) -> None:
        """Count one viewer's need for a keyframe."""
        self.keyframes_wanted.labels(cause).inc()

    def count_frame(self, reason: Reason) -> None:
        """Count one gate decision on the frame path."""
        self._frame_children[reason].inc()

    def count_audio(self, reason: Reason, packets: int = 1) -> None:
        """Count the gate's decision on `packets` audio packets (a refusal drops those queued with it)."""
        self._audio_children[reason].inc(packets)

    def render(self) -> web.Response:
        """The text exposition format."""
        response = web.Response(body=generate_latest(self.registry))
        response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
        return response
