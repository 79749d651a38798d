"""The receive-side bandwidth estimator is built when the first video packet arrives, not with every receiver.

aiortc gives every video receiver a RemoteBitrateEstimator at construction: about 96 kB of Python objects (a
1,000-bucket rate counter), even on the hub's WHEP connections, whose receivers never get a packet because the hub
only sends. With hundreds of connections opening at once (a flood, tests/test_stalled_offers.py) that was about
half of what each cost. Receivers that do get video (WHIP publishers) build the same estimator on their first
packet, so their REMB feedback is unchanged.
"""

from __future__ import annotations

from typing import Any

import aiortc.rtcrtpreceiver
from aiortc.rate import RemoteBitrateEstimator


class OnFirstPacket:
    """Stands in for a RemoteBitrateEstimator until the first `add`, then passes every call to a real one."""

    __slots__ = ("_real",)

    def __init__(self) -> None:
        self._real: RemoteBitrateEstimator | None = None

    def add(self, **packet: Any) -> tuple[int, list[int]] | None:
        """Feed one packet's arrival to the estimator (built on the first call); a REMB value when it has one."""
        if self._real is None:
            self._real = RemoteBitrateEstimator()
        return self._real.add(**packet)


def estimate_on_first_packet() -> None:
    """Install the lazy estimator in this process (idempotent); fails loudly if aiortc no longer has what it swaps."""
    current = getattr(aiortc.rtcrtpreceiver, "RemoteBitrateEstimator", None)
    if current is OnFirstPacket:
        return
    if current is not RemoteBitrateEstimator:
        raise RuntimeError("aiortc.rtcrtpreceiver.RemoteBitrateEstimator is gone: the lazy estimator needs updating")
    setattr(aiortc.rtcrtpreceiver, "RemoteBitrateEstimator", OnFirstPacket)  # noqa: B010 (not a public name)
