"""What this hub serves, as the cluster keeps it, and acting on this hub's own views when another hub asks."""

from __future__ import annotations

from hub.cluster.base import LiveView, Match
from hub.consent.registry import GateRegistry
from hub.media.relay_client import RelayPublisher
from hub.media.streams import CameraStream, StreamManager
from hub.media.viewer import Viewer


def live_view(viewer: Viewer, node: str) -> LiveView:
    """One of this hub's viewers as the cluster lists it."""
    actor = viewer.actor or {}
    case = viewer.purpose.get("case")
    return LiveView(
        id=viewer.id,
        camera=viewer.camera_id,
        account=viewer.account_id,
        officer=None if actor.get("username") is None else str(actor["username"]),
        agency=None if actor.get("agency") is None else str(actor["agency"]),
        case=None if case is None else str(case),
        started=viewer.started_at,
        node=node,
        view=viewer.view_id,
        actor=dict(viewer.actor) if viewer.actor is not None else None,
    )


def views_here(streams: StreamManager, node: str) -> list[LiveView]:
    """This hub's live views, oldest first."""
    viewers = sorted(streams.live_viewers(), key=lambda viewer: viewer.started_at)
    return [live_view(viewer, node) for viewer in viewers if not viewer.ended]


def agent_status(stream: CameraStream) -> str | None:
    """What this hub's agent (or WHIP publisher) of the camera is doing, or None if it has none here."""
    if stream.control is not None and stream.control.paused:
        return "paused"  # its owner paused it at the device (porchlight-agent pause, a button)
    publisher = stream.publisher
    if isinstance(publisher, RelayPublisher):
        publisher = None  # another hub's relay of it: its agent is there, and that hub says how it is
    if publisher is not None:
        return "streaming" if publisher.receiving else "connecting"
    return "idle" if stream.control is not None else None


def agents_here(streams: StreamManager) -> dict[str, str]:
    """Camera id -> status of every agent (or publisher) on this hub."""
    statuses = {camera_id: agent_status(streams.stream(camera_id)) for camera_id in streams.device_cameras()}
    return {camera_id: status for camera_id, status in statuses.items() if status is not None}


def matches(viewer: Viewer, match: Match) -> bool:
    """Whether `match` names this viewer by its criteria (its id is checked apart)."""
    if not match.criteria:
        return False
    return (
        (match.camera is None or viewer.camera_id == match.camera)
        and (match.account is None or viewer.account_id == match.account)
        and (match.session is None or viewer.officer.session_hash == match.session)
    )


async def end_here(
    streams: StreamManager,
    registry: GateRegistry,
    match: Match,
    reason: str,
    *,
    note: str | None = None,
    at: float | None = None,
) -> list[str]:
    """End this hub's views that `match` names (another hub asked); the ids of those ended now and of the listed
    ones that had ended already (by this hub's own gate, say, when the change reached it first)."""
    if match.bar and match.camera is not None and match.account is not None:
        registry.bar(match.camera, match.account)  # before anything is awaited: no frame or join of theirs here
    ending = [v for v in streams.live_viewers() if v.id in match.ids or matches(v, match)]
    ended_before = [
        viewer.id for viewer in map(streams.viewer, sorted(match.ids)) if viewer is not None and viewer.ended
    ]
    for viewer in ending:
        await streams.end_viewer(viewer, reason, at, note)
    return sorted({*ended_before, *(viewer.id for viewer in ending)})
