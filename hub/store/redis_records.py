"""Redis hashes to store records and back (see `hub.store.redis_keys` for the fields).

Each field value is JSON, encoded here with `json.dumps` (exact for floats) and decoded with `json.loads`. Fields
added after records were first written may be missing from older ones: they read with the records' defaults.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from hub.consent.decision import Grant, Pilot
from hub.store import checks
from hub.store.base import AccessRequest, Account, Camera, Policy, RequestState, Role, Session

log = logging.getLogger(__name__)

Fields = dict[str, Any]


def pairs(**fields: object) -> list[str]:
    """Hash field pairs for a script's ARGV: name, JSON value, name, JSON value, ..."""
    flat: list[str] = []
    for name, value in fields.items():
        flat += [name, json.dumps(value, allow_nan=False)]
    return flat


def decode(raw: Mapping[str, str]) -> Fields:
    """A hash as HGETALL gives it."""
    return {name: json.loads(value) for name, value in raw.items()}


def decode_flat(flat: Sequence[str]) -> Fields:
    """A hash as a script returns it (HGETALL's flat list inside the script's JSON answer)."""
    return decode(dict(zip(flat[::2], flat[1::2], strict=True)))


def message(channel: str, data: str) -> dict[str, Any] | None:
    """A pub/sub message's JSON object; None (logged) for anything else."""
    try:
        value = json.loads(data)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        log.warning("ignored a message on %s that is not a JSON object", channel)
        return None
    return value


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


def account(fields: Fields) -> Account:
    return Account(
        id=int(fields["id"]),
        username=str(fields["username"]),
        role=Role(fields["role"]),
        agency_id=_optional_str(fields["agency_id"]),
        disabled=bool(fields["disabled"]),
        created_at=float(fields["created_at"]),
        mfa_enrolled=bool(fields.get("mfa_enrolled", False)),
        version=int(fields.get("version", 0)),
    )


def totp(fields: Fields) -> tuple[str | None, int]:
    """An account's TOTP secret and last accepted time step."""
    return _optional_str(fields.get("totp_secret")), int(fields.get("totp_last_step", -1))


def session(fields: Fields) -> Session:
    created_at = float(fields["created_at"])
    last_seen_at = fields.get("last_seen_at")
    return Session(
        token_hash=str(fields["token_hash"]),
        account_id=int(fields["account_id"]),
        created_at=created_at,
        expires_at=float(fields["expires_at"]),
        last_seen_at=created_at if last_seen_at is None else float(last_seen_at),
        mfa_pending=bool(fields.get("mfa_pending", False)),
    )


def camera(fields: Fields) -> Camera:
    return Camera(
        id=str(fields["id"]),
        owner_id=int(fields["owner_id"]),
        name=str(fields["name"]),
        created_at=float(fields["created_at"]),
        lat=_optional_float(fields.get("lat")),
        lon=_optional_float(fields.get("lon")),
        masks_version=int(fields.get("masks_version", 0)),
    )


def masks(fields: Fields) -> tuple[int, list[dict[str, Any]]]:
    """A camera record's mask version and masks; a record from before masks has none (0, [])."""
    return int(fields.get("masks_version", 0)), checks.check_masks(fields.get("masks", []))


def grant(fields: Fields) -> Grant:
    agencies = fields["agencies"]
    if agencies is not None and not (isinstance(agencies, list) and all(isinstance(a, str) for a in agencies)):
        raise ValueError("grant agencies must be a JSON array of agency ids")
    return Grant(
        camera_id=str(fields["camera_id"]),
        starts_at=float(fields["starts_at"]),
        ends_at=float(fields["ends_at"]),
        agencies=None if agencies is None else frozenset(agencies),
        revoked_at=_optional_float(fields["revoked_at"]),
        version=int(fields["version"]),
        # A grant from before pilot runs belongs to the pilot of its time, which reads as run 1.
        pilot_run=int(fields.get("pilot_run", 1)),
        # A grant from before audio consent has none.
        audio=fields.get("audio", False) is True,
    )


def pilot(fields: Fields) -> Pilot:
    """A pilot record; one from before pilot runs is run 1, not ended."""
    return Pilot(
        float(fields["starts_at"]),
        float(fields["ends_at"]),
        int(fields["version"]),
        run=int(fields.get("run", 1)),
        ended=bool(fields.get("ended", False)),
    )


def policy(fields: Fields) -> Policy:
    return Policy(float(fields["max_grant_seconds"]), int(fields["version"]))


def access_request(fields: Fields) -> AccessRequest:
    return AccessRequest(
        id=int(fields["id"]),
        camera_id=str(fields["camera_id"]),
        account_id=int(fields["account_id"]),
        agency_id=_optional_str(fields["agency_id"]),
        case_number=str(fields["case_number"]),
        reason=str(fields["reason"]),
        duration_seconds=float(fields["duration_seconds"]),
        urgent=bool(fields["urgent"]),
        created_at=float(fields["created_at"]),
        expires_at=float(fields["expires_at"]),
        state=RequestState(fields["state"]),
        answered_at=_optional_float(fields["answered_at"]),
    )
