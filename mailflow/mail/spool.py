"""A big mail's bytes in a file, read in pieces: never held whole in memory.

A fetched mail is written as it arrives to a file without a name (it vanishes when closed, or when the
process dies) in a folder the service chooses, on disk: the system's temporary folder may be memory
(tmpfs). An archived mail is read from its own file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

SPOOL_BYTES = 4 * 1024 * 1024  # a mail larger than this is fetched into a file
PIECE_BYTES = 1 << 20


class SpooledMail:
    """The bytes of a mail in a file: its length, slices (read when asked for) and pieces."""

    def __init__(self, file: BinaryIO):
        self._file = file
        self._size = os.fstat(file.fileno()).st_size

    @classmethod
    def written(cls, pieces: Iterable[bytes], folder: Path | None = None) -> SpooledMail:
        """The mail given in `pieces`, written to an unnamed file in `folder`."""
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
        file = tempfile.TemporaryFile(dir=folder)  # noqa: SIM115 - open as long as the mail is read
        try:
            for piece in pieces:
                file.write(piece)
            file.flush()
        except BaseException:
            file.close()
            raise
        return cls(file)

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


RawMail = bytes | SpooledMail  # a mail's bytes: in memory, or in a file when it is big


def read_mail(path: Path) -> RawMail:
    """A mail file, to parse: its bytes, or for a big one (over SPOOL_BYTES) the file itself, read in pieces."""
    file = path.open("rb")
    if os.fstat(file.fileno()).st_size > SPOOL_BYTES:
        return SpooledMail(file)
    with file:
        return file.read()


def opened(raw: RawMail) -> contextlib.AbstractContextManager[RawMail]:
    """`raw` in a `with` block that closes its file, if it has one, on leaving (once nothing parsed from it
    is used any more: the parts of a parsed mail read their bodies from it)."""
    return contextlib.closing(raw) if isinstance(raw, SpooledMail) else contextlib.nullcontext(raw)


class _Gone(Exception):
    """The mail left the folder while it was being fetched."""


def spool(piece: Callable[[int], bytes | None], folder: Path | None = None) -> SpooledMail | None:
    """A mail read by `piece(offset)` (PIECE_BYTES from there; None: the mail is gone), into a file in
    `folder`; None when the mail went away meanwhile, or had no bytes at all."""
    def pieces() -> Iterator[bytes]:
        offset = 0
        while (found := piece(offset)) is not None and (found or offset):
            yield found
            offset += len(found)
            if len(found) < PIECE_BYTES:
                return
        raise _Gone
    try:
        return SpooledMail.written(pieces(), folder)
    except _Gone:
        return None
