"""Content-addressed archive of raw mails, attachments and sent mails.

Files are named by the SHA-256 of their bytes, never by a name the sender chose, and
written atomically (temporary file, fsync, rename), so a crash leaves either the whole
file or nothing, and storing the same bytes twice is harmless.
"""

from __future__ import annotations

import hashlib
import itertools
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mailflow.files import write_atomically, write_temporary
from mailflow.mail.parsing import storable
from mailflow.mail.spool import RawMail, read_mail

if TYPE_CHECKING:
    from mailflow.pipeline.extract.mime import Attachment

WHOLE_BYTES = 1 << 20  # a file up to this size is stored from memory, larger ones as they come


def content_hash(data: RawMail) -> str:
    """The archive key of `data`."""
    return hashlib.sha256(data).hexdigest() if isinstance(data, bytes) else hashed(data.pieces())[0]


def hashed(chunks: Iterable[bytes]) -> tuple[str, int]:
    """The archive key and the size of a file given in pieces, without writing it."""
    digest, size = hashlib.sha256(), 0
    for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


class Archive:
    """A folder of immutable files keyed by their content hash."""

    def __init__(self, root: Path):
        self.root = root

    def path(self, digest: str) -> Path:
        """Where the file with this hash lives (two levels of fan-out keep folders small)."""
        if len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest):
            raise ValueError(f"not a content hash: {digest!r}")
        return self.root / digest[:2] / digest[2:4] / digest

    def store(self, data: RawMail) -> str:
        """Write `data` once and return its hash."""
        if not isinstance(data, bytes):
            return self.store_chunks(data.pieces())[0]
        digest = content_hash(data)
        target = self.path(digest)
        if target.exists():
            return digest
        write_atomically(target, data)
        return digest

    def store_chunks(self, chunks: Iterable[bytes]) -> tuple[str, int]:
        """Write a file given in pieces, hashing it on the way, and return its hash and size: a large
        attachment is never held whole in memory. A small one is stored whole, and not written again
        when the archive has it already (a logo on every mail)."""
        pieces, first, held = iter(chunks), [], 0
        for chunk in pieces:
            first.append(chunk)
            held += len(chunk)
            if held > WHOLE_BYTES:
                break
        else:
            data = b"".join(first)
            return self.store(data), len(data)
        digest = hashlib.sha256()

        def hashed() -> Iterator[bytes]:
            for chunk in itertools.chain(first, pieces):
                digest.update(chunk)
                yield chunk

        tmp = write_temporary(self.root, hashed())
        size = tmp.stat().st_size
        target = self.path(digest.hexdigest())
        if target.exists():
            tmp.unlink()
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, target)
        return digest.hexdigest(), size

    def load(self, digest: str) -> bytes:
        """The bytes stored under `digest`."""
        return self.path(digest).read_bytes()

    def mail(self, digest: str) -> RawMail:
        """A mail stored under `digest`, to parse: a big one is read from its file in pieces, as it came."""
        return read_mail(self.path(digest))

    def __contains__(self, digest: str) -> bool:
        return self.path(digest).exists()


@dataclass(frozen=True)
class KeptFile:
    """A file attached to a mail, stored in the archive: what the mail's `attachments` rows list."""

    filename: str | None
    content_type: str
    size: int
    content_hash: str


def keep_files(archive: Archive, parts: Iterable[Attachment]) -> tuple[KeptFile, ...]:
    """Store the files attached to a mail (not its body text), each from the bytes its reading decoded."""
    kept = []
    for part in parts:
        if part.disposition not in ("attachment", "inline") or (
                part.content_type.startswith("text/") and not part.filename):
            continue
        digest, size = archive.store_chunks(part.chunks())
        kept.append(KeptFile(storable(part.filename or "") or None, part.content_type, size, digest))
    return tuple(kept)
