"""The shared store's bars (`hub.store.view_bars_base.ViewBarStore`).

Keys (beside those in `hub.store.redis_keys`, same prefix):
- `<prefix>view-bars:<camera id>`: HASH, one field per barred account id, its value JSON
  {"grant_starts_at", "at", "until"} (`grant_starts_at` copied as the grant's own JSON text, so it compares exactly
  with the grant's `starts_at`). Every bar in it holds for the camera's current grant (`BAR_VIEWER` drops the others),
  and the key expires an hour after that grant's end (a TTL from the writer's `at`, so Redis's clock does not
  matter; the hour is a margin).
- `<prefix>view-bars`: SET of the camera ids that have (or had) such a hash, for `list_view_bars`.

`BAR_VIEWER` reads the grant, writes the bar, takes the next version and announces {"kind": "view_bar", "id":
<camera id>} in one script: hubs reload on it (an unknown kind to `hub.sync.apply_change` reloads everything).
"""

from __future__ import annotations

import functools
import json
import math
from typing import cast

from redis.commands.core import AsyncScript

from hub.store import checks
from hub.store.base import NotFound
from hub.store.redis_plumbing import RedisParts, guard, script
from hub.store.view_bars_base import ViewBar

# After the grant's end, how long a camera's bars are kept before Redis forgets them.
_EXPIRY_MARGIN_MS = 3_600_000

# KEYS: version, changes, account, grant, the camera's bars, the set of cameras with bars. ARGV: camera id,
# account id, at (JSON), the expiry's margin past the grant's end (ms). A grant is live unless missing, withdrawn
# (revoked_at not "null") or ended (ends_at <= at). Bars of the camera's earlier grants are dropped (compared as
# text: the grant's starts_at is copied, never re-encoded). Answers {} without a live grant, else the bar's JSON.
BAR_VIEWER = script("""
if redis.call('EXISTS', KEYS[3]) == 0 then
  return fail('account_not_found')
end
local grant = redis.call('HMGET', KEYS[4], 'starts_at', 'ends_at', 'revoked_at')
local at = tonumber(ARGV[3])
if not grant[1] or not grant[2] or (grant[3] and grant[3] ~= 'null') or tonumber(grant[2]) <= at then
  return ok({})
end
local head = '{"grant_starts_at": ' .. grant[1] .. ', '
local bars = redis.call('HGETALL', KEYS[5])
for i = 1, #bars, 2 do
  if string.sub(bars[i + 1], 1, #head) ~= head then
    redis.call('HDEL', KEYS[5], bars[i])
  end
end
local version = next_version()
local bar = head .. '"at": ' .. ARGV[3] .. ', "until": ' .. grant[2] .. '}'
redis.call('HSET', KEYS[5], ARGV[2], bar)
redis.call('PEXPIRE', KEYS[5], math.ceil((tonumber(grant[2]) - at) * 1000) + tonumber(ARGV[4]))
redis.call('SADD', KEYS[6], ARGV[1])
announce('view_bar', ARGV[1], version)
return ok({bar = bar})
""")


class RedisViewBars(RedisParts):
    """Bars on officers whose views a camera's owner stopped, of `RedisStore`."""

    @functools.cached_property
    def _bar_script(self) -> AsyncScript:
        return self._r.register_script(BAR_VIEWER)

    def _bars_key(self, camera_id: str) -> str:
        return f"{self._keys.prefix}view-bars:{camera_id}"

    @property
    def _barred_cameras_key(self) -> str:
        return f"{self._keys.prefix}view-bars"

    @guard
    async def bar_viewer(self, camera_id: str, account_id: int, at: float) -> ViewBar | None:
        """Bar the account from the camera until its current grant is replaced or ends (read in the same
        script); None, nothing written, without a grant live at `at`; NotFound for an unknown account."""
        checks.check_finite("at", at)
        keys = [
            *self._feed,
            self._keys.account(account_id),
            self._keys.grant(camera_id),
            self._bars_key(camera_id),
            self._barred_cameras_key,
        ]
        result = await self._run(
            self._bar_script,
            keys,
            [camera_id, str(int(account_id)), json.dumps(float(at)), _EXPIRY_MARGIN_MS],
            {"account_not_found": NotFound(f"account {account_id} not found")},
        )
        if "bar" not in result:
            return None
        return _bar(camera_id, int(account_id), result["bar"])

    @guard
    async def list_view_bars(self, now: float) -> list[ViewBar]:
        """Every bar kept at `now`, by camera and account."""
        cameras = sorted(cast(set[str], await self._r.smembers(self._barred_cameras_key)))
        if not cameras:
            return []
        async with self._r.pipeline(transaction=True) as pipe:
            for camera_id in cameras:
                pipe.hgetall(self._bars_key(camera_id))
            hashes = cast(list[dict[str, str]], await pipe.execute())
        bars = [
            _bar(camera_id, int(account), raw)
            for camera_id, fields in zip(cameras, hashes, strict=True)
            for account, raw in fields.items()
        ]
        return sorted((bar for bar in bars if bar.until > now), key=lambda bar: (bar.camera_id, bar.account_id))


def _bar(camera_id: str, account_id: int, raw: str) -> ViewBar:
    fields = json.loads(raw)
    until = float(fields["until"])
    if not math.isfinite(until):
        raise ValueError("a bar's end must be finite")
    return ViewBar(camera_id, account_id, float(fields["grant_starts_at"]), float(fields["at"]), until)
