"""bench/fanout.py end to end at a small N, so the benchmark cannot rot: passthrough at two N (transcode, the baseline,
is the same code with another setting; left out to keep this short), tapped
viewers that count their SRTP packets below aiortc, the hub's refusals per step, the targets and the printed report.
And the limits it lifts: its one officer logs in once per viewer worker per step from one address and holds hundreds
of peers, more than the hub's defaults allow (issue 18: the benchmark failed outright on its log-ins)."""

from __future__ import annotations

import pytest
from limits import parse as parse_rate

from bench import packet_floor
from bench.fanout import JOINS, PASSTHROUGH_COUNTS, WORKERS, Settings, parse_counts, print_report, run
from bench.fanout_viewer import rtp_payload, starts_keyframe
from bench.hub_procs import EVERY_LIMIT_LIFTED
from hub.config import load_config


async def test_fanout_benchmark_runs_end_to_end(capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings(seconds=1.0, warmup=0.3, max_workers=2, first_frame_timeout=20, joins=1, probes=1, open_rate=50)
    result = await run(["passthrough"], {"passthrough": [1, 3]}, settings, progress=False)

    assert [(row["mode"], row["n"]) for row in result["runs"]] == [("passthrough", 1), ("passthrough", 3)]
    for row in result["runs"]:
        key = (row["mode"], row["n"])
        assert row["viewers_without_frame"] == row["joins_without_frame"] == 0, key
        assert row["hub_turned_away"] == 0, key
        assert row["fps_min"] > 0 and row["latency_p50_ms"] is not None, key
    tapped = result["runs"][1]  # N=3 over two workers: one probe decodes, two viewers are tapped
    assert (tapped["probes"], tapped["viewer_workers"]) == (1, 2)
    assert tapped["tapped_without_keyframe"] == 0 and tapped["tapped_keyframes_min"] >= 1
    assert tapped["tapped_packets_per_s"] > 0  # counted below aiortc, from the socket
    assert tapped["hub_counted_window"]['porchlight_frames_total{reason="ok"}'] > 0
    assert result["per_viewer_cpu_pct"]["passthrough"] is not None
    assert result["slope_ratio_transcode_to_passthrough"] is None  # no baseline in this run
    # The packet floor measured in the same run, and an extra viewer's cost as a multiple of it.
    assert result["packet_floor_us"] > 0 and result["floor_per_viewer_cpu_pct"] > 0
    kept = result["per_viewer_cpu_pct_keeping_up"]["passthrough"]  # None when a loaded machine kept no N at 15 fps
    assert (result["per_viewer_over_floor"] is None) == (kept is None)
    assert [line["target"] for line in result["targets"]] == [
        "<= 0.06 % of a core per extra viewer",
        "500 viewers at 15 fps with the hub under one core",
    ]
    assert result["targets"][1]["ok"] is None  # N=500 was not measured

    print_report(result, ["passthrough"], settings)
    printed = capsys.readouterr().out
    assert "transcode / passthrough per extra viewer" in printed
    assert "n/a  500 viewers at 15 fps with the hub under one core" in printed
    assert "what limited each step:" in printed


def test_the_hub_it_runs_allows_every_view_and_log_in_of_a_default_run() -> None:
    limits = load_config(env=EVERY_LIMIT_LIFTED).limits
    viewers = max(parse_counts(PASSTHROUGH_COUNTS))
    steps = len(parse_counts(PASSTHROUGH_COUNTS))
    logins = steps * (WORKERS + 1)  # each viewer worker and the joiner log in once per step, all from 127.0.0.1
    offers = sum(parse_counts(PASSTHROUGH_COUNTS)) + steps * JOINS
    assert limits.peers_total >= viewers + 2 and limits.peers_per_officer >= viewers + 1  # the camera, the joiner
    for rate, needed in (
        (limits.login_per_source, logins),
        (limits.login_per_account, logins),
        (limits.offers_per_source, offers),
        (limits.offers_per_account, offers),
    ):
        item = parse_rate(rate)
        assert item.amount * 60 / item.get_expiry() >= needed, rate  # a whole run within one minute still fits


def test_keyframes_are_read_from_the_first_packet_of_a_frame() -> None:
    header = bytes([0x80, 0x60]) + bytes(10)  # version 2, no CSRC, no extension, payload type 96
    # VP8 payload descriptor with S=1, PID=0 and no extension byte, then the frame tag: lowest bit 0 is a key frame.
    assert starts_keyframe("VP8", rtp_payload(header + bytes([0x10, 0x00, 0x00, 0x00, 0x9D, 0x01, 0x2A])))
    assert not starts_keyframe("VP8", rtp_payload(header + bytes([0x10, 0x01, 0x00, 0x00])))  # an interframe
    assert not starts_keyframe("VP8", rtp_payload(header + bytes([0x00, 0x00])))  # not the frame's first packet
    # With the extension byte (I and a 15-bit picture id), the payload header comes three bytes later.
    assert starts_keyframe("VP8", rtp_payload(header + bytes([0x90, 0x80, 0x81, 0x02, 0x00, 0x00])))
    # H264: an FU-A starting an IDR slice, and a STAP-A carrying SPS then IDR.
    assert starts_keyframe("H264", rtp_payload(header + bytes([0x7C, 0x85, 0x00])))
    assert starts_keyframe("H264", rtp_payload(header + bytes([0x78, 0x00, 0x01, 0x67, 0x00, 0x01, 0x65])))
    assert not starts_keyframe("H264", rtp_payload(header + bytes([0x7C, 0x05, 0x00])))  # an FU-A's middle


def test_the_packet_floor_is_a_few_microseconds_of_cpu() -> None:
    floor = packet_floor.measure(packets=2000, runs=1)
    assert 0 < floor < 1000  # microseconds of CPU per packet; a broken measurement reads 0 or seconds
