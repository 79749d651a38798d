"""Free text from users (case numbers, reasons, names): one line of visible characters, checked at input.

A case number or reason is shown to the camera's owner, and a name to everyone who lists it. Invisible control and
formatting characters would let the writer change what the reader sees: U+202E (RIGHT-TO-LEFT OVERRIDE) shows
"CASE-1 fo noitagitsevni" reversed, an isolate or a mark moves text around it, a newline or escape forges a line.
So every character of Unicode's "other" categories is refused (Cc controls, Cf formatting such as the bidi
overrides, isolates and marks, Cs surrogates, Co private use, Cn unassigned), and so are the line and paragraph
separators. Letters, digits, marks and punctuation of every script pass, and so do ZERO WIDTH NON-JOINER and
ZERO WIDTH JOINER, which Persian, Indic scripts and emoji sequences need and which reorder nothing.
"""

from __future__ import annotations

import unicodedata

from hub.errors import BadRequest

REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
# Formatting characters that writing needs (cursive joining in Arabic script, conjuncts, emoji sequences).
JOINERS = frozenset({"\u200c", "\u200d"})


class TextError(ValueError):
    """Free text that is not acceptable; `field` names what was given, the message says why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def refused_character(text: str) -> str | None:
    """The first character of `text` that free text may not hold, or None."""
    for char in text:
        if char not in JOINERS and unicodedata.category(char) in REFUSED_CATEGORIES:
            return char
    return None


def clean_text(value: object, field: str, limit: int) -> str:
    """`value` stripped of surrounding spaces, if it is 1 to `limit` characters of visible text; else TextError.

    For callers outside HTTP (the CLI): a TextError is a ValueError.
    """
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > limit:
        raise TextError(field, f"{field} must be text of 1 to {limit} characters")
    text = value.strip()
    char = refused_character(text)
    if char is not None:
        name = unicodedata.name(char, "a control character")
        raise TextError(
            field,
            f"{field} may not contain U+{ord(char):04X} ({name}): control and text-direction characters "
            "would change how it is shown",
        )
    return text


def free_text(value: object, field: str, limit: int) -> str:
    """`value` checked as free text (see `clean_text`); BadRequest with reason `bad_<field>` otherwise."""
    try:
        return clean_text(value, field, limit)
    except TextError as exc:
        raise BadRequest(str(exc), f"bad_{field}") from None
