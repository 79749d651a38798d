"""The log's Ed25519 key, in the text formats of C2SP signed notes (as Go's golang.org/x/mod/sumdb/note writes them).

- signer key (secret, one line): `PRIVATE+KEY+<name>+<key id, 8 hex>+<base64(0x01 || 32-byte seed)>`
- verifier key (public, to pin): `<name>+<key id, 8 hex>+<base64(0x01 || 32-byte public key)>`

The key id is the first 4 bytes of SHA-256(name || 0x0A || 0x01 || public key). The same key signs checkpoints
(`checkpoint.py`) and every record (a signed entry, as a Certificate Transparency log signs a promise for each
entry), which is what lets a verifier name the record that was altered, not only say that something was.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ALG_ED25519 = 0x01
RECORD_CONTEXT = b"porchlight audit record v1\n"
"""Prefixed to a record's bytes before signing, so a record signature can never pass for a note signature."""


class KeyFormatError(ValueError):
    """A key's text is malformed, or its name or id does not match its bytes."""


def _check_name(name: str) -> None:
    if not name or "+" in name or any(c.isspace() for c in name):
        raise KeyFormatError(f"key name {name!r} must be non-empty, without spaces or '+'")


def key_id(name: str, public: bytes) -> bytes:
    """The 4-byte id of an Ed25519 key with this name (C2SP signed-note)."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([ALG_ED25519]) + public).digest()[:4]


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise KeyFormatError(f"{what} is not base64") from None


@dataclass(frozen=True)
class Verifier:
    """A public key that checks records and checkpoints."""

    name: str
    public: bytes

    @property
    def id(self) -> bytes:
        return key_id(self.name, self.public)

    def text(self) -> str:
        """The verifier key as one line of text, for pinning."""
        return f"{self.name}+{self.id.hex()}+{base64.b64encode(bytes([ALG_ED25519]) + self.public).decode()}"

    @classmethod
    def parse(cls, text: str) -> Verifier:
        """Read a verifier key line; KeyFormatError when malformed or when its id does not match."""
        parts = text.strip().split("+", 2)
        if len(parts) != 3:
            raise KeyFormatError("a verifier key is <name>+<key id>+<base64 key>")
        name, hex_id, raw = parts
        _check_name(name)
        key = _b64(raw, "the verifier key")
        if len(key) != 33 or key[0] != ALG_ED25519:
            raise KeyFormatError("the verifier key is not an Ed25519 key")
        verifier = cls(name, key[1:])
        if verifier.id.hex() != hex_id.lower():
            raise KeyFormatError("the verifier key's id does not match its name and key")
        return verifier

    def check(self, message: bytes, signature: bytes) -> bool:
        """True when `signature` is this key's signature of `message`."""
        try:
            Ed25519PublicKey.from_public_bytes(self.public).verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True

    def check_record(self, body: bytes, signature: bytes) -> bool:
        """True when `signature` is this key's signature of the record with these bytes."""
        return self.check(RECORD_CONTEXT + body, signature)


class Signer:
    """The log's private key."""

    def __init__(self, name: str, seed: bytes) -> None:
        _check_name(name)
        if len(seed) != 32:
            raise KeyFormatError("an Ed25519 seed is 32 bytes")
        self.name = name
        self._seed = seed
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        public = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.verifier = Verifier(name, public)

    @classmethod
    def generate(cls, name: str) -> Signer:
        """A new random key."""
        return cls(name, os.urandom(32))

    def text(self) -> str:
        """The signer key as one line of text (secret)."""
        raw = base64.b64encode(bytes([ALG_ED25519]) + self._seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.verifier.id.hex()}+{raw}"

    @classmethod
    def parse(cls, text: str) -> Signer:
        """Read a signer key line; KeyFormatError when malformed or when its id does not match."""
        parts = text.strip().split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise KeyFormatError("a signer key is PRIVATE+KEY+<name>+<key id>+<base64 key>")
        name, hex_id, raw = parts[2:]
        key = _b64(raw, "the signer key")
        if len(key) != 33 or key[0] != ALG_ED25519:
            raise KeyFormatError("the signer key is not an Ed25519 key")
        signer = cls(name, key[1:])
        if signer.verifier.id.hex() != hex_id.lower():
            raise KeyFormatError("the signer key's id does not match its name and key")
        return signer

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of `message`."""
        return self._key.sign(message)

    def sign_record(self, body: bytes) -> bytes:
        """The signature of a record with these bytes."""
        return self.sign(RECORD_CONTEXT + body)


def load_or_create_signer(path: Path, name: str) -> Signer:
    """The signer key in `path`, made (mode 600) on first use. The name in the file wins over `name`."""
    try:
        return Signer.parse(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        pass
    signer = Signer.generate(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_EXCL: two processes starting together must not both write a key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return Signer.parse(path.read_text(encoding="utf-8"))
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(signer.text() + "\n")
    return signer
