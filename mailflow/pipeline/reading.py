"""What the documents of one mail carry: the projet collectif forms and the stage offers.

Pure and self-contained (a parsed mail and the form definitions in, plain data out), so that it
can run in a worker process (pipeline.readers) as well as in the daemon itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage

from mailflow.pipeline.extract import (
    ExtractedForm,
    ExtractionLimits,
    MailDocuments,
    UnreadableDocument,
    extract_forms,
    read_mail,
)
from mailflow.pipeline.extract.documents import Collected
from mailflow.pipeline.forms.definition import FormDefinition
from mailflow.pipeline.offers.vocabulary import OFFER_FORM
from mailflow.pipeline.recognise import Document, belongs, carrying, recognise


@dataclass(frozen=True)
class MailReading:
    """The forms of the main kind read in a mail, the documents carrying a stage offer, and the
    documents that could not be read (with the reason, in French)."""

    forms: tuple[ExtractedForm, ...]
    offers: tuple[Document, ...]
    unreadable: tuple[UnreadableDocument, ...]


def read_proposals(message: EmailMessage, form: FormDefinition, forms: Mapping[str, FormDefinition],
                   limits: ExtractionLimits, collected: Collected | None = None) -> MailReading:
    """Read every document of the mail once, then the forms of `form` and the stage offers in them.
    `collected`: the mail's decoded attachments and bodies, when the caller has walked it already."""
    documents = read_mail(message, limits, collected)
    extraction = extract_forms(message, form, limits, documents)
    kept, offers = sort_kinds(message, extraction.forms, form.name, forms, documents)
    return MailReading(tuple(kept), tuple(offers), extraction.unreadable)


def sort_kinds(
    message: EmailMessage, extracted: Sequence[ExtractedForm], form: str, forms: Mapping[str, FormDefinition],
    read: MailDocuments,
) -> tuple[list[ExtractedForm], list[Document]]:
    """The forms of `form` the extractor read that are not in a document of another kind only, and the
    documents that carry a stage offer (none when there is no offer form)."""
    if OFFER_FORM not in forms or len(forms) < 2:
        return list(extracted), []
    recognised = recognise(message, forms, read)
    kept = [f for f in extracted if belongs(f.filename, f.source_kind, recognised, form)]
    # A document that scores as much for both kinds is the form the extractor read from it, if any.
    names = {f.filename if f.source_kind != "body" else None for f in kept}
    offered = [r for r in recognised if not (len(r.kinds) > 1 and r.document.filename in names)]
    return kept, carrying(offered, OFFER_FORM)
