"""The `mailflow` command: a thin shell over the app, turning errors into clean messages and exit codes.

Exit status: 0 success, 1 a check or an operation failed (the reason is printed),
2 the settings are wrong (one line naming the key).
"""

from __future__ import annotations

from mailflow.cli import campaign, records, service  # noqa: F401 - each registers its commands on `cli`
from mailflow.cli.base import cli


def main() -> None:
    """Console entry point."""
    cli(prog_name="mailflow")
