"""The shared store's cameras: their owners, names, positions, device tokens and privacy masks.

Adding a camera, moving it, giving it a new device token and setting its masks take a version and announce it (a
"camera" change); the masks keep the version their write took as their masks_version.
"""

from __future__ import annotations

import json
import time
from typing import Any, cast

from hub.store import checks
from hub.store import redis_records as records
from hub.store.base import Camera, Conflict, NotFound
from hub.store.redis_plumbing import RedisParts, guard


class RedisCameras(RedisParts):
    """The cameras of `RedisStore`."""

    # -- cameras --------------------------------------------------------------------------------------

    @guard
    async def add_camera(
        self, camera_id: str, owner_id: int, name: str, token_hash: str, location: tuple[float, float] | None = None
    ) -> Camera:
        """Register a camera, at `location` (lat, lon) if given; NotFound for an unknown owner, Conflict for a taken
        id or device token, ValueError for a position off the globe."""
        lat, lon = checks.check_location(location) or (None, None)
        camera = Camera(camera_id, owner_id, name, time.time(), lat, lon)
        keys = self._keys
        fields = records.pairs(
            id=camera_id,
            owner_id=owner_id,
            name=name,
            token_hash=token_hash,
            created_at=camera.created_at,
            lat=lat,
            lon=lon,
        )
        await self._run(
            self._scripts.add_camera,
            [
                *self._feed,
                keys.account(owner_id),
                keys.camera(camera_id),
                keys.cameras,
                keys.cameras_of(owner_id),
                keys.camera_by_token,
            ],
            [camera_id, token_hash, *fields],
            {
                "account_not_found": NotFound(f"account {owner_id} not found"),
                "camera_exists": Conflict(f"camera {camera_id!r} already exists"),
                "token_in_use": Conflict("that device token is already in use"),
            },
        )
        return camera

    @guard
    async def set_camera_location(self, camera_id: str, location: tuple[float, float] | None) -> Camera:
        """Move a camera to `location` (lat, lon), or None to hide its position; the change marker moves if it
        changed (the officers' map follows). NotFound if unknown, ValueError for a position off the globe."""
        lat, lon = checks.check_location(location) or (None, None)
        result = await self._run(
            self._scripts.set_camera_location,
            [*self._feed, self._keys.camera(camera_id)],
            [camera_id, json.dumps(lat), json.dumps(lon)],
            {"camera_not_found": NotFound(f"camera {camera_id!r} not found")},
        )
        return records.camera(records.decode_flat(result["record"]))

    @guard
    async def set_camera_masks(self, camera_id: str, masks: list[dict[str, Any]]) -> int:
        """Replace the camera's masks (stored as given, JSON with sorted keys) and return their new version, the
        next value of the shared counter, announced as a camera change. NotFound if unknown; ValueError unless a
        list of JSON objects."""
        result = await self._run(
            self._scripts.set_camera_masks,
            [*self._feed, self._keys.camera(camera_id)],
            [camera_id, checks.encode_masks(masks)],
            {"camera_not_found": NotFound(f"camera {camera_id!r} not found")},
        )
        return int(result["version"])

    @guard
    async def get_camera_masks(self, camera_id: str) -> tuple[int, list[dict[str, Any]]]:
        """The camera's mask version and masks: (0, []) if it never had any; NotFound if unknown."""
        fields = await self._hash(self._keys.camera(camera_id))
        if fields is None:
            raise NotFound(f"camera {camera_id!r} not found")
        return records.masks(fields)

    @guard
    async def get_camera(self, camera_id: str) -> Camera:
        """The camera; NotFound if unknown."""
        fields = await self._hash(self._keys.camera(camera_id))
        if fields is None:
            raise NotFound(f"camera {camera_id!r} not found")
        return records.camera(fields)

    @guard
    async def list_cameras(self, owner_id: int | None = None) -> list[Camera]:
        """Every camera, or only `owner_id`'s, by id."""
        index = self._keys.cameras if owner_id is None else self._keys.cameras_of(owner_id)
        ids = cast(set[str], await self._r.smembers(index))
        return [records.camera(fields) for fields in await self._hashes([self._keys.camera(i) for i in sorted(ids)])]

    @guard
    async def camera_for_token(self, token_hash: str) -> Camera:
        """The camera whose device token hashes to `token_hash`; NotFound otherwise."""
        camera_id = cast(str | None, await self._r.hget(self._keys.camera_by_token, token_hash))
        fields = None if camera_id is None else await self._hash(self._keys.camera(camera_id))
        # Re-checked on the record: the camera may have been given a new token between the two reads.
        if fields is None or fields["token_hash"] != token_hash:
            raise NotFound("no camera has that device token")
        return records.camera(fields)

    @guard
    async def set_device_token(self, camera_id: str, token_hash: str) -> None:
        """Give a camera a new device token (the old one stops working); bumps the change marker."""
        await self._run(
            self._scripts.set_device_token,
            [*self._feed, self._keys.camera(camera_id), self._keys.camera_by_token],
            [camera_id, token_hash, json.dumps(token_hash)],
            {
                "camera_not_found": NotFound(f"camera {camera_id!r} not found"),
                "token_in_use": Conflict("that device token is already in use"),
            },
        )
