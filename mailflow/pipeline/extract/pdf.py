"""PDF reader: the text layer, ruled tables as cells, AcroForm field values, tick glyphs.

The page is read by PDFium (pypdfium2): words (pdfwords.py) and the lines of ruled tables
(pdftables.py), both rebuilt the way pdfplumber builds them, whose rules the layout code below was
written against. pdfminer (under pdfplumber) only reads the document's structure: the font descriptors
and, for a fillable form, its fields; it never interprets a page's content, the slow part (about 0.5 s
for a two-page form, against a few hundredths of a second).

PDF text has no paragraphs: lines are rebuilt from word positions and a line is joined to the next
one when the next line's first word would not have fitted (a wrap), kept apart otherwise (a break
the writer typed). Page headers and footers repeated on every page are dropped.
"""

from __future__ import annotations

import io
import logging
import re
import threading
from bisect import bisect_left, bisect_right
from collections import Counter
from dataclasses import dataclass

import pdfplumber
import pypdfium2
import pypdfium2.raw as pdfium_c

from mailflow.errors import ExtractionError
from mailflow.pipeline.extract.acroform import FieldText, check_not_xfa_only, field_texts
from mailflow.pipeline.extract.limits import Deadline, ExtractionLimits
from mailflow.pipeline.extract.model import CHECKED, UNCHECKED, Block, Cell, Para, Table
from mailflow.pipeline.extract.pdfcolumns import columns
from mailflow.pipeline.extract.pdffonts import font_facts
from mailflow.pipeline.extract.pdftables import find_tables
from mailflow.pipeline.extract.pdfwords import Fonts, page_frame, page_words

logging.getLogger("pdfminer").setLevel(logging.ERROR)
log = logging.getLogger(__name__)
_PDFIUM = threading.Lock()  # PDFium is not thread-safe: one document at a time per process

_DINGBATS = {"zapfdingbats": {"4": CHECKED, "3": CHECKED, "8": CHECKED, "n": CHECKED, "o": UNCHECKED,
                              "q": UNCHECKED, "p": UNCHECKED},
             "wingdings": {"þ": CHECKED, "ý": CHECKED, "x": CHECKED, "ü": CHECKED, "¨": UNCHECKED,
                           "o": UNCHECKED, "q": UNCHECKED, "\uf0fe": CHECKED, "\uf0fd": CHECKED,
                           "\uf078": CHECKED, "\uf0a8": UNCHECKED, "\uf06f": UNCHECKED}}


class ScannedDocument(ExtractionError):
    """A PDF whose pages are images without a text layer."""


@dataclass
class _Word:
    text: str
    x0: float
    x1: float
    top: float
    bottom: float
    source: str = "page"  # "field" for the value of a form field


@dataclass
class _Line:
    words: list[_Word]

    @property
    def x0(self) -> float:
        return self.words[0].x0

    @property
    def x1(self) -> float:
        return self.words[-1].x1

    @property
    def top(self) -> float:
        return min(w.top for w in self.words)

    @property
    def bottom(self) -> float:
        return max(w.bottom for w in self.words)

    @property
    def text(self) -> str:
        out = self.words[0].text
        for prev, word in zip(self.words, self.words[1:], strict=False):
            gap = word.x0 - prev.x1
            height = max(prev.bottom - prev.top, 1.0)
            out += ("\t" if gap > 1.5 * height else " ") + word.text
        return out


def _glyphs(word: dict) -> str:
    font = str(word.get("fontname", "")).lower()
    for name, table in _DINGBATS.items():
        if name in font:
            return "".join(table.get(c, c) for c in word["text"])
    text = word["text"]
    return "".join(_DINGBATS["wingdings"].get(c, c) if "\uf000" <= c <= "\uf0ff" else c for c in text)


def _lines(words: list[_Word]) -> list[_Line]:
    lines: list[_Line] = []
    for word in sorted(words, key=lambda w: (round(w.top), w.x0)):
        middle = (word.top + word.bottom) / 2
        for line in reversed(lines[-3:]):
            if line.top - 0.5 <= middle <= line.bottom + 0.5:
                line.words.append(word)
                break
        else:
            lines.append(_Line([word]))
    for line in lines:
        line.words.sort(key=lambda w: w.x0)
    return sorted(lines, key=lambda ln: (ln.top, ln.x0))


def _paragraphs(lines: list[_Line], right: float) -> list[str]:
    """Join wrapped lines; keep typed breaks. `right` is where text stops in this region.

    A line wrapped when the next line's first word would not have fitted after it, and the next line
    follows at the region's tightest line pitch (a wider gap means a new paragraph or field).
    """
    out: list[str] = []
    pitches = [b.top - a.top for a, b in zip(lines, lines[1:], strict=False) if b.top > a.top]
    pitch = min(pitches, default=0.0)
    for i, line in enumerate(lines):
        text = line.text
        if i == 0:
            out.append(text)
            continue
        prev = lines[i - 1]
        height = max(prev.bottom - prev.top, 1.0)
        gap = line.top - prev.bottom
        first = line.words[0]
        space = 0.3 * height
        tight = line.top - prev.top <= pitch + max(1.0, 0.12 * height)
        wrapped = (tight and gap < 0.9 * height and first.source == prev.words[-1].source
                   and prev.x1 + space + (first.x1 - first.x0) > right - 0.5 * height)
        if wrapped:
            joiner = "" if re.search(r"\w-$", out[-1]) else " "
            out[-1] = out[-1] + joiner + text
        else:
            out.append(text)
    return out


def _field_words(fields: list[FieldText], printed: list[_Word]) -> list[_Word]:
    """Form-field values as words where their widgets are; a field with no printed label beside or
    above it gets its tooltip (or name) as label, so that it can still be matched."""
    words: list[_Word] = []
    boxes_labelled: set[int] = set()
    for f in fields:
        height = max(8.0, min(12.0, f.bottom - f.top))
        labelled = _has_printed_label(f, printed, height)
        label = f.label if f.label and not labelled else None
        if f.box:
            row = round(f.top)
            if label and row not in boxes_labelled:
                boxes_labelled.add(row)
                words.append(_Word(label.rsplit(" : ", 1)[0].strip() + " :", f.x0 - 2, f.x0 - 1, f.top, f.bottom,
                                   "field"))
            words.append(_Word(f.text, f.x0, f.x1, f.top, f.bottom, "field"))
            continue
        lines = [x.strip() for x in f.text.split("\n")]
        if label:
            words.append(_Word(label.strip().rstrip(":") + " :", f.x0 - 2, f.x0 - 1, f.top, f.top + height,
                               "field"))
        for i, text in enumerate(x for x in lines if x):
            words.append(_Word(text, f.x0 + 2, f.x1, f.top + i * height * 1.2, f.top + i * height * 1.2 + height,
                               "field"))
    return words


def _has_printed_label(f: FieldText, printed: list[_Word], height: float) -> bool:
    """Whether page text stands left of the widget on its line, or just above it and aligned with it."""
    for w in printed:
        if w.text in ("Oui", "Non", CHECKED, UNCHECKED):
            continue
        beside = w.x1 <= f.x0 + 2 and w.top < f.top + height and w.bottom > f.top
        above = w.bottom <= f.top + 1 and f.top - w.bottom < 1.6 * height and abs(w.x0 - f.x0) < 15
        if beside or above:
            return True
    return False


def _page_blocks(raw: list[dict], fields: list[FieldText], tables: list, deadline: Deadline,
                 ) -> list[tuple[float, Block | _Line]]:
    words = [_Word(_glyphs(w), w["x0"], w["x1"], w["top"], w["bottom"]) for w in raw]
    words.extend(_field_words(fields, words))
    placed: list[tuple[float, Block | _Line]] = []
    taken: set[int] = set()
    # words by the height of their middle, so that a cell looks only at the words level with it
    by_middle = sorted(((w.top + w.bottom) / 2, i) for i, w in enumerate(words))
    middles = [m for m, _ in by_middle]
    for table in tables:
        deadline.check()
        rows = []
        for row in table.rows:
            cells = []
            for bbox in row.cells:
                if bbox is None:
                    continue
                x0, top, x1, bottom = bbox
                level = by_middle[bisect_left(middles, top):bisect_right(middles, bottom)]
                indexes = sorted(i for _, i in level if i not in taken
                                 and x0 <= (words[i].x0 + words[i].x1) / 2 <= x1)
                taken.update(indexes)
                lines = _lines([words[i] for i in indexes])
                pad = min((ln.x0 for ln in lines), default=x0 + 2) - x0
                texts = _paragraphs(lines, x1 - min(pad, 8))
                cells.append(Cell(tuple(Para((t,)) for t in texts)))
            if cells:
                rows.append(tuple(cells))
        placed.append((table.bbox[1], Table(tuple(rows))))
    free = [w for i, w in enumerate(words) if i not in taken]
    for line in _lines(free):
        placed.append((line.top, line))
    placed.sort(key=lambda item: item[0])
    return placed


def _drop_running_lines(pages: list[list[tuple[float, Block | _Line]]], heights: list[float]) -> None:
    """Remove headers and footers: lines near the page edges repeated on most pages."""
    if len(pages) < 2:
        return
    def key(line: _Line) -> str:
        return re.sub(r"\d+", "#", line.text.strip())
    counts: Counter[str] = Counter()
    for items, height in zip(pages, heights, strict=True):
        counts.update({key(x) for _, x in items if isinstance(x, _Line) and _edge(x, height)})
    threshold = max(2, (len(pages) + 1) // 2)
    for items, height in zip(pages, heights, strict=True):
        items[:] = [(y, x) for y, x in items
                    if not (isinstance(x, _Line) and _edge(x, height) and counts[key(x)] >= threshold)]


def _edge(line: _Line, height: float) -> bool:
    return line.top < 0.1 * height or line.bottom > 0.9 * height


def _open(data: bytes) -> pypdfium2.PdfDocument:
    try:
        return pypdfium2.PdfDocument(data)
    except pypdfium2.PdfiumError as exc:
        if exc.err_code in (pdfium_c.FPDF_ERR_PASSWORD, pdfium_c.FPDF_ERR_SECURITY):
            raise ExtractionError("le fichier PDF est protégé par un mot de passe") from None
        raise ExtractionError("le fichier PDF est endommagé ou illisible") from None


def _structure(data: bytes):
    """pdfminer's view of the document (fonts, form fields), or None when pdfminer cannot parse it."""
    try:
        pdf = pdfplumber.open(io.BytesIO(data))
        pdf.pages  # noqa: B018 - parses the page tree now, inside the try
    except Exception:  # noqa: BLE001 - PDFium read it: its own font figures are used instead
        log.debug("pdfminer cannot parse this PDF", exc_info=True)
        return None
    return pdf


def _images(document: pypdfium2.PdfDocument) -> int:
    return sum(1 for page in document for obj in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE]))


def read_pdf(data: bytes, limits: ExtractionLimits, deadline: Deadline) -> list[Block]:
    """The blocks of a PDF's text layer; ScannedDocument when it has images but no text."""
    with _PDFIUM:
        try:
            placed, heights = _read(data, limits, deadline)
        except pypdfium2.PdfiumError:  # a page PDFium cannot load
            raise ExtractionError("le fichier PDF est endommagé ou illisible") from None
    return _blocks(placed, heights)


def _read(data: bytes, limits: ExtractionLimits, deadline: Deadline,
          ) -> tuple[list[list[tuple[float, Block | _Line]]], list[float]]:
    """Each page's tables and lines, placed by their top, and each page's height."""
    document = _open(data)
    try:
        count = len(document)
        if count > limits.max_pages:
            raise ExtractionError(f"le fichier PDF compte {count} pages (maximum {limits.max_pages}) : "
                                  "non lu automatiquement")
        if not count:
            raise ExtractionError("le fichier PDF ne contient aucune page")
        structure = _structure(data)
        form = pdfium_c.FPDF_GetFormType(document.raw) != pdfium_c.FORMTYPE_NONE
        try:
            parsed = structure.pages if structure is not None else []
            fonts = Fonts(font_facts(p.page_obj.resources for p in parsed))
            placed, heights, chars = [], [], 0
            for number in range(count):
                deadline.check()
                page = document[number]
                frame = page_frame(page)
                words, drawn = page_words(page, fonts, frame, deadline.check)
                chars += drawn
                fields = field_texts(parsed[number]) if form and number < len(parsed) else []
                tables = find_tables(page, frame, float(page.get_width()))
                placed.append(_page_blocks(words, fields, tables, deadline))
                heights.append(frame.height)
            fields = sum(1 for items in placed for _, x in items if isinstance(x, _Line)
                         for w in x.words if w.source == "field")
            if form and structure is not None:
                check_not_xfa_only(structure.doc, chars, fields)
        finally:
            if structure is not None:
                structure.close()
        if chars < 20 and not fields and not any(isinstance(x, Table) for items in placed for _, x in items):
            if _images(document):
                raise ScannedDocument("document numérisé (image sans texte) : le formulaire doit être "
                                      "ressaisi ou lu par une personne", source_kind="scan")
            if not any(items for items in placed):
                raise ExtractionError("le fichier PDF ne contient aucun texte lisible")
    finally:
        document.close()
    return placed, heights


def _blocks(placed: list[list[tuple[float, Block | _Line]]], heights: list[float]) -> list[Block]:
    _drop_running_lines(placed, heights)
    # Where free text stops: the right edge of the text column over the whole document (one page of
    # short lines alone would make every line look full).
    right = max((x.x1 for items in placed for _, x in items if isinstance(x, _Line)), default=0.0)
    blocks: list[Block] = []
    for items in placed:
        free: list[_Line] = []
        for position, (_, item) in enumerate(items):
            if isinstance(item, _Line):
                free.append(item)
                continue
            blocks.extend(_free_paragraphs(free, right))
            free = []
            if position == 0 and blocks and isinstance(blocks[-1], Table):
                item = Table(item.rows, continues=True)
            blocks.append(item)
        blocks.extend(_free_paragraphs(free, right))
    return blocks


def _free_paragraphs(lines: list[_Line], right: float) -> list[Block]:
    if not lines:
        return []
    return columns(lines, lambda run: [Para((t,)) for t in _paragraphs(run, right)])
