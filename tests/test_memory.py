"""hub/memory.py: free pages between chunks still in use go back to the OS when the hub trims its heap."""

from __future__ import annotations

import psutil

from hub.memory import release_free_memory

MIB = 2**20


def test_trim_returns_the_holes_left_between_live_chunks() -> None:
    process = psutil.Process()
    # 2 KiB objects come from malloc (too big for CPython's own allocator); keeping every 16th pins the heap's
    # top, so glibc cannot give the rest back by itself.
    chunks = [bytes(2048) for _ in range(40_000)]
    kept = chunks[::16]
    del chunks
    before = process.memory_info().rss
    assert release_free_memory(), "malloc_trim should be there on Debian (glibc)"
    after = process.memory_info().rss
    assert before - after > 40 * MIB, f"RSS {before / MIB:.0f} -> {after / MIB:.0f} MiB"
    assert len(kept) == 2500
