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

    def side(line: L, loose: bool) -> tuple[list, list] | None:
        """(left words, right words) when the line belongs to the two-column layout, else None.

        A label wrapped up to the answer column leaves only a word space before it: `loose` takes a
        line whose answer starts exactly on the column with that space only."""
        if any(getattr(w, "source", "page") != "page" for w in line.words):
            return None  # form-field values are placed by their widgets already
        left = [w for w in line.words if w.x0 < column - 4]
        right = [w for w in line.words if w.x0 >= column - 4]
        if right and abs(right[0].x0 - column) > 8:
            return None
        if left and left[-1].x1 > column - 2:
            return None  # a full-width line that merely crosses the column
        if left and right:
            gap, height = right[0].x0 - left[-1].x1, max(right[0].bottom - right[0].top, 1.0)
            exact = abs(right[0].x0 - column) <= 2
            if gap < height and not (loose and exact and gap >= 0.25 * height):
                return None
        return left, right

    out: list[Block] = []
    pending: list[L] = []
    run: list[tuple[L, list, list]] = []

    def flush_run() -> None:
        nonlocal run
        rows = _rows(run)
        if sum(1 for _, left, right in run if left and right) >= MIN_ROWS:
            # a label left alone at the end has its answer below the table (a text field's full width)
            last = rows.pop() if not rows[-1][1] else None
            out.append(Table(tuple((Cell((Para((" ".join(lab),)),)), Cell(tuple(Para((v,)) for v in val)))
                                   for lab, val in rows)))
            if last is not None:
                out.append(Para((" ".join(last[0]),)))
        elif run:
            out.extend(paragraphs([line for line, _, _ in run]))
        run = []

    # a line whose label fills its column up to the answer is taken when a clearer line is in its block
    strict = [side(line, False) for line in lines]
    loose = [side(line, True) for line in lines]
    accepted = [x is not None for x in strict]
    start = 0
    while start < len(lines):
        end = start
        while end < len(lines) and loose[end] is not None:
            end += 1
        if any(accepted[start:end]):
            accepted[start:end] = [True] * (end - start)
        start = end + 1
    for k, line in enumerate(lines):
        parts = loose[k] if accepted[k] else None
        if parts is None or (not parts[1] and not run):
            if run:
                flush_run()
            pending.append(line)
            continue
        if pending:
            out.extend(paragraphs(pending))
            pending = []
        run.append((line, parts[0], parts[1]))
    if run:
        flush_run()
    if pending:
        out.extend(paragraphs(pending))
    return out


def _row_gap(pitches: list[float]) -> float:
    """The line spacing above which a line starts a new table row: the first clear jump (x1.25) in
    the sorted spacings, the cell padding between rows (infinite when there is none)."""
    ordered = sorted(p for p in pitches if p > 0)
    for a, b in zip(ordered, ordered[1:], strict=False):
        if b > 1.25 * a:
            return (a + b) / 2
    return float("inf")


def _rows(run: list[tuple[_LineLike, list, list]]) -> list[tuple[list[str], list[str]]]:
    """Group a run's lines into rows (label lines, answer lines).

    A line starts a row after a gap wider than the lines inside a cell are apart (the cell padding), so
    that a label centred against a long answer stays in its row. A label line continues the label above
    only when that one did not end with a colon and was wrapped (its next word would not have fitted
    in the label column); otherwise it starts a row.
    """
    tops = [min(w.top for w in line.words) for line, _, _ in run]
    pitches = [b - a for a, b in zip(tops, tops[1:], strict=False)]
    gap = _row_gap(pitches)
    limit = max((left[-1].x1 for _, left, _ in run if left), default=0.0)
    right_limit = max((right[-1].x1 for _, _, right in run if right), default=0.0)
    previous_right: list = []
    rows: list[tuple[list[str], list[str]]] = []
    previous_left: list = []
    for k, (_, left, right) in enumerate(run):
        current = rows[-1] if rows else None
        after_gap = k > 0 and pitches[k - 1] > gap
        starts = current is None or after_gap
        if left and current is not None and current[0] and not starts:
            text = current[0][-1].rstrip()
            height = max(left[0].bottom - left[0].top, 1.0)
            wrapped = bool(previous_left) and (
                previous_left[-1].x1 + 0.3 * height + (left[0].x1 - left[0].x0) > limit - 0.5 * height)
            # a wrapped label goes on in small letters ("mission", "accueillie l'équipe :")
            starts = (text.endswith((":", "：")) or _caps(text) or _caps(_text(left)) or not wrapped
                      or left[0].text[:1].isupper())
        if starts:
            rows.append(([_text(left)] if left else [], [_text(right)] if right else []))
        else:
            if left:
                current[0].append(_text(left))
            if right and current[1] and previous_right and _wraps(previous_right, right, right_limit):
                current[1][-1] += " " + _text(right)  # an answer wrapped in its cell: one line
            elif right:
                current[1].append(_text(right))
        if left:
            previous_left = left
        previous_right = right
    return rows


def _wraps(previous: list, words: list, limit: float) -> bool:
    """Whether a line of the answer column is the rest of the line above (that one was full)."""
    height = max(words[0].bottom - words[0].top, 1.0)
    return previous[-1].x1 + 0.3 * height + (words[0].x1 - words[0].x0) > limit - 0.5 * height


def _text(words: list) -> str:
    return " ".join(w.text for w in words)
