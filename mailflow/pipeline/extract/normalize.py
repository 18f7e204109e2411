"""Turn the raw lines found for each field into the values the schema asks for.

SIRET digits only, lower-cased e-mails, E.164 phones, addresses on one line joined with ", ",
booleans for Oui/Non boxes, None for anything left blank (never "").
"""

from __future__ import annotations

import re
from typing import Any

import phonenumbers

from mailflow.pipeline.extract.folding import fold
from mailflow.pipeline.extract.model import HIGHLIGHT_END, HIGHLIGHT_START, MARKERS, STRIKE_END, STRIKE_START
from mailflow.pipeline.forms.definition import FieldDefinition, FormDefinition

# Dot leaders and underscores of the blank form; an ellipsis ending a word ("matériel…") is text.
_FILLER = re.compile(r"(?<![\w)])(?:[._…·]\s?){3,}|_{2,}|(?<![^\s:])…(?=\s|$)")
_STRUCK = re.compile(re.escape(STRIKE_START) + r"[^" + re.escape(STRIKE_END) + r"]*" + re.escape(STRIKE_END))
_EMAIL = re.compile(r"[A-Za-z0-9._%+'\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")
_SPACES = re.compile(r"[ \t\u00a0\u202f\u2007]+")
_OVERSEAS = ("RE", "GP", "MQ", "GF", "YT", "PM", "BL", "MF", "NC", "PF", "WF")
_CHECKED = "☒☑■✓✔✗✘⊠▣⌧🗹"
_UNCHECKED = "☐□▢❏❑◻"
_ANSWERS = {"oui": True, "yes": True, "non": False, "no": False}


def clean_line(line: str) -> str:
    """One line without markers, struck-through text, filler dots/underscores and extra spaces."""
    line = _STRUCK.sub("", line)
    line = line.translate({ord(c): None for c in MARKERS})
    line = _FILLER.sub(" ", line)
    return _SPACES.sub(" ", line).strip()


def _lines(raw: list[str]) -> list[str]:
    return [clean_line(x) for x in raw]


def _is_placeholder(text: str, definition: FormDefinition) -> bool:
    key = fold(text)
    return not key or any(key == fold(p) for p in definition.placeholders)


def _text(raw: list[str], definition: FormDefinition) -> str | None:
    value = " ".join(x for x in _lines(raw) if x).strip(" :;-–")
    return None if _is_placeholder(value, definition) else value


def _multiline(raw: list[str], definition: FormDefinition) -> str | None:
    lines = _lines(raw)
    text = "\n".join(lines)
    text = re.sub(r"\n{3,}", "\n\n", text).strip("\n :")
    return None if _is_placeholder(text, definition) else text


def _address(raw: list[str], definition: FormDefinition) -> str | None:
    parts = [x.strip(" ,;") for x in _lines(raw)]
    value = ", ".join(x for x in parts if x)
    return None if _is_placeholder(value, definition) else value


def _email(raw: list[str], definition: FormDefinition) -> str | None:
    value = _text(raw, definition)
    if value is None:
        return None
    found = _EMAIL.search(value.replace("mailto:", " "))
    return (found.group(0) if found else value).strip(".").lower()


def parse_phone(value: str) -> str | None:
    """E.164 for a French or overseas number, None when it is not a valid phone number."""
    digits = re.sub(r"[^\d+]", "", value.replace("(0)", ""))
    if len(digits.lstrip("+")) < 6:
        return None
    candidates = ("FR",) if digits.startswith(("+", "00")) else ("FR", *_OVERSEAS)
    for region in candidates:
        try:
            number = phonenumbers.parse(value.replace("(0)", ""), region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return None


def _phone(raw: list[str], definition: FormDefinition) -> str | None:
    value = _text(raw, definition)
    if value is None:
        return None
    first = re.split(r"\s(?:/|ou|-)\s|[;,]", value)[0]
    return parse_phone(first) or parse_phone(value) or value


def _siret(raw: list[str], definition: FormDefinition) -> str | None:
    value = _text(raw, definition)
    if value is None:
        return None
    digits = re.sub(r"\D", "", value)
    return digits or value


def _contact(raw: list[str], definition: FormDefinition) -> str | None:
    value = _text(raw, definition)
    if value is None:
        return None
    value = _EMAIL.sub(" ", value.replace("mailto:", " "))
    value = re.sub(r"[(\[<]\s*[)\]>]", " ", value)
    value = re.sub(r"\s*(?:courriel|e-mail|mail|email)\s*:?\s*$", "", value, flags=re.I)
    value = _SPACES.sub(" ", value).strip(" ,;:-–—/")
    return value or None


def parse_checkbox(raw: list[str]) -> bool | None:
    """True/False from "☒ Oui ☐ Non", "X Oui", a highlighted "Oui", or "Oui" alone ("Non" deleted)."""
    text = " ".join(raw)
    text = _STRUCK.sub(" ", text)
    tokens = re.findall(
        r"\[\s*[xX✓✔]?\s*\]|\(\s*[xX]?\s*\)|[" + _CHECKED + _UNCHECKED + r"]|" + HIGHLIGHT_START + "|"
        + HIGHLIGHT_END + r"|\b[xX]\b|\b(?:[Oo][Uu][Ii]|[Nn][Oo][Nn]|OUI|NON)\b", text)
    options: list[tuple[bool, str | None, bool]] = []  # (answer, mark before, highlighted)
    mark: str | None = None
    highlighted = False
    for tok in tokens:
        low = tok.lower()
        if tok == HIGHLIGHT_START:
            highlighted = True
        elif tok == HIGHLIGHT_END:
            highlighted = False
        elif low in _ANSWERS:
            options.append((_ANSWERS[low], mark, highlighted))
            mark = None
        elif tok in _CHECKED or low == "x" or re.fullmatch(r"[\[(]\s*[x✓✔]\s*[\])]", low):
            mark = "checked"
        else:
            mark = "unchecked"
    trailing = mark
    if not options:
        return None
    ticked = {a for a, m, _ in options if m == "checked"}
    if len(ticked) == 1:
        return ticked.pop()
    if not ticked and trailing == "checked" and len(options) >= 1:
        # boxes after the words: "Oui ☐  Non ☒"
        marks_after = [m for _, m, _ in options[1:]] + [trailing]
        after = {options[i][0] for i, m in enumerate(marks_after) if m == "checked"}
        if len(after) == 1:
            return after.pop()
    lit = {a for a, _, h in options if h}
    if len(lit) == 1 and len(ticked) != 2:
        return lit.pop()
    answers = {a for a, _, _ in options}
    if not ticked and len(answers) == 1 and len(options) == 1:
        return answers.pop()
    return None


_BY_TYPE = {"text": _text, "multiline": _multiline, "address": _address, "email": _email,
            "phone": _phone, "siret": _siret, "contact": _contact}


def normalise_value(field: FieldDefinition, text: str, definition: FormDefinition) -> Any:
    """One value as the reader stores it (a phone in E.164, a SIRET's digits, a yes or no as a boolean, None
    for neither), from what a person typed: staff correcting a field in the console."""
    if field.type == "checkbox":
        return parse_checkbox([text])
    return _BY_TYPE[field.type]([text], definition)


def normalise(values: dict[str, list[str]], definition: FormDefinition) -> dict[str, dict[str, Any]]:
    """The schema-shaped record of one form: every section and field present, None when absent."""
    record: dict[str, dict[str, Any]] = definition.empty_record()
    for f in definition.fields:
        raw = values.get(f.path)
        if not raw:
            continue
        if f.type == "checkbox":
            record[f.section][f.key] = parse_checkbox(raw)
        else:
            record[f.section][f.key] = _BY_TYPE[f.type](raw, definition)
    for f in definition.fields:
        if f.type != "contact" or f.path not in values:
            continue
        emails = [g for g in definition.fields if g.section == f.section and g.type == "email"]
        found = _EMAIL.search(" ".join(values[f.path]))
        if found and emails and record[f.section][emails[0].key] is None:
            record[f.section][emails[0].key] = found.group(0).lower()
    return record
