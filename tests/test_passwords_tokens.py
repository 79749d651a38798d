"""Password hashing (argon2id) and bearer tokens."""

from __future__ import annotations

import hashlib
import re

import pytest
from argon2 import PasswordHasher

from hub.auth.passwords import burn_verify, hash_password, needs_rehash, verify_password
from hub.auth.tokens import DEVICE_TOKEN_PREFIX, SESSION_TOKEN_PREFIX, hash_token, new_token

# -- passwords --------------------------------------------------------------------------------------------


def test_hash_is_argon2id_salted_and_verifies() -> None:
    first, second = hash_password("correct horse"), hash_password("correct horse")
    assert first.startswith("$argon2id$")
    assert first != second  # a fresh salt every time
    assert "correct horse" not in first
    assert verify_password(first, "correct horse")
    assert verify_password(second, "correct horse")


def test_parameters_are_at_least_the_defaults() -> None:
    params = dict(p.split("=") for p in hash_password("pw").split("$")[3].split(","))
    defaults = PasswordHasher()
    assert int(params["m"]) >= defaults.memory_cost
    assert int(params["t"]) >= defaults.time_cost
    assert int(params["p"]) >= defaults.parallelism


@pytest.mark.parametrize("attempt", ["wrong", "", "correct horse ", "Correct horse", "\udc80"])
def test_wrong_password_is_false(attempt: str) -> None:
    assert verify_password(hash_password("correct horse"), attempt) is False


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "plaintext",
        "$argon2id$",
        "$argon2id$v=19$m=65536,t=3,p=4$bm90IGEgc2FsdA$",
        "$2b$12$abcdefghijklmnopqrstuvwxyz",  # bcrypt: not ours
        "$argon2id$v=19$m=65536,t=3,p=4$é",  # not ASCII
    ],
)
def test_invalid_hash_is_false_and_needs_rehash(stored: str) -> None:
    assert verify_password(stored, "anything") is False
    assert needs_rehash(stored) is True


def test_truncated_hash_is_false() -> None:
    good = hash_password("pw")
    assert verify_password(good[:-4], "pw") is False


def test_unicode_passwords() -> None:
    stored = hash_password("pässwörd ✓")
    assert verify_password(stored, "pässwörd ✓")
    assert not verify_password(stored, "passwort ✓")


def test_needs_rehash() -> None:
    assert needs_rehash(hash_password("pw")) is False
    weaker = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash("pw")
    assert verify_password(weaker, "pw")  # old hashes keep working until rehashed at log-in
    assert needs_rehash(weaker) is True


def test_burn_verify_is_always_false() -> None:
    assert burn_verify() is False
    assert burn_verify() is False


# -- tokens -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", [DEVICE_TOKEN_PREFIX, SESSION_TOKEN_PREFIX])
def test_new_token_shape(prefix: str) -> None:
    token = new_token(prefix)
    assert token.startswith(prefix)
    body = token[len(prefix) :]
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", body)  # 32 bytes, URL-safe base64 without padding


def test_prefixes_are_distinct_and_readable() -> None:
    assert (DEVICE_TOKEN_PREFIX, SESSION_TOKEN_PREFIX) == ("pld_", "pls_")


def test_tokens_are_unique() -> None:
    tokens = {new_token("pls_") for _ in range(1000)}
    assert len(tokens) == 1000


@pytest.mark.parametrize("prefix", ["", "pld", "PLD_", "p l_", "pld-", "_"])
def test_bad_prefix_is_refused(prefix: str) -> None:
    with pytest.raises(ValueError):
        new_token(prefix)


def test_hash_token_is_sha256_hex() -> None:
    token = new_token("pld_")
    digest = hash_token(token)
    assert digest == hashlib.sha256(token.encode()).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert hash_token(token) == digest  # stable: it is the lookup key
    assert hash_token(new_token("pld_")) != digest
    assert token not in digest
