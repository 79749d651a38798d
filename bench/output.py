"""How every benchmark ends: run it, stop cleanly on Ctrl-C, print the result as a table or as one JSON object."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Coroutine
from typing import Any

Result = dict[str, Any]


def run_and_report(run: Coroutine[Any, Any, Result], as_json: bool, report: Callable[[Result], None]) -> Result:
    """Run the benchmark's coroutine, then print its result with `report`, or as JSON; the result."""
    try:
        result = asyncio.run(run)
    except KeyboardInterrupt:
        print("interrupted; every process this run started has been stopped", file=sys.stderr)
        raise SystemExit(130) from None
    if as_json:
        json.dump(result, sys.stdout)
        print()
    else:
        report(result)
    return result
