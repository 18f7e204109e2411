"""Word and OpenDocument renderings of a form's items, in the layouts the layout corpus needs."""

from __future__ import annotations

import io
import random

import docx
from docx.oxml import parse_xml

from tests.corpus.layouts import ADDRESSES, CHECKBOXES, MULTILINE, Item, colon, docx_bytes, lines_of

NS = ('xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" '
      'xmlns:w14="http://schemas.microsoft.com/office/word/2010/wordml"')


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _fill(cell, lines: list[str]) -> None:  # noqa: ANN001 - a python-docx cell
    first = True
    for line in lines or [""]:
        p = cell.paragraphs[0] if first else cell.add_paragraph()
        first = False
        p.add_run(line)


def _merged_row(table, text: str) -> None:  # noqa: ANN001
    row = table.add_row().cells
    merged = row[0].merge(row[-1])
    merged.paragraphs[0].add_run(text).bold = True


def _boxed(cell, lines: list[str]) -> None:  # noqa: ANN001
    """The value in a bordered one-cell table nested in `cell` (a "boxed" answer)."""
    inner = cell.add_table(rows=1, cols=1)
    inner.style = "Table Grid"
    _fill(inner.cell(0, 0), lines)


def docx_flow(items: list[Item], ticks: str, *, nextline: bool, rng: random.Random) -> bytes:
    """Paragraphs: each heading, note and label on its own line; values inline or on the next lines."""
    document = docx.Document()
    document.add_paragraph("PROPOSITION DE PROJET COLLECTIF")
    for item in items:
        if item.kind != "field":
            document.add_paragraph(item.text)
            continue
        lines = lines_of(item.key, item.value, ticks)
        if nextline or item.key in MULTILINE or (item.key in ADDRESSES and len(lines) > 1):
            document.add_paragraph(colon(item))
            for line in lines:
                document.add_paragraph(line)
        else:
            document.add_paragraph(f"{item.text} : {lines[0] if lines else ''}".rstrip())
    return docx_bytes(document)


def docx_table2(items: list[Item], ticks: str, *, boxed: set[str] | None = None, heading_rows: bool = True,
                rng: random.Random) -> bytes:
    """The whole form re-typed as one two-column table: label | value, headings as merged rows."""
    document = docx.Document()
    document.add_paragraph("PROPOSITION DE PROJET COLLECTIF")
    table = document.add_table(rows=0, cols=2)
    table.style = "Table Grid"
    for item in items:
        if item.kind != "field":
            if heading_rows:
                _merged_row(table, item.text)
            else:
                document.add_paragraph(item.text)
                table = document.add_table(rows=0, cols=2)
                table.style = "Table Grid"
            continue
        row = table.add_row().cells
        row[0].paragraphs[0].add_run(colon(item))
        lines = lines_of(item.key, item.value, ticks)
        if boxed is not None and item.key.split(".")[0] in boxed:
            row[1].paragraphs[0].add_run("")
            _boxed(row[1], lines)
        else:
            _fill(row[1], lines)
    return docx_bytes(document)


def docx_comb(items: list[Item], ticks: str, *, comb: set[str], rng: random.Random) -> bytes:
    """A paper-style form: label | one bordered box per letter for the fields in `comb` (names, SIRET,
    phones), a plain answer cell for the others."""
    document = docx.Document()
    document.add_paragraph("PROPOSITION DE PROJET COLLECTIF")
    for item in items:
        if item.kind != "field":
            document.add_paragraph(item.text)
            continue
        lines = lines_of(item.key, item.value, ticks)
        if item.key in comb and lines and len(lines[0]) <= 40:
            letters = list(lines[0])
            table = document.add_table(rows=1, cols=1 + max(len(letters), 1))
            table.style = "Table Grid"
            table.cell(0, 0).paragraphs[0].add_run(colon(item))
            for k, letter in enumerate(letters, 1):
                table.cell(0, k).paragraphs[0].add_run(letter)
            continue
        table = document.add_table(rows=1, cols=2)
        table.style = "Table Grid"
        table.cell(0, 0).paragraphs[0].add_run(colon(item))
        _fill(table.cell(0, 1), lines)
    return docx_bytes(document)


def docx_boxed_after_label(items: list[Item], ticks: str, *, rng: random.Random) -> bytes:
    """Labels as paragraphs, each answer in a bordered one-cell table below its label."""
    document = docx.Document()
    document.add_paragraph("PROPOSITION DE PROJET COLLECTIF")
    for item in items:
        if item.kind != "field":
            document.add_paragraph(item.text)
            continue
        document.add_paragraph(colon(item))
        box = document.add_table(rows=1, cols=1)
        box.style = "Table Grid"
        _fill(box.cell(0, 0), lines_of(item.key, item.value, ticks))
    return docx_bytes(document)


def docx_label_above(items: list[Item], ticks: str, *, rng: random.Random) -> bytes:
    """One cell per field holding the label and, below it in the same cell, the answer."""
    document = docx.Document()
    document.add_paragraph("PROPOSITION DE PROJET COLLECTIF")
    table = None
    for item in items:
        if item.kind != "field":
            document.add_paragraph(item.text)
            table = None
            continue
        if table is None:
            table = document.add_table(rows=0, cols=1)
            table.style = "Table Grid"
        cell = table.add_row().cells[0]
        cell.paragraphs[0].add_run(colon(item)).bold = True
        for line in lines_of(item.key, item.value, ticks):
            cell.add_paragraph(line)
    return docx_bytes(document)


def docx_nested(items: list[Item], ticks: str, *, rng: random.Random) -> bytes:
    """A layout table (side column | form) whose form cell holds a frame table holding the section tables."""
    document = docx.Document()
    outer = document.add_table(rows=1, cols=2)
    side, main = outer.cell(0, 0), outer.cell(0, 1)
    side.paragraphs[0].add_run("INET")
    side.add_paragraph("Campagne 2025-2026")
    main.paragraphs[0].add_run("PROPOSITION DE PROJET COLLECTIF")
    frame = main.add_table(rows=1, cols=1).cell(0, 0)
    table = None
    for item in items:
        if item.kind != "field":
            frame.add_paragraph(item.text)
            table = None
            continue
        if table is None:
            table = frame.add_table(rows=0, cols=2)
        row = table.add_row().cells
        row[0].paragraphs[0].add_run(colon(item))
        _fill(row[1], lines_of(item.key, item.value, ticks))
    return docx_bytes(document)


def docx_tracked(items: list[Item], ticks: str, *, rng: random.Random) -> bytes:
    """Answers typed with tracked changes on (insertions, deletions, moves) and commented by a reviewer."""
    document = docx.Document()
    document.add_paragraph("PROPOSITION DE PROJET COLLECTIF")
    attrs = 'w:author="Relecteur" w:date="2025-06-02T10:00:00Z"'
    for n, item in enumerate(items):
        if item.kind != "field":
            document.add_paragraph(item.text)
            continue
        lines = lines_of(item.key, item.value, ticks)
        single = not (item.key in MULTILINE or item.key in ADDRESSES or item.key in CHECKBOXES)
        label = document.add_paragraph(f"{item.text} : " if single else colon(item))
        targets = [label] if single else [document.add_paragraph() for _ in lines]
        for k, (p, line) in enumerate(zip(targets, lines, strict=False)):
            style = (n + k) % 4
            if style == 0 or not line.strip():
                run = p.add_run(line)
            elif style == 1:  # inserted as a tracked change
                p._p.append(parse_xml(f'<w:ins {NS} w:id="{n}{k}1" {attrs}><w:r><w:t xml:space="preserve">'
                                      f"{_xml(line)}</w:t></w:r></w:ins>"))
                run = None
            elif style == 2:  # an old answer deleted, the new one inserted
                p._p.append(parse_xml(f'<w:del {NS} w:id="{n}{k}2" {attrs}><w:r><w:delText>Ancienne réponse '
                                      f"à supprimer</w:delText></w:r></w:del>"))
                run = p.add_run(line)
            else:  # moved here from elsewhere
                p._p.append(parse_xml(f'<w:moveFrom {NS} w:id="{n}{k}3" {attrs}><w:r><w:delText>'
                                      f"(déplacé)</w:delText></w:r></w:moveFrom>"))
                p._p.append(parse_xml(f'<w:moveTo {NS} w:id="{n}{k}4" {attrs}><w:r><w:t xml:space="preserve">'
                                      f"{_xml(line)}</w:t></w:r></w:moveTo>"))
                run = None
            if run is not None and line.strip() and (n + k) % 3 == 0:
                document.add_comment(run, text="À confirmer avec la DRH ?", author="Relecteur", initials="R")
    return docx_bytes(document)


# -- OpenDocument -------------------------------------------------------------------------------------


def odt_flow(items: list[Item], ticks: str, *, same_paragraph: bool, blank: bool, rng: random.Random) -> bytes:
    """Each label on its line and the answer on the line after: a line break in the same paragraph, or the
    next paragraph (after an empty one when `blank`)."""
    from odf.opendocument import OpenDocumentText
    from odf.text import LineBreak, P

    doc = OpenDocumentText()
    doc.text.addElement(P(text="PROPOSITION DE PROJET COLLECTIF"))
    for item in items:
        if item.kind != "field":
            doc.text.addElement(P(text=item.text))
            continue
        lines = lines_of(item.key, item.value, ticks)
        if same_paragraph and item.key not in MULTILINE:
            p = P(text=colon(item))
            for line in lines:
                p.addElement(LineBreak())
                p.addText(line)
            doc.text.addElement(p)
            continue
        doc.text.addElement(P(text=colon(item)))
        if blank:
            doc.text.addElement(P(text=""))
        for line in lines:
            doc.text.addElement(P(text=line))
    out = io.BytesIO()
    doc.write(out)
    return out.getvalue()

