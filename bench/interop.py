"""The interop matrix as figures: every third-party publisher and player on a hub of each codec, pass or fail,
with its time to first frame.

The cases are the interop suite's (tests/interop/cases.py; GStreamer's come from tests/interop/gstreamer.py when
it provides `interop_cases`): FFmpeg's WHIP muxer with and without Opus, Chromium pages publishing by hand and with
Medooze's WHIPClient (judged by an aiortc viewer), and Chromium pages playing by hand and with WHEPClient our
agent's and FFmpeg's streams. First frame: from the judging viewer's WHEP POST to its first decoded frame.

Baseline, measured on the same hub in the same run: our own agent watched by an aiortc viewer (the path the rest
of the suite proves), so a ratio says what a client costs over ours on this machine, not the machine's speed. The
hub runs with its per-officer limits lifted (one officer opens every view); the rig (Chromium, FFmpeg, the
viewers) shares the machine with the hub, so the times include the rig's own start-up of each client.

    python -m bench.interop [--codecs vp8,h264] [--runs 1] [--only ffmpeg] [--json]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path
from typing import Any

from bench.hub_procs import ONE_OFFICER_MANY_VIEWS
from bench.output import Result, run_and_report
from porchlight_rtc.ice import enable_loopback
from tests.interop.browser import install_packages
from tests.interop.cases import Case, CaseResult, all_cases, judge_with_viewer, run_case
from tests.interop.feeds import agent_feed
from tests.interop.rig import CODECS, Rig, interop_rig

BASELINE = "agent/aiortc (baseline)"


async def _baseline(rig: Rig, result: CaseResult) -> None:
    """Our own agent, watched by an aiortc viewer: the path every other test of the suite takes."""
    async with agent_feed(rig) as feed:
        await judge_with_viewer(rig, feed.camera, result, stamped=True)


def _row(runs: list[CaseResult], role: str, baseline_ms: float | None) -> dict[str, Any]:
    """One case on one codec over its runs: passes, median times, the ratio to the baseline, the first error."""
    firsts = [r.first_frame_ms for r in runs if r.ok and r.first_frame_ms is not None]
    publishes = [r.publish_ms for r in runs if r.ok and r.publish_ms is not None]
    first = statistics.median(firsts) if firsts else None
    errors = [r.error for r in runs if r.error]
    return {
        "case": runs[0].case,
        "codec": runs[0].codec,
        "role": role,
        "runs": len(runs),
        "passed": sum(r.ok for r in runs),
        "first_frame_ms": first,
        "publish_ms": statistics.median(publishes) if publishes else None,
        "ratio": first / baseline_ms if first is not None and baseline_ms else None,
        "frames": max(r.frames for r in runs),
        "error": errors[0] if errors else None,
    }


async def run(codecs: list[str], runs: int, only: str | None) -> Result:
    enable_loopback()
    install_packages()
    cases = [Case(BASELINE, "baseline", _baseline), *all_cases()]
    if only:
        cases = [case for case in cases if case.name == BASELINE or only in case.name]
    rows: list[dict[str, Any]] = []
    for codec in codecs:
        with tempfile.TemporaryDirectory(prefix=f"porchlight-bench-interop-{codec}-") as tmp:
            async with interop_rig(Path(tmp), codec, env=ONE_OFFICER_MANY_VIEWS) as rig:
                baseline_ms: float | None = None
                for case in cases:
                    results = [await run_case(rig, case) for _ in range(runs)]
                    row = _row(results, case.role, baseline_ms)
                    if case.name == BASELINE:
                        baseline_ms = row["first_frame_ms"]
                        row["ratio"] = 1.0 if baseline_ms else None
                    rows.append(row)
    return {"codecs": codecs, "runs": runs, "cases": rows, "all_passed": all(r["passed"] == r["runs"] for r in rows)}


def _ms(value: float | None) -> str:
    return f"{value:.0f}" if value is not None else "-"


def report(result: Result) -> None:
    print(f"interop matrix, {result['runs']} run(s) per case: first frame from the viewer's WHEP POST (median ms),")
    print("ratio against our own agent watched by an aiortc viewer on the same hub")
    print(f"{'codec':<6} {'case':<34} {'role':<10} {'publish':>8} {'first':>7} {'ratio':>6} {'passed':>7}  error")
    for row in result["cases"]:
        ratio = f"{row['ratio']:.2f}" if row["ratio"] is not None else "-"
        error = (row["error"] or "").splitlines()[0][:90] if row["error"] else ""
        print(
            f"{row['codec']:<6} {row['case']:<34} {row['role']:<10} {_ms(row['publish_ms']):>8} "
            f"{_ms(row['first_frame_ms']):>7} {ratio:>6} {row['passed']:>3}/{row['runs']:<3}  {error}"
        )
    print("all passed" if result["all_passed"] else "SOME CASES FAILED")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codecs", default=",".join(CODECS), help="media.codec settings to run, comma-separated")
    parser.add_argument("--runs", type=int, default=1, help="runs of each case (medians over them)")
    parser.add_argument("--only", help="only the cases whose name contains this (the baseline always runs)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    codecs = [codec for codec in args.codecs.split(",") if codec]
    result = run_and_report(run(codecs, args.runs, args.only), args.json, report)
    raise SystemExit(0 if result["all_passed"] else 1)


if __name__ == "__main__":
    main()
