"""Checkpoints: the log's signed tree heads, as C2SP tlog-checkpoint notes signed per C2SP signed-note.

    porchlight.example/audit          <- origin: the log's name
    1234                              <- tree size
    q0lGAdMPXXr...                    <- base64 of the RFC 9162 root hash of the first 1234 records
                                      <- blank line
    — porchlight.example/audit AbCd...   <- em dash, key name, base64(key id || Ed25519 signature)

The signature covers the text up to and including the root line's newline.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from hub.audit.merkle import HASH_SIZE
from hub.audit.signing import Signer, Verifier

SIG_PREFIX = "\u2014 "
MAX_NOTE_BYTES = 16 * 1024


class CheckpointError(ValueError):
    """A checkpoint is malformed, or its signature does not verify with the key given."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A verified (or freshly signed) tree head, with its note text."""

    origin: str
    size: int
    root: bytes
    note: str

    def as_json(self) -> dict[str, object]:
        """The checkpoint for JSON answers: its size, root and the signed note itself."""
        return {
            "origin": self.origin,
            "size": self.size,
            "root": base64.b64encode(self.root).decode(),
            "note": self.note,
        }


def sign_checkpoint(signer: Signer, origin: str, size: int, root: bytes) -> Checkpoint:
    """A new signed checkpoint for the tree of `size` records with this root."""
    if "\n" in origin or not origin or "+" in origin or any(c.isspace() for c in origin):
        raise CheckpointError(f"origin {origin!r} must be one word without spaces or '+'")
    text = f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"
    signature = base64.b64encode(signer.verifier.id + signer.sign(text.encode())).decode()
    note = f"{text}\n{SIG_PREFIX}{signer.name} {signature}\n"
    return Checkpoint(origin, size, root, note)


def _body(text: str) -> tuple[str, str, int, bytes]:
    """Split a note into its signed text and the checkpoint fields, checking the text's shape."""
    if len(text.encode()) > MAX_NOTE_BYTES:
        raise CheckpointError("the checkpoint is too large")
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        raise CheckpointError("a note may hold no control characters but newlines")
    cut = text.rfind("\n\n")
    if cut < 0:
        raise CheckpointError("no blank line between the checkpoint and its signatures")
    signed = text[: cut + 1]
    lines = signed.split("\n")[:-1]
    if len(lines) < 3:
        raise CheckpointError("a checkpoint has an origin, a size and a root hash line")
    origin, size_text, root_text = lines[:3]
    if not size_text.isdigit() or (size_text != "0" and size_text.startswith("0")):
        raise CheckpointError(f"tree size {size_text!r} is not a decimal number")
    try:
        root = base64.b64decode(root_text, validate=True)
    except (binascii.Error, ValueError):
        raise CheckpointError("the root hash is not base64") from None
    if len(root) != HASH_SIZE:
        raise CheckpointError(f"the root hash is {len(root)} bytes, not {HASH_SIZE}")
    return signed, origin, int(size_text), root


def open_checkpoint(text: str, verifier: Verifier, origin: str | None = None) -> Checkpoint:
    """Parse a checkpoint note and check its signature by `verifier` (and its origin, if given)."""
    signed, found_origin, size, root = _body(text)
    if origin is not None and found_origin != origin:
        raise CheckpointError(f"the checkpoint is for log {found_origin!r}, not {origin!r}")
    for line in text[len(signed) + 1 :].split("\n"):
        if not line:
            continue
        if not line.startswith(SIG_PREFIX):
            raise CheckpointError("a signature line starts with an em dash and a space")
        name, _, encoded = line[len(SIG_PREFIX) :].partition(" ")
        try:
            raw = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise CheckpointError("a signature is not base64") from None
        if name != verifier.name or raw[:4] != verifier.id:
            continue  # another key's signature (a witness, say): not ours to judge
        if len(raw) != 4 + 64 or not verifier.check(signed.encode(), raw[4:]):
            raise CheckpointError("the checkpoint's signature does not verify")
        return Checkpoint(found_origin, size, root, text)
    raise CheckpointError(f"the checkpoint has no signature by {verifier.name} ({verifier.id.hex()})")
