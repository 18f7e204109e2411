"""`python -m mailflow` is the `mailflow` command."""

from mailflow.cli import main

main()
