"""The shared store's access requests: officers asking a camera's owner for live access.

Not consent: no version, no change message. An approval opens nothing by itself; the grant it leads to is written
through `put_grant` (`hub.store.redis_consent`).
"""

from __future__ import annotations

import json
from typing import cast

from hub.store import checks
from hub.store import redis_records as records
from hub.store.base import AccessRequest, Conflict, NotFound, RequestState
from hub.store.redis_plumbing import RedisParts, guard


class RedisRequests(RedisParts):
    """The access requests of `RedisStore`."""

    @guard
    async def add_access_request(
        self,
        camera_id: str,
        account_id: int,
        case_number: str,
        reason: str,
        duration_seconds: float,
        urgent: bool,
        now: float,
        expires_at: float,
    ) -> AccessRequest:
        """A new pending request for the agency the officer belongs to now (read in the same script); NotFound
        for an unknown camera or account, ValueError for a duration that is not positive or a time not finite."""
        checks.check_positive("duration_seconds", duration_seconds)
        checks.check_finite("now", now)
        checks.check_finite("expires_at", expires_at)
        keys = self._keys
        fields = records.pairs(
            camera_id=camera_id,
            account_id=account_id,
            case_number=case_number,
            reason=reason,
            duration_seconds=duration_seconds,
            urgent=bool(urgent),
            created_at=now,
            expires_at=expires_at,
            state=RequestState.PENDING.value,
            answered_at=None,
        )
        result = await self._run(
            self._scripts.add_access_request,
            [
                keys.camera(camera_id),
                keys.account(account_id),
                keys.access_request_seq,
                keys.access_requests,
                keys.access_requests_of_camera(camera_id),
                keys.access_requests_of_account(account_id),
                keys.access_requests_pending,
            ],
            [repr(float(expires_at)), keys.access_request(""), *fields],
            {
                "camera_not_found": NotFound(f"camera {camera_id!r} not found"),
                "account_not_found": NotFound(f"account {account_id} not found"),
            },
        )
        agency_id = json.loads(result["agency_id"])
        return AccessRequest(
            int(result["id"]),
            camera_id,
            account_id,
            None if agency_id is None else str(agency_id),
            case_number,
            reason,
            float(duration_seconds),
            bool(urgent),
            now,
            expires_at,
        )

    @guard
    async def get_access_request(self, request_id: int) -> AccessRequest:
        """The request, whatever its state; NotFound if unknown."""
        fields = await self._hash(self._keys.access_request(request_id))
        if fields is None:
            raise NotFound(f"access request {request_id} not found")
        return records.access_request(fields)

    @guard
    async def list_access_requests(
        self, camera_id: str | None = None, account_id: int | None = None
    ) -> list[AccessRequest]:
        """Requests, newest (the last made: highest id) first, of one camera and/or one officer if given."""
        keys = self._keys
        if camera_id is not None:
            index = keys.access_requests_of_camera(camera_id)
        elif account_id is not None:
            index = keys.access_requests_of_account(account_id)
        else:
            index = keys.access_requests
        ids = cast(list[str], await self._r.zrevrange(index, 0, -1))
        found = [records.access_request(f) for f in await self._hashes([keys.access_request(i) for i in ids])]
        return [r for r in found if account_id is None or r.account_id == account_id]

    @guard
    async def answer_access_request(self, request_id: int, state: RequestState, now: float) -> AccessRequest:
        """Approve or decline a pending request at `now`: one script checks it is pending and `now` is before
        expires_at, so of two hubs answering at once exactly one succeeds. Conflict if it was answered or has
        expired (a pending request past expires_at is left for `expire_access_requests`), NotFound if unknown,
        ValueError for any other state."""
        state = checks.check_answer_state(state)
        checks.check_finite("now", now)
        result = await self._run(
            self._scripts.answer_access_request,
            [self._keys.access_request(request_id), self._keys.access_requests_pending],
            [str(request_id), json.dumps(state.value), json.dumps(float(now))],
            {
                "request_not_found": NotFound(f"access request {request_id} not found"),
                "approved": Conflict(f"access request {request_id} was already approved"),
                "declined": Conflict(f"access request {request_id} was already declined"),
                "expired": Conflict(f"access request {request_id} has expired"),
            },
        )
        return records.access_request(records.decode_flat(result["record"]))

    @guard
    async def expire_access_requests(self, now: float) -> list[AccessRequest]:
        """Mark every pending request with expires_at <= now expired, answered at its expires_at: one script, so
        each is expired (and returned) once, whichever hub asks first. The ones this call expired, by id."""
        checks.check_finite("now", now)
        keys = self._keys
        result = await self._run(
            self._scripts.expire_access_requests,
            [keys.access_requests_pending],
            [repr(float(now)), keys.access_request("")],
        )
        # Lua's cjson writes an empty list as {}.
        expired = [records.access_request(records.decode_flat(flat)) for flat in result["expired"] or []]
        return sorted(expired, key=lambda r: r.id)
