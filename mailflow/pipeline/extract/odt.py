"""OpenDocument text (.odt) reader: paragraphs, lists, tables, frames, highlighted and struck text."""

from __future__ import annotations

from lxml import etree

from mailflow.errors import ExtractionError
from mailflow.pipeline.extract.limits import Deadline, ExtractionLimits, open_zip_safely
from mailflow.pipeline.extract.model import (
    HIGHLIGHT_END,
    HIGHLIGHT_START,
    STRIKE_END,
    STRIKE_START,
    Block,
    Cell,
    Para,
    Table,
)

TEXT = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
TABLE = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
DRAW = "urn:oasis:names:tc:opendocument:xmlns:drawing:1.0"
OFFICE = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
STYLE = "urn:oasis:names:tc:opendocument:xmlns:style:1.0"
FO = "urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0"

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, remove_comments=True)


def _t(tag: str, ns: str = TEXT) -> str:
    return f"{{{ns}}}{tag}"


def _span_styles(root: etree._Element) -> tuple[set[str], set[str]]:
    """Names of the automatic text styles that highlight, and that strike through."""
    highlight, strike = set(), set()
    for style in root.iter(_t("style", STYLE)):
        props = style.find(_t("text-properties", STYLE))
        if props is None:
            continue
        name = style.get(_t("name", STYLE))
        background = (props.get(_t("background-color", FO)) or "transparent").lower()
        if background not in ("transparent", "#ffffff", "none"):
            highlight.add(name)
        if (props.get(_t("text-line-through-style", STYLE)) or "none") != "none":
            strike.add(name)
    return highlight, strike


class _Walker:
    def __init__(self, deadline: Deadline, highlight: set[str], strike: set[str]):
        self.deadline = deadline
        self.highlight = highlight
        self.strike = strike

    def blocks(self, parent: etree._Element, bullet: bool = False) -> list[Block]:
        out: list[Block] = []
        for child in parent:
            self.deadline.check()
            tag = child.tag
            if tag in (_t("p"), _t("h")):
                out.extend(self.paragraph(child, bullet))
            elif tag == _t("list"):
                for item in child:
                    out.extend(self.blocks(item, bullet=True))
            elif tag == _t("table", TABLE):
                out.append(self.table(child))
            elif tag in (_t("section"), _t("list-item"), _t("list-header"), _t("table-header-rows", TABLE)):
                out.extend(self.blocks(child, bullet))
        return out

    def table(self, table: etree._Element) -> Table:
        rows = []
        for row in table.iter(_t("table-row", TABLE)):
            if next(row.iterancestors(_t("table", TABLE))) is not table:
                continue
            cells = [Cell(tuple(self.blocks(c))) for c in row if c.tag == _t("table-cell", TABLE)]
            rows.append(tuple(cells))
        return Table(tuple(rows))

    def paragraph(self, p: etree._Element, bullet: bool) -> list[Block]:
        parts: list[str] = []
        frames: list[Block] = []
        self.inline(p, parts, frames)
        text = "".join(parts)
        out: list[Block] = []
        if text.strip():
            out.append(Para(tuple(("- " + text.lstrip() if bullet else text).split("\n"))))
        return out + frames

    def inline(self, el: etree._Element, parts: list[str], frames: list[Block]) -> None:
        if el.text:
            parts.append(el.text)
        for child in el:
            tag = child.tag
            if tag == _t("s"):
                parts.append(" " * int(child.get(_t("c"), "1") or 1))
            elif tag == _t("tab"):
                parts.append("\t")
            elif tag == _t("line-break"):
                parts.append("\n")
            elif tag == _t("span"):
                style = child.get(_t("style-name"))
                inner: list[str] = []
                self.inline(child, inner, frames)
                text = "".join(inner)
                if style in self.strike:
                    text = STRIKE_START + text + STRIKE_END
                elif style in self.highlight and text.strip():
                    text = HIGHLIGHT_START + text + HIGHLIGHT_END
                parts.append(text)
            elif tag in (_t("a"), _t("meta"), _t("ruby-base")):
                self.inline(child, parts, frames)
            elif tag == _t("frame", DRAW):
                for box in child.iter(_t("text-box", DRAW)):
                    frames.extend(self.blocks(box))
            elif tag in (_t("note"), _t("annotation", OFFICE), _t("tracked-changes")):
                pass
            if child.tail:
                parts.append(child.tail)


def read_odt(data: bytes, limits: ExtractionLimits, deadline: Deadline) -> list[Block]:
    """The blocks of an .odt document's text, in reading order."""
    archive = open_zip_safely(data, limits, "OpenDocument (.odt)")
    try:
        root = etree.fromstring(archive.read("content.xml"), _PARSER)
    except KeyError:
        raise ExtractionError("le fichier OpenDocument (.odt) est incomplet (content.xml absent)") from None
    except Exception:
        raise ExtractionError("le fichier OpenDocument (.odt) est endommagé ou illisible") from None
    text = root.find(f"{_t('body', OFFICE)}/{_t('text', OFFICE)}")
    if text is None:
        raise ExtractionError("le fichier OpenDocument n'est pas un document texte")
    highlight, strike = _span_styles(root)
    return _Walker(deadline, highlight, strike).blocks(text)
