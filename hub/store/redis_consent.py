"""The shared store's consent state: each camera's grant, the pilot's window and the admin's policy.

Every change takes the next version from the shared counter and announces it on the change channel, in one
script, so versions are strictly increasing across all three. Pilots are numbered by run (the `SET_PILOT` script
decides whether a window continues the current pilot or starts the next), and `PUT_GRANT` records the run of the
pilot current when the grant is written.
"""

from __future__ import annotations

import json
from typing import cast

from hub.consent.decision import Grant, Pilot
from hub.store import checks
from hub.store import redis_records as records
from hub.store.base import NotFound, Policy
from hub.store.redis_plumbing import RedisParts, guard


class RedisConsent(RedisParts):
    """Grants, the pilot and the policy of `RedisStore`."""

    # -- grants ---------------------------------------------------------------------------------------

    @guard
    async def get_grant(self, camera_id: str) -> Grant | None:
        """The camera's grant (live, expired or revoked), or None if it never opted in."""
        fields = await self._hash(self._keys.grant(camera_id))
        return None if fields is None else records.grant(fields)

    @guard
    async def list_grants(self) -> list[Grant]:
        """Every grant, revoked and expired ones included, by camera id."""
        ids = cast(set[str], await self._r.smembers(self._keys.grants))
        return [records.grant(fields) for fields in await self._hashes([self._keys.grant(i) for i in sorted(ids)])]

    @guard
    async def put_grant(
        self,
        camera_id: str,
        starts_at: float,
        ends_at: float,
        agencies: frozenset[str] | None,
        audio: bool = False,
    ) -> Grant:
        """Replace the camera's grant with a new, unrevoked one (new version) made in the pilot current now (its
        run, 0 if there is none), with audio only if `audio`; NotFound if no such camera."""
        checks.check_window(starts_at, ends_at)
        encoded = None if agencies is None else sorted(agencies)
        fields = records.pairs(
            camera_id=camera_id, starts_at=starts_at, ends_at=ends_at, agencies=encoded, revoked_at=None, audio=audio
        )
        keys = self._keys
        result = await self._run(
            self._scripts.put_grant,
            [*self._feed, keys.camera(camera_id), keys.grant(camera_id), keys.grants, keys.pilot],
            [camera_id, *fields],
            {"camera_not_found": NotFound(f"camera {camera_id!r} not found")},
        )
        version, run = int(result["version"]), int(result["pilot_run"])
        return Grant(camera_id, starts_at, ends_at, agencies, None, version, run, audio)

    @guard
    async def revoke_grant(self, camera_id: str, at: float) -> Grant | None:
        """Mark the grant withdrawn at `at` (new version); unchanged if already revoked; None if no grant."""
        checks.check_finite("at", at)
        result = await self._run(
            self._scripts.revoke_grant, [*self._feed, self._keys.grant(camera_id)], [camera_id, json.dumps(at)]
        )
        return records.grant(records.decode_flat(result["record"])) if "record" in result else None

    @guard
    async def set_grant_audio(self, camera_id: str, audio: bool) -> Grant | None:
        """Turn the grant's audio on or off (new version); unchanged if it already says so; None if no grant."""
        result = await self._run(
            self._scripts.set_grant_audio,
            [*self._feed, self._keys.grant(camera_id)],
            [camera_id, json.dumps(bool(audio))],
        )
        return records.grant(records.decode_flat(result["record"])) if "record" in result else None

    # -- the pilot and the policy ---------------------------------------------------------------------

    @guard
    async def get_pilot(self) -> Pilot | None:
        """The pilot's window, or None if an admin never set one."""
        fields = await self._hash(self._keys.pilot)
        if fields is None:
            return None
        return records.pilot(fields)

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
            self._scripts.set_pilot,
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
        return records.policy(fields)

    @guard
    async def set_policy(self, max_grant_seconds: float) -> Policy:
        """Set the cap on every opt-in's time box (new version); ValueError unless positive and finite."""
        checks.check_positive("max_grant_seconds", max_grant_seconds)
        fields = records.pairs(max_grant_seconds=max_grant_seconds)
        result = await self._run(self._scripts.set_setting, [*self._feed, self._keys.policy], ["policy", *fields])
        return Policy(max_grant_seconds, int(result["version"]))
