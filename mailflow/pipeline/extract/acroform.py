"""Fillable PDF forms (AcroForm): the answers typed in a viewer live in the fields' values, not in the
page's text. Each widget becomes a piece of text placed where it is on the page, so that the value
lands beside (or under) the label printed there; a field with no printed label near it brings its own
label, its tooltip (/TU) or else its name (/T). Dynamic XFA forms keep their answers in an XML
packet that only Adobe software lays out: they are reported, not guessed at.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from pdfminer.pdftypes import resolve1
from pdfminer.psparser import PSLiteral
from pdfminer.utils import decode_text

from mailflow.errors import ExtractionError
from mailflow.pipeline.extract.model import CHECKED, UNCHECKED

log = logging.getLogger(__name__)


class DynamicForm(ExtractionError):
    """A PDF whose form is XFA only: nothing to read without Adobe's renderer."""


@dataclass(frozen=True)
class FieldText:
    """A widget's value as text at the widget's place; `label` is the field's own name for it."""

    text: str
    x0: float
    x1: float
    top: float
    bottom: float
    label: str | None
    box: bool


def _text(value: Any) -> str | None:
    value = resolve1(value)
    if value is None:
        return None
    if isinstance(value, bytes):
        return decode_text(value)
    if isinstance(value, PSLiteral):
        return str(value.name)
    if isinstance(value, list):
        parts = [_text(v) for v in value]
        return ", ".join(p for p in parts if p)
    return str(value)


def _inherited(data: dict) -> tuple[str, str | None, str | None, str | None]:
    """Field type, value, tooltip and full name of a widget, looking up its parent fields."""
    node, ftype, value, tooltip, names = data, None, None, None, []
    for _ in range(10):
        ftype = ftype or _text(node.get("FT"))
        if value is None and node.get("V") is not None:
            value = _text(node.get("V"))
        tooltip = tooltip or _text(node.get("TU"))
        name = _text(node.get("T"))
        if name:
            names.append(name)
        parent = resolve1(node.get("Parent"))
        if not isinstance(parent, dict):
            break
        node = parent
    return ftype or "", value, tooltip, ".".join(reversed(names)) or None


def field_texts(page: Any) -> list[FieldText]:
    """The values of the page's form widgets (ticked or empty boxes as ☒ / ☐)."""
    out: list[FieldText] = []
    for annot in page.annots or []:
        try:
            data = annot.get("data") or {}
            if _text(data.get("Subtype")) != "Widget":
                continue
            ftype, value, tooltip, name = _inherited(data)
            x0, top, x1, bottom = (float(annot[k]) for k in ("x0", "top", "x1", "bottom"))
        except Exception:  # noqa: BLE001 - one odd widget must not make the document unreadable
            log.debug("skipping an unreadable form widget", exc_info=True)
            continue
        label = tooltip or name
        if ftype == "Btn":
            state = _text(data.get("AS")) or ""
            out.append(FieldText(UNCHECKED if state in ("", "Off") else CHECKED, x0, x1, top, bottom, label, True))
        elif value and value.strip():
            out.append(FieldText(value.replace("\r\n", "\n").replace("\r", "\n"), x0, x1, top, bottom, label,
                                 False))
    return out


def check_not_xfa_only(document: Any, characters: int, widgets: int) -> None:
    """Raise DynamicForm when the PDF is an XFA form with no readable page text nor AcroForm values."""
    try:
        form = resolve1(document.catalog.get("AcroForm"))
        xfa = isinstance(form, dict) and form.get("XFA") is not None
    except Exception:  # noqa: BLE001
        return
    if xfa and widgets == 0 and characters < 400:
        raise DynamicForm("formulaire PDF dynamique (XFA) : ses réponses ne peuvent être lues qu'avec Adobe "
                          "Reader ; merci de renvoyer la fiche en Word, ou en PDF après l'avoir imprimée "
                          "en PDF (Fichier > Imprimer > Microsoft Print to PDF)")
