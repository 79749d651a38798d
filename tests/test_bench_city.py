"""bench.city end to end at a tiny size: a real hub, camera and viewer worker processes, churn and withdrawals.

Checks what the benchmark did, never how fast: every camera connected and stayed so, every view got frames, views
churned so cameras started and stopped publishing, each withdrawal ended its camera's views with no frame captured
after the call, and the report carries every figure the issue asks for.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys

from bench.city import capture_times
from tests.support.procs import ROOT

CAMERAS, PUBLISHING, VIEWERS, WITHDRAWALS = 12, 3, 7, 2
RUN_TIMEOUT = 120.0
FIGURES = (
    "hub_cpu_pct", "hub_rss_mb", "idle_hub_cpu_pct", "idle_cameras_cpu_pct", "idle_camera_cpu_pct", "idle_camera_kb",
    "per_viewer_cpu_pct", "fps_min", "fps_p5", "glass_to_glass_p50_ms", "glass_to_glass_p95_ms",
    "first_frame_publishing_p95_ms", "first_frame_on_demand_p95_ms", "withdrawal_last_capture_p99_ms",
    "lease_renewals_missed", "lease_lapses", "lease_lapses_whole_run", "store_silences", "bitrate_kbps_per_view",
    "packets_per_s_per_view",
    "cpu_us_per_packet", "rig_cameras_cpu_pct", "rig_viewers_cpu_pct", "machine_cpu_pct", "rig_limited",
)  # fmt: skip


async def test_city_benchmark_tiny() -> None:
    args = [
        "--cameras", str(CAMERAS), "--publishing", str(PUBLISHING), "--viewers", str(VIEWERS), "--probes", "3",
        "--withdrawals", str(WITHDRAWALS), "--seconds", "3", "--warmup", "0.5", "--idle-seconds", "0.5",
        "--churn", "2", "--loop-frames", "30", "--ramp", "50", "--json",
    ]  # fmt: skip
    # In a session of its own, so that whatever happens every process the benchmark started (its hub, its workers)
    # can be ended with it.
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.city", *args, cwd=ROOT, env=dict(os.environ),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(proc.communicate(), RUN_TIMEOUT)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # nothing is left once it exited cleanly
        if proc.returncode is None:
            await proc.wait()
    assert proc.returncode == 0, err.decode(errors="replace")[-3000:]
    (row,) = json.loads(out)["runs"]

    for name in FIGURES:
        assert name in row, name
    # Every camera on its control channel to the end; idle cameras were measured against the hub alone.
    assert row["cameras_connected_at_end"] == CAMERAS and row["camera_channels_lost"] == 0
    assert row["idle_camera_kb"] is not None
    # Every view got frames: each one opened got its first frame, and each open through the window kept getting them.
    assert row["views_refused"] == []
    assert row["views_without_first_frame"] == {"ramp": 0, "publishing": 0, "on_demand": 0}
    assert row["views_whole_window"] >= 1 and row["fps_min"] > 0
    assert row["latency_samples"] > 0 and row["unstamped_frames"] == 0  # probes' frames matched to their sends
    # Churn: views came and went both ways, so cameras were asked to publish beyond the first ones and told to stop.
    assert row["churn"]["publishing"] >= 1 and row["churn"]["on_demand"] >= 1
    assert row["camera_publishes"] > PUBLISHING
    assert row["camera_stops"] >= 1
    assert row["camera_publish_failures"] == 0
    # Withdrawals under load: accepted, each camera's probe saw frames before it and none captured after it.
    assert [w["status"] for w in row["withdrawals"]] == [200] * WITHDRAWALS
    assert len(row["withdrawal_last_capture_ms"]) == WITHDRAWALS
    assert row["withdrawal_frames_after"] == 0
    assert row["packets_forwarded"] > 0 and row["cpu_us_per_packet"] > 0


def test_capture_times_follow_the_views_timestamp_offset() -> None:
    """A probe's frames are matched to the camera's sends by the view's timestamp offset, not by the loop index alone:
    a keyframe request restarts the loop, so one index is sent twice within a latency's reach."""
    ticks, offset = 6000, 123_456_789
    # Loop index 0 at t=10.0 (pts 0), then 1, 2; the hub asks for a keyframe: index 0 again at 10.2 (pts 18000).
    sends = [[0, 0, 10.0], [1, ticks, 10.0667], [2, 2 * ticks, 10.1333], [0, 3 * ticks, 10.2], [1, 4 * ticks, 10.2667]]
    # Decoded 250 ms after each send (longer than the restart's 200 ms): the first index-0 frame arrives after the
    # second index-0 send, which the loop index alone would take it for.
    samples = [[index, (pts + offset) % 2**32, at + 0.25] for index, pts, at in sends]
    assert capture_times(samples, sends) == [10.0, 10.0667, 10.1333, 10.2, 10.2667]
    # A hub that re-timed frames: no shared offset; each frame falls back to the newest send of its index before it.
    retimed = [[index, 1000 * n, at] for n, (index, _, at) in enumerate(samples)]
    assert capture_times(retimed, sends) == [10.2, 10.2667, 10.1333, 10.2, 10.2667]
    assert capture_times([[None, 5, 11.0], [7, 5, 11.0]], sends) == [None, None]
