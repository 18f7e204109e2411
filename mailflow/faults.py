"""Crash points for the crash-safety tests: the process kills itself at a named step when asked.

`MAILFLOW_CRASH_AT=archived:3` makes the third pass through the `archived` checkpoint end
the process with SIGKILL, as a power cut would. Unset (always, outside tests), it does nothing.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

_hits: Counter[str] = Counter()


def checkpoint(name: str) -> None:
    """Die here if the environment asks for a crash at this step and this count."""
    spec = os.environ.get("MAILFLOW_CRASH_AT")
    if not spec:
        return
    wanted, _, count = spec.partition(":")
    if wanted != name:
        return
    _hits[name] += 1
    if _hits[name] >= int(count or 1):
        os.kill(os.getpid(), signal.SIGKILL)
