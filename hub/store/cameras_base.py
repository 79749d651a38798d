"""The store's cameras seam: cameras, where they are, their privacy masks and their device tokens.

Adding, re-keying or moving a camera moves the change marker; new masks take a version from the shared counter,
since every hub must hold the camera's video until its agent confirms them. Only a device token's hash is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Camera:
    id: str
    owner_id: int
    name: str
    created_at: float
    # Where it is (WGS84 degrees), for the officers' map; None if the owner gave no position.
    lat: float | None = None
    lon: float | None = None
    # The version of its privacy masks (0: never set); the masks themselves come from `get_camera_masks`.
    masks_version: int = 0


class CameraStore(Protocol):
    """Cameras, masks and device tokens. Implementations make each method atomic."""

    async def add_camera(
        self, camera_id: str, owner_id: int, name: str, token_hash: str, location: tuple[float, float] | None = None
    ) -> Camera: ...
    async def set_camera_location(self, camera_id: str, location: tuple[float, float] | None) -> Camera: ...

    # Privacy masks, applied by the camera's agent before encoding
    async def set_camera_masks(self, camera_id: str, masks: list[dict[str, Any]]) -> int:
        """Replace the camera's masks (a JSON-able list of polygons, checked by the caller) and return the new
        version, taken from the shared version counter (so it only grows). Consent-relevant: bumps the change
        marker, since every hub must hold the camera's video until its agent confirms the new version."""
        ...

    async def get_camera_masks(self, camera_id: str) -> tuple[int, list[dict[str, Any]]]:
        """The camera's mask version and masks: (0, []) if it never had any; NotFound for an unknown camera."""
        ...

    async def get_camera(self, camera_id: str) -> Camera: ...
    async def list_cameras(self, owner_id: int | None = None) -> list[Camera]: ...
    async def camera_for_token(self, token_hash: str) -> Camera:
        """The camera whose device token hashes to `token_hash`; NotFound otherwise."""
        ...

    async def set_device_token(self, camera_id: str, token_hash: str) -> None: ...
