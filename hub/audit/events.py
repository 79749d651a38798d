"""The fields each kind of record carries, built from the hub's own objects (the log's schema in one place).

Every record also has, added by `AuditLog.append`: `seq` (its position), `time` (UTC, 10 ms), `kind`, `hub` (the
node that wrote it), `source_commitment` (only for a request with a client address: a salted HMAC of it; the
address itself is kept beside the log for admins, hub/audit/sources.py) and `actor` (who acted:
`{"id", "username", "role", "agency"}`, or null). Records written before addresses left the log have `source`
(the client's address, or null) instead of the commitment.

| kind                      | fields                                                                        |
|---------------------------|-------------------------------------------------------------------------------|
| login.ok, logout          | (the actor)                                                                   |
| login.failed              | username, why (unknown_user, bad_password, disabled)                          |
| login.locked              | username, failures (the account is locked until an admin unlocks it)          |
| consent.granted           | camera, owner, starts, ends, agencies (list or null = every agency), version, |
|                           | audio (true: audio too; missing from records before audio consent: false)     |
| consent.audio             | camera, owner, audio (on or off from now), version                            |
| consent.withdrawn         | camera, owner, at, version                                                    |
| consent.expired           | camera, owner, ends, version                                                  |
| access.requested/...      | camera, owner, request (id), case, reason, duration_seconds, urgent, agency;  |
|                           | approved, declined and expired too (the actor: officer, then owner, or none)  |
| pilot.changed             | starts, ends, version                                                         |
| policy.changed            | max_grant_seconds, version                                                    |
| agency.created            | agency, name                                                                  |
| account.*                 | account ({id, username, role, agency}): created, disabled, enabled, unlocked, |
|                           | mfa_enrolled, mfa_reset                                                       |
| session.ended             | camera, view (the live view an admin ended), officer, reason (the admin's     |
|                           | words, told to the officer; missing from records before it was asked); an     |
|                           | owner's stop: owner, ended_by (ended_by_owner), barred (true: the officer may |
|                           | not watch the camera again until the owner's next grant), barred_until        |
| camera.registered/...     | camera, owner                                                                 |
| masks.changed             | camera, owner, version, polygons (how many; where they are stays private)     |
| view.requested            | camera, owner, case, reason                                                   |
| view.denied               | camera, owner, case, reason, request (seq of view.requested), denied (why)    |
| view.started              | camera, owner, case, reason, request                                          |
| view.ended                | camera, owner, case, reason, view (seq of view.started), started, ended,      |
|                           | duration_ms, frames, bytes, ended_by, audio_packets (audio sent to the viewer; |
|                           | missing from records before audio consent: none)                              |
| audit.read                | scope (camera, all, sources), camera (scope camera), first and last (scope    |
|                           | sources), records (how many), filter (an admin's: officer, kind, from, to);   |
|                           | the first such read of the hour only                                          |

Times are `audit_time` strings; `owner` is the camera owner's account id; views' actor is the officer.
"""

from __future__ import annotations

from typing import Any

from hub.audit.record import audit_time
from hub.consent.decision import Grant, Pilot
from hub.store.base import AccessRequest, Account, Policy

Fields = dict[str, Any]


def actor(account: Account | None) -> Fields | None:
    """Who acted, as records name them."""
    if account is None:
        return None
    return {"id": account.id, "username": account.username, "role": account.role.value, "agency": account.agency_id}


def account_fields(account: Account) -> Fields:
    """The account an account.* record is about."""
    return {"account": actor(account)}


def grant_fields(grant: Grant, owner: int) -> Fields:
    """A consent.granted record."""
    agencies = None if grant.agencies is None else sorted(grant.agencies)
    return {
        "camera": grant.camera_id,
        "owner": owner,
        "starts": audit_time(grant.starts_at),
        "ends": audit_time(grant.ends_at),
        "agencies": agencies,
        "version": grant.version,
        "audio": grant.audio,
    }


def audio_fields(grant: Grant, owner: int) -> Fields:
    """A consent.audio record: the grant's audio as it is from now."""
    return {"camera": grant.camera_id, "owner": owner, "audio": grant.audio, "version": grant.version}


def withdrawal_fields(grant: Grant, owner: int) -> Fields:
    """A consent.withdrawn record (the grant as revoked)."""
    at = grant.revoked_at if grant.revoked_at is not None else grant.ends_at
    return {"camera": grant.camera_id, "owner": owner, "at": audit_time(at), "version": grant.version}


def expiry_fields(grant: Grant, owner: int) -> Fields:
    """A consent.expired record."""
    return {"camera": grant.camera_id, "owner": owner, "ends": audit_time(grant.ends_at), "version": grant.version}


def pilot_fields(pilot: Pilot) -> Fields:
    """A pilot.changed record."""
    return {"starts": audit_time(pilot.starts_at), "ends": audit_time(pilot.ends_at), "version": pilot.version}


def policy_fields(policy: Policy) -> Fields:
    """A policy.changed record."""
    return {"max_grant_seconds": round(policy.max_grant_seconds), "version": policy.version}


def request_fields(request: AccessRequest, owner: int) -> Fields:
    """An access.* record: the request, whatever its answer."""
    return {
        "camera": request.camera_id,
        "owner": owner,
        "request": request.id,
        "case": request.case_number,
        "reason": request.reason,
        "duration_seconds": round(request.duration_seconds),
        "urgent": request.urgent,
        "agency": request.agency_id,
    }


def view_fields(camera_id: str, owner: int, case: str, reason: str) -> Fields:
    """What every view.* record says about the look."""
    return {"camera": camera_id, "owner": owner, "case": case, "reason": reason}
