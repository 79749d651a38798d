"""Redis hashes to store records and back: the encoding every part shares (each part decodes its own records).

Each field value is JSON, encoded here with `json.dumps` (exact for floats) and decoded with `json.loads`. Fields
added after records were first written may be missing from older ones: they read with the records' defaults.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

log = logging.getLogger(__name__)

Fields = dict[str, Any]


def pairs(**fields: object) -> list[str]:
    """Hash field pairs for a script's ARGV: name, JSON value, name, JSON value, ..."""
    flat: list[str] = []
    for name, value in fields.items():
        flat += [name, json.dumps(value, allow_nan=False)]
    return flat


def decode(raw: Mapping[str, str]) -> Fields:
    """A hash as HGETALL gives it."""
    return {name: json.loads(value) for name, value in raw.items()}


def decode_flat(flat: Sequence[str]) -> Fields:
    """A hash as a script returns it (HGETALL's flat list inside the script's JSON answer)."""
    return decode(dict(zip(flat[::2], flat[1::2], strict=True)))


def message(channel: str, data: str) -> dict[str, Any] | None:
    """A pub/sub message's JSON object; None (logged) for anything else."""
    try:
        value = json.loads(data)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        log.warning("ignored a message on %s that is not a JSON object", channel)
        return None
    return value


def optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def optional_str(value: Any) -> str | None:
    return None if value is None else str(value)
