"""The `mailflow` console script's entry point, which loads the command only when it is called.

A reader process (pipeline.readers) is a fresh interpreter that runs the main script's module
again before it reads anything (multiprocessing's spawn): the console script imports this module,
which must therefore stay free of the application, or every reader would load all of it.
"""

from __future__ import annotations


def main() -> None:
    """Run the `mailflow` command."""
    from mailflow.cli import main as command  # noqa: PLC0415 - loaded here, not in reader processes

    command()
