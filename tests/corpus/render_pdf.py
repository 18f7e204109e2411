"""PDF renderings of a form's items: tables exported from Word, ticks in table cells, a scan with its
OCR text layer (fpdf2), and a fillable form whose answers live only in its fields (reportlab)."""

from __future__ import annotations

import io
import random

from tests.corpus.layouts import CHECKBOXES, MULTILINE, Item, colon, font_path, lines_of


def _fpdf():
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(True, margin=18)
    font = font_path()
    if font is None:
        raise RuntimeError("the layout corpus needs the DejaVu fonts (fonts-dejavu-core)")
    pdf.add_font("corpus", "", str(font))
    pdf.set_font("corpus", size=10)
    pdf.add_page()
    return pdf


def pdf_table2(items: list[Item], ticks: str, *, rng: random.Random, borders: bool = True) -> bytes:
    """The two-column table of the re-typed form, as Word or LibreOffice exports it to PDF (cells
    aligned at the top, Word's default)."""
    pdf = _fpdf()
    pdf.multi_cell(pdf.epw, 8, "PROPOSITION DE PROJET COLLECTIF", new_x="LMARGIN", new_y="NEXT", align="C")
    with pdf.table(col_widths=(38, 62), first_row_as_headings=False, line_height=5,
                   borders_layout="ALL" if borders else "NONE", v_align="TOP") as table:
        for item in items:
            row = table.row()
            if item.kind != "field":
                row.cell(item.text, colspan=2)
            else:
                row.cell(colon(item))
                row.cell("\n".join(lines_of(item.key, item.value, ticks)))
    return bytes(pdf.output())


def pdf_flow(items: list[Item], ticks: str, *, rng: random.Random) -> bytes:
    """Labels and answers as running text (label : value, or the answer's paragraphs under the label)."""
    pdf = _fpdf()
    width = pdf.epw
    pdf.multi_cell(width, 8, "PROPOSITION DE PROJET COLLECTIF", new_x="LMARGIN", new_y="NEXT", align="C")
    for item in items:
        if item.kind != "field":
            pdf.ln(2)
            pdf.multi_cell(width, 6, item.text, new_x="LMARGIN", new_y="NEXT")
            continue
        lines = lines_of(item.key, item.value, ticks)
        if item.key in MULTILINE:
            pdf.multi_cell(width, 5, colon(item), new_x="LMARGIN", new_y="NEXT")
            for line in lines:
                pdf.multi_cell(width, 5, line, new_x="LMARGIN", new_y="NEXT")
        else:
            pdf.multi_cell(width, 5, f"{item.text} : {', '.join(lines)}".rstrip(), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)
    return bytes(pdf.output())


def pdf_tick_cells(items: list[Item], ticks: str, *, rng: random.Random, columns: bool) -> bytes:
    """The official table exported to PDF, the boxes ticked inside table cells: a typed X or a ZapfDingbats
    check mark in the "Oui" or "Non" column (`columns`), or in the answer cell before the word."""
    pdf = _fpdf()
    pdf.multi_cell(pdf.epw, 8, "PROPOSITION DE PROJET COLLECTIF", new_x="LMARGIN", new_y="NEXT", align="C")
    for item in items:
        if item.kind != "field":
            pdf.ln(2)
            pdf.multi_cell(pdf.epw, 6, item.text, new_x="LMARGIN", new_y="NEXT")
            continue
        if item.key in CHECKBOXES:
            with pdf.table(col_widths=(50, 25, 25) if columns else (50, 50), first_row_as_headings=False,
                           line_height=6) as table:
                row = table.row()
                row.cell(colon(item))
                if columns:
                    for answer in (True, False):
                        mark = "X" if item.value is answer else ""
                        row.cell(f"{mark} {'Oui' if answer else 'Non'}".strip())
                else:
                    row.cell("")
            if not columns:
                _dingbat_answer(pdf, item.value)
            continue
        with pdf.table(col_widths=(38, 62), first_row_as_headings=False, line_height=5) as table:
            row = table.row()
            row.cell(colon(item))
            row.cell("\n".join(lines_of(item.key, item.value, ticks)))
    return bytes(pdf.output())


def _dingbat_answer(pdf, value: bool | None) -> None:  # noqa: ANN001
    """Draw "✔ Oui   ❏ Non" into the answer cell just drawn (ZapfDingbats "4" is a check, "o" a box)."""
    y = pdf.get_y() - 6
    x = pdf.l_margin + pdf.epw / 2 + 2
    for answer in (True, False):
        pdf.set_font("zapfdingbats", size=10)
        pdf.text(x, y + 4.3, "4" if value is answer else "o")
        pdf.set_font("corpus", size=10)
        pdf.text(x + 5, y + 4.3, "Oui" if answer else "Non")
        x += 20


def pdf_scanned(items: list[Item], ticks: str, *, rng: random.Random) -> bytes:
    """A scanned page (an image) with an OCR text layer: invisible words, one line per printed line,
    slightly off their baseline, the answer column far right of the label column."""
    from fpdf.enums import TextMode
    from PIL import Image

    pdf = _fpdf()
    picture = Image.new("L", (420, 594), 250)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    page_image = buffer.getvalue()

    def new_page() -> None:
        pdf.image(io.BytesIO(page_image), x=0, y=0, w=210, h=297)
        pdf.text_mode = TextMode.INVISIBLE

    pdf.set_auto_page_break(False)
    new_page()
    y = 20.0

    def write(x: float, text: str) -> None:
        pdf.text(x, y + rng.uniform(-0.4, 0.4), text)

    def next_line(step: float = 5.5) -> None:
        nonlocal y
        y += step
        if y > 280:
            pdf.add_page()
            new_page()
            y = 20.0

    write(60, "PROPOSITION DE PROJET COLLECTIF")
    next_line(9)
    for item in items:
        if item.kind != "field":
            next_line(2)
            write(15, item.text)
            next_line()
            continue
        lines = lines_of(item.key, item.value, ticks)
        if item.key in MULTILINE:
            write(15, colon(item))
            next_line()
            for line in lines:
                for chunk in _wrap(line, 95):
                    write(15, chunk)
                    next_line(4.8)
            next_line(1.5)
            continue
        label = _wrap(colon(item), 38)
        for k in range(max(len(label), len(lines))):
            if k < len(label):
                write(15, label[k])
            if k < len(lines) and lines[k]:
                write(95, lines[k])
            if k < max(len(label), len(lines)) - 1:
                next_line(4.8)
        next_line()
    return bytes(pdf.output())


def _wrap(text: str, width: int) -> list[str]:
    words, out, current = text.split(), [], ""
    for word in words:
        if current and len(current) + 1 + len(word) > width:
            out.append(current)
            current = word
        else:
            current = f"{current} {word}".strip()
    return [*out, current] if current else out


def pdf_acroform(items: list[Item], ticks: str, *, rng: random.Random, labels_on_page: bool) -> bytes:
    """A fillable PDF filled in a viewer: the answers exist only as field values (reportlab AcroForm).

    With `labels_on_page`, each label is printed left of its field; without, the page prints only the
    headings and the fields are known by their tooltip (the label) and name.
    """
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(TTFont("Corpus", str(font_path())))
    out = io.BytesIO()
    c = canvas.Canvas(out, pagesize=A4)
    width, height = A4
    y = height - 50
    c.setFont("Corpus", 12)
    c.drawString(150, y, "PROPOSITION DE PROJET COLLECTIF")
    y -= 30
    counter = 0
    for item in items:
        needed = 70 if item.key in MULTILINE else 24
        if y - needed < 40:
            c.showPage()
            y = height - 50
        if item.kind != "field":
            c.setFont("Corpus", 10)
            c.drawString(40, y, item.text[:95])
            y -= 20
            continue
        counter += 1
        name = f"{item.key.replace('.', '_')}_{counter}"
        if labels_on_page:
            c.setFont("Corpus", 9 if len(colon(item)) < 48 else 7)
            c.drawString(40, y, colon(item))
        if item.key in CHECKBOXES:
            x = 300
            for answer in (True, False):
                c.acroForm.checkbox(name=f"{name}_{'oui' if answer else 'non'}", x=x, y=y - 3, size=11,
                                    checked=item.value is answer, buttonStyle="check",
                                    tooltip=f"{item.text} : {'Oui' if answer else 'Non'}")
                c.setFont("Corpus", 9)
                c.drawString(x + 14, y, "Oui" if answer else "Non")
                x += 60
            y -= 24
            continue
        lines = [latin(x) for x in lines_of(item.key, item.value, ticks)]
        if item.key in MULTILINE:
            c.acroForm.textfield(name=name, tooltip=item.text, x=40, y=y - 72, width=520, height=60,
                                 value="\n".join(lines), fieldFlags="multiline", fontSize=8, borderWidth=1)
            y -= 84
        else:
            value = ", ".join(lines)
            c.acroForm.textfield(name=name, tooltip=item.text, x=300, y=y - 5, width=260, height=16,
                                 value=value, fontSize=9, borderWidth=1)
            y -= 24
    c.save()
    return out.getvalue()


def latin(text: str) -> str:
    """Field values as reportlab stores them (Latin-1 only): "œ" typed as "oe", plain apostrophes."""
    return text.replace("’", "'").replace("œ", "oe").replace("Œ", "OE")
