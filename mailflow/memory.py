"""Giving freed memory back to the system between two pieces of work.

CPython frees its objects to the C allocator, which keeps the pages for reuse: after a burst
(a batch of mails, a big attachment) a long-running process would keep its peak size for hours.
glibc's `malloc_trim` returns the free pages; elsewhere this does nothing.
"""

from __future__ import annotations

import contextlib
import ctypes

_libc = None
with contextlib.suppress(OSError):
    _libc = ctypes.CDLL(None)


def release_free_memory() -> None:
    """Return the C allocator's free pages to the system (glibc); a no-op where that is not offered."""
    trim = getattr(_libc, "malloc_trim", None)
    if trim is not None:
        trim(0)
