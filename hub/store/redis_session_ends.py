"""The shared store's notes of how sessions ended (`hub.store.session_ends_base.SessionEndStore`).

Key (beside those in `hub.store.redis_keys`, same prefix): `<prefix>session-end:<token hash>`, a STRING holding
JSON `{"why": ..., "at": ...}`, with a Redis TTL up to its `keep_until`, so notes forget themselves. The account's
sessions are found through `RedisKeys.sessions_of`. Log-in bookkeeping: no version is taken, nothing announced.
"""

from __future__ import annotations

import json
import math

from hub.store import checks
from hub.store.redis_plumbing import RedisParts, guard
from hub.store.session_ends_base import EndedBecause, SessionEnd


class RedisSessionEnds(RedisParts):
    """Notes of how sessions ended, of `RedisStore`."""

    def _session_end_key(self, token_hash: str) -> str:
        return f"{self._keys.prefix}session-end:{token_hash}"

    @guard
    async def note_session_end(self, token_hash: str, why: EndedBecause, at: float, keep_until: float) -> None:
        """Note how the session with this token hash ended (replacing an earlier note), kept until `keep_until`."""
        _check(token_hash, at, keep_until)
        await self._r.set(self._session_end_key(token_hash), _note(why, at), px=_ttl_ms(at, keep_until))

    @guard
    async def note_session_ends_of(self, account_id: int, why: EndedBecause, at: float, keep_until: float) -> int:
        """Note the end of every session the account has now (call it before they are deleted); how many."""
        _check("-", at, keep_until)
        members = await self._r.smembers(self._keys.sessions_of(account_id))
        hashes = sorted(str(member) for member in members)
        if hashes:
            async with self._r.pipeline(transaction=True) as pipe:
                for token_hash in hashes:
                    pipe.set(self._session_end_key(token_hash), _note(why, at), px=_ttl_ms(at, keep_until))
                await pipe.execute()
        return len(hashes)

    @guard
    async def session_end(self, token_hash: str, now: float) -> SessionEnd | None:
        """How the session with this token hash ended, if a note is kept at `now`."""
        raw = await self._r.get(self._session_end_key(token_hash))
        if raw is None:
            return None
        note = json.loads(raw)
        return SessionEnd(EndedBecause(note["why"]), float(note["at"]))


def _note(why: EndedBecause, at: float) -> str:
    return json.dumps({"why": EndedBecause(why).value, "at": at})


def _ttl_ms(at: float, keep_until: float) -> int:
    return max(1, math.ceil((keep_until - at) * 1000))


def _check(token_hash: str, at: float, keep_until: float) -> None:
    if not token_hash:
        raise ValueError("token_hash must not be empty")
    checks.check_finite("at", at)
    checks.check_finite("keep_until", keep_until)
