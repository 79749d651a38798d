"""SQLite rows to store records."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from typing import Any

from hub.consent.decision import Grant, Pilot
from hub.store import checks
from hub.store.base import AccessRequest, Account, Camera, RequestState, Role, Session


def first(rows: Iterable[sqlite3.Row]) -> sqlite3.Row:
    return next(iter(rows))


def account(row: sqlite3.Row) -> Account:
    return Account(
        id=row["id"],
        username=row["username"],
        role=Role(row["role"]),
        agency_id=row["agency_id"],
        disabled=bool(row["disabled"]),
        created_at=row["created_at"],
        mfa_enrolled=bool(row["totp_enrolled"]),
        version=row["version"],
    )


def session(row: sqlite3.Row) -> Session:
    """A session row; a NULL last_seen_at (a session from before schema version 2) reads as created_at."""
    last_seen_at = row["last_seen_at"]
    return Session(
        token_hash=row["token_hash"],
        account_id=row["account_id"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        last_seen_at=row["created_at"] if last_seen_at is None else last_seen_at,
        mfa_pending=bool(row["mfa_pending"]),
    )


def camera(row: sqlite3.Row) -> Camera:
    return Camera(
        row["id"], row["owner_id"], row["name"], row["created_at"], row["lat"], row["lon"], row["masks_version"]
    )


def masks(row: sqlite3.Row) -> tuple[int, list[dict[str, Any]]]:
    """A camera row's mask version and masks."""
    return int(row["masks_version"]), checks.check_masks(json.loads(row["masks"]))


def grant(row: sqlite3.Row) -> Grant:
    return Grant(
        camera_id=row["camera_id"],
        starts_at=row["starts_at"],
        ends_at=row["ends_at"],
        agencies=decode_agencies(row["agencies"]),
        revoked_at=row["revoked_at"],
        version=row["version"],
        pilot_run=row["pilot_run"],
        audio=bool(row["audio"]),
    )


def pilot(row: sqlite3.Row) -> Pilot:
    return Pilot(row["starts_at"], row["ends_at"], row["version"], row["run"], bool(row["ended"]))


def access_request(row: sqlite3.Row) -> AccessRequest:
    return AccessRequest(
        id=row["id"],
        camera_id=row["camera_id"],
        account_id=row["account_id"],
        agency_id=row["agency_id"],
        case_number=row["case_number"],
        reason=row["reason"],
        duration_seconds=row["duration_seconds"],
        urgent=bool(row["urgent"]),
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        state=RequestState(row["state"]),
        answered_at=row["answered_at"],
    )


def decode_agencies(encoded: str | None) -> frozenset[str] | None:
    if encoded is None:
        return None
    value = json.loads(encoded)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError("grant agencies must be a JSON array of agency ids")
    return frozenset(value)
