"""A mail's documents, each decoded and read once.

The extractor (the forms), the recognition of kinds (projet collectif or stage offer) and the
archive all need a mail's attachments; reading a PDF costs more than everything else a mail asks,
so each attachment is decoded once and each document read once, and all three share the result.
"""

from __future__ import annotations

import functools
import logging
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage

from mailflow.errors import ExtractionError
from mailflow.pipeline.extract.body import body_blocks
from mailflow.pipeline.extract.convert import convert_to_docx
from mailflow.pipeline.extract.limits import Deadline, ExtractionLimits, check_size
from mailflow.pipeline.extract.mime import Attachment, collect, kind_name, sniff
from mailflow.pipeline.extract.model import Block, UnreadableDocument

log = logging.getLogger(__name__)

# The reader of each document format, imported when a document of its format is first read: the
# daemon, whose reader processes read the documents, loads the PDF and Word libraries only when it
# reads a mail itself (pipeline.readers).
READERS = {"docx": "mailflow.pipeline.extract.docx:read_docx", "pdf": "mailflow.pipeline.extract.pdf:read_pdf",
           "odt": "mailflow.pipeline.extract.odt:read_odt"}
DOCUMENT_KINDS = ("docx", "pdf", "odt", "doc", "rtf")

_REFUSED = {
    "winmail": "pièce jointe au format winmail.dat (Outlook) illisible\u00a0: merci de renvoyer le formulaire en "
               "pièce jointe Word ou PDF (envoi en HTML et non en texte enrichi)",
    "zip": "archive compressée (.zip) non ouverte\u00a0: merci d'envoyer le formulaire directement en pièce jointe "
           "Word ou PDF",
}


@functools.cache
def reader(kind: str) -> Callable[[bytes, ExtractionLimits, Deadline], list[Block]]:
    """The function that reads documents of `kind` (a key of READERS)."""
    return pkgutil.resolve_name(READERS[kind])


@dataclass
class ReadDocument:
    """One attached file as read: its blocks, or why it cannot be read; neither for a file that is no
    document (an image, a calendar). `deadline` is the rest of its time budget, for the matching."""

    attachment: Attachment
    kind: str | None = None
    blocks: list[Block] | None = None
    unreadable: UnreadableDocument | None = None
    deadline: Deadline | None = None

    @property
    def filename(self) -> str | None:
        return self.attachment.filename


def read_attachment(attachment: Attachment, limits: ExtractionLimits) -> ReadDocument:
    """Read one attached file; never raises."""
    kind = sniff(attachment)
    if kind is None:
        return ReadDocument(attachment)
    reported = kind if kind in READERS else None
    try:
        return _read(attachment, kind, limits)
    except ExtractionError as exc:
        return ReadDocument(attachment, reported, unreadable=UnreadableDocument(
            attachment.filename, exc.source_kind or reported, exc.reason))
    except Exception:
        log.exception("unexpected error while reading attachment %r", attachment.filename)
        return ReadDocument(attachment, reported, unreadable=UnreadableDocument(
            attachment.filename, reported, "erreur inattendue à la lecture du fichier\u00a0: il doit être lu par "
                                           "une personne"))


def _read(attachment: Attachment, kind: str, limits: ExtractionLimits) -> ReadDocument:
    filename = attachment.filename
    if kind in _REFUSED:
        return ReadDocument(attachment, kind, unreadable=UnreadableDocument(filename, None, _REFUSED[kind]))
    if kind == "encrypted":
        return ReadDocument(attachment, "docx", unreadable=UnreadableDocument(
            filename, "docx", "le fichier Word est protégé par un mot de passe"))
    if kind.startswith("corrupt:"):
        claimed = kind.split(":", 1)[1]
        return ReadDocument(attachment, claimed, unreadable=UnreadableDocument(
            filename, claimed if claimed in READERS else None,
            f"le fichier {kind_name(claimed)} est endommagé ou illisible"))
    check_size(attachment.data, limits)
    deadline = Deadline(limits.seconds_per_document)
    data = attachment.data
    if kind in ("doc", "rtf"):
        data, kind = convert_to_docx(data, kind, deadline), "docx"
    return ReadDocument(attachment, kind, reader(kind)(data, limits, deadline), deadline=deadline)


@dataclass
class MailDocuments:
    """Every attachment of a mail as read, and the bodies that may hold a typed form (the mail's own,
    then those of forwarded mails), each body read on first use. `broken`: the MIME tree cannot be walked."""

    attachments: list[ReadDocument]
    bodies: list[EmailMessage]
    limits: ExtractionLimits
    broken: bool = False
    _read_bodies: dict[int, tuple[list[Block], Deadline] | ExtractionError] = field(default_factory=dict)

    def body(self, number: int) -> tuple[list[Block], Deadline]:
        """The blocks of body `number` and the rest of its time budget; ExtractionError as body_blocks raises."""
        if number not in self._read_bodies:
            deadline = Deadline(self.limits.seconds_per_document)
            try:
                self._read_bodies[number] = (body_blocks(self.bodies[number], deadline), deadline)
            except ExtractionError as exc:
                self._read_bodies[number] = exc
        read = self._read_bodies[number]
        if isinstance(read, ExtractionError):
            raise read
        return read


Collected = tuple[list[Attachment], list[EmailMessage]]


def walk(message: EmailMessage) -> Collected | None:
    """The mail's attachments, each decoded once, and its bodies; None when its MIME tree cannot be walked."""
    try:
        return collect(message)
    except Exception:
        log.exception("cannot walk the MIME tree")
        return None


def read_mail(message: EmailMessage, limits: ExtractionLimits, collected: Collected | None = None) -> MailDocuments:
    """Read each document of the mail; `collected`: what `walk` already gave for it."""
    collected = collected or walk(message)
    if collected is None:
        return MailDocuments([], [], limits, broken=True)
    attachments, bodies = collected
    return MailDocuments([read_attachment(a, limits) for a in attachments], bodies, limits)
