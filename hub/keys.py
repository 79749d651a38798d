"""Typed keys for the objects shared through the aiohttp application."""

from __future__ import annotations

from aiohttp import web
from aiortc import RTCConfiguration

from hub.audit.log import AuditLog
from hub.auth.throttle import Throttle
from hub.clock import Clock
from hub.cluster.base import ClusterState
from hub.config import Config
from hub.consent.actions import ConsentActions
from hub.consent.registry import GateRegistry
from hub.live import LiveEvents
from hub.media.streams import StreamManager
from hub.metrics import Metrics
from hub.routing.base import Router
from hub.store.base import Store

CONFIG = web.AppKey("config", Config)
STORE = web.AppKey("store", Store)
REGISTRY = web.AppKey("registry", GateRegistry)
STREAMS = web.AppKey("streams", StreamManager)
METRICS = web.AppKey("metrics", Metrics)
RTC = web.AppKey("rtc_configuration", RTCConfiguration)
ROUTER = web.AppKey("router", Router)
AUDIT = web.AppKey("audit", AuditLog)
CLOCK = web.AppKey("clock", Clock)
LIVE = web.AppKey("live", LiveEvents)
THROTTLE = web.AppKey("throttle", Throttle)
ACTIONS = web.AppKey("consent_actions", ConsentActions)
CLUSTER = web.AppKey("cluster", ClusterState)  # every hub's live views and agents (hub/cluster)
