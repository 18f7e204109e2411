"""Giving freed memory back to the system between two pieces of work.

CPython frees its objects to the C allocator, which keeps the pages for reuse: after a burst
(a batch of mails, a big attachment) a long-running process would keep its peak size for hours.
glibc's `malloc_trim` returns the free pages; elsewhere this does nothing. Large blocks are best
given their own pages from the start (`map_large_blocks`).
"""

from __future__ import annotations

import contextlib
import ctypes

M_MMAP_THRESHOLD = -3  # glibc's malloc.h
LARGE_BLOCK = 256 * 1024

_libc = None
with contextlib.suppress(OSError):
    _libc = ctypes.CDLL(None)


def release_free_memory() -> None:
    """Return the C allocator's free pages to the system (glibc); a no-op where that is not offered."""
    trim = getattr(_libc, "malloc_trim", None)
    if trim is not None:
        trim(0)


def map_large_blocks() -> None:
    """Give every block of `LARGE_BLOCK` or more (a fetched mail, a slice of an attachment, a page's image)
    pages of its own, returned to the system as soon as it is freed. Left alone, glibc raises that threshold
    to the largest block freed so far (up to 32 MB): after one big mail, the next ones' blocks stay in
    the process. A no-op where glibc is not the allocator."""
    mallopt = getattr(_libc, "mallopt", None)
    if mallopt is not None:
        mallopt(M_MMAP_THRESHOLD, LARGE_BLOCK)
