"""The cluster-state interface: every hub's live views and agents, and acting on views wherever they are.

A `LiveView` is one officer's live view as the pages show it (and the hub holding it, `node`). A `Match` names
views to end on the other hubs: listed ids (as this hub last knew them) and/or every live view of a camera, an
account or a log-in session. Ending returns `Ended`: the ids that ended there and whether every hub answered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from hub.timefmt import iso

# What a hub holding a camera's agent says of it (as the admin's camera list words it).
AGENT_STATUSES = ("streaming", "connecting", "paused", "idle")


@dataclass(frozen=True, slots=True)
class LiveView:
    """One live view: who watches which camera since when, for what case, and on which hub."""

    id: str
    camera: str
    account: int
    officer: str | None
    agency: str | None
    case: str | None
    started: float
    node: str
    # The position of its view.started record, and the officer as records name them (for the records another
    # hub writes when it ends this view).
    view: int | None = None
    actor: dict[str, Any] | None = None

    def watching(self) -> dict[str, Any]:
        """As the camera's owner is told (their page, their agent): `hub.media.viewer.Viewer.watching`'s shape."""
        return {"id": self.id, "officer": self.officer, "agency": self.agency, "case": self.case,
                "since": iso(self.started)}  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        """The JSON object kept in the cluster's store."""
        return {
            "id": self.id,
            "camera": self.camera,
            "account": self.account,
            "officer": self.officer,
            "agency": self.agency,
            "case": self.case,
            "started": self.started,
            "node": self.node,
            "view": self.view,
            "actor": self.actor,
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> LiveView:
        """Read one back (ValueError, KeyError or TypeError if it is not one)."""
        actor = value.get("actor")
        view = value.get("view")
        return cls(
            id=str(value["id"]),
            camera=str(value["camera"]),
            account=int(value["account"]),
            officer=_text(value.get("officer")),
            agency=_text(value.get("agency")),
            case=_text(value.get("case")),
            started=float(value["started"]),
            node=str(value["node"]),
            view=int(view) if isinstance(view, int) else None,
            actor=actor if isinstance(actor, dict) else None,
        )


def _text(value: object) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True, slots=True)
class Match:
    """Views to end: those listed (`ids`), and every live view of `camera`, `account` and `session` (those given,
    all of them; none given: the listed ids alone). `bar`: bar `account` from `camera` first, in memory (the
    owner's stop: no view of theirs passes or starts there from then on)."""

    ids: frozenset[str] = frozenset()
    camera: str | None = None
    account: int | None = None
    session: str | None = None
    bar: bool = False

    def to_json(self) -> dict[str, Any]:
        """As a command carries it."""
        return {"ids": sorted(self.ids), "camera": self.camera, "account": self.account, "session": self.session,
                "bar": self.bar}  # fmt: skip

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Match:
        """Read one back from a command (TypeError or ValueError if malformed)."""
        ids, account = value.get("ids") or [], value.get("account")
        camera, session = value.get("camera"), value.get("session")
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise TypeError("ids must be a list of strings")
        return cls(
            frozenset(ids),
            camera if isinstance(camera, str) else None,
            account if isinstance(account, int) else None,
            session if isinstance(session, str) else None,
            value.get("bar") is True,
        )

    @property
    def criteria(self) -> bool:
        """Whether it names views by camera, account or session (not only by id)."""
        return self.camera is not None or self.account is not None or self.session is not None


@dataclass(frozen=True, slots=True)
class Ended:
    """What an ending on the other hubs did: the ids of the views that ended there, and whether every hub that
    holds views answered in time (False: some may still end, by their gates, within their lease)."""

    ids: frozenset[str] = frozenset()
    complete: bool = True


@dataclass(frozen=True, slots=True)
class Seen:
    """What every hub serves, read at one moment: the live views (oldest first) and, per camera, its agent's
    status and the hub holding it."""

    views: list[LiveView]
    agents: dict[str, tuple[str, str]]

    def of(self, camera_id: str) -> list[LiveView]:
        """The live views of one camera."""
        return [view for view in self.views if view.camera == camera_id]


class ClusterState(Protocol):
    """Local (one hub) and Redis (many hubs) cluster state behind one interface."""

    # Whether this hub is the only one.
    single_hub: bool
    # This hub's name among its peers.
    node: str

    async def seen(self) -> Seen:
        """Every hub's live views and agents, now."""
        ...

    async def views(self, camera_id: str | None = None) -> list[LiveView]:
        """Every live view on every hub (of `camera_id` only, if given), oldest first."""
        ...

    async def find(self, viewer_id: str) -> LiveView | None:
        """One live view, wherever it is; None if no hub holds it."""
        ...

    async def agent_status(self, camera_id: str) -> tuple[str, str] | None:
        """(status, node) of the camera's agent on whichever hub holds it (`AGENT_STATUSES`), or None."""
        ...

    def match(self, **criteria: Any) -> Match:
        """A `Match` of `criteria` (camera, account, session, bar) with the ids of the matching views this hub
        knows on the other hubs now: take it before the write that ends them, so that views another hub's gate
        ends before the command arrives are counted too."""
        ...

    async def end_elsewhere(self, match: Match, reason: str, *, note: str | None = None,
                            at: float | None = None) -> Ended:  # fmt: skip
        """End the matching views on every other hub (this hub's are the caller's to end), each told `reason`
        (and `note`), as ended at `at`; returns once every hub answered or the timeout passed."""
        ...

    async def masks_applied(self, camera_id: str) -> int | None:
        """The mask version the camera's agent confirmed applying, wherever it is connected (-1: connected, not
        yet told; None: no hub has heard from an agent of it)."""
        ...

    async def agent_masks(self, camera_id: str, version: int) -> None:
        """This hub's agent of the camera confirmed applying masks `version` (-1: just connected): tell every hub."""
        ...

    async def snapshot(self, camera_id: str) -> bytes:
        """One still JPEG from the camera's agent, asked of the hub that holds it (CameraOffline otherwise)."""
        ...

    def start(self) -> None:
        """Start keeping this hub's entries and following the other hubs'."""
        ...

    async def close(self) -> None:
        """Stop, and take this hub's entries away."""
        ...
