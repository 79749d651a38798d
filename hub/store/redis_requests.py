"""The shared store's access requests: officers asking a camera's owner for live access.

Not consent: no version, no change message. An approval opens nothing by itself; the grant it leads to is written
through `put_grant` (`hub.store.redis_consent`).

Keys: `RequestKeys` below; scripts: after it; records: `access_request_record` at the end.
"""

from __future__ import annotations

import functools
import json
from typing import cast

import redis.asyncio as aredis
from redis.commands.core import AsyncScript

from hub.store import checks
from hub.store import redis_records as records
from hub.store.base import AccessRequest, Conflict, NotFound, RequestState
from hub.store.redis_plumbing import RedisParts, guard, script


class RequestKeys:
    """The requests seam's keys. Mixed into `hub.store.redis_keys.RedisKeys`, which gives the prefix."""

    __slots__ = ()
    prefix: str

    def access_request(self, request_id: int | str) -> str:
        """HASH: an officer's request for live access. Fields (JSON values): id, camera_id, account_id, agency_id
        (the officer's agency when asked, copied from the account by `ADD_ACCESS_REQUEST`), case_number, reason,
        duration_seconds, urgent (true/false), created_at, expires_at, state ("pending", "approved", "declined"
        or "expired"; only pending ever changes, once), answered_at (null while pending; an expiry is dated at
        expires_at). Never deleted."""
        return f"{self.prefix}access-request:{request_id}"

    @property
    def access_request_seq(self) -> str:
        """STRING, integer: the last access request id handed out (INCR); ids are never reused."""
        return f"{self.prefix}access-request-seq"

    @property
    def access_requests(self) -> str:
        """ZSET: every access request id, scored by the id (newest first with ZREVRANGE)."""
        return f"{self.prefix}access-requests"

    def access_requests_of_camera(self, camera_id: str) -> str:
        """ZSET: the ids of the access requests for one camera, scored by the id."""
        return f"{self.prefix}access-requests-of-camera:{camera_id}"

    def access_requests_of_account(self, account_id: int) -> str:
        """ZSET: the ids of the access requests one officer made, scored by the id."""
        return f"{self.prefix}access-requests-of-account:{account_id}"

    @property
    def access_requests_pending(self) -> str:
        """ZSET: the ids of the pending access requests, scored by expires_at. A request leaves it when it is
        answered or expired, in the script that changes its state: the set of ids to expire at `now` is
        ZRANGEBYSCORE -inf now."""
        return f"{self.prefix}access-requests-pending"


# -- scripts (conventions: `hub.store.redis_plumbing`) ----------------------------------------

# KEYS: camera, account, request sequence, every request id, the camera's requests, the account's requests,
# pending requests. ARGV: expires_at (score), request key stem, field pairs (all but id and agency_id).
# The agency is the account's at this moment, copied as stored. Answers the new id and that agency (JSON).
ADD_ACCESS_REQUEST = script("""
if redis.call('EXISTS', KEYS[1]) == 0 then
  return fail('camera_not_found')
end
if redis.call('EXISTS', KEYS[2]) == 0 then
  return fail('account_not_found')
end
local agency = redis.call('HGET', KEYS[2], 'agency_id') or 'null'
local id = redis.call('INCR', KEYS[3])
local key = ARGV[2] .. id
redis.call('HSET', key, 'id', tostring(id), 'agency_id', agency)
hset_pairs(key, 3)
redis.call('ZADD', KEYS[4], id, id)
redis.call('ZADD', KEYS[5], id, id)
redis.call('ZADD', KEYS[6], id, id)
redis.call('ZADD', KEYS[7], ARGV[1], id)
return ok({id = id, agency_id = agency})
""")

# KEYS: request, pending requests. ARGV: request id, new state (JSON), now (JSON). Answers a request only while it
# is pending and now < expires_at: of two hubs answering at once, one wins. Fails with the state it already has
# ('approved', 'declined', 'expired'), or 'expired' if pending past its deadline (left for the expiry to mark).
ANSWER_ACCESS_REQUEST = script("""
local state = redis.call('HGET', KEYS[1], 'state')
if not state then
  return fail('request_not_found')
end
if state ~= '"pending"' then
  return fail(cjson.decode(state))
end
if tonumber(ARGV[3]) >= tonumber(redis.call('HGET', KEYS[1], 'expires_at')) then
  return fail('expired')
end
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'answered_at', ARGV[3])
redis.call('ZREM', KEYS[2], ARGV[1])
return ok({record = redis.call('HGETALL', KEYS[1])})
""")

# KEYS: pending requests. ARGV: now (score), request key stem. Marks every pending request with expires_at <= now
# expired, answered at its expires_at (the string copied), and takes it out of the pending set. Answers the
# records it expired (each expires once, whichever hub asks first; an empty list encodes as {}).
EXPIRE_ACCESS_REQUESTS = script("""
local expired = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])) do
  local key = ARGV[2] .. id
  if redis.call('HGET', key, 'state') == '"pending"' then
    redis.call('HSET', key, 'state', '"expired"', 'answered_at', redis.call('HGET', key, 'expires_at'))
    expired[#expired + 1] = redis.call('HGETALL', key)
  end
  redis.call('ZREM', KEYS[1], id)
end
return ok({expired = expired})
""")


class RequestScripts:
    """The scripts above, registered on one client (EVALSHA, loaded again after a Redis restart)."""

    def __init__(self, client: aredis.Redis) -> None:
        register = client.register_script
        self.add_access_request: AsyncScript = register(ADD_ACCESS_REQUEST)
        self.answer_access_request: AsyncScript = register(ANSWER_ACCESS_REQUEST)
        self.expire_access_requests: AsyncScript = register(EXPIRE_ACCESS_REQUESTS)


class RedisRequests(RedisParts):
    """The access requests of `RedisStore`."""

    @functools.cached_property
    def _request_scripts(self) -> RequestScripts:
        return RequestScripts(self._r)

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
            self._request_scripts.add_access_request,
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
        return access_request_record(fields)

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
        found = [access_request_record(f) for f in await self._hashes([keys.access_request(i) for i in ids])]
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
            self._request_scripts.answer_access_request,
            [self._keys.access_request(request_id), self._keys.access_requests_pending],
            [str(request_id), json.dumps(state.value), json.dumps(float(now))],
            {
                "request_not_found": NotFound(f"access request {request_id} not found"),
                "approved": Conflict(f"access request {request_id} was already approved"),
                "declined": Conflict(f"access request {request_id} was already declined"),
                "expired": Conflict(f"access request {request_id} has expired"),
            },
        )
        return access_request_record(records.decode_flat(result["record"]))

    @guard
    async def expire_access_requests(self, now: float) -> list[AccessRequest]:
        """Mark every pending request with expires_at <= now expired, answered at its expires_at: one script, so
        each is expired (and returned) once, whichever hub asks first. The ones this call expired, by id."""
        checks.check_finite("now", now)
        keys = self._keys
        result = await self._run(
            self._request_scripts.expire_access_requests,
            [keys.access_requests_pending],
            [repr(float(now)), keys.access_request("")],
        )
        # Lua's cjson writes an empty list as {}.
        expired = [access_request_record(records.decode_flat(flat)) for flat in result["expired"] or []]
        return sorted(expired, key=lambda r: r.id)


def access_request_record(fields: records.Fields) -> AccessRequest:
    return AccessRequest(
        id=int(fields["id"]),
        camera_id=str(fields["camera_id"]),
        account_id=int(fields["account_id"]),
        agency_id=records.optional_str(fields["agency_id"]),
        case_number=str(fields["case_number"]),
        reason=str(fields["reason"]),
        duration_seconds=float(fields["duration_seconds"]),
        urgent=bool(fields["urgent"]),
        created_at=float(fields["created_at"]),
        expires_at=float(fields["expires_at"]),
        state=RequestState(fields["state"]),
        answered_at=records.optional_float(fields["answered_at"]),
    )
