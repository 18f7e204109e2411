"""Files people edit by hand (settings, calendars, form definitions): a TOML or validation error told as the
file, the line, the key and what is wrong, in one line a person can act on."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

Loc = tuple[str | int, ...]


def display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def toml_error(path: Path, text: str, exc: tomllib.TOMLDecodeError) -> str:
    """`file, line N: not valid TOML: reason` for a file people edit by hand."""
    text = str(exc)
    match = re.search(r"\(at line (\d+), column \d+\)", text)
    reason = re.sub(r"\s*\(at (?:line \d+, column \d+|end of document)\)", "", text)
    if reason.startswith("Invalid date or datetime"):
        reason = "invalid date (expected a real date such as 2025-06-20)"
    else:
        reason = f"not valid TOML: {reason}"
    line = match.group(1) if match else str(len(text.splitlines()) or 1)
    return f"{display(path)}, line {line}: {reason}"


def validation_reason(exc: ValidationError, tables: str | None = None, unknown: str = "unknown key") -> tuple[Loc, str]:
    """The key a validation error points at and, in words, what is wrong with it.

    `tables` lists the tables a file may have, to name them when an unknown one is written."""
    # An unknown key first (a typo explains the "missing" that comes with it); then the deepest
    # error, which for a union (str | list[date]) is the member matching what was written.
    error = min(exc.errors(), key=lambda e: (e["type"] != "extra_forbidden", -len(e["loc"])))
    loc = without_union_tags(tuple(error["loc"]))
    kind = error["type"]
    given = error.get("input")
    if kind == "extra_forbidden":
        if len(loc) == 1:
            return loc, f"unknown table (expected {tables})" if tables else unknown
        return loc, unknown
    if kind == "missing":
        return loc, "missing value"
    if kind == "value_error":
        return loc, str(error["msg"]).removeprefix("Value error, ")
    if kind.startswith("date") or "date" in str(error["msg"]).lower():
        return loc, f"expected a date such as 2025-06-20, got {show(given)}"
    if kind == "string_pattern_mismatch":
        return loc, f"{show(given)} has characters not allowed here ({error['ctx']['pattern']})"
    if kind == "literal_error":
        expected = str(error["msg"]).removeprefix("Input should be ").replace("'", '"')
        return loc, f"expected {expected}, got {show(given)}"
    if kind.startswith("int"):
        return loc, f"expected an integer, got {show(given)}"
    if kind.startswith("bool"):
        return loc, f"expected true or false, got {show(given)}"
    message = str(error["msg"]).removeprefix("Input should be ").split(",")[0]
    return loc, f"expected {message}, got {show(given)}"


def without_union_tags(loc: Loc) -> Loc:
    """Drop the union member names pydantic puts after a key (`date`, `str`, `list[date]`…)."""
    kept: list[str | int] = []
    for index, part in enumerate(loc):
        after_key = index >= 2 and isinstance(loc[index - 1], str)
        if after_key and isinstance(part, str) and (part in _UNION_TAGS or "[" in part):
            continue
        kept.append(part)
    return tuple(kept)


_UNION_TAGS = {"str", "date", "int", "bool"}


def show(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else repr(value)


def line_of(text: str, loc: Loc) -> int:
    """The line of the table or key that `loc` points at (tomllib keeps no positions)."""
    lines = text.splitlines()
    if not loc:
        return 1
    head, rest = str(loc[0]), list(loc[1:])
    start = None
    if rest and isinstance(rest[0], int):
        pattern = re.compile(rf"^\s*\[\[\s*{re.escape(head)}\s*\]\]")
        count = -1
        for number, line in enumerate(lines):
            if pattern.match(line):
                count += 1
                if count == rest[0]:
                    start = number
                    break
        rest = rest[1:]
    else:
        pattern = re.compile(rf"^\s*\[\s*{re.escape(head)}\s*\]")
        start = next((n for n, line in enumerate(lines) if pattern.match(line)), None)
    if start is None:
        key_line = _key_line(lines, 0, len(lines), head)
        return (key_line if key_line is not None else 0) + 1
    end = next((n for n in range(start + 1, len(lines)) if lines[n].lstrip().startswith("[")), len(lines))
    key = next((str(p) for p in rest if not isinstance(p, int)), None)
    if key is not None:
        found = _key_line(lines, start + 1, end, key)
        if found is not None:
            return found + 1
    return start + 1


def _key_line(lines: list[str], start: int, end: int, key: str) -> int | None:
    pattern = re.compile(rf"""^\s*(?:{re.escape(key)}|"{re.escape(key)}"|'{re.escape(key)}')\s*=""")
    return next((n for n in range(start, end) if pattern.match(lines[n])), None)
