"""The carrier-neutral shape of a document: paragraphs and tables, as every reader produces it.

Readers (docx, PDF, odt, mail body) turn their format into these blocks; the matcher then finds the
form's labels in them without knowing where they came from.
"""

from __future__ import annotations

from dataclasses import dataclass

# Markers the readers put around highlighted and struck-through text, so that a highlighted "Oui" or a
# struck-through "Non" can answer a Oui/Non question. They are Unicode private-use characters, removed
# from every other kind of value.
HIGHLIGHT_START, HIGHLIGHT_END = "\ue000", "\ue001"
STRIKE_START, STRIKE_END = "\ue002", "\ue003"
MARKERS = HIGHLIGHT_START + HIGHLIGHT_END + STRIKE_START + STRIKE_END
CHECKED, UNCHECKED = "☒", "☐"


@dataclass(frozen=True)
class Para:
    """A paragraph: its lines (a manual line break starts a new line)."""

    lines: tuple[str, ...]


@dataclass(frozen=True)
class Cell:
    """A table cell: the paragraphs and nested tables it holds."""

    blocks: tuple[Para | Table, ...]


@dataclass(frozen=True)
class Table:
    """A table as rows of cells (merged cells appear once).

    `continues` is set by the PDF reader when the table opens a page right after a table that closed
    the previous page: its first row may be the rest of the previous table's last row.
    """

    rows: tuple[tuple[Cell, ...], ...]
    continues: bool = False


Block = Para | Table


def para(text: str) -> Para:
    """A paragraph from text where "\\n" separates lines."""
    return Para(tuple(text.split("\n")))


@dataclass(frozen=True)
class UnreadableDocument:
    """An attachment (or the body) that could not be read as a form, with the reason in French."""

    filename: str | None
    source_kind: str | None
    reason: str
