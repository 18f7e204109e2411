"""Rare work run in a short-lived process of its own, so that the daemon, which runs for months, never
keeps the libraries it needs in memory (Alembic for a migration, openpyxl for a spreadsheet).

The function is named by its path ("package.module:function"): the daemon never imports its module,
the fresh interpreter (multiprocessing's spawn) does. A process that overruns its time is killed
(pebble), so that the thread waiting for it, the scheduler's for a digest, is never held for good.
"""

from __future__ import annotations

import multiprocessing
import pkgutil
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from pebble import ProcessExpired, ProcessPool

from mailflow.errors import ProcessStopped


def run_apart(function: str, *args: Any, timeout: float | None = None) -> Any:
    """Call `function` ("package.module:name") with `args` in a new process and return its result; its
    exception, if it raises, is raised here, and ProcessStopped if the process dies first or runs past
    `timeout` seconds (it is then killed)."""
    pool = ProcessPool(max_workers=1, context=multiprocessing.get_context("spawn"))
    try:
        return pool.schedule(_call, args=(function, args), timeout=timeout).result()
    except FutureTimeout:
        raise ProcessStopped(f"the process started to run {function} did not finish within {timeout:g} s "
                             "and was stopped") from None
    except ProcessExpired as exc:
        raise ProcessStopped(f"the process started to run {function} stopped before it finished ({exc}); "
                             "the system log may say why (out of memory, a limit of the service)") from exc
    finally:
        pool.stop()
        pool.join()


def _call(function: str, args: tuple[Any, ...]) -> Any:
    return pkgutil.resolve_name(function)(*args)
