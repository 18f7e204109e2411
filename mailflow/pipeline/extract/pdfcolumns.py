"""Tables without ruling lines in PDF text: a label column and an answer column side by side.

A Word table without borders exported to PDF, or a scanned form's OCR text layer, gives lines whose
words fall into two columns: the label on the left (sometimes wrapped over two lines) and the answer on
the right (sometimes several lines). Read as running text, a wrapped label is cut by its own answer.
Runs of such lines are rebuilt as a two-column table: a new row starts where a label starts after a
label that ended (with a colon) or after an answer line.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from mailflow.pipeline.extract.model import Block, Cell, Para, Table


class _WordLike(Protocol):
    text: str
    x0: float
    x1: float
    top: float
    bottom: float


class _LineLike(Protocol):
    words: list


L = TypeVar("L", bound=_LineLike)
MIN_ROWS = 3  # fewer split lines than this are not a table


def _split(line: _LineLike) -> float | None:
    """Where the answer column starts in a line: after the first gap wider than three letters' height."""
    words: Sequence[_WordLike] = line.words
    for prev, word in zip(words, words[1:], strict=False):
        height = max(prev.bottom - prev.top, 1.0)
        if word.x0 - prev.x1 > 3 * height:
            return word.x0
    return None


def _column(lines: Sequence[_LineLike]) -> float | None:
    splits = [x for x in (_split(ln) for ln in lines) if x is not None]
    if len(splits) < MIN_ROWS:
        return None
    common, count = Counter(round(x / 6) for x in splits).most_common(1)[0]
    return common * 6.0 if count >= MIN_ROWS else None


def _caps(text: str) -> bool:
    """A heading typed in capitals ("TUTEUR DU PROJET COLLECTIF"): a row of its own."""
    letters = [c for c in text if c.isalpha()]
    return len(letters) >= 4 and all(c.isupper() for c in letters)


def columns(lines: list[L], paragraphs: Callable[[list[L]], list[Block]]) -> list[Block]:
    """The lines as paragraphs, with every run of two-column lines read as a label | answer table."""
    column = _column(lines)
    if column is None:
        return paragraphs(lines)

    def side(line: L) -> tuple[list, list] | None:
        """(left words, right words) when the line belongs to the two-column layout, else None."""
        left = [w for w in line.words if w.x0 < column - 4]
        right = [w for w in line.words if w.x0 >= column - 4]
        if left and (left[-1].x1 > column - 2 or (right and right[0].x0 - left[-1].x1
                                                    < 3 * max(right[0].bottom - right[0].top, 1.0))):
            return None  # a full-width line that merely crosses the column
        if right and abs(right[0].x0 - column) > 8:
            return None
        return left, right

    out: list[Block] = []
    pending: list[L] = []
    rows: list[tuple[list[str], list[str]]] = []
    run: list[L] = []
    run_splits = 0

    def flush_rows() -> None:
        nonlocal rows, run, run_splits
        if rows and run_splits >= MIN_ROWS:
            # a label left alone at the end has its answer below the table (a text field's full width)
            last = rows.pop() if not rows[-1][1] else None
            out.append(Table(tuple((Cell((Para((" ".join(lab),)),)), Cell(tuple(Para((v,)) for v in val)))
                                   for lab, val in rows)))
            if last is not None:
                out.append(Para((" ".join(last[0]),)))
        elif run:
            out.extend(paragraphs(run))
        rows, run, run_splits = [], [], 0

    previous_bottom = None
    for line in lines:
        parts = side(line)
        top = min(w.top for w in line.words)
        height = max(w.bottom - w.top for w in line.words)
        apart = previous_bottom is not None and top - previous_bottom > 1.5 * height
        previous_bottom = max(w.bottom for w in line.words)
        if parts is None or (not parts[1] and not rows):
            flush_rows()
            pending.append(line)
            continue
        if pending:
            out.extend(paragraphs(pending))
            pending = []
        run.append(line)
        left, right = parts
        left_text = " ".join(w.text for w in left)
        right_text = " ".join(w.text for w in right)
        if right:
            run_splits += bool(left)
        current = rows[-1] if rows else None
        starts = bool(left) and (current is None or not current[0] or apart or _caps(left_text)
                                 or _caps(current[0][-1]) or current[0][-1].rstrip().endswith((":", "：")))
        if starts or current is None:
            rows.append(([left_text] if left_text else [], [right_text] if right_text else []))
        else:
            if left_text:
                current[0].append(left_text)
            if right_text:
                current[1].append(right_text)
    flush_rows()
    if pending:
        out.extend(paragraphs(pending))
    return out
