"""The templates and calendars that come with mailflow, found installed or in a source checkout."""

from __future__ import annotations

from pathlib import Path


def shipped(name: str) -> Path:
    """`templates` or `schedules` as shipped: the installed copy, else `<repo>/<name>` in a checkout."""
    installed = Path(__file__).parent / "_shipped" / name
    return installed if installed.is_dir() else Path(__file__).resolve().parents[1] / name
