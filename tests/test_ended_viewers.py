"""Ended sessions are kept for late event listeners, within bounds of number and of time."""

from __future__ import annotations

import math

from hub.consent.decision import Officer
from hub.consent.gate import OfficerPass
from hub.media.viewer import EndedViewers, Viewer

OLIVIA = OfficerPass("session", Officer(3, "metro-pd", True, True, math.inf))


def ended() -> Viewer:
    viewer = Viewer("front-door", 3, OLIVIA, None, purpose={"case": "C-1"})
    viewer.mark_ended("viewer_left")
    return viewer


def test_kept_for_a_while_then_forgotten() -> None:
    now = [1000.0]
    kept = EndedViewers(most=3, seconds=60, clock=lambda: now[0])
    first, second = ended(), ended()
    kept.add(first)
    now[0] += 30
    kept.add(second)
    assert kept.get(first.id) is first and kept.get(second.id) is second
    assert first.events[-1]["reason"] == "viewer_left"  # what a late listener is told
    now[0] += 31  # the first has been kept 61 s, the second 31 s
    kept.forget_old()
    assert kept.get(first.id) is None and kept.get(second.id) is second
    now[0] += 30
    kept.forget_old()
    assert len(kept) == 0


def test_at_most_the_last_few() -> None:
    kept = EndedViewers(most=2, seconds=60)
    views = [ended() for _ in range(3)]
    for viewer in views:
        kept.add(viewer)
    assert [kept.get(v.id) for v in views] == [None, views[1], views[2]]
