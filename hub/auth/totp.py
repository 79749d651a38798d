"""TOTP second factor (RFC 6238: 6 digits, 30-second steps, SHA-1, as every authenticator app reads them).

A code is accepted for the step it belongs to, one step either side for clock drift, and only if that step is
later than the last one accepted for the account (the store decides that atomically), so a code used once is
refused the second time, on any hub.
"""

from __future__ import annotations

import hmac
import io

import pyotp
import segno

STEP_SECONDS = 30
DRIFT_STEPS = 1


def new_secret() -> str:
    """A fresh base32 secret (160 bits)."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, username: str, issuer: str) -> str:
    """The otpauth:// URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=issuer)


def qr_svg(uri: str) -> str:
    """The URI as a QR code in an SVG element (drawn here: the page loads nothing from elsewhere)."""
    out = io.BytesIO()
    segno.make(uri, error="m").save(out, kind="svg", scale=5, xmldecl=False, svgns=True, title="TOTP enrolment")
    return out.getvalue().decode("utf-8")


def matching_step(secret: str, code: str, now: float) -> int | None:
    """The time step whose code `code` is (within the allowed drift), or None."""
    code = code.strip().replace(" ", "")
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    current = int(now // STEP_SECONDS)
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), code):
            return step
    return None
