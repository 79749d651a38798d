"""`python -m device_agent`: the same as `porchlight-agent`."""

from __future__ import annotations

import sys

from device_agent.cli import main

if __name__ == "__main__":
    sys.exit(main())
