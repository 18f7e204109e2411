"""Word (.docx) reader: paragraphs, tables, nested tables, text boxes, content controls and ticks.

The package is checked against the zip limits, then only its main document part is parsed, found
through the package's relationships as Word itself does, and its body walked directly: checkboxes
(content controls, legacy form fields, Wingdings symbols), highlighting, deleted text and text boxes
are all in that one part. Opening the whole package with python-docx (styles, settings, theme,
thumbnail…) cost some 35 times as much and read nothing more.
"""

from __future__ import annotations

import posixpath
import zipfile

from lxml import etree

from mailflow.errors import ExtractionError
from mailflow.pipeline.extract.limits import Deadline, ExtractionLimits, open_zip_safely
from mailflow.pipeline.extract.model import (
    CHECKED,
    HIGHLIGHT_END,
    HIGHLIGHT_START,
    STRIKE_END,
    STRIKE_START,
    UNCHECKED,
    Block,
    Cell,
    Para,
    Table,
)

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
W14 = "http://schemas.microsoft.com/office/word/2010/wordml"
MC = "http://schemas.openxmlformats.org/markup-compatibility/2006"
PACKAGE_RELATIONSHIPS = "_rels/.rels"
MAIN_DOCUMENT = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"

# python-docx's own parser options, so that the text read is the same as when it opened the file.
_PARSER = etree.XMLParser(remove_blank_text=True, resolve_entities=False, no_network=True, huge_tree=False)


def _q(tag: str, ns: str = W) -> str:
    return f"{{{ns}}}{tag}"


# Symbol fonts: private-use code points (and their Latin-1 twins) that draw a ticked or empty box.
_SYMBOL_BOXES = {
    "wingdings": {0xFE: CHECKED, 0xFD: CHECKED, 0x78: CHECKED, 0xFC: CHECKED, 0xFB: CHECKED,
                  0xA8: UNCHECKED, 0x6F: UNCHECKED, 0x71: UNCHECKED, 0x72: UNCHECKED},
    "wingdings 2": {0x54: CHECKED, 0x53: CHECKED, 0x51: CHECKED, 0x50: CHECKED,
                    0xA3: UNCHECKED, 0x2A: UNCHECKED},
    "ms gothic": {},
}
_CONTAINERS = {_q("hyperlink"), _q("ins"), _q("smartTag"), _q("fldSimple"), _q("customXml"), _q("moveTo"),
               _q("bdo"), _q("dir")}
_SKIP = {_q("del"), _q("moveFrom"), _q("pPr"), _q("rPr"), _q("proofErr"), _q("bookmarkStart"),
         _q("bookmarkEnd"), _q("commentRangeStart"), _q("commentRangeEnd")}


def _on(el: etree._Element | None, ns: str = W) -> bool:
    if el is None:
        return False
    return el.get(_q("val", ns), "true").lower() not in ("0", "false", "off", "none")


def _symbol(font: str, code: int) -> str | None:
    table = _SYMBOL_BOXES.get(font.lower())
    if table is None:
        return None
    return table.get(code & 0xFF if code >= 0xF000 else code)


def _rows(tbl: etree._Element) -> list[etree._Element]:
    rows = []
    for child in tbl:
        if child.tag == _q("tr"):
            rows.append(child)
        elif child.tag in (_q("sdt"), _q("customXml")):
            content = child.find(_q("sdtContent")) if child.tag == _q("sdt") else child
            if content is not None:
                rows.extend(_rows(content))
    return rows


class _Walker:
    def __init__(self, deadline: Deadline):
        self.deadline = deadline

    def blocks(self, parent: etree._Element) -> list[Block]:
        out: list[Block] = []
        for child in parent:
            self.deadline.check()
            tag = child.tag
            if tag == _q("p"):
                out.extend(self.paragraph(child))
            elif tag == _q("tbl"):
                out.append(self.table(child))
            elif tag in (_q("sdt"), _q("customXml")):
                content = child.find(_q("sdtContent")) if tag == _q("sdt") else child
                if content is not None:
                    out.extend(self.blocks(content))
            elif tag == f"{{{MC}}}AlternateContent":
                choice = child.find(f"{{{MC}}}Choice")
                if choice is not None:
                    out.extend(self.blocks(choice))
        return out

    def table(self, tbl: etree._Element) -> Table:
        rows = []
        for tr in _rows(tbl):
            cells = []
            for tc in tr:
                if tc.tag == _q("sdt"):
                    inner = tc.find(f"{_q('sdtContent')}/{_q('tc')}")
                    tc = inner if inner is not None else tc
                if tc.tag != _q("tc"):
                    continue
                vmerge = tc.find(f"{_q('tcPr')}/{_q('vMerge')}")
                if vmerge is not None and vmerge.get(_q("val"), "continue") == "continue":
                    continue
                cells.append(Cell(tuple(self.blocks(tc))))
            rows.append(tuple(cells))
        return Table(tuple(rows))

    def paragraph(self, p: etree._Element) -> list[Block]:
        parts: list[str] = []
        boxes: list[Block] = []
        self.inline(p, parts, boxes)
        text = "".join(parts)
        if p.find(f"{_q('pPr')}/{_q('numPr')}") is not None and text.strip():
            text = "- " + text.lstrip()
        out: list[Block] = []
        if text.strip():
            out.append(Para(tuple(text.split("\n"))))
        return out + boxes

    def inline(self, el: etree._Element, parts: list[str], boxes: list[Block]) -> None:
        for child in el:
            tag = child.tag
            if tag == _q("r"):
                self.run(child, parts, boxes)
            elif tag in _CONTAINERS:
                self.inline(child, parts, boxes)
            elif tag == _q("sdt"):
                self.content_control(child, parts, boxes)
            elif tag == f"{{{MC}}}AlternateContent":
                choice = child.find(f"{{{MC}}}Choice")
                if choice is not None:
                    self.inline(choice, parts, boxes)

    def content_control(self, sdt: etree._Element, parts: list[str], boxes: list[Block]) -> None:
        props = sdt.find(_q("sdtPr"))
        if props is not None:
            box = props.find(_q("checkbox", W14))
            if box is not None:
                parts.append(CHECKED if _on(box.find(_q("checked", W14)), W14) else UNCHECKED)
                return
            if props.find(_q("showingPlcHdr")) is not None:
                return
        content = sdt.find(_q("sdtContent"))
        if content is not None:
            self.inline(content, parts, boxes)

    def run(self, r: etree._Element, parts: list[str], boxes: list[Block]) -> None:
        rpr = r.find(_q("rPr"))
        font = ""
        highlight = strike = False
        if rpr is not None:
            fonts = rpr.find(_q("rFonts"))
            if fonts is not None:
                font = fonts.get(_q("ascii")) or fonts.get(_q("hAnsi")) or ""
            hl = rpr.find(_q("highlight"))
            shd = rpr.find(_q("shd"))
            highlight = (hl is not None and hl.get(_q("val"), "none") != "none") or (
                shd is not None and (shd.get(_q("fill")) or "auto").lower() not in ("auto", "ffffff", ""))
            strike = _on(rpr.find(_q("strike"))) or _on(rpr.find(_q("dstrike")))
        text: list[str] = []
        for child in r:
            tag = child.tag
            if tag == _q("t"):
                value = child.text or ""
                if font.lower() in _SYMBOL_BOXES:
                    value = "".join(_symbol(font, ord(c)) or c for c in value)
                text.append(value)
            elif tag == _q("tab"):
                text.append("\t")
            elif tag in (_q("br"), _q("cr")):
                text.append("\n")
            elif tag == _q("noBreakHyphen"):
                text.append("-")
            elif tag == _q("sym"):
                try:
                    code = int(child.get(_q("char"), "0"), 16)
                except ValueError:
                    code = 0
                text.append(_symbol(child.get(_q("font"), ""), code) or "")
            elif tag == _q("fldChar"):
                box = child.find(f"{_q('ffData')}/{_q('checkBox')}")
                if box is not None:
                    checked = box.find(_q("checked"))
                    if checked is None:
                        checked = box.find(_q("default"))
                    text.append(CHECKED if _on(checked) else UNCHECKED)
            elif tag in (_q("drawing"), _q("pict"), f"{{{MC}}}AlternateContent", _q("object")):
                for content in child.iter(_q("txbxContent")):
                    if any(a.tag == f"{{{MC}}}Fallback" for a in content.iterancestors()):
                        continue
                    boxes.extend(self.blocks(content))
        joined = "".join(text)
        if not joined:
            return
        if strike:
            joined = STRIKE_START + joined + STRIKE_END
        elif highlight and joined.strip():
            joined = HIGHLIGHT_START + joined + HIGHLIGHT_END
        parts.append(joined)


def read_docx(data: bytes, limits: ExtractionLimits, deadline: Deadline) -> list[Block]:
    """The blocks of a .docx document's body, in reading order."""
    if data[:4] == b"\xd0\xcf\x11\xe0":
        raise ExtractionError("le fichier Word est protégé par un mot de passe (document chiffré)")
    package = open_zip_safely(data, limits, "Word (.docx)")
    try:
        body = etree.fromstring(package.read(main_document_name(package)), _PARSER).find(_q("body"))
    except Exception:
        body = None
    if body is None:
        raise ExtractionError("le fichier Word (.docx) est endommagé ou illisible")
    return _Walker(deadline).blocks(body)


def main_document_name(package: zipfile.ZipFile) -> str:
    """The zip member of a Word package's main document (`word/document.xml` as Word writes it), named
    by the package's relationships; KeyError when there is none."""
    relationships = etree.fromstring(package.read(PACKAGE_RELATIONSHIPS), _PARSER)
    for relationship in relationships:
        if relationship.get("Type") == MAIN_DOCUMENT and relationship.get("TargetMode") != "External":
            return posixpath.normpath(relationship.get("Target", "").lstrip("/"))
    raise KeyError("officeDocument")
