"""Hub-to-hub signatures (hub/routing/peer_auth.py): what each part of a request the signature covers, the time
window, replays, and the shared secret's file."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest

from hub.errors import Unauthorized
from hub.routing.peer_auth import (
    NODE_HEADER,
    SIGNATURE_HEADER,
    TIME_HEADER,
    PeerVerifier,
    load_or_create_secret,
    sign,
)

SECRET = b"k" * 44
NOW = 1_800_000_000.0
PATH = "/relay/front-door"
BODY = b"v=0\r\n..."


def _verifier(most: int = 100) -> PeerVerifier:
    return PeerVerifier(SECRET, window=30.0, most=most, clock=lambda: NOW)


def _reason(verifier: PeerVerifier, headers: dict[str, str], method: str = "POST", path: str = PATH) -> str:
    with pytest.raises(Unauthorized) as raised:
        verifier.verify(method, path, headers, BODY)
    return raised.value.reason


def test_a_signed_request_names_its_hub() -> None:
    assert _verifier().verify("POST", PATH, sign(SECRET, "hub-b", "POST", PATH, BODY, now=NOW), BODY) == "hub-b"


@pytest.mark.parametrize(
    ("what", "change"),
    [
        ("method", lambda h: ("DELETE", PATH, h, BODY)),
        ("path", lambda h: ("POST", "/relay/backyard", h, BODY)),
        ("body", lambda h: ("POST", PATH, h, BODY + b"a=x\r\n")),
        ("node", lambda h: ("POST", PATH, {**h, NODE_HEADER: "hub-evil"}, BODY)),
        ("time", lambda h: ("POST", PATH, {**h, TIME_HEADER: f"{NOW + 1:.3f}"}, BODY)),
        ("signature", lambda h: ("POST", PATH, {**h, SIGNATURE_HEADER: "0" * 64}, BODY)),
    ],
)
def test_every_part_is_covered(what: str, change: Any) -> None:
    headers = sign(SECRET, "hub-b", "POST", PATH, BODY, now=NOW)
    method, path, changed, body = change(headers)
    with pytest.raises(Unauthorized) as raised:
        _verifier().verify(method, path, changed, body)
    assert raised.value.reason == "peer_auth_failed", what


def test_another_secret_or_no_signature_is_refused() -> None:
    assert _reason(_verifier(), sign(b"x" * 44, "hub-b", "POST", PATH, BODY, now=NOW)) == "peer_auth_failed"
    assert _reason(_verifier(), {}) == "peer_auth_failed"


@pytest.mark.parametrize("offset", [-31.0, 31.0])
def test_outside_the_window_is_refused(offset: float) -> None:
    assert _reason(_verifier(), sign(SECRET, "hub-b", "POST", PATH, BODY, now=NOW + offset)) == "peer_auth_stale"


def test_a_replay_is_refused_and_fresh_nonces_pass() -> None:
    verifier = _verifier()
    headers = sign(SECRET, "hub-b", "POST", PATH, BODY, now=NOW)
    verifier.verify("POST", PATH, headers, BODY)
    assert _reason(verifier, headers) == "peer_auth_replayed"
    for _ in range(5):
        verifier.verify("POST", PATH, sign(SECRET, "hub-b", "POST", PATH, BODY, now=NOW), BODY)


def test_the_secret_is_made_once_private_and_shared(tmp_path: Path) -> None:
    path = tmp_path / "data" / "peer-secret.key"
    made = load_or_create_secret(path)
    assert len(made) >= 32 and load_or_create_secret(path) == made
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    short = tmp_path / "short.key"
    short.write_text("too short\n", encoding="utf-8")
    with pytest.raises(ValueError, match="at least 32"):
        load_or_create_secret(short)
