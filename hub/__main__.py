"""`python -m hub` is the `porchlight` command."""

from hub.cli import main

main()
