"""Read, in a reply within a proposal's thread, the values of the fields still missing or invalid.

The natural answer to « Courriel du contact RH : rubrique non renseignée » is a short mail:
« Le courriel du contact RH est k.haddad@ville.fr ». This module finds such values, by the form's
own labels (« Courriel du contact RH : … », « Le courriel du contact RH est … ») or, when only one
field of a kind is wanted, by its kind alone (the one e-mail address, phone number or valid SIRET
of the reply). Pure: text and the form definition in, values out; the pipeline files them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from stdnum.fr import siret as stdnum_siret

from mailflow.pipeline.extract.folding import fold, fold_with_index
from mailflow.pipeline.extract.normalize import normalise, parse_phone
from mailflow.pipeline.forms.definition import FieldDefinition, FormDefinition

_EMAIL = re.compile(r"[A-Za-z0-9._%+'\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")
_PHONE = re.compile(r"(?<![\d+])(?:\+|00)?\d[\d .\-/()]{7,18}\d(?!\d)")
_SIRET = re.compile(r"(?<!\d)\d(?:[ \u00a0.]?\d){13}(?!\d)")
# What may sit between a label and its value: « : », « est », « est le », « = », « -> »…
_CONNECTOR = re.compile(
    r"^\s*(?:(?:est|sont|serait|sera|c'est|correspond\s+a)\s*(?:le|la|l'|:)?\s*|[:=\-–>→]+\s*)*", re.IGNORECASE
)
_KINDS = ("email", "phone", "siret")


@dataclass(frozen=True)
class ReplyValues:
    """What a reply gave: the normalised values by dotted path, and the wanted paths it did not give."""

    values: dict[str, Any]
    unread: tuple[str, ...]


def read_reply(text: str, wanted: Sequence[str], definition: FormDefinition, sender: str = "") -> ReplyValues:
    """The values of the `wanted` fields (dotted paths) that the reply's own `text` gives.

    By label first; then, for a kind (e-mail, phone, SIRET) wanted by exactly one field still
    unread, the one value of that kind in the reply (never the sender's own address, which
    signatures repeat).
    """
    fields = [definition.field(path) for path in dict.fromkeys(wanted)]
    raw = {path: [value] for path, value in _by_label(text, fields).items()}
    for kind in _KINDS:
        open_fields = [f for f in fields if f.type == kind and f.path not in raw]
        if len(open_fields) != 1:
            continue
        value = _only_value(text, kind, sender, exclude=[v[0] for v in raw.values()])
        if value and any(value in v[0] for v in raw.values()):
            continue
        if value:
            raw[open_fields[0].path] = [value]
    record = normalise(raw, definition)
    values = {}
    for f in fields:
        value = record[f.section][f.key]
        if value is not None and _acceptable(f, value):
            values[f.path] = value
    unread = tuple(f.path for f in fields if f.path not in values)
    return ReplyValues(values, unread)


def _labels(f: FieldDefinition) -> list[str]:
    """The field's labels, longest first, without their parenthesised notes (« (impératif) »)."""
    labels = {fold(re.sub(r"\([^)]*\)", " ", label)) for label in (f.mail_label, *f.labels)}
    return sorted((label for label in labels if len(label) >= 4), key=len, reverse=True)


def _by_label(text: str, fields: Sequence[FieldDefinition]) -> dict[str, str]:
    """For each line, the field whose label it names (the longest label wins, so « Courriel » alone
    never takes the line of « Courriel du contact RH »), and the rest of the line after the label."""
    labels = [(label, f) for f in fields for label in _labels(f)]
    found: dict[str, str] = {}
    for line in text.splitlines():
        key, index = fold_with_index(line)
        best = None
        for label, f in labels:
            match = re.search(rf"(?:^| ){re.escape(label)}(?= |$)", key)
            if match and (best is None or len(label) > len(best[0])):
                best = (label, f, match.end())
        if best is None or best[1].path in found:
            continue
        end = best[2]
        start = index[end - 1] + 1 if 0 < end <= len(index) else len(line)
        rest = re.sub(r"^\s*\([^)]*\)", "", line[start:])
        rest = _CONNECTOR.sub("", rest).strip().rstrip(".;")
        if rest and not _is_label_like(rest):
            found[best[1].path] = rest
    return found


def _is_label_like(value: str) -> bool:
    return bool(re.fullmatch(r"\W*", value))


def _only_value(text: str, kind: str, sender: str, exclude: Iterable[str]) -> str | None:
    """The one value of `kind` in `text`, or None when there is none or several."""
    excluded = {fold(value) for value in exclude}
    if kind == "email":
        found = list(dict.fromkeys(m.lower().strip(".") for m in _EMAIL.findall(text)))
        found = [f for f in found if fold(f) not in excluded and f != sender.strip().lower()]
    elif kind == "phone":
        found = list(dict.fromkeys(p for m in _PHONE.findall(text) if (p := parse_phone(m))))
    else:
        found = list(dict.fromkeys(d for m in _SIRET.findall(text) if stdnum_siret.is_valid(d := re.sub(r"\D", "", m))))
    return found[0] if len(found) == 1 else None


def _acceptable(f: FieldDefinition, value: Any) -> bool:
    """A value of the right kind: an address for an e-mail, a number for a phone, a valid SIRET."""
    text = str(value)
    if f.type == "email":
        return bool(_EMAIL.fullmatch(text))
    if f.type == "phone":
        return text.startswith("+")
    if f.type == "siret":
        return stdnum_siret.is_valid(text)
    return bool(text.strip())


def merged(fields: dict[str, dict[str, Any]], values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A copy of a proposal's fields with the values read from a reply."""
    copy = {section: dict(content or {}) for section, content in fields.items()}
    for path, value in values.items():
        section, _, key = path.partition(".")
        copy.setdefault(section, {})[key] = value
    return copy
