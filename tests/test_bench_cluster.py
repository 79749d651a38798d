"""bench/cluster.py end to end at a small N, so the benchmark cannot rot: three hubs on one redis-server, the camera
on A, the baseline phases and the cluster phase (B and C relaying from A), the withdrawal through B, the figures and
the printed report."""

from __future__ import annotations

import pytest

from bench.cluster import Settings, report, run
from tests.support.redis_server import redis_available

pytestmark = pytest.mark.skipif(not redis_available(), reason="redis-server is not installed (make system-deps)")


async def test_cluster_benchmark_runs_end_to_end(capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings(
        viewers=4, probes=3, seconds=1.0, warmup=0.3, per_worker=8, first_frame_timeout=20, withdraw_on="b"
    )
    result = await run(settings)

    assert result["placement"] == {"a": 2, "b": 1, "c": 1}
    phases = result["phases"]
    assert [phases["baseline"]["hubs"]["a"]["served"], phases["baseline_share"]["hubs"]["a"]["served"]] == [4, 2]
    for name, row in phases.items():
        for hub, figures in row["hubs"].items():
            if figures["viewers"]:
                assert figures["viewers_without_frame"] == 0, (name, hub)
                assert figures["fps_min"] > 0, (name, hub)
                assert figures["latency_p50_ms"] is not None, (name, hub)
    derived = result["derived"]
    # B and C serve their own viewers through one relay each from A (a 307 to A would show as redirected).
    assert (derived["relays"], derived["redirected"]) == (["b", "c"], [])
    assert [phases["cluster"]["hubs"][hub]["served"] for hub in ("a", "b", "c")] == [2, 1, 1]
    assert derived["relay_cost_on_a_pct"] is not None and derived["relay_added_latency_p50_ms"] is not None

    withdrawal = result["withdrawal"]
    assert (withdrawal["through"], withdrawal["status"]) == ("b", 200)
    assert withdrawal["frames_after"] == 0
    assert sorted(withdrawal["gates"]["hubs"]) == ["hub-a", "hub-b", "hub-c"]  # every hub that carried the camera
    for hub, row in withdrawal["hubs"].items():
        assert row["viewers"] and row["without_end"] == 0, hub
        assert row["end_reasons"] == ["withdrawn"], hub
        assert row["last_capture_max_ms"] is not None, hub

    report(result)
    printed = capsys.readouterr().out
    assert "relay adds <= 20 ms at p50" in printed
    assert "0 frames captured after the withdrawal on any hub: 0" in printed
