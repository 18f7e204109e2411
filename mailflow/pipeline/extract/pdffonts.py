"""The two facts of a PDF font that place and split words as pdfplumber does: its name and descent.

pdfplumber's character box starts at the font's descent below the baseline, and a word ends where the
font name changes. pdfminer takes the descent from the font descriptor as written (zero when the
producer wrote zero, as LibreOffice does) or from the standard metrics of the 14 base fonts; PDFium
corrects such values from the font program, so its boxes sit up to 2 pt lower. The descriptors are
read here through pdfminer's own font classes, without building the fonts' glyph tables (the costly
part of pdfminer's font loading) and without interpreting any page content.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pdfminer.fontmetrics import FONT_METRICS
from pdfminer.pdffont import PDFFont
from pdfminer.pdftypes import resolve1
from pdfminer.psparser import PSLiteral, literal_name
from pdfminer.utils import apply_matrix_norm

log = logging.getLogger(__name__)
_SUBSET = re.compile(r"^[A-Z]{6}\+")


@dataclass(frozen=True)
class FontFacts:
    """pdfminer's name of a font, its descent per unit of font size (zero or negative), and for the 14
    standard fonts the widths pdfminer uses (its own metrics, by character, in 1/1000 of the size)."""

    name: str
    descent: float
    widths: dict[str, float] | None = field(default=None, compare=False)


def base_key(name: str) -> str:
    """A font's BaseFont without its subset tag ("ABCDEF+"), the way PDFium reports it."""
    return _SUBSET.sub("", name)


def _dict(value: Any) -> dict:
    value = resolve1(value)
    return value if isinstance(value, dict) else {}


def _facts(spec: dict) -> FontFacts:
    """pdfminer's choice of descriptor for a font dict (see PDFResourceManager.get_font)."""
    subtype = literal_name(spec.get("Subtype", "Type1")) if isinstance(spec.get("Subtype"), PSLiteral) else "Type1"
    if subtype == "Type0":
        descendants = resolve1(spec.get("DescendantFonts")) or [{}]
        spec = _dict(descendants[0])
        subtype = "CIDFontType2"
    if subtype == "Type3":
        descriptor = _dict(spec.get("FontDescriptor")) or {"Ascent": 0, "Descent": 0,
                                                           "FontBBox": spec.get("FontBBox")}
        font = PDFFont(descriptor, {})
        matrix = tuple(resolve1(spec.get("FontMatrix")) or (0.001, 0, 0, 0.001, 0, 0))
        vscale = apply_matrix_norm(matrix, (1, 1))[1]  # type: ignore[arg-type]
        return FontFacts(str(font.fontname), -abs(font.bbox[1] * vscale))
    basefont = spec.get("BaseFont")
    name = literal_name(basefont) if isinstance(basefont, PSLiteral) else "unknown"
    if subtype in ("Type1", "MMType1", "TrueType") and name in FONT_METRICS:
        descriptor, widths = FONT_METRICS[name]
        font = PDFFont(descriptor, {})
        return FontFacts(str(font.fontname), font.get_descent(), dict(widths))
    font = PDFFont(_dict(spec.get("FontDescriptor")), {})
    return FontFacts(str(font.fontname), font.get_descent())


def _resources(resources: Any, seen: set[int]) -> Iterator[tuple[str, dict]]:
    """(BaseFont, font dict) of a resource dict and of the forms it draws, each form once."""
    resources = _dict(resources)
    for ref in _dict(resources.get("Font")).values():
        spec = _dict(ref)
        basefont = spec.get("BaseFont")
        yield (literal_name(basefont) if isinstance(basefont, PSLiteral) else "unknown"), spec
    for ref in _dict(resources.get("XObject")).values():
        objid = getattr(ref, "objid", None)
        if objid is None or objid in seen:
            continue
        seen.add(objid)
        xobject = resolve1(ref)
        attrs = getattr(xobject, "attrs", {})
        if literal_name(attrs.get("Subtype")) == "Form" if isinstance(attrs.get("Subtype"), PSLiteral) else False:
            yield from _resources(attrs.get("Resources"), seen)


def font_facts(page_resources: Iterable[Any]) -> dict[str, list[FontFacts]]:
    """The fonts of a document's pages by BaseFont without subset tag (a name may be several fonts)."""
    out: dict[str, list[FontFacts]] = {}
    seen: set[int] = set()
    for resources in page_resources:
        try:
            for basefont, spec in _resources(resources, seen):
                facts = _facts(spec)
                found = out.setdefault(base_key(basefont), [])
                if facts not in found:
                    found.append(facts)
        except Exception:  # noqa: BLE001 - a broken font dict: PDFium's own figures are used instead
            log.debug("unreadable font resources", exc_info=True)
    return out
