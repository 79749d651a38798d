"""Random bearer tokens (sessions, camera devices) and their stored hashes.

A token is a readable prefix plus 256 random bits. Only `hash_token(token)` is stored, so a copy of the
database does not let anyone log in or publish as a camera.
"""

from __future__ import annotations

import hashlib
import re
import secrets

DEVICE_TOKEN_PREFIX = "pld_"
SESSION_TOKEN_PREFIX = "pls_"

# Prefixes stay URL- and header-safe and readable: they only tell a human (or a secret scanner) what it is.
_PREFIX = re.compile(r"[a-z][a-z0-9]*_")
_TOKEN_BYTES = 32


def new_token(prefix: str) -> str:
    """A fresh token: `prefix` (like "pld_" or "pls_") followed by 32 random bytes, URL-safe base64."""
    if not _PREFIX.fullmatch(prefix):
        raise ValueError("token prefix must be lowercase letters or digits ending in '_', like 'pld_'")
    return prefix + secrets.token_urlsafe(_TOKEN_BYTES)


def hash_token(token: str) -> str:
    """The SHA-256 hex digest of `token`, the form tokens are stored and looked up in.

    A fast hash is right here, unlike for passwords: a token carries 256 random bits, so there is nothing to
    guess and no dictionary to slow down; a slow KDF would only cost every request.
    """
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
