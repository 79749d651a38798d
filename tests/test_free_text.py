"""Issue 14 item 11: free text (case numbers, reasons, names) refuses control and text-direction characters at
input, so nothing shown to an owner or an admin can be made to read differently than it was written."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Awaitable
from typing import Any

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection

from hub.errors import BadRequest
from hub.text import TextError, clean_text, free_text
from tests.support.procs import ROOT, Hub

ACCEPTED = [
    ("CASE-2026-001234", "CASE-2026-001234"),
    ("  burglary in progress  ", "burglary in progress"),
    ("Żółć gęślą jaźń", "Żółć gęślą jaźń"),
    ("日本語の理由", "日本語の理由"),
    ("مرحبا بالعالم", "مرحبا بالعالم"),  # right-to-left script: its letters are not controls
    ("עברית", "עברית"),
    ("हिन्दी", "हिन्दी"),
    ("می\u200cخواهم", "می\u200cخواهم"),  # noqa: RUF001 (Persian needs ZERO WIDTH NON-JOINER)
    ("officer \U0001f46e\u200d\u2640\ufe0f", "officer \U0001f46e\u200d\u2640\ufe0f"),  # an emoji ZWJ sequence
    ("x" * 200, "x" * 200),
]
REFUSED_CHARACTERS = [
    *(chr(c) for c in range(0x202A, 0x202F)),  # embeddings and overrides (U+202E: RIGHT-TO-LEFT OVERRIDE)
    *(chr(c) for c in range(0x2066, 0x206A)),  # isolates
    "\u200e",  # LEFT-TO-RIGHT MARK
    "\u200f",  # RIGHT-TO-LEFT MARK
    "\u061c",  # ARABIC LETTER MARK
    "\x00",
    "\n",
    "\t",
    "\x1b",  # an escape (terminal colours in a CLI listing)
    "\x7f",
    "\x85",  # NEXT LINE
    "\u2028",  # LINE SEPARATOR
    "\u2029",  # PARAGRAPH SEPARATOR
    "\ufeff",  # ZERO WIDTH NO-BREAK SPACE (Cf)
    "\ue000",  # private use
    "\u0378",  # unassigned
]


@pytest.mark.parametrize(("given", "kept"), ACCEPTED)
def test_visible_text_of_every_script_passes(given: str, kept: str) -> None:
    assert free_text(given, "case", 200) == kept


@pytest.mark.parametrize("char", REFUSED_CHARACTERS, ids=lambda c: f"U+{ord(c):04X}")
def test_control_and_direction_characters_are_refused(char: str) -> None:
    with pytest.raises(BadRequest) as caught:
        free_text(f"CASE-1{char}42", "case", 200)
    assert caught.value.status == 400 and caught.value.reason == "bad_case"
    assert f"U+{ord(char):04X}" in str(caught.value)
    with pytest.raises(TextError):  # the same rule outside HTTP (the CLI), as a ValueError
        clean_text(f"na{char}me", "name", 100)


@pytest.mark.parametrize("given", [None, 42, ["x"], "", "   ", "x" * 201])
def test_missing_empty_or_too_long_is_refused(given: object) -> None:
    with pytest.raises(BadRequest) as caught:
        free_text(given, "reason", 200)
    assert caught.value.reason == "bad_reason"
    assert str(caught.value) == "reason must be text of 1 to 200 characters"


# Against a real hub: nothing with U+202E is recorded, stored or started ----------------------------------------


def _records(hub: Hub) -> list[dict[str, object]]:
    with sqlite3.connect(hub.config().store.data_dir / "audit.sqlite3") as db:
        return [json.loads(body) for (body,) in db.execute("SELECT body FROM records ORDER BY position")]


async def _offer() -> str:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        pc.addTransceiver("video", direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        return str(pc.localDescription.sdp)
    finally:
        await pc.close()


async def test_spoofing_characters_are_refused_at_the_api_and_nothing_is_recorded(hub: Hub, login) -> None:
    olivia, ada = await login("olivia"), await login("ada")
    before = len(_records(hub))
    offer = await _offer()
    for params, reason in [
        ({"case": "CASE-1\u202e3202", "reason": "burglary"}, "bad_case"),
        ({"case": "CASE-1", "reason": "\u2067burglary"}, "bad_reason"),
    ]:
        async with olivia.http.post(
            f"{hub.url}/whep/front-door", params=params, data=offer,
            headers={"Content-Type": "application/sdp", **olivia.headers},
        ) as response:  # fmt: skip
            assert response.status == 400
            assert (await response.json())["reason"] == reason
    ask = {"case": "CASE-1\u202e3202", "reason": "burglary", "duration_seconds": 600}
    assert await _status(olivia.call("POST", "/api/cameras/backyard/requests", ask)) == (400, "bad_case")
    ask = {"case": "CASE-1", "reason": "burglary\u200f", "duration_seconds": 600}
    assert await _status(olivia.call("POST", "/api/cameras/backyard/requests", ask)) == (400, "bad_reason")
    status, listing = await olivia.call("GET", "/api/requests")
    assert status == 200 and listing["requests"] == []
    agency = {"id": "spoof", "name": "Metro\u202e DP"}
    assert await _status(ada.call("POST", "/api/agencies", agency)) == (400, "bad_name")
    new = {"username": "eve\u202e", "password": "eve-password-1", "role": "resident"}
    assert await _status(ada.call("POST", "/api/accounts", new)) == (400, "bad_username")
    kinds = [str(record["kind"]) for record in _records(hub)[before:]]
    assert not any(kind.startswith(("view.", "access.", "agency.", "account.created")) for kind in kinds), kinds


async def _status(call: Awaitable[tuple[int, Any]]) -> tuple[int, str]:
    status, answer = await call
    return status, answer["reason"]


def test_cli_refuses_a_camera_name_with_direction_characters(tmp_path) -> None:
    hub = Hub(tmp_path)
    hub.write_config()
    env = {"PATH": "/usr/bin:/bin", "PORCHLIGHT_PASSWORD": "rita-password"}

    def porchlight(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "hub", "--config", str(hub.config_path), *args],
            capture_output=True, text=True, cwd=ROOT, env=env, timeout=60, check=False,
        )  # fmt: skip

    assert porchlight("account", "add", "rita", "--role", "resident").returncode == 0
    refused = porchlight("camera", "add", "gate", "--owner", "rita", "--name", "Garden\u202e gate")
    assert refused.returncode != 0 and "U+202E" in refused.stderr, refused.stderr
    assert "gate" not in porchlight("camera", "list").stdout
    assert porchlight("camera", "add", "gate", "--owner", "rita", "--name", "Garden gate").returncode == 0
