"""The .xlsx file of the proposals' sheets, written with openpyxl: header row bold and frozen, filters
on, dates as real Excel dates, columns wide enough to read.

It is called apart (`mailflow.apart`): openpyxl (some 9 MB) is loaded only in the short-lived
process that writes the file, never in the daemon.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

DATE_FORMAT = "dd/mm/yyyy hh:mm"
MAX_WIDTH = 60


def write_workbook(sheets: Sequence[tuple[str, list[str], list[list[Any]]]]) -> bytes:
    """The .xlsx file of `sheets` (title, header row, rows of plain values), in their order."""
    book = Workbook()
    book.remove(book.active)
    for title, headers, rows in sheets:
        sheet = book.create_sheet(title)
        sheet.append(headers)
        for row in rows:
            sheet.append([_cell(v) for v in row])
        _style(sheet, len(headers), len(rows))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _cell(value: Any) -> Any:
    """Control characters a sender typed are dropped (Excel cannot store them); text is never a formula."""
    return ILLEGAL_CHARACTERS_RE.sub("", value) if isinstance(value, str) else value


def _style(sheet: Worksheet, columns: int, rows: int) -> None:
    header_fill = PatternFill("solid", fgColor="DCE6F1")
    for cell in sheet[1]:
        cell.font = Font(bold=True)
        cell.fill = header_fill
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for line in sheet.iter_rows(min_row=2):
        for cell in line:
            if isinstance(cell.value, datetime):
                cell.number_format = DATE_FORMAT
            elif isinstance(cell.value, str):
                cell.data_type = "s"
                cell.alignment = Alignment(wrap_text="\n" in cell.value, vertical="top")
    for index in range(1, columns + 1):
        letter = get_column_letter(index)
        widths = [_width(c.value) for c in sheet[letter]]
        sheet.column_dimensions[letter].width = min(MAX_WIDTH, max(10, *widths) + 2)
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = f"A1:{get_column_letter(columns)}{rows + 1}"


def _width(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, datetime):
        return 16
    return max((len(line) for line in str(value).splitlines()), default=0)
