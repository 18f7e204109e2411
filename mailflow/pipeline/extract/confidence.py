"""How each field of a form was read, so that a doubtful reading goes to staff instead of the sender.

A required field whose label was found with nothing after it is missing: the collectivité is asked for
it. A required field whose label was not found at all, or a value that looks misplaced (the form's own
heading or label, a value of the wrong kind), may be a layout the extractor misread: it is "à vérifier"
and staff look at it before anyone tells the collectivité anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from mailflow.pipeline.extract.labels import LabelIndex
from mailflow.pipeline.extract.matching import RawForm

READ = "read"  # the label was found and an answer after it
EMPTY = "empty"  # the label was found, nothing typed after it
NOT_FOUND = "not_found"  # the label was not found in the document
MISPLACED = "misplaced"  # something was read, but it does not look like an answer to this field

NOT_FOUND_REASON = "rubrique introuvable dans le document : lecture à vérifier"
_DIGITS = re.compile(r"\d")


@dataclass(frozen=True)
class Reading:
    """How one field was read: `status` (read, empty, not_found, misplaced), `how` the label was found
    ("label" as the definition spells it, "similar label", or "" when not found) and, for a misplaced
    value, why it looks wrong (French, for staff)."""

    status: str
    how: str = ""
    reason: str | None = None


def _misplaced(value: Any, ftype: str, key: str, index: LabelIndex) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    first_line = value.split("\n", 1)[0]
    if index.is_known_text(first_line) and len(first_line) < 160:
        return "la valeur lue est un intitulé du formulaire : lecture à vérifier"
    if ftype == "text" and key.endswith("name") and key != "name" and (
            "@" in value or len(_DIGITS.findall(value)) >= 4):
        return "la valeur lue ne ressemble pas à un nom : lecture à vérifier"
    if ftype == "email" and "@" not in value and len(_DIGITS.findall(value)) >= 8:
        return "la valeur lue ressemble à un numéro de téléphone : lecture à vérifier"
    if ftype in ("phone", "siret") and "@" in value:
        return "la valeur lue ressemble à une adresse électronique : lecture à vérifier"
    return None


def readings(raw: RawForm, fields: dict[str, dict[str, Any]], index: LabelIndex) -> dict[str, Reading]:
    """The reading of every field of the definition, from what the matcher saw and what was kept."""
    out: dict[str, Reading] = {}
    for f in index.definition.fields:
        value = (fields.get(f.section) or {}).get(f.key)
        how = "similar label" if f.path in raw.similar else "label"
        if f.path not in raw.seen:
            # a value without its label: taken from another field (the HR e-mail typed with the contact)
            out[f.path] = Reading(READ, "other field") if value is not None else Reading(NOT_FOUND)
            continue
        if value is None:
            out[f.path] = Reading(EMPTY, how)
            continue
        reason = _misplaced(value, f.type, f.key, index)
        out[f.path] = Reading(MISPLACED, how, reason) if reason else Reading(READ, how)
    return out
