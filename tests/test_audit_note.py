"""Audit keys, record encoding and signed checkpoints (C2SP signed-note, tlog-checkpoint)."""

from __future__ import annotations

import base64
import hashlib

import pytest

from hub.audit.checkpoint import CheckpointError, open_checkpoint, sign_checkpoint
from hub.audit.merkle import EMPTY_ROOT, leaf_hash
from hub.audit.record import Record, RecordError, audit_time, encode, parse_audit_time
from hub.audit.signing import KeyFormatError, Signer, Verifier, key_id, load_or_create_signer

ROOT = hashlib.sha256(b"some tree").digest()


def test_key_text_round_trips_and_names_its_id() -> None:
    signer = Signer.generate("example.org/log")
    again = Signer.parse(signer.text())
    assert again.verifier == signer.verifier
    vkey = signer.verifier.text()
    assert vkey.startswith("example.org/log+" + key_id("example.org/log", signer.verifier.public).hex() + "+")
    assert Verifier.parse(vkey) == signer.verifier


def test_key_id_follows_the_signed_note_rule() -> None:
    public = bytes(range(32))
    expected = hashlib.sha256(b"name\n\x01" + public).digest()[:4]
    assert key_id("name", public) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "name+00000000",
        "name+00000000+" + base64.b64encode(b"\x01" + bytes(32)).decode(),  # wrong id
        "name+" + key_id("name", bytes(32)).hex() + "+" + base64.b64encode(b"\x02" + bytes(32)).decode(),
        "na me+00000000+AA==",
        "name+00000000+not base64!",
    ],
)
def test_malformed_verifier_keys_are_refused(text: str) -> None:
    with pytest.raises(KeyFormatError):
        Verifier.parse(text)


def test_signer_key_file_is_made_once_with_mode_600(tmp_path) -> None:
    path = tmp_path / "keys" / "signer.key"
    first = load_or_create_signer(path, "porchlight.test/audit")
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_or_create_signer(path, "ignored").verifier == first.verifier


def test_record_signatures_are_bound_to_the_record_and_the_key() -> None:
    signer, other = Signer.generate("a"), Signer.generate("a")
    body = encode({"seq": 0, "kind": "view.started"})
    signature = signer.sign_record(body)
    assert signer.verifier.check_record(body, signature)
    assert not signer.verifier.check_record(body.replace(b"0", b"1"), signature)
    assert not other.verifier.check_record(body, signature)
    # A record signature is not a signature of the same bytes as a note.
    assert not signer.verifier.check(body, signature)


def test_encoding_is_canonical() -> None:
    assert encode({"b": 1, "a": [True, None, "é"]}) == b'{"a":[true,null,"\\u00e9"],"b":1}'
    with pytest.raises(RecordError):
        encode({"x": 1.5})
    record = Record(b'{"b":1, "a":2}', b"")
    with pytest.raises(RecordError):
        record.fields()
    assert Record(b'{"camera":"c","seq":3}', b"").camera == "c"


def test_times_are_utc_to_ten_milliseconds() -> None:
    assert audit_time(0) == "1970-01-01T00:00:00.00Z"
    assert audit_time(1_700_000_000.126) == "2023-11-14T22:13:20.13Z"
    assert parse_audit_time("2023-11-14T22:13:20.13Z") == pytest.approx(1_700_000_000.13)


def test_checkpoint_note_shape_and_verification() -> None:
    signer = Signer.generate("porchlight.test/audit")
    checkpoint = sign_checkpoint(signer, "porchlight.test/audit", 7, ROOT)
    text, _, signatures = checkpoint.note.partition("\n\n")
    assert text.split("\n") == ["porchlight.test/audit", "7", base64.b64encode(ROOT).decode()]
    assert signatures.startswith("\u2014 porchlight.test/audit ")
    raw = base64.b64decode(signatures.split(" ")[2])
    assert raw[:4] == signer.verifier.id and len(raw) == 68
    opened = open_checkpoint(checkpoint.note, signer.verifier, "porchlight.test/audit")
    assert (opened.size, opened.root) == (7, ROOT)
    assert open_checkpoint(sign_checkpoint(signer, "o", 0, EMPTY_ROOT).note, signer.verifier).size == 0


def test_a_witness_signature_beside_ours_is_ignored() -> None:
    signer, witness = Signer.generate("log"), Signer.generate("witness")
    note = sign_checkpoint(signer, "log", 3, ROOT).note
    cosigned = sign_checkpoint(witness, "log", 3, ROOT).note.split("\n\n")[1]
    assert open_checkpoint(note + cosigned, signer.verifier).size == 3


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda n: n.replace("\n7\n", "\n8\n"), "signature does not verify"),
        (lambda n: n.replace("\n\n", "\n"), "no blank line"),
        (lambda n: n.replace("\u2014", "-"), "em dash"),
        (lambda n: n.replace("\n7\n", "\n07\n"), "not a decimal"),
        (lambda n: n.split("\n\n")[0] + "\n\n", "no signature by"),
        (lambda n: n.replace("\n7\n", "\n7\x01\n"), "control characters"),
    ],
)
def test_tampered_or_malformed_checkpoints_are_refused(change, why: str) -> None:
    signer = Signer.generate("log")
    note = sign_checkpoint(signer, "log", 7, ROOT).note
    with pytest.raises(CheckpointError, match=why):
        open_checkpoint(change(note), signer.verifier)


def test_checkpoint_of_another_log_or_key_is_refused() -> None:
    signer = Signer.generate("log")
    note = sign_checkpoint(signer, "log", 1, leaf_hash(b"x")).note
    with pytest.raises(CheckpointError, match="for log"):
        open_checkpoint(note, signer.verifier, "other")
    with pytest.raises(CheckpointError, match="no signature by"):
        open_checkpoint(note, Signer.generate("log").verifier)
