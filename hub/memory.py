"""Hand the C allocator's free pages back to the operating system now and then.

glibc returns memory freed at the top of its heap by itself, but not the free pages between chunks still in use;
a hub whose connections come and go leaves such holes (OpenSSL's DTLS buffers, SRTP contexts, frames and other
objects too big for CPython's own allocator), and its resident memory creeps up by their high-water mark.
`malloc_trim(0)` gives those pages back; it takes about a millisecond. Elsewhere than glibc this does nothing.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

TRIM_SECONDS = 30.0


def _find_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


_TRIM = _find_trim()


def release_free_memory() -> bool:
    """Give free heap pages back to the OS; False where the C library cannot."""
    if _TRIM is None:
        return False
    _TRIM(0)
    return True


async def trim_every(seconds: float = TRIM_SECONDS) -> None:
    """Run `release_free_memory` every `seconds` until cancelled."""
    if _TRIM is None:
        log.info("malloc_trim is not available: freed C memory stays with the process")
        return
    while True:
        await asyncio.sleep(seconds)
        release_free_memory()
