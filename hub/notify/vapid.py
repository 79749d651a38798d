"""The hub's VAPID key pair (RFC 8292): a P-256 key that signs a short token on every push message, so a push
service knows the messages come from the server the browser subscribed with (its public key, the subscription's
`applicationServerKey`). Made once and kept, mode 600, in the data directory beside the audit signer's key."""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02

DEFAULT_FILE = "vapid-private.pem"


def load_or_create(path: Path) -> Vapid02:
    """The VAPID key in `path` (PKCS#8 PEM), made on first use. Two hubs starting together keep one key."""
    try:
        return _parse(path.read_bytes())
    except FileNotFoundError:
        pass
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_EXCL: two processes starting together must not both write a key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _parse(path.read_bytes())
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    return _parse(pem)


def _parse(pem: bytes) -> Vapid02:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("the VAPID key must be a P-256 (prime256v1) private key")
    return Vapid02(private_key=key)


def application_server_key(vapid: Vapid02) -> str:
    """The public key as browsers take it for `applicationServerKey`: the uncompressed point, base64url."""
    raw = vapid.public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")
