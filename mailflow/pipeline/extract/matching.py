"""Find a form's fields in carrier-neutral blocks, from the labels of its definition.

The document is read top to bottom as a stream of units (a paragraph line, or a whole table cell).
A unit that starts with a label opens that field; its value is what follows the label on the same
line, or the next lines up to the next label, or the table cell beside or below the label cell.
Section headings say which block the ambiguous labels (Nom, Prénom, Courriel, Tél) belong to.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

from mailflow.pipeline.extract.folding import fold, fold_with_index
from mailflow.pipeline.extract.limits import Deadline
from mailflow.pipeline.extract.model import MARKERS, Block, Cell, Para, Table
from mailflow.pipeline.forms.definition import FieldDefinition, FormDefinition

SINGLE_LINE = frozenset({"text", "email", "phone", "siret"})
_SEPARATOR = re.compile(
    r"^[ \u00a0" + MARKERS + r"]*(?:\([^)]{0,60}\)[ \u00a0]*)?[.?]?[ \u00a0" + MARKERS + r"]*"
    r"(?:[:：=]|[-–—](?=\s)|[._…·]{2,}|\t|[ \u00a0]{2,}|$"
    r"|[ \u00a0]+[^\W\d][^:：\n\d@()]{0,38}[ \u00a0]*[:：])"
)
_OPTION = re.compile(r"\b(oui|non|yes|no)\b")


@dataclass(frozen=True)
class Unit:
    """One piece of the reading stream: the lines of a paragraph, or of a whole table cell."""

    lines: tuple[str, ...]
    is_cell: bool


@dataclass
class RawForm:
    """The lines found for each field of one form, before normalisation."""

    values: dict[str, list[str]] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)

    def has_value(self, path: str) -> bool:
        return any(x.strip() for x in self.values.get(path, ()))


@dataclass(frozen=True)
class LabelHit:
    """A label found at the start of a line: its field and the text after the label."""

    field: FieldDefinition
    remainder: str


class LabelIndex:
    """Every label and heading of a form definition, folded for matching."""

    def __init__(self, definition: FormDefinition):
        self.definition = definition
        self.labels: list[tuple[str, FieldDefinition]] = []
        owners: dict[str, set[str]] = {}
        for f in definition.fields:
            for label in {fold(x) for x in f.labels}:
                if label:
                    self.labels.append((label, f))
                    owners.setdefault(label, set()).add(f.path)
        self.labels.sort(key=lambda item: -len(item[0]))
        self.ambiguous = {k for k, v in owners.items() if len(v) > 1}
        self.headings: dict[str, str] = {}
        for s in definition.sections:
            for h in s.headings:
                self.headings[fold(_strip_parens(h))] = s.key
        self.start_markers = {fold(m) for m in definition.start_markers}
        self.end_markers = tuple(fold(m) for m in definition.end_markers)
        self._fuzzy_cache: dict[tuple[str, str | None], LabelHit | None] = {}

    def heading(self, line: str) -> str | None:
        """The section a heading line announces (a line ending with ':' is a label, never a heading)."""
        text = line.strip().strip(MARKERS)
        if not text or text.endswith((":", "：")) or len(text) > 120:
            return None
        return self.headings.get(fold(_strip_parens(text)))

    def is_start(self, line: str) -> bool:
        return len(line) < 120 and fold(line) in self.start_markers

    def is_end(self, line: str) -> bool:
        key = fold(line)
        return bool(key) and any(key == m or key.startswith(m + " ") for m in self.end_markers)

    def label(self, line: str, section: str | None, whole_cell: bool) -> LabelHit | None:
        """The field whose label starts `line`, preferring the current section for shared labels."""
        key, index = fold_with_index(line)
        if not key:
            return None
        for label, f in self.labels:
            if not (key == label or key.startswith(label + " ")):
                continue
            if label in self.ambiguous and f.section != section:
                continue
            rest = line[index[len(label) - 1] + 1:]
            sep = _SEPARATOR.match(rest)
            if sep:
                return LabelHit(f, rest[sep.end():])
        if whole_cell and len(key) > 12:
            return self._fuzzy(key, section)
        return None

    def _fuzzy(self, key: str, section: str | None) -> LabelHit | None:
        """A label cell with a typo ("Adresse complete de la colectivite"): close enough, whole cell only."""
        cache_key = (key, section)
        if cache_key not in self._fuzzy_cache:
            if len(self._fuzzy_cache) > 10_000:
                self._fuzzy_cache.clear()
            self._fuzzy_cache[cache_key] = None
            for label, f in self.labels:
                if len(label) < 12 or abs(len(key) - len(label)) > 0.1 * len(label) or (
                        label in self.ambiguous and f.section != section):
                    continue
                matcher = difflib.SequenceMatcher(None, key, label, autojunk=False)
                if min(matcher.real_quick_ratio(), matcher.quick_ratio(), matcher.ratio()) >= 0.9:
                    self._fuzzy_cache[cache_key] = LabelHit(f, "")
                    break
        return self._fuzzy_cache[cache_key]


def _strip_parens(text: str) -> str:
    return re.sub(r"\([^)]*\)", " ", text)


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


def _table_units(table: Table, index: LabelIndex, deadline: Deadline) -> list[Unit]:
    """Cells row by row; a row made only of label cells above a row of values is read column-wise."""
    rows = [[_cell_units(c, index, deadline) for c in row] for row in table.rows]
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
    def __init__(self, f: FieldDefinition, unit_no: int):
        self.field = f
        self.unit_no = unit_no
        self.lines: list[str] = []

    @property
    def has_value(self) -> bool:
        return any(x.strip(" \t" + MARKERS) for x in self.lines)


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
                    or any(p.startswith(heading + ".") for p in forms[-1].values)):
                heading = None  # a value that reads like a heading: a tutor whose role is "DGS"
            if heading is not None:
                close()
                section = heading
                continue
            hit = index.label(line, section, whole_cell=unit.is_cell and len(unit.lines) == 1)
            if hit is not None and capture is not None and hit.field is capture.field:
                hit = None
            if hit is not None and capture is not None and forms[-1].has_value(hit.field.path) \
                    and capture.field.type in ("multiline", "address"):
                hit = None
            if hit is not None:
                close()
                section = hit.field.section
                capture = _Capture(hit.field, unit_no)
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
