"""Rare work run in a short-lived process of its own, so that the daemon, which runs for months, never
keeps the libraries it needs in memory (Alembic for a migration, openpyxl for a spreadsheet).

The function is named by its path ("package.module:function"): the daemon never imports its module,
the fresh interpreter (multiprocessing's spawn) does.
"""

from __future__ import annotations

import importlib
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from mailflow.errors import ProcessStopped


def run_apart(function: str, *args: Any) -> Any:
    """Call `function` ("package.module:name") with `args` in a new process and return its result; its
    exception, if it raises, is raised here, and ProcessStopped if the process dies first."""
    try:
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as worker:
            return worker.submit(_call, function, args).result()
    except BrokenProcessPool as exc:
        raise ProcessStopped(f"the process started to run {function} stopped before it finished ({exc}); "
                             "the system log may say why (out of memory, a limit of the service)") from exc


def _call(function: str, args: tuple[Any, ...]) -> Any:
    module, name = function.split(":")
    return getattr(importlib.import_module(module), name)(*args)
