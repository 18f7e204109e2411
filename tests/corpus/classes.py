"""The layout corpus of issue 16: one generator per class of forms the extractor had never seen.

    python -m tests.corpus.classes OUT_DIR [--per-class 6] [--seed 16]

Each class generator makes one mail from a truth (`generate.make_truth`) and returns it with the
record the extractor must read. `build_cases` writes every case as `OUT_DIR/<class>/<class>-NN/message.eml`
and `expected.json`, the layout of ../shared/samples, so ../shared/tools/score_export.py scores it
(`tests/corpus/score_classes.py` does, per class).
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.corpus import data as D
from tests.corpus import layouts as L
from tests.corpus import render_docs as W
from tests.corpus import render_mail as M
from tests.corpus import render_pdf as P

Generator = Callable[[random.Random, int], L.Sample]
TICKS = ("glyph", "x", "check", "square")


def _ticks(i: int) -> str:
    return TICKS[i % len(TICKS)]


def _no_dgs_phone(typed: dict, expected: dict, i: int) -> None:
    """Half the tutor cases leave the DGS phone empty: the tutor heading then follows an empty answer."""
    if i % 2:
        typed["dgs.phone"] = None
        expected["dgs"]["phone"] = None


def heading_swallowed(rng: random.Random, i: int) -> L.Sample:
    """Free-text answers followed by the blank form's next heading, note or sub-heading, as running text."""
    typed, expected = L.truth(rng, i)
    items = L.official_items(typed)
    if i % 3 == 1:  # headings typed without accents or in small letters
        items = [L.Item(x.kind, x.key, L.strip_accents(x.text).capitalize()) if x.kind == "heading" else x
                 for x in items]
    ticks = _ticks(i)
    carrier = ("docx", "odt", "pdf", "body")[i % 4]
    if carrier == "body":
        message = L.mail(i, "Proposition de projet collectif", M.body_text(items, ticks))
        return L.Sample("", "body", message, "body", expected)
    data = {"docx": lambda: W.docx_flow(items, ticks, nextline=i % 2 == 0, rng=rng),
            "odt": lambda: W.odt_flow(items, ticks, same_paragraph=False, blank=False, rng=rng),
            "pdf": lambda: P.pdf_flow(items, ticks, rng=rng)}[carrier]()
    message, name = L.attached(i, data, carrier)
    return L.Sample("", carrier, message, carrier, expected, name)


def tutor_table2(rng: random.Random, i: int) -> L.Sample:
    """The whole form re-typed as one two-column table, headings and notes as merged rows."""
    typed, expected = L.truth(rng, i)
    _no_dgs_phone(typed, expected, i)
    data = W.docx_table2(L.official_items(typed, notes=i % 3 != 0), _ticks(i), heading_rows=True, rng=rng)
    message, name = L.attached(i, data, "docx")
    return L.Sample("", "docx-table2", message, "docx", expected, name)


def tutor_boxed(rng: random.Random, i: int) -> L.Sample:
    """Answers in bordered boxes: a one-cell table in the value cell or below each label, or one box per
    letter (names, SIRET, phone) as on paper forms."""
    typed, expected = L.truth(rng, i)
    _no_dgs_phone(typed, expected, i)
    items = L.official_items(typed)
    if i % 3 == 1:
        data = W.docx_table2(items, _ticks(i), boxed={"dgs", "tutor"}, heading_rows=False, rng=rng)
    elif i % 3 == 2:
        comb = {"tutor.last_name", "tutor.first_name", "dgs.last_name", "dgs.first_name", "collectivity.siret",
                "tutor.phone"}
        data = W.docx_comb(items, _ticks(i), comb=comb, rng=rng)
    else:
        data = W.docx_boxed_after_label(items, _ticks(i), rng=rng)
    message, name = L.attached(i, data, "docx")
    return L.Sample("", "docx-boxed", message, "docx", expected, name)


def tutor_pdf_table(rng: random.Random, i: int) -> L.Sample:
    """A PDF exported from the two-column re-typed table, with its borders or without (no ruling lines)."""
    typed, expected = L.truth(rng, i)
    _no_dgs_phone(typed, expected, i)
    data = P.pdf_table2(L.official_items(typed), _ticks(i), rng=rng, borders=i % 2 == 0)
    message, name = L.attached(i, data, "pdf")
    return L.Sample("", "pdf-table2", message, "pdf", expected, name)


def tutor_odt_nextline(rng: random.Random, i: int) -> L.Sample:
    """OpenDocument with each answer on the line after its label (line break or next paragraph)."""
    typed, expected = L.truth(rng, i)
    _no_dgs_phone(typed, expected, i)
    data = W.odt_flow(L.official_items(typed), _ticks(i), same_paragraph=i % 2 == 0, blank=i % 3 == 0, rng=rng)
    message, name = L.attached(i, data, "odt")
    return L.Sample("", "odt-nextline", message, "odt", expected, name)


def rfc2231_filename(rng: random.Random, i: int) -> L.Sample:
    """A form attached as application/octet-stream under a long accented name in RFC 2231 continuations."""
    typed, expected = L.truth(rng, i)
    _no_dgs_phone(typed, expected, i)
    town = D.TOWNS[i % len(D.TOWNS)][0]
    kind = ("docx", "odt", "pdf")[i % 3]
    items = L.official_items(typed)
    data = {"docx": lambda: W.docx_table2(items, _ticks(i), heading_rows=False, rng=rng),
            "odt": lambda: W.odt_flow(items, _ticks(i), same_paragraph=True, blank=False, rng=rng),
            "pdf": lambda: P.pdf_table2(items, _ticks(i), rng=rng)}[kind]()
    name = f"Fiche de proposition – projet collectif 2025-2026 – {town} (version définitive).{kind}"
    message = M.rfc2231_attachment(L.mail(i, "Proposition de projet collectif"), data, name)
    return L.Sample("", f"{kind}-rfc2231", message, kind, expected, name)


def last_year(rng: random.Random, i: int) -> L.Sample:
    """Last year's form: other wording, no accents, the mission first and the tutor before the DGS."""
    typed, expected = L.truth(rng, i)
    items = L.official_items(typed, notes=False, order=L.LAST_YEAR_ORDER, labels=L.LAST_YEAR,
                             headings=L.LAST_YEAR_HEADINGS)
    kind = ("docx", "docx", "pdf", "odt")[i % 4]
    data = {0: lambda: W.docx_table2(items, _ticks(i), heading_rows=False, rng=rng),
            1: lambda: W.docx_flow(items, _ticks(i), nextline=False, rng=rng),
            2: lambda: P.pdf_flow(items, _ticks(i), rng=rng),
            3: lambda: W.odt_flow(items, _ticks(i), same_paragraph=False, blank=False, rng=rng)}[i % 4]()
    message, name = L.attached(i, data, kind)
    return L.Sample("", f"{kind}-last-year", message, kind, expected, name)


def acroform(rng: random.Random, i: int) -> L.Sample:
    """A fillable PDF filled in a viewer: answers only in the fields' values."""
    typed, expected = L.truth(rng, i)
    data = P.pdf_acroform(L.official_items(typed, notes=False), _ticks(i), rng=rng, labels_on_page=i % 3 != 2)
    for values in expected.values():  # what the viewer could store: Latin-1
        for key, value in values.items():
            if isinstance(value, str):
                values[key] = P.latin(value)
    message, name = L.attached(i, data, "pdf")
    return L.Sample("", "pdf-acroform", message, "pdf", expected, name)


def pdf_tick_cell(rng: random.Random, i: int) -> L.Sample:
    """Boxes ticked inside PDF table cells: an X in the Oui/Non column, or a ZapfDingbats check mark."""
    typed, expected = L.truth(rng, i)
    data = P.pdf_tick_cells(L.official_items(typed), _ticks(i), rng=rng, columns=i % 2 == 0)
    message, name = L.attached(i, data, "pdf")
    return L.Sample("", "pdf-ticks", message, "pdf", expected, name)


def ellipsis(rng: random.Random, i: int) -> L.Sample:
    """Mission texts and notes with an ellipsis "…" (and "etc.") that belongs to the text."""
    typed, expected = L.truth(rng, i)
    context = list(typed["mission.context"])
    context[0] = context[0] + " Plusieurs pistes sont ouvertes (mutualisation, externalisation…)."
    typed["mission.context"] = context
    expected["mission"]["context"] = "\n".join(context)
    typed["mission.title"] = typed["mission.title"] + "… et après ?"
    expected["mission"]["title"] = typed["mission.title"]
    notes = ["Bureau, restauration, matériel… tout est prévu."]
    typed["logistics.practical_notes"] = notes
    expected["logistics"]["practical_notes"] = notes[0]
    items = L.official_items(typed)
    kind = ("docx", "pdf", "body")[i % 3]
    if kind == "body":
        message = L.mail(i, "Proposition de projet collectif", M.body_text(items, _ticks(i)))
        return L.Sample("", "body-ellipsis", message, "body", expected)
    data = (W.docx_table2(items, _ticks(i), heading_rows=True, rng=rng) if kind == "docx"
            else P.pdf_flow(items, _ticks(i), rng=rng))
    message, name = L.attached(i, data, kind)
    return L.Sample("", f"{kind}-ellipsis", message, kind, expected, name)


def scanned_pdf(rng: random.Random, i: int) -> L.Sample:
    """A scanned form with its OCR text layer (invisible words over the page image)."""
    typed, expected = L.truth(rng, i)
    data = P.pdf_scanned(L.official_items(typed), _ticks(i), rng=rng)
    message, name = L.attached(i, data, "pdf")
    return L.Sample("", "pdf-scan-ocr", message, "pdf", expected, name)


def outlook_reply(rng: random.Random, i: int) -> L.Sample:
    """The form pasted into an Outlook reply, above the quoted call for proposals."""
    typed, expected = L.truth(rng, i)
    domain = D.TOWNS[i % len(D.TOWNS)][2]
    message = M.outlook_reply(i, L.official_items(typed), _ticks(i), domain, rng)
    return L.Sample("", "html-outlook-reply", message, "body", expected)


def tracked_changes(rng: random.Random, i: int) -> L.Sample:
    """Answers typed with Word's tracked changes on, and reviewer comments on some of them."""
    typed, expected = L.truth(rng, i)
    data = W.docx_tracked(L.official_items(typed), _ticks(i), rng=rng)
    message, name = L.attached(i, data, "docx")
    return L.Sample("", "docx-tracked", message, "docx", expected, name)


def nested_tables(rng: random.Random, i: int) -> L.Sample:
    """The form in a table inside a table inside a page-layout table."""
    typed, expected = L.truth(rng, i)
    data = W.docx_nested(L.official_items(typed), _ticks(i), rng=rng)
    message, name = L.attached(i, data, "docx")
    return L.Sample("", "docx-nested", message, "docx", expected, name)


def label_above(rng: random.Random, i: int) -> L.Sample:
    """Each label with its answer below it in the same table cell."""
    typed, expected = L.truth(rng, i)
    data = W.docx_label_above(L.official_items(typed), _ticks(i), rng=rng)
    message, name = L.attached(i, data, "docx")
    return L.Sample("", "docx-label-above", message, "docx", expected, name)


CLASSES: dict[str, Generator] = {
    "heading_swallowed": heading_swallowed,
    "tutor_table2": tutor_table2,
    "tutor_boxed": tutor_boxed,
    "tutor_pdf_table": tutor_pdf_table,
    "tutor_odt_nextline": tutor_odt_nextline,
    "rfc2231_filename": rfc2231_filename,
    "last_year": last_year,
    "acroform": acroform,
    "pdf_tick_cell": pdf_tick_cell,
    "ellipsis": ellipsis,
    "scanned_pdf": scanned_pdf,
    "outlook_reply": outlook_reply,
    "tracked_changes": tracked_changes,
    "nested_tables": nested_tables,
    "label_above": label_above,
}


@dataclass(frozen=True)
class Case:
    """One written case: its folder (message.eml, expected.json), class and expected record."""

    folder: Path
    klass: str
    layout: str
    source_kind: str
    filename: str | None
    fields: dict


def build_cases(out: Path, per_class: int = 6, seed: int = 16, classes: tuple[str, ...] | None = None,
                ) -> list[Case]:
    """Write `per_class` cases of each class into `out` and return them."""
    out.mkdir(parents=True, exist_ok=True)
    cases = []
    for c, klass in enumerate(classes or tuple(CLASSES)):
        rng = random.Random(f"{seed}-{klass}")
        for k in range(per_class):
            i = c * 17 + k
            sample = CLASSES[klass](rng, i)
            folder = out / klass / f"{klass}-{k + 1:02d}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "message.eml").write_bytes(bytes(sample.message))
            expected = {"expect": "filed", "source_kind": sample.source_kind, "source_filename": sample.filename,
                        "message_id": sample.message["Message-ID"], **sample.fields}
            (folder / "expected.json").write_text(json.dumps(expected, ensure_ascii=False, indent=1),
                                                  encoding="utf-8")
            cases.append(Case(folder, klass, sample.layout, sample.source_kind, sample.filename, sample.fields))
    return cases


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--per-class", type=int, default=6)
    parser.add_argument("--seed", type=int, default=16)
    args = parser.parse_args(argv)
    cases = build_cases(args.out, args.per_class, args.seed)
    print(f"{len(cases)} cases written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
