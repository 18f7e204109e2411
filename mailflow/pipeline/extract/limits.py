"""Safety limits for reading untrusted attachments: sizes, zip ratios, pages and a time budget.

The time budget is checked cooperatively inside the readers' loops (no SIGALRM), so it works the same
when the extractor runs in a worker thread.
"""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass

from mailflow.errors import ExtractionError


@dataclass(frozen=True)
class ExtractionLimits:
    """Upper bounds applied to each attachment before and while it is read."""

    max_attachment_bytes: int = 25_000_000
    max_uncompressed_bytes: int = 60_000_000
    max_ratio: float = 150.0
    max_zip_members: int = 2_000
    max_pages: int = 40
    seconds_per_document: float = 20.0


class DocumentTimeout(ExtractionError):
    """Reading one document took longer than `ExtractionLimits.seconds_per_document`."""


class Deadline:
    """A time budget for one document; `check()` raises DocumentTimeout once it is spent."""

    def __init__(self, seconds: float, monotonic: Callable[[], float] = time.monotonic):
        self._monotonic = monotonic
        self.seconds = seconds
        self._end = monotonic() + seconds

    def remaining(self) -> float:
        """Seconds left (never negative)."""
        return max(0.0, self._end - self._monotonic())

    def check(self) -> None:
        """Raise DocumentTimeout when the budget is spent."""
        if self._monotonic() > self._end:
            raise DocumentTimeout(f"lecture du document interrompue : délai de {self.seconds:g} s dépassé")


def _mb(n: float) -> str:
    return f"{n / 1_000_000:.1f} Mo".replace(".", ",")


def check_size(data: bytes, limits: ExtractionLimits) -> None:
    """Refuse an attachment larger than the limit, before anything parses it."""
    if len(data) > limits.max_attachment_bytes:
        raise ExtractionError(f"pièce jointe trop volumineuse ({_mb(len(data))}, maximum "
                              f"{_mb(limits.max_attachment_bytes)}) : non lue automatiquement")


def open_zip_safely(data: bytes, limits: ExtractionLimits, what: str) -> zipfile.ZipFile:
    """Open a docx/odt container after checking member count, total size and compression ratio.

    The sizes come from the central directory; zipfile never inflates a member beyond its declared
    size, so checking them first bounds what any later read can produce.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError):
        raise ExtractionError(f"le fichier {what} est endommagé ou illisible (archive invalide)") from None
    if len(infos) > limits.max_zip_members:
        raise ExtractionError(f"le fichier {what} contient {len(infos)} éléments (maximum "
                              f"{limits.max_zip_members}) : non ouvert par sécurité")
    total = sum(i.file_size for i in infos)
    if total > limits.max_uncompressed_bytes:
        raise ExtractionError(f"le fichier {what} se décompresse en {_mb(total)} (maximum "
                              f"{_mb(limits.max_uncompressed_bytes)}) : non ouvert par sécurité "
                              "(bombe zip ?)")
    for info in infos:
        if info.flag_bits & 0x1:
            raise ExtractionError(f"le fichier {what} est protégé par un mot de passe")
        if info.file_size > 1_000_000 and info.file_size > limits.max_ratio * max(info.compress_size, 1):
            raise ExtractionError(f"le fichier {what} a un taux de compression anormal "
                                  f"({info.file_size // max(info.compress_size, 1)}:1) : "
                                  "non ouvert par sécurité "
                                  "(bombe zip ?)")
    return archive
