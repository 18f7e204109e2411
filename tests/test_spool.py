"""A big mail fetched a piece at a time into a file: the whole mail, whatever its size, or nothing."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from mailflow.mail.spool import PIECE_BYTES, spool


@pytest.mark.parametrize("size", [10, PIECE_BYTES - 1, PIECE_BYTES, 2 * PIECE_BYTES, 2 * PIECE_BYTES + 3])
def test_a_mail_fetched_piece_by_piece_is_spooled_whole(size: int, tmp_path: Path) -> None:
    """Whatever its size against the pieces' (an exact multiple ends on an empty piece), the spooled
    mail is the whole mail, read back in any slice; the file has no name in its folder."""
    data = random.Random(size).randbytes(size)
    asked: list[int] = []

    def piece(offset: int) -> bytes:
        asked.append(offset)
        return data[offset : offset + PIECE_BYTES]

    spooled = spool(piece, tmp_path)
    assert spooled is not None and len(spooled) == size and b"".join(spooled.pieces(4096)) == data
    assert spooled[size // 3 : size // 2] == data[size // 3 : size // 2] and spooled[-5:] == data[-5:]
    assert asked == list(range(0, size + 1, PIECE_BYTES))
    assert list(tmp_path.iterdir()) == []
    spooled.close()


def test_a_mail_gone_while_it_is_fetched_is_not_spooled() -> None:
    """Staff moved the mail away between two pieces, or the server gave no body at all: nothing is
    returned (the mail stays in the folder, for the next pass), never an empty or a partial mail."""
    assert spool(lambda offset: None if offset else bytes(PIECE_BYTES)) is None
    assert spool(lambda offset: b"") is None
