"""Per-field comparison of extracted and expected records, as the project's scorer does it.

Strings are compared after Unicode NFKC, typographic apostrophes made plain, lone bullet glyphs
dropped and whitespace runs collapsed (PDF text re-wraps lines); booleans and None exactly.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

SECTIONS = {
    "collectivity": ("name", "siret", "address", "hosting_address", "hr_contact", "hr_email"),
    "dgs": ("last_name", "first_name", "email", "phone"),
    "tutor": ("last_name", "first_name", "role", "email", "phone"),
    "mission": ("title", "context", "stakes", "objectives", "cross_disciplinary_value"),
    "logistics": ("accommodation", "practical_notes", "driving_licence_required", "public_transport"),
}
PATHS = tuple(f"{s}.{k}" for s, keys in SECTIONS.items() for k in keys)
_BULLET = re.compile(r"(?:(?<=\s)|^)[•◦▪▫●○■□·\-–—*»>](?=\s|$)")


def canonical(value: Any) -> Any:
    """The comparable form of a field value."""
    if value is None or isinstance(value, bool):
        return value
    text = unicodedata.normalize("NFKC", str(value)).replace("’", "'").replace("‘", "'")
    return re.sub(r"\s+", " ", _BULLET.sub(" ", text)).strip()


def same(expected: Any, got: Any) -> bool:
    """Whether an extracted value counts as right."""
    if isinstance(expected, bool) or isinstance(got, bool):
        return expected is got
    return canonical(expected) == canonical(got)


def wrong_fields(expected: dict, got: dict | None) -> list[str]:
    """Dotted paths whose value is wrong (all of them when nothing was extracted)."""
    out = []
    for path in PATHS:
        section, key = path.split(".")
        value = None if got is None else got.get(section, {}).get(key, "<absent>")
        if got is None or not same(expected[section][key], value):
            out.append(path)
    return out
