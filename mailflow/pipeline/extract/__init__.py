"""Read the filled form(s) out of a mail: attachments (docx, PDF, odt, doc/rtf via LibreOffice) or body.

`extract_forms` never raises for a bad document: anything that cannot be read comes back as an
`UnreadableDocument` with a French reason for staff and for the sender. Documents converted from
.doc/.rtf report `source_kind` "docx" (the schema has no "doc" kind; the filename keeps the original).
"""

from __future__ import annotations

import email.message
import json
import logging
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from mailflow.errors import ExtractionError
from mailflow.pipeline.extract.confidence import Reading, readings
from mailflow.pipeline.extract.documents import MailDocuments, ReadDocument, read_attachment, read_mail
from mailflow.pipeline.extract.limits import Deadline, ExtractionLimits
from mailflow.pipeline.extract.matching import LabelIndex, RawForm, match_forms, units
from mailflow.pipeline.extract.mime import Attachment
from mailflow.pipeline.extract.model import Block, UnreadableDocument
from mailflow.pipeline.extract.normalize import normalise
from mailflow.pipeline.forms.definition import FormDefinition

__all__ = ["ExtractedForm", "Extraction", "ExtractionLimits", "Reading", "UnreadableDocument", "extract_forms",
           "extract_document", "MailDocuments", "read_mail"]

log = logging.getLogger(__name__)

DEFAULT_LIMITS = ExtractionLimits()


@dataclass(frozen=True)
class ExtractedForm:
    """One filled form: the schema's five objects (every key present, None when absent), its source, and
    how each field was read (dotted path -> Reading; empty for a form built by hand)."""

    fields: dict[str, dict[str, Any]]
    source_kind: str
    filename: str | None
    readings: dict[str, Reading] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Extraction:
    """Everything found in one mail: the forms read and the documents that could not be read."""

    forms: tuple[ExtractedForm, ...]
    unreadable: tuple[UnreadableDocument, ...]


@lru_cache(maxsize=8)
def _index(definition: FormDefinition) -> LabelIndex:
    return LabelIndex(definition)


def _forms_from_blocks(blocks: list[Block], definition: FormDefinition, deadline: Deadline, *, body: bool,
                       ) -> list[RawForm]:
    index = _index(definition)
    minimum = definition.min_fields_body if body else definition.min_fields_attachment
    found = match_forms(units(blocks, index, deadline), index, deadline, body=body)
    return [f for f in found if len(f.seen) >= minimum]


def extract_document(data: bytes, filename: str | None, definition: FormDefinition,
                     limits: ExtractionLimits = DEFAULT_LIMITS,
                     content_type: str = "application/octet-stream",
                     ) -> list[ExtractedForm] | UnreadableDocument | None:
    """Read one attached file: its forms, an UnreadableDocument, or None when it is not a form at all."""
    return _attachment_forms(read_attachment(Attachment(filename, content_type, data), limits), definition)


def _attachment_forms(document: ReadDocument, definition: FormDefinition,
                      ) -> list[ExtractedForm] | UnreadableDocument | None:
    if document.unreadable is not None or document.blocks is None or document.kind is None:
        return document.unreadable
    kind, filename = document.kind, document.filename
    try:
        raws = _forms_from_blocks(document.blocks, definition, document.deadline, body=False)
        if not raws:
            return None
        forms = [f for f in (_form(raw, definition, kind, filename) for raw in raws) if _filled(f)]
    except ExtractionError as exc:
        return UnreadableDocument(filename, exc.source_kind or kind, exc.reason)
    except Exception:
        log.exception("unexpected error while reading attachment %r", filename)
        return UnreadableDocument(filename, kind, "erreur inattendue à la lecture du fichier\u00a0: "
                                                  "il doit être lu par une personne")
    if not forms:
        return UnreadableDocument(filename, kind,
                                  "le formulaire joint n'est pas rempli (aucune réponse saisie)")
    return forms


def _body_forms(documents: MailDocuments, number: int, definition: FormDefinition) -> list[ExtractedForm]:
    blocks, deadline = documents.body(number)
    raws = _forms_from_blocks(blocks, definition, deadline, body=True)
    forms = [_form(raw, definition, "body", None) for raw in raws]
    return [f for f in forms if _filled(f)]


def _form(raw: RawForm, definition: FormDefinition, kind: str, filename: str | None) -> ExtractedForm:
    fields = normalise(raw.values, definition)
    return ExtractedForm(fields, kind, filename, readings(raw, fields, _index(definition)))


def _filled(form: ExtractedForm) -> bool:
    return any(v is not None for section in form.fields.values() for v in section.values())


def _key(form: ExtractedForm) -> str:
    """Identity of a form's content, blind to line wrapping (a .docx and its PDF export are one form)."""
    def canon(value: Any) -> Any:
        return re.sub(r"[\s\-–•]+", " ", value.replace("’", "'")).strip() if isinstance(value, str) else value
    fields = {s: {k: canon(v) for k, v in f.items()} for s, f in form.fields.items()}
    return json.dumps(fields, sort_keys=True)


def extract_forms(message: email.message.EmailMessage, definition: FormDefinition,
                  limits: ExtractionLimits = DEFAULT_LIMITS, documents: MailDocuments | None = None) -> Extraction:
    """Every form in a mail (parsed with email.policy.default), attachments first, then the body.

    The body is read as a form only when no attachment gave one and enough of the form's labels are
    in it. The same form sent twice (a .docx and its PDF export) counts once. `documents`: the mail
    as `read_mail` already read it.
    """
    documents = documents or read_mail(message, limits)
    if documents.broken:
        return Extraction((), (UnreadableDocument(None, None, "structure MIME du message illisible"),))
    forms: list[ExtractedForm] = []
    unreadable: list[UnreadableDocument] = []
    for document in documents.attachments:
        result = _attachment_forms(document, definition)
        if isinstance(result, UnreadableDocument):
            unreadable.append(result)
        elif result:
            forms.extend(result)
    if not forms:
        for number in range(len(documents.bodies)):
            try:
                forms.extend(_body_forms(documents, number, definition))
            except ExtractionError as exc:
                unreadable.append(UnreadableDocument(None, "body", exc.reason))
            except Exception:
                log.exception("unexpected error while reading a mail body")
                unreadable.append(UnreadableDocument(None, "body", "erreur inattendue à la lecture du corps "
                                                     "du message\u00a0: il doit être lu par une personne"))
            if forms:
                break
    unique: list[ExtractedForm] = []
    seen: set[str] = set()
    for form in forms:
        key = _key(form)
        if key not in seen:
            seen.add(key)
            unique.append(form)
    return Extraction(tuple(unique), tuple(unreadable))
