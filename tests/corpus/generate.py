"""Generate a corpus of filled "Proposition de projet collectif" forms, as mails, with their expected fields.

    python tests/corpus/generate.py OUT_DIR [--count 50] [--seed 2025]

Each case is `NN-carrier-layout.eml` plus `NN-carrier-layout.expected.json` ({"source_kind", "fields"}).
Carriers: docx (python-docx), pdf (fpdf2), odt (odfpy), plain-text body, HTML body. The cases vary
the layout (label and value on one line, value on the next lines, two-column tables, label cell above
value cell, rows of labels above rows of values, nested tables, text boxes), the label wording (as in
the form, without accents, upper-case, older wording), the tick style (☒ ☑ ■, typed X, highlighting,
"Non" deleted, Word content controls and legacy form fields, none ticked), missing and invalid fields,
accents and long multi-paragraph texts. Nothing is committed: tests and the benchmark build it in a
temporary directory.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import re
import sys
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

from stdnum import luhn

try:
    from tests.corpus import data as D
except ImportError:  # run as a script from anywhere
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tests.corpus import data as D

CARRIERS = ("docx", "pdf", "odt", "body", "html")
LAYOUTS = {
    "docx": ("table2", "paragraphs", "nextline", "labelabove", "grid", "nested", "textbox"),
    "pdf": ("table2", "paragraphs", "nextline", "labelabove"),
    "odt": ("table2", "paragraphs", "nextline", "labelabove"),
    "body": ("inline", "nextline"),
    "html": ("table2", "paragraphs"),
}
TICKS = {
    "docx": ("glyph", "sdt", "x", "highlight", "legacy", "deleted", "check", "square", "strike"),
    "pdf": ("glyph", "x", "check", "square", "deleted"),
    "odt": ("glyph", "highlight", "x", "deleted"),
    "body": ("words", "brackets", "x", "glyph"),
    "html": ("words", "glyph", "x"),
}
LABEL_STYLES = ("official", "noaccent", "upper", "older")
MULTILINE = {
    "mission.context",
    "mission.stakes",
    "mission.objectives",
    "mission.cross_disciplinary_value",
    "logistics.practical_notes",
}
ADDRESSES = {"collectivity.address", "collectivity.hosting_address"}
CHECKBOXES = {"logistics.accommodation", "logistics.driving_licence_required", "logistics.public_transport"}
SECTIONS = ("collectivity", "dgs", "tutor", "mission", "logistics")
PATHS = tuple(D.OFFICIAL)
FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu", "/usr/share/fonts/TTF")


@dataclass(frozen=True)
class Case:
    """One generated mail and what the extractor must read from it."""

    name: str
    carrier: str
    layout: str
    eml: Path
    source_kind: str
    fields: dict[str, dict[str, Any]]


# -- the truth: what a collectivité typed, and what the schema says it means ---------------------------


def _siret(rng: random.Random, valid: bool) -> str:
    body = "2" + "".join(str(rng.randint(0, 9)) for _ in range(12))
    digit = luhn.calc_check_digit(body)
    if not valid:
        digit = str((int(digit) + 1 + rng.randint(0, 7)) % 10)
    return body + digit


def _phone(rng: random.Random, overseas: bool) -> tuple[str, str]:
    """(as typed, E.164)"""
    if overseas:
        national = "0262" + "".join(str(rng.randint(0, 9)) for _ in range(6))
        e164 = "+262" + national[1:]
    else:
        prefix = rng.choice(["0199", "0465", "0353", "0536", "0261"])
        national = prefix + "".join(str(rng.randint(0, 9)) for _ in range(6))
        e164 = "+33" + national[1:]
    style = rng.randint(0, 3)
    pairs = [national[i : i + 2] for i in range(0, 10, 2)]
    typed = [
        " ".join(pairs),
        ".".join(pairs),
        national,
        f"+{e164[1:-9]} {national[1]} " + " ".join(pairs[1:]) if not overseas else " ".join(pairs),
    ][style]
    return typed, e164


def _email(first: str, last: str, domain: str) -> str:
    def ascii_(s: str) -> str:
        s = unicodedata.normalize("NFKD", s)
        return re.sub(
            r"[^a-z-]", "", "".join(c for c in s if not unicodedata.combining(c)).lower().replace(" ", "-")
        )

    return f"{ascii_(first)}.{ascii_(last)}@{domain}"


def make_truth(rng: random.Random, i: int) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """What is typed in the form (per dotted path) and the expected normalised record."""
    town, city, domain = D.TOWNS[i % len(D.TOWNS)]
    overseas = city.startswith("974")
    defect = ("missing", "invalid", "contact_email", None, None, None, None)[i % 7]
    typed: dict[str, Any] = {}
    exp: dict[str, dict[str, Any]] = {s: {} for s in SECTIONS}

    siret = _siret(rng, valid=defect != "invalid")
    siret_typed = rng.choice(
        [
            f"{siret[:3]} {siret[3:6]} {siret[6:9]} {siret[9:]}",
            siret,
            f"{siret[:3]}.{siret[3:6]}.{siret[6:9]}.{siret[9:]}",
        ]
    )
    address = [rng.choice(D.STREETS[:6]), rng.choice(D.STREETS[6:]), city]
    hosting = [rng.choice(D.SERVICES), rng.choice(D.STREETS), city]
    hr_first, hr_last = rng.choice(D.FIRST_NAMES), rng.choice(D.LAST_NAMES)
    hr_email = _email(hr_first, hr_last, domain)
    hr_email_typed = rng.choice([hr_email, hr_email.capitalize(), hr_email.upper()])
    contact = f"{rng.choice(['Mme', 'M.'])} {hr_first} {hr_last}, {rng.choice(D.SERVICES).lower()}"
    typed.update(
        {
            "collectivity.name": town,
            "collectivity.siret": siret_typed,
            "collectivity.address": address,
            "collectivity.hosting_address": hosting,
            "collectivity.hr_contact": contact,
            "collectivity.hr_email": hr_email_typed,
        }
    )
    exp["collectivity"] = {
        "name": town,
        "siret": siret,
        "address": ", ".join(address),
        "hosting_address": ", ".join(hosting),
        "hr_contact": contact,
        "hr_email": hr_email,
    }
    if defect == "contact_email":
        typed["collectivity.hr_contact"] = f"{contact} ({hr_email_typed})"
        typed["collectivity.hr_email"] = None

    for section in ("dgs", "tutor"):
        first, last = rng.choice(D.FIRST_NAMES), rng.choice(D.LAST_NAMES)
        email = _email(first, last, domain)
        phone_typed, e164 = _phone(rng, overseas)
        typed.update(
            {
                f"{section}.last_name": last,
                f"{section}.first_name": first,
                f"{section}.email": rng.choice([email, email.title()]),
                f"{section}.phone": phone_typed,
            }
        )
        exp[section] = {"last_name": last, "first_name": first, "email": email, "phone": e164}
    role = rng.choice(D.BAD_ROLES if defect == "invalid" else D.DGA_ROLES)
    typed["tutor.role"] = role
    exp["tutor"]["role"] = role
    exp["tutor"] = {k: exp["tutor"][k] for k in ("last_name", "first_name", "role", "email", "phone")}
    if defect == "invalid":
        bad = rng.choice(["dgs", "tutor"])
        typed[f"{bad}.email"] = exp[bad]["email"].replace("@", " arobase ") if i % 2 else "prenom.nom@"
        exp[bad]["email"] = typed[f"{bad}.email"].lower()

    title = rng.choice(D.TITLES)
    paras = rng.sample(D.PARAGRAPHS, k=7)
    bullets = ["- " + b for b in rng.sample(D.BULLETS, k=rng.randint(3, 5))]
    mission = {
        "mission.title": title,
        "mission.context": paras[0:3] if i % 3 == 0 else paras[0:2],
        "mission.stakes": paras[3:5],
        "mission.objectives": (["À l'issue des neuf semaines, l'équipe devra :"] if i % 2 else []) + bullets,
        "mission.cross_disciplinary_value": paras[5:7] if i % 4 else paras[5:6],
    }
    typed.update(mission)
    exp["mission"] = {
        k.split(".")[1]: (v if isinstance(v, str) else "\n".join(v)) for k, v in mission.items()
    }

    ticks = [rng.choice([True, False]), rng.choice([True, False, None]), rng.choice([True, False])]
    notes = rng.sample(D.NOTES, k=rng.randint(1, 2)) if i % 5 else None
    typed.update(
        {
            "logistics.accommodation": ticks[0],
            "logistics.practical_notes": notes,
            "logistics.driving_licence_required": ticks[1],
            "logistics.public_transport": ticks[2],
        }
    )
    exp["logistics"] = {
        "accommodation": ticks[0],
        "practical_notes": "\n".join(notes) if notes else None,
        "driving_licence_required": ticks[1],
        "public_transport": ticks[2],
    }

    if defect == "missing":
        for path in rng.sample(
            [
                "collectivity.siret",
                "collectivity.hr_email",
                "dgs.phone",
                "tutor.email",
                "mission.stakes",
                "dgs.first_name",
                "collectivity.hosting_address",
            ],
            k=3,
        ):
            typed[path] = None
            section, key = path.split(".")
            exp[section][key] = None
    return typed, exp


# -- labels -----------------------------------------------------------------------------------------


def _strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def label_for(path: str, style: str) -> str:
    text = D.OLDER.get(path, D.OFFICIAL[path]) if style == "older" else D.OFFICIAL[path]
    if style == "noaccent":
        text = _strip_accents(text)
    elif style == "upper":
        text = text.upper()
    return text


def heading_for(section: str, style: str) -> str:
    official, older = D.HEADINGS[section]
    return older if style == "older" else (_strip_accents(official) if style == "noaccent" else official)


def with_colon(path: str, label: str) -> str:
    return label if path.startswith("mission.") else f"{label} :"


# -- tick rendering as (text, flag) runs; flag is None, "highlight", "strike", "sdt:0/1", "legacy:0/1" ---


def tick_runs(value: bool | None, style: str) -> list[tuple[str, str | None]]:
    checked = {"glyph": "☒", "check": "☑", "square": "■", "x": "X", "brackets": "[x]"}.get(style, "☒")
    empty = {"square": "□", "brackets": "[ ]"}.get(style, "☐")
    if style == "words":
        return [("Oui" if value else "Non", None)] if value is not None else [("", None)]
    if style == "deleted":
        if value is None:
            return [("☐ Oui    ☐ Non", None)]
        return [("☐ Oui" if value else "☐ Non", None)]
    if style in ("sdt", "legacy"):
        return [
            ("", f"{style}:{int(value is True)}"),
            (" Oui    ", None),
            ("", f"{style}:{int(value is False)}"),
            (" Non", None),
        ]
    if style == "highlight":
        if value is None:
            return [("☐ Oui    ☐ Non", None)]
        return [
            ("☐ ", None),
            ("Oui", "highlight" if value else None),
            ("    ☐ ", None),
            ("Non", "highlight" if not value else None),
        ]
    if style == "strike":
        if value is None:
            return [("☐ Oui    ☐ Non", None)]
        return [("☐ Oui    ", "strike" if not value else None), ("☐ Non", "strike" if value else None)]
    yes = checked if value is True else empty
    no = checked if value is False else empty
    return [(f"{yes} Oui    {no} Non", None)]


def tick_text(value: bool | None, style: str) -> str:
    return "".join(t for t, flag in tick_runs(value, style) if flag != "strike")


# -- the abstract form: headings and fields in order -------------------------------------------------


def form_items(typed: dict[str, Any], style: str) -> list[tuple[str, str, str, Any]]:
    items: list[tuple[str, str, str, Any]] = []
    for section in SECTIONS:
        items.append(("heading", section, heading_for(section, style), None))
        for path in PATHS:
            if path.startswith(section + "."):
                items.append(("field", path, label_for(path, style), typed[path]))
    return items


def value_lines(path: str, value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return list(value)
    return [str(value)]


# -- docx ---------------------------------------------------------------------------------------------


def render_docx(typed: dict[str, Any], layout: str, style: str, ticks: str, rng: random.Random) -> bytes:
    import docx
    from docx.enum.text import WD_BREAK, WD_COLOR_INDEX
    from docx.oxml import parse_xml

    document = docx.Document()
    ns = (
        'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" '
        'xmlns:w14="http://schemas.microsoft.com/office/word/2010/wordml" '
        'xmlns:v="urn:schemas-microsoft-com:vml"'
    )

    def add_ticks(paragraph, value: bool | None) -> None:
        for text, flag in tick_runs(value, ticks):
            if flag and flag.startswith("sdt:"):
                on = flag.endswith("1")
                paragraph._p.append(
                    parse_xml(
                        f'<w:sdt {ns}><w:sdtPr><w14:checkbox><w14:checked w14:val="{int(on)}"/>'
                        '<w14:checkedState w14:val="2612"/>'
                        '<w14:uncheckedState w14:val="2610"/></w14:checkbox></w:sdtPr>'
                        f"<w:sdtContent><w:r><w:t>{'☒' if on else '☐'}</w:t></w:r></w:sdtContent></w:sdt>"
                    )
                )
            elif flag and flag.startswith("legacy:"):
                on = flag.endswith("1")
                paragraph._p.append(
                    parse_xml(
                        f'<w:r {ns}><w:fldChar w:fldCharType="begin"><w:ffData>'
                        f'<w:name w:val="Case{rng.randint(1, 99)}"/><w:enabled/><w:calcOnExit w:val="0"/>'
                        '<w:checkBox><w:sizeAuto/><w:default w:val="0"/>'
                        f"{'<w:checked/>' if on else ''}</w:checkBox></w:ffData></w:fldChar></w:r>"
                    )
                )
                paragraph._p.append(
                    parse_xml(
                        f'<w:r {ns}><w:instrText xml:space="preserve"> FORMCHECKBOX </w:instrText></w:r>'
                    )
                )
                paragraph._p.append(parse_xml(f'<w:r {ns}><w:fldChar w:fldCharType="end"/></w:r>'))
            else:
                run = paragraph.add_run(text)
                if flag == "highlight":
                    run.font.highlight_color = WD_COLOR_INDEX.YELLOW
                elif flag == "strike":
                    run.font.strike = True

    def fill(container_paragraph_factory, path: str, value: Any, breaks: bool) -> None:
        """Write a value into a cell (or after a label) as paragraphs or line breaks."""
        if path in CHECKBOXES:
            add_ticks(container_paragraph_factory(), value)
            return
        lines = value_lines(path, value)
        if not lines:
            container_paragraph_factory()
            return
        if breaks and len(lines) > 1 and path in ADDRESSES:
            p = container_paragraph_factory()
            for j, line in enumerate(lines):
                run = p.add_run(line)
                if j < len(lines) - 1:
                    run.add_break()
            return
        for line in lines:
            container_paragraph_factory().add_run(line)

    def cell_factory(cell):
        state = {"first": True}

        def make():
            if state["first"]:
                state["first"] = False
                return cell.paragraphs[0]
            return cell.add_paragraph()

        return make

    def body_factory(parent):
        return lambda: parent.add_paragraph()

    if layout in ("table2", "grid", "nested") and rng.random() < 0.6:
        for line in D.FICHE:
            document.add_paragraph(line)
        document.add_paragraph().add_run().add_break(WD_BREAK.PAGE)
    root = document
    if layout == "nested":
        root = document.add_table(rows=1, cols=1).cell(0, 0)
        root.paragraphs[0].add_run("Formulaire rempli par la collectivité")
    root.add_paragraph("PROPOSITION DE PROJET COLLECTIF")
    items = form_items(typed, style)
    breaks = rng.random() < 0.5
    section_fields: dict[str, list[tuple[str, str, Any]]] = {}
    for kind, key, text, value in items:
        if kind == "field":
            section_fields.setdefault(key.split(".")[0], []).append((key, text, value))
    for section in SECTIONS:
        root.add_paragraph(heading_for(section, style))
        fields = section_fields[section]
        if layout in ("table2", "nested") or (layout == "grid" and section not in ("dgs", "tutor")):
            mission_above = section == "mission" and rng.random() < 0.7
            table = root.add_table(rows=0, cols=1 if mission_above else 2)
            for path, label, value in fields:
                if mission_above:
                    table.add_row().cells[0].paragraphs[0].add_run(label)
                    fill(cell_factory(table.add_row().cells[0]), path, value, breaks)
                else:
                    row = table.add_row().cells
                    row[0].paragraphs[0].add_run(with_colon(path, label))
                    fill(cell_factory(row[1]), path, value, breaks)
        elif layout == "grid":
            table = root.add_table(rows=2, cols=len(fields))
            for col, (path, label, value) in enumerate(fields):
                table.cell(0, col).paragraphs[0].add_run(with_colon(path, label))
                fill(cell_factory(table.cell(1, col)), path, value, breaks)
        elif layout == "labelabove":
            table = root.add_table(rows=0, cols=1)
            for path, label, value in fields:
                table.add_row().cells[0].paragraphs[0].add_run(with_colon(path, label))
                fill(cell_factory(table.add_row().cells[0]), path, value, breaks)
        elif layout == "paragraphs":
            for path, label, value in fields:
                lines = value_lines(path, value)
                if path in CHECKBOXES:
                    p = root.add_paragraph(f"{label} :   ")
                    add_ticks(p, value)
                elif path in MULTILINE or (path in ADDRESSES and not breaks):
                    root.add_paragraph(with_colon(path, label))
                    for line in lines:
                        root.add_paragraph(line)
                else:
                    filler = " ………… " if rng.random() < 0.2 else " "
                    p = root.add_paragraph(f"{label} :{filler}")
                    if path in ADDRESSES:
                        for j, line in enumerate(lines):
                            run = p.add_run(line)
                            if j < len(lines) - 1:
                                run.add_break()
                    else:
                        p.add_run(lines[0] if lines else "")
        elif layout in ("nextline", "textbox"):
            for path, label, value in fields:
                root.add_paragraph(with_colon(path, label))
                if path in CHECKBOXES:
                    add_ticks(root.add_paragraph(), value)
                    continue
                lines = value_lines(path, value)
                if layout == "textbox" and lines and rng.random() < 0.5:
                    paras = "".join(
                        f'<w:p><w:r><w:t xml:space="preserve">{_xml(line)}</w:t></w:r></w:p>'
                        for line in lines
                    )
                    holder = root.add_paragraph()
                    holder._p.append(
                        parse_xml(
                            f'<w:r {ns}><w:pict><v:shape style="width:400pt;height:60pt"><v:textbox>'
                            f"<w:txbxContent>{paras}</w:txbxContent></v:textbox></v:shape></w:pict></w:r>"
                        )
                    )
                else:
                    for line in lines:
                        root.add_paragraph(line)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# -- pdf ----------------------------------------------------------------------------------------------


def _pdf_font() -> Path | None:
    for folder in FONT_DIRS:
        path = Path(folder) / "DejaVuSans.ttf"
        if path.exists():
            return path
    return None


def render_pdf(typed: dict[str, Any], layout: str, style: str, ticks: str, rng: random.Random) -> bytes:
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(True, margin=18)
    font = _pdf_font()
    if font is not None:
        pdf.add_font("corpus", "", str(font))
        pdf.set_font("corpus", size=10)
        clean = str
    else:  # core font: Latin-1 only
        pdf.set_font("helvetica", size=10)
        table = {
            "’": "'",
            "–": "-",
            "œ": "oe",
            "Œ": "OE",
            "☒": "X",
            "☑": "X",
            "■": "X",
            "☐": "[ ]",
            "□": "[ ]",
            "«": '"',
            "»": '"',
            "…": "...",
        }

        def clean(text: str) -> str:
            return "".join(table.get(c, c) for c in text).encode("latin-1", "replace").decode("latin-1")

    pdf.add_page()
    width = pdf.epw
    pdf.multi_cell(
        width, 8, clean("PROPOSITION DE PROJET COLLECTIF"), new_x="LMARGIN", new_y="NEXT", align="C"
    )
    items = form_items(typed, style)

    def text_of(path: str, value: Any, sep: str = "\n") -> str:
        if path in CHECKBOXES:
            return tick_text(value, ticks)
        return sep.join(value_lines(path, value))

    section_fields: dict[str, list[tuple[str, str, Any]]] = {}
    for kind, key, text, value in items:
        if kind == "field":
            section_fields.setdefault(key.split(".")[0], []).append((key, text, value))
    for section in SECTIONS:
        pdf.ln(3)
        pdf.multi_cell(width, 7, clean(heading_for(section, style)), new_x="LMARGIN", new_y="NEXT")
        fields = section_fields[section]
        if layout == "table2":
            with pdf.table(col_widths=(35, 65), first_row_as_headings=False, line_height=5) as table:
                for path, label, value in fields:
                    row = table.row()
                    row.cell(clean(with_colon(path, label)))
                    row.cell(clean(text_of(path, value)))
        elif layout == "labelabove":
            with pdf.table(col_widths=(100,), first_row_as_headings=False, line_height=5) as table:
                for path, label, value in fields:
                    table.row().cell(clean(with_colon(path, label)))
                    table.row().cell(clean(text_of(path, value)))
        elif layout == "paragraphs":
            for path, label, value in fields:
                if path in MULTILINE:
                    pdf.multi_cell(width, 5, clean(with_colon(path, label)), new_x="LMARGIN", new_y="NEXT")
                    pdf.multi_cell(width, 5, clean(text_of(path, value)), new_x="LMARGIN", new_y="NEXT")
                else:
                    sep = ", " if path in ADDRESSES else "\n"
                    pdf.multi_cell(
                        width,
                        5,
                        clean(f"{label} : {text_of(path, value, sep)}"),
                        new_x="LMARGIN",
                        new_y="NEXT",
                    )
                pdf.ln(1)
        else:  # nextline
            for path, label, value in fields:
                pdf.multi_cell(width, 5, clean(with_colon(path, label)), new_x="LMARGIN", new_y="NEXT")
                text = text_of(path, value)
                if text:
                    pdf.multi_cell(width, 5, clean(text), new_x="LMARGIN", new_y="NEXT")
                pdf.ln(2)
    return bytes(pdf.output())


# -- odt ----------------------------------------------------------------------------------------------


def render_odt(typed: dict[str, Any], layout: str, style: str, ticks: str, rng: random.Random) -> bytes:
    from odf.opendocument import OpenDocumentText
    from odf.style import Style, TextProperties
    from odf.table import Table, TableCell, TableColumn, TableRow
    from odf.text import LineBreak, P, Span

    doc = OpenDocumentText()
    marker = Style(name="Surligne", family="text")
    marker.addElement(TextProperties(backgroundcolor="#ffff00"))
    doc.automaticstyles.addElement(marker)

    def para_ticks(value: bool | None, prefix: str = "") -> P:
        p = P(text=prefix)
        for text, flag in tick_runs(value, ticks):
            if flag == "highlight":
                p.addElement(Span(stylename=marker, text=text))
            elif text:
                p.addText(text)
        return p

    def value_paras(path: str, value: Any) -> list[P]:
        if path in CHECKBOXES:
            return [para_ticks(value)]
        lines = value_lines(path, value)
        if path in ADDRESSES and lines and rng.random() < 0.5:
            p = P(text=lines[0])
            for line in lines[1:]:
                p.addElement(LineBreak())
                p.addText(line)
            return [p]
        return [P(text=line) for line in lines] or [P(text="")]

    doc.text.addElement(P(text="PROPOSITION DE PROJET COLLECTIF"))
    section_fields: dict[str, list[tuple[str, str, Any]]] = {}
    for kind, key, text, value in form_items(typed, style):
        if kind == "field":
            section_fields.setdefault(key.split(".")[0], []).append((key, text, value))
    for n, section in enumerate(SECTIONS):
        doc.text.addElement(P(text=heading_for(section, style)))
        fields = section_fields[section]
        if layout in ("table2", "labelabove"):
            table = Table(name=f"T{n}")
            table.addElement(TableColumn(numbercolumnsrepeated=1 if layout == "labelabove" else 2))
            for path, label, value in fields:
                if layout == "table2":
                    row = TableRow()
                    left, right = TableCell(), TableCell()
                    left.addElement(P(text=with_colon(path, label)))
                    for p in value_paras(path, value):
                        right.addElement(p)
                    row.addElement(left)
                    row.addElement(right)
                    table.addElement(row)
                else:
                    for content in ([P(text=with_colon(path, label))], value_paras(path, value)):
                        row, cell = TableRow(), TableCell()
                        for p in content:
                            cell.addElement(p)
                        row.addElement(cell)
                        table.addElement(row)
            doc.text.addElement(table)
        elif layout == "paragraphs":
            for path, label, value in fields:
                if path in CHECKBOXES:
                    doc.text.addElement(para_ticks(value, f"{label} :   "))
                elif path in MULTILINE or path in ADDRESSES:
                    doc.text.addElement(P(text=with_colon(path, label)))
                    for line in value_lines(path, value):
                        doc.text.addElement(P(text=line))
                else:
                    doc.text.addElement(P(text=f"{label} : {(value_lines(path, value) or [''])[0]}"))
        else:
            for path, label, value in fields:
                doc.text.addElement(P(text=with_colon(path, label)))
                for p in value_paras(path, value):
                    doc.text.addElement(p)
    out = io.BytesIO()
    doc.write(out)
    return out.getvalue()


# -- mail bodies --------------------------------------------------------------------------------------


def render_body(typed: dict[str, Any], layout: str, style: str, ticks: str, rng: random.Random) -> str:
    out = [
        "Bonjour,",
        "",
        "Veuillez trouver ci-dessous notre proposition de projet collectif, en reprenant "
        "les rubriques de la fiche.",
        "",
        "PROPOSITION DE PROJET COLLECTIF",
        "",
    ]
    section_fields: dict[str, list[tuple[str, str, Any]]] = {}
    for kind, key, text, value in form_items(typed, style):
        if kind == "field":
            section_fields.setdefault(key.split(".")[0], []).append((key, text, value))
    for section in SECTIONS:
        out.append(heading_for(section, style))
        for path, label, value in section_fields[section]:
            lines = value_lines(path, value)
            if path in CHECKBOXES:
                out.append(f"{label} : {tick_text(value, ticks)}")
            elif path in MULTILINE:
                out.append(f"{label} :")
                for j, line in enumerate(lines):
                    if j and not line.startswith("- "):
                        out.append("")
                    out.append(line)
                out.append("")
            elif layout == "nextline" and path in ADDRESSES:
                out.append(f"{label} :")
                out.extend(lines)
            else:
                out.append(f"{label} : {', '.join(lines)}")
        out.append("")
    out += [
        "Je reste à votre disposition pour tout renseignement.",
        "",
        "Bien cordialement,",
        "",
        "Claire Dupuis",
        "Direction des ressources humaines",
        "Tél : 01 99 00 12 34",
    ]
    return "\n".join(out) + "\n"


def render_html(typed: dict[str, Any], layout: str, style: str, ticks: str, rng: random.Random) -> str:
    def esc(text: str) -> str:
        return _xml(text)

    parts = [
        "<html><body><p>Bonjour,</p><p>Voici notre proposition.</p>",
        "<h2>PROPOSITION DE PROJET COLLECTIF</h2>",
    ]
    section_fields: dict[str, list[tuple[str, str, Any]]] = {}
    for kind, key, text, value in form_items(typed, style):
        if kind == "field":
            section_fields.setdefault(key.split(".")[0], []).append((key, text, value))
    for section in SECTIONS:
        parts.append(f"<h3>{esc(heading_for(section, style))}</h3>")
        fields = section_fields[section]
        if layout == "table2":
            parts.append("<table border='1'>")
            for path, label, value in fields:
                if path in CHECKBOXES:
                    cell = esc(tick_text(value, ticks))
                else:
                    cell = "<br>".join(esc(x) for x in value_lines(path, value))
                parts.append(f"<tr><td>{esc(with_colon(path, label))}</td><td>{cell}</td></tr>")
            parts.append("</table>")
        else:
            for path, label, value in fields:
                if path in CHECKBOXES:
                    parts.append(f"<p>{esc(label)} : {esc(tick_text(value, ticks))}</p>")
                elif path in MULTILINE:
                    parts.append(f"<p><b>{esc(label)} :</b></p>")
                    parts.extend(f"<p>{esc(x)}</p>" for x in value_lines(path, value))
                else:
                    parts.append(f"<p>{esc(label)} : {esc(', '.join(value_lines(path, value)))}</p>")
    parts.append("<p>Bien cordialement,</p><p>Claire Dupuis<br>Tél : 01 99 00 12 34</p></body></html>")
    return "\n".join(parts)


# -- mails --------------------------------------------------------------------------------------------


def _mail(i: int, domain: str, subject: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = f"Service RH <rh@{domain}>"
    message["To"] = "stages.inet@cnfpt.fr"
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime(2025, 6, 2, 9, 0, tzinfo=UTC) + timedelta(hours=7 * i))
    message["Message-ID"] = make_msgid(idstring=f"corpus{i}", domain=domain)
    return message


MIME = {
    "docx": ("application", "vnd.openxmlformats-officedocument.wordprocessingml.document"),
    "pdf": ("application", "pdf"),
    "odt": ("application", "vnd.oasis.opendocument.text"),
}


def build_corpus(out: Path, count: int = 50, seed: int = 2025) -> list[Case]:
    """Write `count` cases into `out` (created) and return them."""
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    cases: list[Case] = []
    renderers = {
        "docx": render_docx,
        "pdf": render_pdf,
        "odt": render_odt,
        "body": render_body,
        "html": render_html,
    }
    for i in range(count):
        carrier = CARRIERS[i % len(CARRIERS)]
        layout = LAYOUTS[carrier][(i // len(CARRIERS)) % len(LAYOUTS[carrier])]
        style = LABEL_STYLES[(i // 2) % len(LABEL_STYLES)]
        ticks = TICKS[carrier][(i // len(CARRIERS)) % len(TICKS[carrier])]
        typed, expected = make_truth(rng, i)
        town, _, domain = D.TOWNS[i % len(D.TOWNS)]
        name = f"{i + 1:02d}-{carrier}-{layout}-{style}-{ticks}"
        message = _mail(i, domain, f"Proposition de projet collectif 2025-2026 – {town}")
        rendered = renderers[carrier](typed, layout, style, ticks, rng)
        if carrier == "body":
            message.set_content(rendered)
            kind, filename = "body", None
        elif carrier == "html":
            message.set_content(rendered, subtype="html")
            kind, filename = "body", None
        else:
            message.set_content("Bonjour,\n\nVeuillez trouver ci-joint notre proposition.\n\nCordialement,\n")
            filename = (
                f"Proposition projet collectif – {town}.{carrier}" if i % 3 else f"PC2025_{i}.{carrier}"
            )
            maintype, subtype = MIME[carrier]
            message.add_attachment(rendered, maintype=maintype, subtype=subtype, filename=filename)
            kind = carrier
        eml = out / f"{name}.eml"
        eml.write_bytes(bytes(message))
        (out / f"{name}.expected.json").write_text(
            json.dumps(
                {"source_kind": kind, "source_filename": filename, "fields": expected},
                ensure_ascii=False,
                indent=1,
            ),
            encoding="utf-8",
        )
        cases.append(Case(name, carrier, layout, eml, kind, expected))
    return cases


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--seed", type=int, default=2025)
    args = parser.parse_args(argv)
    cases = build_corpus(args.out, args.count, args.seed)
    print(f"{len(cases)} cases written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
