"""The embedded store's cameras: their owners, names, positions, device tokens and privacy masks.

Adding a camera, moving it, giving it a new device token and setting its masks move the change marker; a mask
version is the shared counter's value taken by the write that set them.
"""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

import aiosqlite

from hub.store import checks
from hub.store.base import Camera, Conflict, NotFound
from hub.store.sqlite_plumbing import SqliteParts, bump, check_account, exists, first

_CAMERA_COLUMNS = "id, owner_id, name, created_at, lat, lon, masks_version"


class SqliteCameras(SqliteParts):
    """The cameras of `SqliteStore`."""

    # -- cameras --------------------------------------------------------------------------------------

    async def add_camera(
        self, camera_id: str, owner_id: int, name: str, token_hash: str, location: tuple[float, float] | None = None
    ) -> Camera:
        """Register a camera, at `location` (lat, lon) if given; NotFound for an unknown owner, Conflict for a taken
        id or device token, ValueError for a position off the globe."""
        lat, lon = checks.check_location(location) or (None, None)

        async def body(db: aiosqlite.Connection) -> Camera:
            await check_account(db, owner_id)
            if await exists(db, "SELECT 1 FROM cameras WHERE id = ?", (camera_id,)):
                raise Conflict(f"camera {camera_id!r} already exists")
            await _check_token_free(db, token_hash)
            camera = Camera(camera_id, owner_id, name, time.time(), lat, lon)
            await db.execute(
                "INSERT INTO cameras (id, owner_id, name, token_hash, created_at, lat, lon)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (camera_id, owner_id, name, token_hash, camera.created_at, lat, lon),
            )
            await bump(db)
            return camera

        return await self._write(body)

    async def set_camera_location(self, camera_id: str, location: tuple[float, float] | None) -> Camera:
        """Move a camera to `location` (lat, lon), or None to hide its position; the change marker moves if it
        changed (the officers' map follows). NotFound if unknown, ValueError for a position off the globe."""
        lat, lon = checks.check_location(location) or (None, None)

        async def body(db: aiosqlite.Connection) -> Camera:
            rows = await db.execute_fetchall(f"SELECT {_CAMERA_COLUMNS} FROM cameras WHERE id = ?", (camera_id,))
            if not rows:
                raise NotFound(f"camera {camera_id!r} not found")
            before = camera_row(first(rows))
            if (before.lat, before.lon) == (lat, lon):
                return before
            rows = await db.execute_fetchall(
                f"UPDATE cameras SET lat = ?, lon = ? WHERE id = ? RETURNING {_CAMERA_COLUMNS}", (lat, lon, camera_id)
            )
            await bump(db)
            return camera_row(first(rows))

        return await self._write(body)

    async def set_camera_masks(self, camera_id: str, masks: list[dict[str, Any]]) -> int:
        """Replace the camera's masks (stored as given, JSON with sorted keys) and return their new version, the
        next value of the shared counter (so the change marker moves). NotFound if unknown; ValueError unless a
        list of JSON objects."""
        encoded = checks.encode_masks(masks)

        async def body(db: aiosqlite.Connection) -> int:
            if not await exists(db, "SELECT 1 FROM cameras WHERE id = ?", (camera_id,)):
                raise NotFound(f"camera {camera_id!r} not found")
            version = await bump(db)
            await db.execute(
                "UPDATE cameras SET masks = ?, masks_version = ? WHERE id = ?", (encoded, version, camera_id)
            )
            return version

        return await self._write(body)

    async def get_camera_masks(self, camera_id: str) -> tuple[int, list[dict[str, Any]]]:
        """The camera's mask version and masks: (0, []) if it never had any; NotFound if unknown."""
        rows = await self._read("SELECT masks_version, masks FROM cameras WHERE id = ?", (camera_id,))
        if not rows:
            raise NotFound(f"camera {camera_id!r} not found")
        return masks_of(rows[0])

    async def get_camera(self, camera_id: str) -> Camera:
        """The camera; NotFound if unknown."""
        rows = await self._read(f"SELECT {_CAMERA_COLUMNS} FROM cameras WHERE id = ?", (camera_id,))
        if not rows:
            raise NotFound(f"camera {camera_id!r} not found")
        return camera_row(rows[0])

    async def list_cameras(self, owner_id: int | None = None) -> list[Camera]:
        """Every camera, or only `owner_id`'s, by id."""
        if owner_id is None:
            rows = await self._read(f"SELECT {_CAMERA_COLUMNS} FROM cameras ORDER BY id")
        else:
            rows = await self._read(
                f"SELECT {_CAMERA_COLUMNS} FROM cameras WHERE owner_id = ? ORDER BY id", (owner_id,)
            )
        return [camera_row(row) for row in rows]

    async def camera_for_token(self, token_hash: str) -> Camera:
        """The camera whose device token hashes to `token_hash`; NotFound otherwise."""
        rows = await self._read(f"SELECT {_CAMERA_COLUMNS} FROM cameras WHERE token_hash = ?", (token_hash,))
        if not rows:
            raise NotFound("no camera has that device token")
        return camera_row(rows[0])

    async def set_device_token(self, camera_id: str, token_hash: str) -> None:
        """Give a camera a new device token (the old one stops working); bumps the change marker."""

        async def body(db: aiosqlite.Connection) -> None:
            if not await exists(db, "SELECT 1 FROM cameras WHERE id = ?", (camera_id,)):
                raise NotFound(f"camera {camera_id!r} not found")
            await _check_token_free(db, token_hash, except_camera=camera_id)
            await db.execute("UPDATE cameras SET token_hash = ? WHERE id = ?", (token_hash, camera_id))
            await bump(db)

        await self._write(body)


async def _check_token_free(db: aiosqlite.Connection, token_hash: str, except_camera: str | None = None) -> None:
    rows = list(await db.execute_fetchall("SELECT id FROM cameras WHERE token_hash = ?", (token_hash,)))
    if rows and rows[0]["id"] != except_camera:
        raise Conflict("that device token is already in use")


def camera_row(row: sqlite3.Row) -> Camera:
    return Camera(
        row["id"], row["owner_id"], row["name"], row["created_at"], row["lat"], row["lon"], row["masks_version"]
    )


def masks_of(row: sqlite3.Row) -> tuple[int, list[dict[str, Any]]]:
    """A camera row's mask version and masks."""
    return int(row["masks_version"]), checks.check_masks(json.loads(row["masks"]))
