"""A long fuzzing campaign: mutated offers at WHIP and WHEP against a real hub, a real viewer watching throughout.

Starts a hub process (limits loosened so every case reaches the offer checks), a synthetic camera agent for
'front-door' and a real aiortc viewer of it, then sends the cases in batches, each batch from its own seed (so
hypothesis' memory of what it drew stays bounded), printing progress and the hub's resources after each. At the
end it waits for the hub to settle and prints "fuzz: N cases run: <counts by status>" and the leak figures. Bad
answers (anything but 400/413, a 201 with a bad answer, a 415 to application/sdp, a refusal with internal detail)
are saved with their offers under --out; the exit status is 1 if there was any, or if the hub did not settle.

    python -m fuzz [--cases 100000] [--batch 5000] [--seed N] [--out DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import shutil
import sys
import tempfile
import time
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from fuzz.harness import (
    FUZZ_OFFICER,
    HUB_ENV,
    MAX_FAILURES,
    UNWATCHED,
    WATCHED,
    Credentials,
    Snapshot,
    Tally,
    in_worker,
    officer_token,
    settled,
    snapshot,
    worker,
)
from porchlight_rtc.ice import enable_loopback
from tests.conftest import PASSWORDS
from tests.support.client import Api, Viewer
from tests.support.procs import Hub, running_agent

SETTLE_SECONDS = 60.0
MARGIN = 5  # tasks and fds a few above the baseline still count as settled (a scrape's own connection)


def _figures(before: Snapshot, after: Snapshot, cases: int) -> str:
    growth = after.rss - before.rss
    return (
        f"  before: {before}\n  after:  {after}\n"
        f"  RSS growth {growth / 2**20:+.1f} MB ({growth / max(cases, 1):+.0f} bytes per case);"
        f" fds {after.fds - before.fds:+.0f}; tasks {after.tasks - before.tasks:+.0f};"
        f" peer connections {after.peers - before.peers:+.0f}; viewers {after.viewers - before.viewers:+.0f};"
        f" publishers {after.publishers - before.publishers:+.0f}"
    )


async def _campaign(args: argparse.Namespace, tmp: Path) -> int:
    hub = Hub(tmp / "hub", env=dict(HUB_ENV))
    hub.tmp.mkdir(parents=True, exist_ok=True)
    hub.write_config()
    seeded = await hub.seed()
    await hub.start()
    try:
        async with running_agent(hub, WATCHED, seeded.tokens[WATCHED], tmp):
            api = await Api(hub.url).login("olivia", PASSWORDS["olivia"])
            viewer = Viewer(api, WATCHED)
            try:
                if await viewer.watch() != 201:
                    raise RuntimeError(f"the real viewer could not watch: {viewer.error}")
                await viewer.wait_frames(5, timeout=30)
                status = await _batches(args, hub, viewer, seeded.tokens[UNWATCHED])
                if status:
                    # The hub's log goes with the saved offers (the rest of the temporary directory does not stay).
                    args.out.mkdir(parents=True, exist_ok=True)
                    shutil.copy(hub.tmp / "hub.log", args.out / "hub.log")
                return status
            finally:
                await viewer.close()
                await api.close()
    finally:
        await hub.stop()


async def _batches(args: argparse.Namespace, hub: Hub, viewer: Viewer, device_token: str) -> int:
    token = await officer_token(hub.url, FUZZ_OFFICER, PASSWORDS[FUZZ_OFFICER])
    credentials = Credentials(officer=token, device=device_token)
    before = await snapshot(hub.url)
    frames_before = len(viewer.frames)
    print(f"fuzz: seed {args.seed}; bad offers go to {args.out}; hub before: {before}", flush=True)
    total = Tally()
    began = time.monotonic()
    with worker() as pool:
        for number, start in enumerate(range(0, args.cases, args.batch)):
            count = min(args.batch, args.cases - start)
            seed = args.seed + number
            try:
                total.add(await in_worker(pool, hub.port, credentials, count, seed, args.out, known=number == 0))
            except BrokenProcessPool:
                total.failures.append(f"the worker process died in the batch of seed {seed}")
                break
            now = await snapshot(hub.url)
            print(
                f"fuzz: {total.cases}/{args.cases} cases, {time.monotonic() - began:.0f} s: {total.by_status()};"
                f" hub {now}; viewer frames {len(viewer.frames) - frames_before}",
                flush=True,
            )
            if len(total.failures) >= MAX_FAILURES or viewer.track_ended.is_set():
                break
    seconds = time.monotonic() - began
    print(total.report(seconds), flush=True)
    try:
        after = await settled(hub.url, before, MARGIN, SETTLE_SECONDS)
        settled_ok = True
    except AssertionError as exc:
        print(f"fuzz: LEAK? {exc}", flush=True)
        after, settled_ok = await snapshot(hub.url), False
    print(_figures(before, after, total.cases), flush=True)
    watching = not viewer.track_ended.is_set() and not viewer.got_end.is_set()
    print(
        f"  real viewer: {len(viewer.frames) - frames_before} frames during the run,"
        f" {'still watching' if watching else 'ENDED: ' + str(viewer.events)}",
        flush=True,
    )
    return 0 if settled_ok and watching and not total.failures else 1


def main() -> None:
    """Parse the arguments, run the campaign, exit 1 on any bad answer or leak."""
    parser = argparse.ArgumentParser(prog="python -m fuzz", description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000, help="how many cases to send (default 100000)")
    parser.add_argument("--batch", type=int, default=5_000, help="cases per hypothesis run, each its own seed")
    parser.add_argument("--seed", type=int, default=None, help="the first batch's seed (default: random, printed)")
    parser.add_argument("--out", type=Path, default=None, help="where bad offers are saved (default: under /tmp)")
    args = parser.parse_args()
    enable_loopback()  # the real viewer's peer connection gathers only 127.0.0.1
    if args.seed is None:
        args.seed = secrets.randbelow(2**32)
    if args.out is None:
        # Made only if something goes there: a clean run leaves nothing behind.
        args.out = Path(tempfile.gettempdir()) / f"porchlight-fuzz-failures-{args.seed}"
    with tempfile.TemporaryDirectory(prefix="porchlight-fuzz-") as tmp:
        sys.exit(asyncio.run(_campaign(args, Path(tmp))))


if __name__ == "__main__":
    main()
