"""Time to first frame: an officer's WHEP request to the first decoded frame, through the hub.

Baseline, measured in the same run: the same synthetic camera track sent straight from one aiortc peer to
another in this process (no hub, no agent), from offer to first decoded frame. Through the hub the figure
includes asking the agent to publish, the agent opening its source and its WHIP handshake ("cold"), or only
the viewer's own handshake when the camera is already publishing for someone else ("warm").

    python -m bench.first_frame [--runs 10] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from aiortc import RTCConfiguration, RTCPeerConnection

from device_agent.sources import SyntheticSource
from device_agent.track import CameraTrack
from porchlight_rtc.ice import enable_loopback
from tests.conftest import PASSWORDS
from tests.support.client import Api, Viewer
from tests.support.procs import Hub, running_agent

CAMERA = "front-door"


async def direct_once() -> float:
    """Offer to first decoded frame between two aiortc peers in this process."""
    sender = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    receiver = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    first: asyncio.Future[float] = asyncio.get_running_loop().create_future()
    readers: list[asyncio.Task[None]] = []

    @receiver.on("track")
    def on_track(track: Any) -> None:
        async def read() -> None:
            await track.recv()
            if not first.done():
                first.set_result(time.perf_counter())

        readers.append(asyncio.create_task(read()))

    track = CameraTrack(SyntheticSource(640, 480, "bench"), fps=15)
    began = time.perf_counter()
    sender.addTransceiver(track, direction="sendonly")
    await sender.setLocalDescription(await sender.createOffer())
    await receiver.setRemoteDescription(sender.localDescription)
    await receiver.setLocalDescription(await receiver.createAnswer())
    await sender.setRemoteDescription(receiver.localDescription)
    try:
        return (await asyncio.wait_for(first, 20)) - began
    finally:
        track.stop()
        await sender.close()
        await receiver.close()
        await asyncio.gather(*readers, return_exceptions=True)


async def hub_once(api: Api) -> tuple[float, Viewer]:
    """WHEP request to first decoded frame through the hub."""
    viewer = Viewer(api, CAMERA)
    began = time.perf_counter()
    status = await viewer.watch(case="BENCH-1", reason="benchmark")
    if status != 201:
        raise RuntimeError(f"WHEP answered {status}: {viewer.error}")
    await viewer.new_frame.wait()
    return time.perf_counter() - began, viewer


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50_ms": statistics.median(ordered) * 1000, "p95_ms": p95 * 1000}


async def run(runs: int) -> dict[str, Any]:
    enable_loopback()
    direct = [await direct_once() for _ in range(runs)]
    cold, warm = [], []
    with tempfile.TemporaryDirectory(prefix="porchlight-bench-") as tmp:
        hub = Hub(Path(tmp))
        hub.write_config()
        seeded = await hub.seed()
        await hub.start()
        try:
            async with running_agent(hub, CAMERA, seeded.tokens[CAMERA], Path(tmp)) as agent:
                first, second = Api(hub.url), Api(hub.url)
                await first.login("olivia", PASSWORDS["olivia"])
                await second.login("olivia", PASSWORDS["olivia"])
                for index in range(runs):
                    elapsed, viewer = await hub_once(first)
                    cold.append(elapsed)
                    elapsed, joiner = await hub_once(second)
                    warm.append(elapsed)
                    for each in (joiner, viewer):
                        await each.hang_up()
                        await each.close()
                    await agent.wait_log_count("publishing stopped", index + 1)
                await first.close()
                await second.close()
        finally:
            await hub.stop()
    baseline = summary(direct)
    result: dict[str, Any] = {"runs": runs, "direct": baseline}
    for name, samples in (("hub_cold", cold), ("hub_warm", warm)):
        figures = summary(samples)
        figures["p50_ratio"] = figures["p50_ms"] / baseline["p50_ms"]
        result[name] = figures
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    result = asyncio.run(run(args.runs))
    if args.json:
        json.dump(result, sys.stdout)
        print()
        return
    print(f"time to first frame over {args.runs} runs (ratio: p50 against the direct baseline)")
    print(f"{'path':<10} {'p50 ms':>8} {'p95 ms':>8} {'ratio':>6}")
    for name in ("direct", "hub_cold", "hub_warm"):
        row = result[name]
        print(f"{name:<10} {row['p50_ms']:>8.0f} {row['p95_ms']:>8.0f} {row.get('p50_ratio', 1.0):>6.2f}")


if __name__ == "__main__":
    main()
