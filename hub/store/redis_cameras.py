"""The shared store's cameras: their owners, names, positions, device tokens and privacy masks.

Adding a camera, moving it, giving it a new device token and setting its masks take a version and announce it (a
"camera" change); the masks keep the version their write took as their masks_version. A camera written before
positions and masks reads `lat` and `lon` as null, `masks` as [] and `masks_version` as 0.

Keys: `CameraKeys` below; scripts: after it; records: `camera_record` and `masks_of` at the end.
"""

from __future__ import annotations

import functools
import json
import time
from typing import Any, cast

import redis.asyncio as aredis
from redis.commands.core import AsyncScript

from hub.store import checks
from hub.store import redis_records as records
from hub.store.base import Camera, Conflict, NotFound
from hub.store.redis_plumbing import RedisParts, guard, script


class CameraKeys:
    """The cameras seam's keys. Mixed into `hub.store.redis_keys.RedisKeys`, which gives the prefix."""

    __slots__ = ()
    prefix: str

    def camera(self, camera_id: str) -> str:
        """HASH: one camera. Fields (JSON values): id, owner_id, name, token_hash (of its device token),
        created_at, lat and lon (WGS84 degrees; both null when the owner gave no position), masks (its privacy
        masks: an array of objects, keys sorted, as the owner set them) and masks_version (the version the
        `SET_CAMERA_MASKS` script took for them from the shared counter). Both mask fields are missing until the
        owner first sets masks: (0, [])."""
        return f"{self.prefix}camera:{camera_id}"

    @property
    def cameras(self) -> str:
        """SET: every camera id."""
        return f"{self.prefix}cameras"

    def cameras_of(self, owner_id: int) -> str:
        """SET: the camera ids one account owns."""
        return f"{self.prefix}cameras-of:{owner_id}"

    @property
    def camera_by_token(self) -> str:
        """HASH: device token hash -> camera id (the uniqueness index for device tokens)."""
        return f"{self.prefix}camera-by-token"


# -- scripts (conventions: `hub.store.redis_plumbing`) ----------------------------------------

# KEYS: version, changes, owner account, camera, camera ids, owner's camera ids, token index.
# ARGV: camera id, token hash, field pairs.
ADD_CAMERA = script("""
if redis.call('EXISTS', KEYS[3]) == 0 then
  return fail('account_not_found')
end
if redis.call('EXISTS', KEYS[4]) == 1 then
  return fail('camera_exists')
end
if redis.call('HEXISTS', KEYS[7], ARGV[2]) == 1 then
  return fail('token_in_use')
end
local version = next_version()
hset_pairs(KEYS[4], 3)
redis.call('SADD', KEYS[5], ARGV[1])
redis.call('SADD', KEYS[6], ARGV[1])
redis.call('HSET', KEYS[7], ARGV[2], ARGV[1])
announce('camera', ARGV[1], version)
return ok({})
""")

# KEYS: version, changes, camera, token index. ARGV: camera id, token hash, token hash (JSON).
SET_DEVICE_TOKEN = script("""
if redis.call('EXISTS', KEYS[3]) == 0 then
  return fail('camera_not_found')
end
local holder = redis.call('HGET', KEYS[4], ARGV[2])
if holder and holder ~= ARGV[1] then
  return fail('token_in_use')
end
local version = next_version()
redis.call('HDEL', KEYS[4], cjson.decode(redis.call('HGET', KEYS[3], 'token_hash')))
redis.call('HSET', KEYS[4], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[3], 'token_hash', ARGV[3])
announce('camera', ARGV[1], version)
return ok({})
""")

# KEYS: version, changes, camera. ARGV: camera id, lat (JSON), lon (JSON). Moves the change marker only if the
# position changed. Answers the camera record.
SET_CAMERA_LOCATION = script("""
if redis.call('EXISTS', KEYS[3]) == 0 then
  return fail('camera_not_found')
end
local lat = redis.call('HGET', KEYS[3], 'lat') or 'null'
local lon = redis.call('HGET', KEYS[3], 'lon') or 'null'
if lat ~= ARGV[2] or lon ~= ARGV[3] then
  local version = next_version()
  redis.call('HSET', KEYS[3], 'lat', ARGV[2], 'lon', ARGV[3])
  announce('camera', ARGV[1], version)
end
return ok({record = redis.call('HGETALL', KEYS[3])})
""")

# KEYS: version, changes, camera. ARGV: camera id, masks (JSON). Answers the new version, which the masks keep as
# their masks_version.
SET_CAMERA_MASKS = script("""
if redis.call('EXISTS', KEYS[3]) == 0 then
  return fail('camera_not_found')
end
local version = next_version()
redis.call('HSET', KEYS[3], 'masks', ARGV[2], 'masks_version', version)
announce('camera', ARGV[1], version)
return ok({version = version})
""")


class CameraScripts:
    """The scripts above, registered on one client (EVALSHA, loaded again after a Redis restart)."""

    def __init__(self, client: aredis.Redis) -> None:
        register = client.register_script
        self.add_camera: AsyncScript = register(ADD_CAMERA)
        self.set_device_token: AsyncScript = register(SET_DEVICE_TOKEN)
        self.set_camera_location: AsyncScript = register(SET_CAMERA_LOCATION)
        self.set_camera_masks: AsyncScript = register(SET_CAMERA_MASKS)


class RedisCameras(RedisParts):
    """The cameras of `RedisStore`."""

    @functools.cached_property
    def _camera_scripts(self) -> CameraScripts:
        return CameraScripts(self._r)

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
            self._camera_scripts.add_camera,
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
            self._camera_scripts.set_camera_location,
            [*self._feed, self._keys.camera(camera_id)],
            [camera_id, json.dumps(lat), json.dumps(lon)],
            {"camera_not_found": NotFound(f"camera {camera_id!r} not found")},
        )
        return camera_record(records.decode_flat(result["record"]))

    @guard
    async def set_camera_masks(self, camera_id: str, masks: list[dict[str, Any]]) -> int:
        """Replace the camera's masks (stored as given, JSON with sorted keys) and return their new version, the
        next value of the shared counter, announced as a camera change. NotFound if unknown; ValueError unless a
        list of JSON objects."""
        result = await self._run(
            self._camera_scripts.set_camera_masks,
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
        return masks_of(fields)

    @guard
    async def get_camera(self, camera_id: str) -> Camera:
        """The camera; NotFound if unknown."""
        fields = await self._hash(self._keys.camera(camera_id))
        if fields is None:
            raise NotFound(f"camera {camera_id!r} not found")
        return camera_record(fields)

    @guard
    async def list_cameras(self, owner_id: int | None = None) -> list[Camera]:
        """Every camera, or only `owner_id`'s, by id."""
        index = self._keys.cameras if owner_id is None else self._keys.cameras_of(owner_id)
        ids = cast(set[str], await self._r.smembers(index))
        return [camera_record(fields) for fields in await self._hashes([self._keys.camera(i) for i in sorted(ids)])]

    @guard
    async def camera_for_token(self, token_hash: str) -> Camera:
        """The camera whose device token hashes to `token_hash`; NotFound otherwise."""
        camera_id = cast(str | None, await self._r.hget(self._keys.camera_by_token, token_hash))
        fields = None if camera_id is None else await self._hash(self._keys.camera(camera_id))
        # Re-checked on the record: the camera may have been given a new token between the two reads.
        if fields is None or fields["token_hash"] != token_hash:
            raise NotFound("no camera has that device token")
        return camera_record(fields)

    @guard
    async def set_device_token(self, camera_id: str, token_hash: str) -> None:
        """Give a camera a new device token (the old one stops working); bumps the change marker."""
        await self._run(
            self._camera_scripts.set_device_token,
            [*self._feed, self._keys.camera(camera_id), self._keys.camera_by_token],
            [camera_id, token_hash, json.dumps(token_hash)],
            {
                "camera_not_found": NotFound(f"camera {camera_id!r} not found"),
                "token_in_use": Conflict("that device token is already in use"),
            },
        )


def camera_record(fields: records.Fields) -> Camera:
    return Camera(
        id=str(fields["id"]),
        owner_id=int(fields["owner_id"]),
        name=str(fields["name"]),
        created_at=float(fields["created_at"]),
        lat=records.optional_float(fields.get("lat")),
        lon=records.optional_float(fields.get("lon")),
        masks_version=int(fields.get("masks_version", 0)),
    )


def masks_of(fields: records.Fields) -> tuple[int, list[dict[str, Any]]]:
    """A camera record's mask version and masks; a record from before masks has none (0, [])."""
    return int(fields.get("masks_version", 0)), checks.check_masks(fields.get("masks", []))
