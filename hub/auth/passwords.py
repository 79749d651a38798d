"""Password hashing with argon2id, a memory-hard KDF (argon2-cffi's defaults, RFC 9106's low-memory profile).

`verify_password` never raises for a wrong password or a malformed stored hash: both are simply "no". Log-in
code calls `burn_verify` when the username is unknown, so the response takes as long as a real check and its
timing does not reveal which usernames exist.
"""

from __future__ import annotations

import functools
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# Stateless configuration (only parameters), so sharing one instance is safe. Keep argon2-cffi's defaults
# (argon2id, t=3, m=64 MiB, p=4) or stronger; `needs_rehash` upgrades old hashes at the next log-in.
_HASHER = PasswordHasher()


def hash_password(password: str) -> str:
    """An encoded argon2id hash of `password`, with a fresh random salt."""
    return _HASHER.hash(password)


def verify_password(hash: str, password: str) -> bool:
    """True only if `password` matches the stored `hash`; False for a mismatch or an unusable hash.

    The argument order follows argon2-cffi's `PasswordHasher.verify(hash, password)`.
    """
    try:
        return _HASHER.verify(hash, password)
    # VerificationError covers mismatches; UnicodeError a hash that is not ASCII or a password that
    # cannot be encoded (lone surrogates). None of these may admit anyone.
    except (VerificationError, InvalidHashError, UnicodeError):
        return False


def needs_rehash(hash: str) -> bool:
    """True when `hash` was made with other parameters than today's (or cannot be parsed): rehash it."""
    try:
        return _HASHER.check_needs_rehash(hash)
    except (InvalidHashError, ValueError, UnicodeError):
        return True


@functools.cache
def _dummy_hash() -> str:
    # Made once per process with the same hasher, so a burn costs what a real verify costs. The first call
    # pays for hashing too; the hub may call `burn_verify()` once at start-up to warm it.
    return _HASHER.hash(secrets.token_urlsafe(32))


def burn_verify() -> bool:
    """Spend the time of one real verification against a hash nobody knows the password of; always False.

    Call it when the username is unknown: `ok = verify_password(h, pw) if found else burn_verify()`.
    """
    verify_password(_dummy_hash(), "\x00 no password matches this")
    return False
