"""Issue 14 item 21: no case number or reason (no query string at all, no raw request bytes, no client address) in
any log line, the framework's included. aiohttp logs a request it cannot parse with the bytes it received; the
hub's filter (hub/log_redaction.py) rewrites those records. Against a real hub process's log."""

from __future__ import annotations

import asyncio
import logging
import re

import pytest

from hub.log_redaction import RedactRequestTargets, redact
from tests.support.procs import Hub

SECRET = "CASE-SECRET-2026"
# What a hub refuses before any handler runs: each made to quote the case number if aiohttp may.
BAD_REQUESTS = {
    "request line over 8190 bytes": (
        f"GET /whep/front-door?case={SECRET}-1&reason={'A' * 9000} HTTP/1.1\r\nHost: x\r\n\r\n"
    ),
    "malformed request line": f"GET /whep/front-door?case={SECRET}-2&reason=theft HTTP/1.1 junk\r\nHost: x\r\n\r\n",
    "invalid character in the query": f"GET /whep/front-door?case={SECRET}-3\x01 HTTP/1.1\r\nHost: x\r\n\r\n",
    "header over 8190 bytes": (
        f"GET /whep/front-door?case={SECRET}-4 HTTP/1.1\r\nHost: x\r\nX-Note: {SECRET}-4{'B' * 9000}\r\n\r\n"
    ),
}


async def _send(hub: Hub, raw: str) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", hub.port)
    writer.write(raw.encode("latin-1"))
    await writer.drain()
    answer = await reader.read()
    writer.close()
    return answer


async def test_requests_aiohttp_cannot_parse_leave_no_target_in_the_log(hub: Hub) -> None:
    for what, raw in BAD_REQUESTS.items():
        assert (await _send(hub, raw)).startswith(b"HTTP/1.0 400"), what
    assert hub.proc is not None
    await hub.proc.wait_log_count("Error handling request", len(BAD_REQUESTS))
    log = hub.proc.log()
    assert SECRET not in log
    assert "?case" not in log and "reason=" not in log
    framework = [line for line in log.splitlines() if "aiohttp" in line or "Error handling request" in line]
    assert not [line for line in framework if re.search(r"\b127\.0\.0\.1\b", line)], framework
    assert log.count("Error handling request from [address]") == len(BAD_REQUESTS)


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("GET /whep/x?case=1&reason=y HTTP/1.1", "GET /whep/x?[redacted] HTTP/1.1"),
        ("Got more than 8190 bytes when reading: bytearray(b'/whep/x?case=1...').", "bytearray(b'[redacted]')"),
        ('Invalid header token:\n\n  b"Bad Header: y"\n', "b'[redacted]'"),
        ("Error handling request from 192.0.2.7", "from [address]"),
        ("Error handling request from 2001:db8::1", "from [address]"),
        ("took 12:30:45 at version 3.14.5", "took 12:30:45 at version 3.14.5"),
    ],
)
def test_redact(given: str, kept: str) -> None:
    assert kept in redact(given)


def test_the_filter_rewrites_message_arguments_and_exception_text() -> None:
    logger = logging.getLogger("test.redaction")
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep()
    logger.addHandler(handler)
    logger.addFilter(RedactRequestTargets())
    logger.propagate = False
    try:
        try:
            raise ValueError(f"Bad status line: b'GET /whep/x?case={SECRET} HTTP/1.1 junk'")
        except ValueError:
            logger.exception("Error handling request from %s for %s", "198.51.100.4", f"/whep/x?case={SECRET}")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
        logger.filters.clear()
    [record] = records
    text = logging.Formatter().format(record)
    assert SECRET not in text and "198.51.100.4" not in text
    assert "Traceback" in text and "ValueError" in text
