"""The shared store's consent state: each camera's grant, the pilot's window and the admin's policy.

Every change takes the next version from the shared counter and announces it on the change channel, in one
script, so versions are strictly increasing across all three. Pilots are numbered by run (the `SET_PILOT` script
decides whether a window continues the current pilot or starts the next), and `PUT_GRANT` records the run of the
pilot current when the grant is written. Records written before pilot runs and audio consent read a pilot's
`run` as 1 and `ended` as false, a grant's `pilot_run` as 1 and its `audio` as false.

Keys: `ConsentKeys` below; scripts: after it; records: `grant_record`, `pilot_record` and `policy_record` at the
end. `SET_PILOT` is the Lua twin of `hub.store.pilot_runs.next_pilot`.
"""

from __future__ import annotations

import functools
import json
from typing import cast

import redis.asyncio as aredis
from redis.commands.core import AsyncScript

from hub.consent.decision import Grant, Pilot
from hub.store import checks
from hub.store import redis_records as records
from hub.store.base import Conflict, NotFound, Policy
from hub.store.consent_base import GRANT_CHANGED
from hub.store.redis_plumbing import RedisParts, guard, script


class ConsentKeys:
    """The consent seam's keys. Mixed into `hub.store.redis_keys.RedisKeys`, which gives the prefix."""

    __slots__ = ()
    prefix: str

    def grant(self, camera_id: str) -> str:
        """HASH: a camera's grant. Fields (JSON values): camera_id, starts_at, ends_at, agencies (sorted array,
        or null for every agency), revoked_at (null while live), version, pilot_run (the run of the pilot
        current when `PUT_GRANT` wrote it, read in that script; 0 if there was no pilot), audio (true: the owner
        opted in to audio too; missing from grants written before audio consent, reads as false)."""
        return f"{self.prefix}grant:{camera_id}"

    @property
    def grants(self) -> str:
        """SET: the camera ids that have a grant (live, expired or revoked)."""
        return f"{self.prefix}grants"

    @property
    def pilot(self) -> str:
        """HASH: the pilot's window. Fields (JSON values): starts_at, ends_at, version, run (which pilot this is:
        `SET_PILOT` keeps the run of a window that continues the current pilot and gives the next run to a new
        one), ended (true/false: it ended at or before the writer's time). Missing until set."""
        return f"{self.prefix}pilot"

    @property
    def policy(self) -> str:
        """HASH: the admin's limits. Fields (JSON values): max_grant_seconds, version. Missing until set (the
        configured default applies, version 0)."""
        return f"{self.prefix}policy"


# -- scripts (conventions: `hub.store.redis_plumbing`) ----------------------------------------

# KEYS: version, changes, camera, grant, camera ids with a grant, pilot. ARGV: camera id, the version the write
# replaces ('' for any), field pairs. The grant belongs to the pilot current now: its pilot_run is that pilot's run
# (a pilot from before runs is run 1), 0 if there is none. Answers the version and pilot_run.
PUT_GRANT = script("""
if redis.call('EXISTS', KEYS[3]) == 0 then
  return fail('camera_not_found')
end
if ARGV[2] ~= '' and redis.call('HGET', KEYS[4], 'version') ~= ARGV[2] then
  return fail('grant_changed')
end
local run = 0
if redis.call('EXISTS', KEYS[6]) == 1 then
  run = tonumber(redis.call('HGET', KEYS[6], 'run') or '1')
end
local version = next_version()
redis.call('DEL', KEYS[4])
hset_pairs(KEYS[4], 3)
redis.call('HSET', KEYS[4], 'version', version, 'pilot_run', run)
redis.call('SADD', KEYS[5], ARGV[1])
announce('grant', ARGV[1], version)
return ok({version = version, pilot_run = run})
""")

# KEYS: version, changes, grant. ARGV: camera id, revoked_at (JSON). Keeps an earlier withdrawal.
REVOKE_GRANT = script("""
if redis.call('EXISTS', KEYS[3]) == 0 then
  return ok({})
end
if redis.call('HGET', KEYS[3], 'revoked_at') == 'null' then
  local version = next_version()
  redis.call('HSET', KEYS[3], 'revoked_at', ARGV[2], 'version', version)
  announce('grant', ARGV[1], version)
end
return ok({record = redis.call('HGETALL', KEYS[3])})
""")

# KEYS: version, changes, grant. ARGV: camera id, audio (JSON true/false), the version the write replaces ('' for
# any). A grant from before audio has none (reads as false). Answers the grant record, changed only if its audio
# was otherwise.
SET_GRANT_AUDIO = script("""
if redis.call('EXISTS', KEYS[3]) == 0 then
  return ok({})
end
if ARGV[3] ~= '' and redis.call('HGET', KEYS[3], 'version') ~= ARGV[3] then
  return fail('grant_changed')
end
if (redis.call('HGET', KEYS[3], 'audio') or 'false') ~= ARGV[2] then
  local version = next_version()
  redis.call('HSET', KEYS[3], 'audio', ARGV[2], 'version', version)
  announce('grant', ARGV[1], version)
end
return ok({record = redis.call('HGETALL', KEYS[3])})
""")

# KEYS: version, changes, pilot. ARGV: now (JSON), starts_at (JSON), field pairs (starts_at, ends_at, ended). The
# Lua twin of `hub.store.pilot_runs.next_pilot`: the window continues the current pilot's run if that pilot is not
# ended, now < its ends_at and starts_at < its ends_at; otherwise it takes the next run (1 for the first; a pilot
# from before runs is run 1). tonumber parses the JSON numbers exactly (strtod), so the comparisons are exact.
# Answers the version and run.
SET_PILOT = script("""
local run = 1
if redis.call('EXISTS', KEYS[3]) == 1 then
  local current = redis.call('HMGET', KEYS[3], 'ends_at', 'run', 'ended')
  local ends_at = tonumber(current[1])
  local current_run = tonumber(current[2] or '1')
  if current[3] ~= 'true' and tonumber(ARGV[1]) < ends_at and tonumber(ARGV[2]) < ends_at then
    run = current_run
  else
    run = current_run + 1
  end
end
local version = next_version()
redis.call('DEL', KEYS[3])
hset_pairs(KEYS[3], 3)
redis.call('HSET', KEYS[3], 'version', version, 'run', run)
announce('pilot', cjson.null, version)
return ok({version = version, run = run})
""")

# KEYS: version, changes, the policy hash. ARGV: change kind ('policy'), field pairs.
SET_SETTING = script("""
local version = next_version()
redis.call('DEL', KEYS[3])
hset_pairs(KEYS[3], 2)
redis.call('HSET', KEYS[3], 'version', version)
announce(ARGV[1], cjson.null, version)
return ok({version = version})
""")


class ConsentScripts:
    """The scripts above, registered on one client (EVALSHA, loaded again after a Redis restart)."""

    def __init__(self, client: aredis.Redis) -> None:
        register = client.register_script
        self.put_grant: AsyncScript = register(PUT_GRANT)
        self.revoke_grant: AsyncScript = register(REVOKE_GRANT)
        self.set_grant_audio: AsyncScript = register(SET_GRANT_AUDIO)
        self.set_pilot: AsyncScript = register(SET_PILOT)
        self.set_setting: AsyncScript = register(SET_SETTING)


class RedisConsent(RedisParts):
    """Grants, the pilot and the policy of `RedisStore`."""

    @functools.cached_property
    def _consent_scripts(self) -> ConsentScripts:
        return ConsentScripts(self._r)

    # -- grants ---------------------------------------------------------------------------------------

    @guard
    async def get_grant(self, camera_id: str) -> Grant | None:
        """The camera's grant (live, expired or revoked), or None if it never opted in."""
        fields = await self._hash(self._keys.grant(camera_id))
        return None if fields is None else grant_record(fields)

    @guard
    async def list_grants(self) -> list[Grant]:
        """Every grant, revoked and expired ones included, by camera id."""
        ids = cast(set[str], await self._r.smembers(self._keys.grants))
        return [grant_record(fields) for fields in await self._hashes([self._keys.grant(i) for i in sorted(ids)])]

    @guard
    async def put_grant(
        self,
        camera_id: str,
        starts_at: float,
        ends_at: float,
        agencies: frozenset[str] | None,
        audio: bool = False,
        replacing: int | None = None,
    ) -> Grant:
        """Replace the camera's grant with a new, unrevoked one (new version) made in the pilot current now (its
        run, 0 if there is none), with audio only if `audio`; NotFound if no such camera; Conflict if `replacing`
        is given and the grant is no longer that version."""
        checks.check_window(starts_at, ends_at)
        encoded = None if agencies is None else sorted(agencies)
        fields = records.pairs(
            camera_id=camera_id, starts_at=starts_at, ends_at=ends_at, agencies=encoded, revoked_at=None, audio=audio
        )
        keys = self._keys
        result = await self._run(
            self._consent_scripts.put_grant,
            [*self._feed, keys.camera(camera_id), keys.grant(camera_id), keys.grants, keys.pilot],
            [camera_id, "" if replacing is None else str(replacing), *fields],
            {"camera_not_found": NotFound(f"camera {camera_id!r} not found"), "grant_changed": Conflict(GRANT_CHANGED)},
        )
        version, run = int(result["version"]), int(result["pilot_run"])
        return Grant(camera_id, starts_at, ends_at, agencies, None, version, run, audio)

    @guard
    async def revoke_grant(self, camera_id: str, at: float) -> Grant | None:
        """Mark the grant withdrawn at `at` (new version); unchanged if already revoked; None if no grant."""
        checks.check_finite("at", at)
        result = await self._run(
            self._consent_scripts.revoke_grant, [*self._feed, self._keys.grant(camera_id)], [camera_id, json.dumps(at)]
        )
        return grant_record(records.decode_flat(result["record"])) if "record" in result else None

    @guard
    async def set_grant_audio(self, camera_id: str, audio: bool, replacing: int | None = None) -> Grant | None:
        """Turn the grant's audio on or off (new version); unchanged if it already says so; None if no grant;
        Conflict if `replacing` is given and the grant is no longer that version."""
        result = await self._run(
            self._consent_scripts.set_grant_audio,
            [*self._feed, self._keys.grant(camera_id)],
            [camera_id, json.dumps(bool(audio)), "" if replacing is None else str(replacing)],
            {"grant_changed": Conflict(GRANT_CHANGED)},
        )
        return grant_record(records.decode_flat(result["record"])) if "record" in result else None

    # -- the pilot and the policy ---------------------------------------------------------------------

    @guard
    async def get_pilot(self) -> Pilot | None:
        """The pilot's window, or None if an admin never set one."""
        fields = await self._hash(self._keys.pilot)
        if fields is None:
            return None
        return pilot_record(fields)

    @guard
    async def set_pilot(self, starts_at: float, ends_at: float, now: float) -> Pilot:
        """Set the pilot's window (new version) at the writer's time `now`.

        The window continues the current pilot's run if that pilot is not ended, `now` is before its end, and the
        window starts before that end (it extends, shortens or ends the running or scheduled pilot); otherwise it
        is a new pilot, with the next run (1 for the first), in which no grant made before counts. It is `ended`
        if `ends_at <= now` (an admin ending it now, or setting an end in the past). One script decides and writes.
        """
        checks.check_window(starts_at, ends_at)
        checks.check_finite("now", now)
        ended = ends_at <= now
        fields = records.pairs(starts_at=starts_at, ends_at=ends_at, ended=ended)
        result = await self._run(
            self._consent_scripts.set_pilot,
            [*self._feed, self._keys.pilot],
            [json.dumps(float(now)), json.dumps(float(starts_at)), *fields],
        )
        return Pilot(starts_at, ends_at, int(result["version"]), int(result["run"]), ended)

    @guard
    async def get_policy(self) -> Policy:
        """The admin's limits; the configured default (version 0) until one is set."""
        fields = await self._hash(self._keys.policy)
        if fields is None:
            return Policy(self._default_max_grant_seconds, 0)
        return policy_record(fields)

    @guard
    async def set_policy(self, max_grant_seconds: float) -> Policy:
        """Set the cap on every opt-in's time box (new version); ValueError unless positive and finite."""
        checks.check_positive("max_grant_seconds", max_grant_seconds)
        fields = records.pairs(max_grant_seconds=max_grant_seconds)
        result = await self._run(
            self._consent_scripts.set_setting, [*self._feed, self._keys.policy], ["policy", *fields]
        )
        return Policy(max_grant_seconds, int(result["version"]))


def grant_record(fields: records.Fields) -> Grant:
    agencies = fields["agencies"]
    if agencies is not None and not (isinstance(agencies, list) and all(isinstance(a, str) for a in agencies)):
        raise ValueError("grant agencies must be a JSON array of agency ids")
    return Grant(
        camera_id=str(fields["camera_id"]),
        starts_at=float(fields["starts_at"]),
        ends_at=float(fields["ends_at"]),
        agencies=None if agencies is None else frozenset(agencies),
        revoked_at=records.optional_float(fields["revoked_at"]),
        version=int(fields["version"]),
        # A grant from before pilot runs belongs to the pilot of its time, which reads as run 1.
        pilot_run=int(fields.get("pilot_run", 1)),
        # A grant from before audio consent has none.
        audio=fields.get("audio", False) is True,
    )


def pilot_record(fields: records.Fields) -> Pilot:
    """A pilot record; one from before pilot runs is run 1, not ended."""
    return Pilot(
        float(fields["starts_at"]),
        float(fields["ends_at"]),
        int(fields["version"]),
        run=int(fields.get("run", 1)),
        ended=bool(fields.get("ended", False)),
    )


def policy_record(fields: records.Fields) -> Policy:
    return Policy(float(fields["max_grant_seconds"]), int(fields["version"]))
