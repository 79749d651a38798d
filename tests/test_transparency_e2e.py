"""The public transparency report, from scripted activity in a real hub, against counts the test keeps itself."""

from __future__ import annotations

import csv
import io
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from hub.audit.checkpoint import open_checkpoint
from hub.audit.signing import Verifier
from tests.support.client import Api, Viewer
from tests.support.procs import running_agent

AGENCY = {"olivia": "metro-pd", "sam": "county-so"}


@dataclass
class Tally:
    """What the script did, per agency, counted as it went."""

    views: Counter[str] = field(default_factory=Counter)
    cameras: dict[str, set[str]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    denied: dict[str, Counter[str]] = field(default_factory=dict)
    cut_short: Counter[str] = field(default_factory=Counter)

    def watched(self, officer: str, camera: str, seconds: float) -> None:
        agency = AGENCY[officer]
        self.views[agency] += 1
        self.cameras.setdefault(agency, set()).add(camera)
        self.seconds[agency] = self.seconds.get(agency, 0.0) + seconds

    def refused(self, officer: str, reason: str) -> None:
        self.denied.setdefault(AGENCY[officer], Counter())[reason] += 1


async def _watch(api: Api, camera: str, case: str) -> tuple[Viewer, float]:
    viewer = Viewer(api, camera)
    began = time.monotonic()
    assert await viewer.watch(case, "report test") == 201, viewer.error
    await viewer.wait_frames(5)
    return viewer, began


async def _refuse(api: Api, camera: str, reason: str) -> None:
    viewer = Viewer(api, camera)
    assert await viewer.watch("DENIED", "report test") == 403
    assert viewer.error is not None and viewer.error["reason"] == reason


async def test_report_matches_the_scripted_activity(hub, tokens, login, tmp_path: Path) -> None:
    tally = Tally()
    olivia, sam, alice, bob = [await login(name) for name in ("olivia", "sam", "alice", "bob")]
    async with (
        running_agent(hub, "front-door", tokens["front-door"], tmp_path),
        running_agent(hub, "porch", tokens["porch"], tmp_path),
    ):
        status, _ = await alice.call("POST", "/api/cameras/front-door/grant", {"duration_seconds": 3600})
        assert status == 201
        status, _ = await bob.call(
            "POST", "/api/cameras/porch/grant", {"duration_seconds": 3600, "agencies": ["metro-pd"]}
        )
        assert status == 201
        opted_in = {"metro-pd": {"front-door", "porch"}, "county-so": {"front-door"}}

        for camera, case in (("front-door", "O-1"), ("porch", "O-2")):
            viewer, began = await _watch(olivia, camera, case)
            assert await viewer.hang_up() == 200
            tally.watched("olivia", camera, time.monotonic() - began)
            await viewer.close()

        await _refuse(sam, "porch", "agency_out_of_scope")
        tally.refused("sam", "agency_out_of_scope")
        await _refuse(sam, "backyard", "no_grant")
        tally.refused("sam", "no_grant")

        viewer, began = await _watch(sam, "front-door", "S-1")
        status, _ = await alice.call("DELETE", "/api/cameras/front-door/grant")
        assert status == 200
        assert (await viewer.wait_end())["reason"] == "withdrawn"
        tally.watched("sam", "front-door", time.monotonic() - began)
        tally.cut_short["county-so"] += 1
        await viewer.close()

        await _refuse(olivia, "front-door", "withdrawn")
        tally.refused("olivia", "withdrawn")

    async with aiohttp.ClientSession() as public:  # no log-in: the report is public
        async with public.get(f"{hub.url}/api/transparency") as response:
            assert response.status == 200
            report = await response.json()
        async with public.get(f"{hub.url}/api/audit/key") as response:
            verifier = Verifier.parse((await response.json())["verifier_key"])
        async with public.get(f"{hub.url}/api/transparency.csv") as response:
            assert response.headers["Content-Type"].startswith("text/csv")
            rows = list(csv.DictReader(io.StringIO(await response.text())))
        async with public.get(f"{hub.url}/transparency") as response:
            page = await response.text()

    by_agency = {row["agency"]: row for row in report["agencies"]}
    for agency in ("metro-pd", "county-so"):
        row = by_agency[agency]
        assert row["views"] == tally.views[agency]
        assert row["cameras_viewed"] == len(tally.cameras[agency])
        assert row["denied"] == dict(tally.denied.get(agency, {}))
        assert row["cut_short_by_withdrawal"] == tally.cut_short[agency]
        assert row["cameras_opted_in"] == len(opted_in[agency])
        # The hub times a view from its record to its end; the test from its request to its hang-up.
        assert abs(row["minutes_watched"] - tally.seconds[agency] / 60) <= 0.1 + 0.05
    total = report["total"]
    assert total["views"] == sum(tally.views.values()) == 3
    assert total["cameras_viewed"] == 2
    assert sum(total["denied"].values()) == 3 and total["cut_short_by_withdrawal"] == 1
    assert sum(day["views"] for day in report["views_per_day"]) == 3 and report["views_per_day"][-1]["views"] == 3

    # The report names the checkpoint it was computed at, and that checkpoint is the log's signed tree head.
    checkpoint = open_checkpoint(report["checkpoint"]["note"], verifier)
    assert checkpoint.size == report["checkpoint"]["size"] > 0

    # The CSV and the page say the same.
    csv_rows = {row["agency"]: row for row in rows}
    assert int(csv_rows["metro-pd"]["views"]) == 2 and int(csv_rows["county-so"]["denied_no_grant"]) == 1
    assert int(csv_rows["total"]["views"]) == 3
    assert "<svg" in page and "<script" not in page and report["checkpoint"]["root"] in page


async def test_report_queries_are_checked(hub) -> None:
    async with aiohttp.ClientSession() as public:
        for query, reason in (
            ("from=2026-13-01", "bad_date"),
            ("from=2026-02-01&to=2026-01-01", "bad_period"),
            ("from=2020-01-01&to=2026-01-01", "period_too_long"),
            ("agency=nobody", "unknown_agency"),
        ):
            async with public.get(f"{hub.url}/api/transparency?{query}") as response:
                assert response.status == 400
                assert (await response.json())["reason"] == reason
        async with public.get(f"{hub.url}/api/transparency?agency=metro-pd") as response:
            report = await response.json()
            assert [row["agency"] for row in report["agencies"]] == ["metro-pd"]
