"""A big mail's bytes kept in a file as they arrive, and read back in pieces: never held whole in memory.

The file has no name (it vanishes when closed, or when the process dies) and lives in a folder the
service chooses, on disk: the system's temporary folder may be memory (tmpfs).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

SPOOL_BYTES = 4 * 1024 * 1024  # a mail larger than this is fetched into a file
PIECE_BYTES = 1 << 20


class SpooledMail:
    """The bytes of a mail in an unnamed file: its length, slices (read when asked for) and pieces."""

    def __init__(self, pieces: Iterable[bytes], folder: Path | None = None):
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
        self._file = tempfile.TemporaryFile(dir=folder)  # noqa: SIM115 - open as long as the mail is read
        self._size = 0
        try:
            for piece in pieces:
                self._file.write(piece)
                self._size += len(piece)
            self._file.flush()
        except BaseException:
            self._file.close()
            raise

    def __len__(self) -> int:
        return self._size

    def __getitem__(self, where: slice) -> bytes:
        start, stop, step = where.indices(self._size)
        if step != 1:
            raise ValueError("a spooled mail is read in contiguous slices")
        return os.pread(self._file.fileno(), max(0, stop - start), start)

    def pieces(self, size: int = PIECE_BYTES) -> Iterator[bytes]:
        """The whole mail, `size` bytes at a time."""
        for start in range(0, self._size, size):
            yield self[start : start + size]

    def close(self) -> None:
        self._file.close()


class _Gone(Exception):
    """The mail left the folder while it was being fetched."""


def spool(piece: Callable[[int], bytes | None], folder: Path | None = None) -> SpooledMail | None:
    """A mail read by `piece(offset)` (PIECE_BYTES from there; None: the mail is gone), into a file in
    `folder`; None when the mail went away meanwhile."""
    def pieces() -> Iterator[bytes]:
        offset = 0
        while (found := piece(offset)) is not None:
            yield found
            offset += len(found)
            if len(found) < PIECE_BYTES:
                return
        raise _Gone
    try:
        return SpooledMail(pieces(), folder)
    except _Gone:
        return None
