"""The router interface: camera ownership across hubs and confirmation that a withdrawal closed the gates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Closure:
    """What a withdrawal can promise: confirmed by the hub that streams the camera, or closed by a deadline."""

    confirmed: bool
    # When the owning hub's lease guarantees its gates closed, if it did not confirm.
    closed_by: float | None = None
    # Every hub that carried the camera (its owner and each hub relaying it), by node id; with `confirmed`, each
    # confirmed its gates closed.
    hubs: tuple[str, ...] = ()


class Router(Protocol):
    """Local (one hub) and Redis (many hubs) routers behind one interface."""

    # Whether this hub is the only one: its own gates are then every gate there is.
    single_hub: bool
    # This hub's name among its peers.
    node_id: str

    async def claim(self, camera_id: str) -> bool:
        """Take ownership of the camera's stream for this hub; False if another hub holds it."""
        ...

    async def release(self, camera_id: str) -> None:
        """Give up ownership (the agent left)."""
        ...

    async def owner_url(self, camera_id: str) -> str | None:
        """The base URL of the hub that streams the camera, if it is another hub; None otherwise."""
        ...

    async def peer(self, camera_id: str) -> tuple[str, str] | None:
        """(node id, internal URL) of the hub that streams the camera, if it is another hub (where a relay goes)."""
        ...

    async def carry(self, camera_id: str) -> None:
        """Note that this hub carries the camera through a relay (renewed until `drop`): withdrawals wait for it."""
        ...

    async def drop(self, camera_id: str) -> None:
        """This hub's relay of the camera ended."""
        ...

    async def expect_closure(self, camera_id: str) -> object:
        """Before writing the withdrawal: start listening for confirmations and note which hubs carry the camera
        now (returns a token)."""
        ...

    async def await_closure(self, token: object, version: int, written_at: float) -> Closure:
        """After the withdrawal (version `version`) was written at `written_at`: the owner's confirmation, or
        the time by which its lease guarantees the gates closed."""
        ...

    async def confirm_closed(self, camera_id: str, version: int) -> None:
        """Tell the other hubs this hub's gates for the camera reflect `version` (whether it carries it or not)."""
        ...

    async def close(self) -> None: ...
