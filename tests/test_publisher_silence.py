"""A camera's silence counts from its first frame or from its connection coming up, never from the WHIP answer: a
slow ICE and DTLS start (GStreamer on a busy machine took over 5 s) is bounded by the handshake watchdog, and is
not a camera that stopped sending."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from hub.config import VideoCodec
from hub.media import publisher as publisher_module
from hub.media.publisher import Publisher


def test_silence_counts_only_once_the_connection_is_up(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(publisher_module, "time", SimpleNamespace(monotonic=lambda: now[0]))
    publisher = Publisher("cam", None, VideoCodec.VP8)  # type: ignore[arg-type]
    now[0] += 30
    assert publisher.silent_for() == 0.0  # still in its handshake, however long that takes
    publisher.connected()
    now[0] += 2
    assert publisher.silent_for() == 2.0
    publisher._arrived()
    now[0] += 1
    assert publisher.silent_for() == 1.0
    publisher.connected()  # a later "connected" (after a blip) does not restart the count
    assert publisher.silent_for() == 1.0
