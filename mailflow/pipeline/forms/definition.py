"""Form definitions: the fields of a form, their labels and types, loaded from a TOML file staff can read.

The extractor and the validator work from a `FormDefinition` only, so a new form (next year's, or
another form of the institute) is a new TOML file, not new code.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from mailflow.errors import MailflowError
from mailflow.toml_errors import toml_error

FORMS_DIR = Path(__file__).parent
DEFAULT_FORM_NAME = "projet_collectif"
DEFAULT_FORM_PATH = FORMS_DIR / f"{DEFAULT_FORM_NAME}.toml"
FIELD_TYPES = frozenset({"text", "multiline", "address", "email", "phone", "siret", "contact", "checkbox"})


class FormDefinitionError(MailflowError):
    """A form definition file is missing, malformed or names an unknown field type."""


@dataclass(frozen=True)
class FieldDefinition:
    """One field: its dotted path, its type, the labels that announce it and the label quoted in mails."""

    section: str
    key: str
    type: str
    required: bool
    mail_label: str
    labels: tuple[str, ...]
    check: str | None = None

    @property
    def path(self) -> str:
        """The dotted path used in records, `missing` and `problems`, e.g. "collectivity.hr_email"."""
        return f"{self.section}.{self.key}"


@dataclass(frozen=True)
class SectionDefinition:
    """A block of the form (collectivity, DGS, tutor...), announced by one of its headings."""

    key: str
    headings: tuple[str, ...]
    fields: tuple[FieldDefinition, ...]


@dataclass(frozen=True)
class Recognition:
    """How a document of this kind is told apart from the others in the same mailbox (`[recognise]`).

    A document scores 2 for a title word in its name (the subject, for a mail body) or first lines, 1
    for each distinctive label and each keyword found; it is of this kind from `min_score` on.
    """

    title_words: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    min_score: int = 2


@dataclass(frozen=True)
class FormDefinition:
    """A whole form: its sections in order, plus the markers, fillers and printed notes the extractor needs.

    `form_text` is what the blank form prints besides headings and labels (notes, sub-headings): it is
    never a value, and an answer typed before it ends there. `campaign_by_stage`: the campaign a
    document goes to is the one whose calendar has the stage it names, so two calendars may be open at once.
    """

    name: str
    title: str
    sections: tuple[SectionDefinition, ...]
    start_markers: tuple[str, ...]
    end_markers: tuple[str, ...]
    placeholders: tuple[str, ...]
    min_fields_attachment: int
    min_fields_body: int
    form_text: tuple[str, ...] = ()
    recognise: Recognition = Recognition()
    campaign_by_stage: bool = False
    source: Path | None = None

    @property
    def fields(self) -> tuple[FieldDefinition, ...]:
        """Every field in form order."""
        return tuple(f for s in self.sections for f in s.fields)

    @property
    def required_paths(self) -> tuple[str, ...]:
        """Dotted paths of the required fields, in form order."""
        return tuple(f.path for f in self.fields if f.required)

    def field(self, path: str) -> FieldDefinition:
        """The field at a dotted path; KeyError names the path when it does not exist."""
        for f in self.fields:
            if f.path == path:
                return f
        raise KeyError(f"no field {path!r} in form {self.name!r}")

    def label(self, path: str) -> str:
        """The French label mails use for a field, e.g. "Courriel du contact RH (impératif)"."""
        return self.field(path).mail_label

    def empty_record(self) -> dict[str, dict[str, None]]:
        """A record with every section and field of the form, all values None."""
        return {s.key: {f.key: None for f in s.fields} for s in self.sections}


def _strings(raw: object, where: str) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(x, str) and x.strip() for x in raw):
        raise FormDefinitionError(f"{where} must be a list of non-empty strings")
    return tuple(raw)


def _field(section: str, raw: dict, where: str) -> FieldDefinition:
    try:
        key, ftype, mail_label = raw["key"], raw["type"], raw["mail_label"]
    except KeyError as exc:
        raise FormDefinitionError(f"{where}: missing key {exc.args[0]!r}") from None
    if ftype not in FIELD_TYPES:
        raise FormDefinitionError(f"{where} ({key}): unknown type {ftype!r}, "
                                  f"expected one of {sorted(FIELD_TYPES)}")
    labels = _strings(raw.get("labels"), f"{where} ({key}).labels")
    return FieldDefinition(section=section, key=key, type=ftype, required=bool(raw.get("required", False)),
                           mail_label=mail_label, labels=labels, check=raw.get("check"))


def load_form_definition(path: Path | None = None) -> FormDefinition:
    """Load a form definition TOML file (default: the packaged projet_collectif.toml)."""
    path = Path(path) if path is not None else DEFAULT_FORM_PATH
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except OSError as exc:
        raise FormDefinitionError(f"cannot read form definition {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise FormDefinitionError(toml_error(path, text, exc)) from None
    sections = []
    for i, sec in enumerate(data.get("sections", [])):
        where = f"{path.name}: sections[{i}]"
        if "key" not in sec:
            raise FormDefinitionError(f"{where}: missing key 'key'")
        fields = tuple(_field(sec["key"], f, f"{where}.fields[{j}]")
                       for j, f in enumerate(sec.get("fields", [])))
        headings = _strings(sec.get("headings"), f"{where}.headings")
        sections.append(SectionDefinition(key=sec["key"], headings=headings, fields=fields))
    if not sections:
        raise FormDefinitionError(f"form definition {path} has no [[sections]]")
    return FormDefinition(
        name=data.get("name", path.stem),
        title=data.get("title", path.stem),
        sections=tuple(sections),
        start_markers=tuple(data.get("start_markers", [])),
        end_markers=tuple(data.get("end_markers", [])),
        placeholders=tuple(data.get("placeholders", [])),
        min_fields_attachment=int(data.get("min_fields_attachment", 6)),
        min_fields_body=int(data.get("min_fields_body", 8)),
        form_text=tuple(data.get("form_text", [])),
        recognise=_recognition(data.get("recognise", {}), path.name),
        campaign_by_stage=bool(data.get("campaign_by_stage", False)),
        source=path,
    )


def _recognition(raw: object, where: str) -> Recognition:
    if not isinstance(raw, dict):
        raise FormDefinitionError(f"{where}: [recognise] must be a table")
    unknown = set(raw) - {"title_words", "labels", "keywords", "min_score"}
    if unknown:
        raise FormDefinitionError(f"{where}: [recognise] has unknown keys {sorted(unknown)}")
    lists = {key: _strings(raw[key], f"{where}: recognise.{key}") if key in raw else ()
             for key in ("title_words", "labels", "keywords")}
    min_score = raw.get("min_score", 2)
    if not isinstance(min_score, int) or min_score < 1:
        raise FormDefinitionError(f"{where}: recognise.min_score must be a whole number from 1 on")
    return Recognition(**lists, min_score=min_score)


def load_form_definitions(folder: Path | None = None) -> dict[str, FormDefinition]:
    """Every form definition (`*.toml`) of a folder (default: the packaged ones), by form name."""
    folder = Path(folder) if folder is not None else FORMS_DIR
    forms: dict[str, FormDefinition] = {}
    for path in sorted(folder.glob("*.toml")):
        definition = load_form_definition(path)
        if definition.name in forms:
            raise FormDefinitionError(f"{path}: form {definition.name!r} is already defined by "
                                      f"{forms[definition.name].source}")
        forms[definition.name] = definition
    return forms
