"""Audit records: what each security event says, and the one canonical byte encoding the Merkle tree hashes.

A record is a flat JSON object with sorted keys and no spaces (ASCII only, no floats), so the same record always
encodes to the same bytes: the leaf of the tree is exactly those bytes. Every record carries its position in the
log (`seq`), its time in UTC to 10 ms, its kind, the hub that wrote it, the client's address and who acted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    """Every kind of security event the log records."""

    LOGIN_OK = "login.ok"
    LOGIN_FAILED = "login.failed"
    LOGIN_LOCKED = "login.locked"
    LOGOUT = "logout"
    CONSENT_GRANTED = "consent.granted"
    CONSENT_WITHDRAWN = "consent.withdrawn"
    CONSENT_EXPIRED = "consent.expired"
    # The owner turned audio on or off on a live grant (audio is a consent of its own; the video goes on).
    CONSENT_AUDIO = "consent.audio"
    ACCESS_REQUESTED = "access.requested"
    ACCESS_APPROVED = "access.approved"
    ACCESS_DECLINED = "access.declined"
    ACCESS_EXPIRED = "access.expired"
    PILOT_CHANGED = "pilot.changed"
    POLICY_CHANGED = "policy.changed"
    AGENCY_CREATED = "agency.created"
    ACCOUNT_CREATED = "account.created"
    ACCOUNT_DISABLED = "account.disabled"
    ACCOUNT_ENABLED = "account.enabled"
    ACCOUNT_PASSWORD_CHANGED = "account.password_changed"
    ACCOUNT_UNLOCKED = "account.unlocked"
    ACCOUNT_MFA_ENROLLED = "account.mfa_enrolled"
    ACCOUNT_MFA_RESET = "account.mfa_reset"
    # One-time enrolment codes for the second factor: issued (or replacing an earlier one), used, refused.
    ENROLMENT_CODE_ISSUED = "enrolment_code.issued"
    ENROLMENT_CODE_REPLACED = "enrolment_code.replaced"
    ENROLMENT_CODE_USED = "enrolment_code.used"
    ENROLMENT_CODE_REFUSED = "enrolment_code.refused"
    CAMERA_REGISTERED = "camera.registered"
    CAMERA_TOKEN_ISSUED = "camera.token_issued"
    MASKS_CHANGED = "masks.changed"
    SESSION_ENDED = "session.ended"
    VIEW_REQUESTED = "view.requested"
    VIEW_DENIED = "view.denied"
    VIEW_STARTED = "view.started"
    VIEW_ENDED = "view.ended"
    AUDIT_READ = "audit.read"


Scalar = str | int | bool | None
"""What a record's values may be (lists and objects of these too; never floats, whose text is not canonical)."""


class RecordError(ValueError):
    """A record is not in the canonical form (or has a value that has none)."""


def audit_time(ts: float) -> str:
    """Unix seconds as the log writes times: ISO 8601 UTC to 10 ms, e.g. 2026-11-30T14:32:05.12Z."""
    moment = datetime.fromtimestamp(round(ts, 2), UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 10_000:02d}Z"


def parse_audit_time(text: str) -> float:
    """The inverse of `audit_time`."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()


def _check_value(path: str, value: Any) -> None:
    if isinstance(value, float):
        raise RecordError(f"{path}: floats have no canonical text; use an integer or a string")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise RecordError(f"{path}: keys must be strings")
            _check_value(f"{path}.{key}", item)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_value(f"{path}[{i}]", item)
    elif not isinstance(value, str | int | bool | type(None)):
        raise RecordError(f"{path}: {type(value).__name__} cannot go in a record")


def encode(fields: dict[str, Any]) -> bytes:
    """The canonical bytes of a record: sorted keys, no spaces, ASCII (non-ASCII escaped), no floats."""
    _check_value("record", fields)
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


@dataclass(frozen=True, slots=True)
class Record:
    """One record as stored: its canonical bytes and the log's signature over them."""

    body: bytes
    signature: bytes

    def fields(self) -> dict[str, Any]:
        """The record's fields; RecordError if the bytes are not a canonical record."""
        try:
            fields = json.loads(self.body)
        except ValueError as exc:
            raise RecordError(f"not JSON: {exc}") from None
        if not isinstance(fields, dict) or encode(fields) != self.body:
            raise RecordError("not in the canonical encoding")
        return fields

    @property
    def camera(self) -> str | None:
        """The camera the record is about, if any (for owners' reads)."""
        camera = self.fields().get("camera")
        return camera if isinstance(camera, str) else None
