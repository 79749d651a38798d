"""Which pilot a newly set window belongs to: the rule both stores apply inside their write (the Redis store's
`SET_PILOT` script in `hub.store.redis_consent` is its Lua twin; the contract tests hold both to it).

A grant belongs to the pilot run it was made in, so a new run starts with no camera shared: an admin who ends a
pilot and starts another does not bring back the consent given in the first.
"""

from __future__ import annotations

from hub.consent.decision import Pilot


def next_pilot(current: Pilot | None, starts_at: float, ends_at: float, now: float) -> Pilot:
    """The pilot set to [starts_at, ends_at) at the writer's time `now`, after `current` (version left 0).

    It continues `current`'s run while that pilot is not ended, `now` is before its end, and the new window starts
    before that end (it extends, shortens or ends the running or scheduled pilot). Otherwise it is a new pilot:
    the next run (1 for the very first). It is `ended` if it ends at or before `now`.
    """
    if current is None:
        return Pilot(starts_at, ends_at, 0, 1, ends_at <= now)
    continues = not current.ended and now < current.ends_at and starts_at < current.ends_at
    run = current.run if continues else current.run + 1
    return Pilot(starts_at, ends_at, 0, run, ends_at <= now)
