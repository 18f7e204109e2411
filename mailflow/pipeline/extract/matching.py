"""Find a form's fields in carrier-neutral blocks, from the labels of its definition.

The document is read top to bottom as a stream of units (a paragraph line, or a whole table cell).
A unit that starts with a label opens that field; its value is what follows the label on the same
line, or the next lines up to the next label, or the table cell beside or below the label cell.
Section headings say which block the ambiguous labels (Nom, Prénom, Courriel, Tél) belong to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from mailflow.pipeline.extract.folding import fold
from mailflow.pipeline.extract.labels import LabelIndex
from mailflow.pipeline.extract.limits import Deadline
from mailflow.pipeline.extract.model import MARKERS, Block, Cell, Para, Table
from mailflow.pipeline.forms.definition import FieldDefinition

__all__ = ["LabelIndex", "RawForm", "Unit", "match_forms", "units"]

SINGLE_LINE = frozenset({"text", "email", "phone", "siret"})
_OPTION = re.compile(r"\b(oui|non|yes|no)\b")


@dataclass(frozen=True)
class Unit:
    """One piece of the reading stream: the lines of a paragraph, or of a whole table cell."""

    lines: tuple[str, ...]
    is_cell: bool


@dataclass
class RawForm:
    """The lines found for each field of one form, before normalisation.

    `seen` holds the fields whose label was found (with or without an answer); `similar` those whose
    label was recognised by similarity rather than as the definition spells it.
    """

    values: dict[str, list[str]] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)
    similar: set[str] = field(default_factory=set)

    def has_value(self, path: str) -> bool:
        return any(x.strip() for x in self.values.get(path, ()))


def units(blocks: tuple[Block, ...] | list[Block], index: LabelIndex, deadline: Deadline) -> list[Unit]:
    """The reading stream of a document: paragraphs as they come, table cells in reading order."""
    out: list[Unit] = []
    previous: Block | None = None
    for block in blocks:
        deadline.check()
        if isinstance(block, Para):
            out.append(Unit(block.lines, is_cell=False))
        elif block.continues and isinstance(previous, Table):
            merged = _join_split_tables(previous, block, index)
            if merged is not None:
                # drop the units of the first half and read the glued table instead
                del out[len(out) - len(_table_units(previous, index, deadline)):]
                block = merged
            out.extend(_table_units(block, index, deadline))
        else:
            out.extend(_table_units(block, index, deadline))
        previous = block
    return out


def _join_split_tables(first: Table, second: Table, index: LabelIndex) -> Table | None:
    """Glue a table cut by a page break when the second half starts with the rest of a value."""
    if not first.rows or not second.rows or len(first.rows[-1]) != len(second.rows[0]):
        return None
    lines = [x for b in second.rows[0][0].blocks if isinstance(b, Para) for x in b.lines if x.strip()]
    if not lines or any(index.label(lines[0], s.key, True) for s in index.definition.sections) \
            or index.heading(lines[0]):
        return None
    merged = tuple(Cell(a.blocks + b.blocks) for a, b in zip(first.rows[-1], second.rows[0], strict=True))
    return Table(first.rows[:-1] + (merged,) + second.rows[1:])


def _cell_units(cell, index: LabelIndex, deadline: Deadline) -> list[Unit]:
    result: list[Unit] = []
    lines: list[str] = []
    for block in cell.blocks:
        if isinstance(block, Para):
            lines.extend(block.lines)
        else:
            if lines:
                result.append(Unit(tuple(lines), is_cell=True))
                lines = []
            result.extend(_table_units(block, index, deadline))
    if lines or not result:
        result.append(Unit(tuple(lines), is_cell=True))
    return result


def _is_label_only(cell_units: list[Unit], index: LabelIndex) -> bool:
    lines = [x for u in cell_units for x in u.lines if x.strip()]
    if len(lines) != 1:
        return False
    for section in (None, *(s.key for s in index.definition.sections)):
        hit = index.label(lines[0], section, whole_cell=True)
        if hit is not None:
            return not hit.remainder.strip(" .:_…\t" + MARKERS)
    return False


def _letter(cell: Cell) -> str | None:
    """The one character a cell holds ("" when empty), None when it holds more or a nested table."""
    if any(not isinstance(b, Para) for b in cell.blocks):
        return None
    text = "".join(x for b in cell.blocks for x in b.lines if isinstance(b, Para)).strip()
    return text if len(text) <= 1 else None


def _join_comb(row: tuple[Cell, ...]) -> tuple[Cell, ...]:
    """A row of boxes with one letter each (a paper-style comb field) read as one cell: "D|a| |S|i|l|v|a"
    is "Da Silva"; an empty box between letters is a space."""
    out: list[Cell] = []
    k = 0
    while k < len(row):
        end = k
        while end < len(row) and _letter(row[end]) is not None:
            end += 1
        letters = [_letter(c) for c in row[k:end]]
        if end - k >= 3 and sum(1 for x in letters if x) >= 2:
            word = " ".join("".join(x or " " for x in letters).split())
            out.append(Cell((Para((word,)),)))
            k = end
        else:
            out.append(row[k])
            k += 1
    return tuple(out)


def _table_units(table: Table, index: LabelIndex, deadline: Deadline) -> list[Unit]:
    """Cells row by row; a row made only of label cells above a row of values is read column-wise."""
    rows = [[_cell_units(c, index, deadline) for c in _join_comb(row)] for row in table.rows]
    out: list[Unit] = []
    r = 0
    while r < len(rows):
        deadline.check()
        row = rows[r]
        nxt = rows[r + 1] if r + 1 < len(rows) else None
        filled = [c for c in row if any(x.strip() for u in c for x in u.lines)]
        if (len(row) > 1 and nxt is not None and len(nxt) == len(row) and filled
                and all(_is_label_only(c, index) for c in filled)
                and not any(_is_label_only(c, index) for c in nxt)):
            for above, below in zip(row, nxt, strict=True):
                out.extend(above)
                out.extend(below)
            r += 2
            continue
        for c in row:
            out.extend(c)
        r += 1
    return out


class _Capture:
    def __init__(self, f: FieldDefinition, unit_no: int, similar: bool):
        self.field = f
        self.unit_no = unit_no
        self.similar = similar
        self.lines: list[str] = []

    @property
    def has_value(self) -> bool:
        return any(x.strip(" \t" + MARKERS) for x in self.lines)


def _capitals(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    return bool(letters) and all(c.isupper() for c in letters)


def _has_option(text: str) -> bool:
    return bool(_OPTION.search(fold(text))) or any(ch in text for ch in "☒☑☐□■✓✔✗✘⊠▣")


def match_forms(stream: list[Unit], index: LabelIndex, deadline: Deadline, *, body: bool) -> list[RawForm]:
    """Every form found in the stream (a start marker after a filled form starts another one)."""
    forms: list[RawForm] = [RawForm()]
    section: str | None = None
    capture: _Capture | None = None

    def close() -> None:
        nonlocal capture
        if capture is not None:
            form = forms[-1]
            path = capture.field.path
            form.seen.add(path)
            if capture.has_value and not form.has_value(path):
                form.values[path] = capture.lines
                if capture.similar:
                    form.similar.add(path)
                else:
                    form.similar.discard(path)
        capture = None

    for unit_no, unit in enumerate(stream):
        for line in unit.lines:
            deadline.check()
            stripped = line.strip(" \t\u00a0" + MARKERS)
            if index.is_start(stripped):
                close()
                if forms[-1].values:
                    forms.append(RawForm())
                section = None
                continue
            if body and index.is_end(stripped):
                close()
                return forms
            heading = index.heading(stripped)
            if heading is not None and capture is not None and not capture.has_value and (
                    (unit.is_cell and unit_no != capture.unit_no)
                    or any(p.startswith(heading + ".") for p in forms[-1].values)
                    or (capture.field.type == "text" and capture.field.section != heading
                        and capture.field.check is not None
                        and not (_capitals(stripped) and len(stripped.split()) > 1))):
                # a value that reads like a heading: a tutor whose role is "DGS", or "Directrice générale
                # des services" typed under "Fonction :" (a checked field whose values are job titles)
                heading = None
            if heading is not None:
                close()
                section = heading
                continue
            if index.is_form_text(stripped):
                close()  # a note or sub-heading of the blank form ends the answer before it
                continue
            hit = index.label(line, section, whole_cell=unit.is_cell and len(unit.lines) == 1)
            if hit is not None and capture is not None and hit.field is capture.field:
                hit = None
            if hit is not None and hit.similar and capture is not None and capture.has_value \
                    and capture.field.type == "multiline" and hit.remainder.strip():
                hit = None  # a sentence of an answer that happens to start like a label
            if hit is not None and capture is not None and forms[-1].has_value(hit.field.path) \
                    and capture.field.type in ("multiline", "address"):
                hit = None
            if hit is not None:
                close()
                section = hit.field.section
                capture = _Capture(hit.field, unit_no, hit.similar)
                rest = hit.remainder.strip(" \t\u00a0")
                if rest:
                    capture.lines.append(rest)
                    if capture.field.type in SINGLE_LINE:
                        close()
                continue
            if capture is None:
                continue
            ftype = capture.field.type
            if not stripped:
                if ftype in SINGLE_LINE or ftype == "checkbox":
                    if body:
                        close()
                elif capture.lines:
                    capture.lines.append("")
                continue
            if ftype == "checkbox" and not _has_option(line):
                close()
                continue
            capture.lines.append(line.strip(" \u00a0"))
            if ftype in SINGLE_LINE:
                close()
        if (unit.is_cell and capture is not None and capture.field.type != "checkbox"
                and not (capture.unit_no == unit_no and not capture.has_value)):
            close()
    close()
    return forms
