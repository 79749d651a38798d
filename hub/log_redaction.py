"""What aiohttp itself logs, without request targets: no query string (WHEP's `?case=...&reason=...`), no raw
request bytes, no client address.

The hub's own access log (hub/access_log.py) writes method, path and status only. aiohttp's loggers are another
matter: a request line too long, a malformed request line or an over-long header is logged by `aiohttp.server` as
"Error handling request from <address>" with a traceback whose exception quotes the bytes received, so the case
number and reason of a WHEP request would reach the log. A filter on each of aiohttp's loggers rewrites such a
record before any handler sees it: the message is formatted with its arguments, then query strings, quoted
bytes and IP addresses are replaced, and the exception text (traceback included) likewise.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import traceback

# Every logger aiohttp logs to (aiohttp/log.py).
AIOHTTP_LOGGERS = (
    "aiohttp.access",
    "aiohttp.client",
    "aiohttp.internal",
    "aiohttp.server",
    "aiohttp.web",
    "aiohttp.websocket",
)
REDACTED = "[redacted]"
# Raw bytes as Python shows them (b'...', bytearray(b'...')): the request line or header the parser choked on.
_BYTES = re.compile(r"""b(?:'(?:[^'\\\n]|\\.)*'?|"(?:[^"\\\n]|\\.)*"?)""")
# A query string: from `?` to the next space or quote.
_QUERY = re.compile(r"""\?[^\s'"]*""")
# IPv4 and IPv6 addresses (checked with ipaddress before they are replaced, so times and versions stay).
_ADDRESS = re.compile(r"(?<![\w.:])(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7})(?![\w.:])")


def redact(text: str) -> str:
    """`text` without quoted bytes, query strings or IP addresses."""
    text = _BYTES.sub(f"b'{REDACTED}'", text)
    text = _QUERY.sub(f"?{REDACTED}", text)
    return _ADDRESS.sub(_address, text)


def _address(match: re.Match[str]) -> str:
    try:
        ipaddress.ip_address(match.group(0))
    except ValueError:
        return match.group(0)
    return "[address]"


class RedactRequestTargets(logging.Filter):
    """Rewrites a record's message and exception text with `redact` (it never drops a record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact `record` in place; always keep it."""
        record.msg = redact(record.getMessage())
        record.args = ()
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"))
            record.exc_info = None  # formatters would format the original again
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def install_log_redaction() -> None:
    """Put the filter on each of aiohttp's loggers (once, however many apps are made in one process)."""
    for name in AIOHTTP_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(existing, RedactRequestTargets) for existing in logger.filters):
            logger.addFilter(RedactRequestTargets())
