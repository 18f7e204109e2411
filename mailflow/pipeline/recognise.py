"""Which kinds of proposal a mail carries: a projet collectif form, a stage offer, both, or neither.

The stages mailbox receives several kinds of proposal. Each form definition says how its documents
are recognised (`[recognise]`: title words, distinctive labels, keywords); each document of a mail
(every readable attachment, and the body) is scored against each kind. Pure: the documents are those
`read_mail` read for the extractor; a document that cannot be read is left to the extractor, which reports it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from functools import lru_cache

from mailflow.pipeline.extract.documents import DOCUMENT_KINDS, MailDocuments
from mailflow.pipeline.extract.folding import fold
from mailflow.pipeline.extract.model import Block, Para, Table
from mailflow.pipeline.forms.definition import FormDefinition, Recognition

log = logging.getLogger(__name__)

FIRST_LINES = 12  # where a title word counts double


@dataclass(frozen=True)
class Document:
    """One document of a mail as plain lines: an attachment (by its name) or the body (`filename` None)."""

    filename: str | None
    source_kind: str
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@dataclass(frozen=True)
class Recognised:
    """A document and the kind of proposal it carries (form names): the best-scoring kind (every kind
    on a tie); a projet collectif form that names the cadres d'emplois is not also a stage offer."""

    document: Document
    kinds: tuple[str, ...]

    def carries(self, form: str) -> bool:
        return form in self.kinds


def block_lines(blocks: Iterable[Block]) -> list[str]:
    """Paragraph lines in order; a table row becomes one line of its cells joined by " : "."""
    lines: list[str] = []
    for block in blocks:
        if isinstance(block, Para):
            lines.extend(block.lines)
        elif isinstance(block, Table):
            for row in block.rows:
                cells = [" ".join(block_lines(cell.blocks)).strip() for cell in row]
                lines.append(" : ".join(c for c in cells if c))
    return lines


def documents(read: MailDocuments) -> list[Document]:
    """The readable documents of a mail: attachments (Word, PDF, odt, doc/rtf) first, then the body."""
    found = [Document(d.filename, d.kind, tuple(block_lines(d.blocks)))
             for d in read.attachments if d.blocks is not None and d.kind in DOCUMENT_KINDS]
    for number in range(len(read.bodies)):
        try:
            lines = block_lines(read.body(number)[0])
        except Exception:  # noqa: BLE001 - the extractor reports an unreadable body
            continue
        if any(line.strip() for line in lines):
            found.append(Document(None, "body", tuple(lines)))
            break
    return found


def _contains(haystack: str, phrase: str) -> bool:
    pattern = _starting_a_word(phrase)
    return pattern is not None and pattern.search(haystack) is not None


@lru_cache(maxsize=1024)
def _starting_a_word(phrase: str) -> re.Pattern[str] | None:
    """A recognition phrase, folded, found where a word starts; compiled once (a mail asks for each of a
    form's phrases in each document, and re's own cache is shared with everything else)."""
    needle = fold(phrase)
    return re.compile(rf"(?<![a-z0-9]){re.escape(needle)}") if needle else None


def score(document: Document, rule: Recognition, subject: str = "") -> int:
    """How strongly a document looks like a kind (see `Recognition`)."""
    title = subject if document.filename is None else document.filename
    head = fold(" \n ".join((title, *document.lines[:FIRST_LINES])))
    whole = fold(document.text)
    label_lines = [fold(line) for line in document.lines]
    points = sum(2 if _contains(head, w) else 1 if _contains(whole, w) else 0 for w in rule.title_words)
    points += sum(1 for label in map(fold, rule.labels) if any(line.startswith(label) for line in label_lines))
    points += sum(1 for word in rule.keywords if _contains(whole, word))
    return points


def recognise(message: EmailMessage, forms: Mapping[str, FormDefinition], read: MailDocuments,
              ) -> list[Recognised]:
    """Each readable document of the mail (as `read_mail` read it) with the kind it carries (possibly none)."""
    subject = str(message.get("Subject", "") or "")
    result = []
    for document in documents(read):
        scores = {name: score(document, form.recognise, subject) for name, form in forms.items()}
        passing = {n: s for n, s in scores.items() if s >= forms[n].recognise.min_score}
        best = max(passing.values(), default=0)
        result.append(Recognised(document, tuple(n for n, s in passing.items() if s == best)))
    return result


def carrying(recognised: Sequence[Recognised], form: str) -> list[Document]:
    """The documents that carry `form`: attachments, else the body (a covering note is not a second one)."""
    attached = [r.document for r in recognised if r.carries(form) and r.document.filename is not None]
    return attached or [r.document for r in recognised if r.carries(form)]


def belongs(filename: str | None, source_kind: str, recognised: Sequence[Recognised], form: str) -> bool:
    """Whether a form read from this document may be `form`: not when the document is recognised as
    another kind only (an offer typed with labels is not a projet collectif)."""
    for item in recognised:
        same = item.document.filename == filename if source_kind != "body" else item.document.filename is None
        if same:
            return not item.kinds or item.carries(form)
    return True
