"""The words of stage offers: stage types, cadres d'emplois and tutor rules, read from offre_stage.toml."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from mailflow.errors import CalendarError
from mailflow.pipeline.forms.definition import FormDefinition, FormDefinitionError
from mailflow.toml_errors import display, line_of

if TYPE_CHECKING:  # a reader process loads this module, and has no use for the calendars' holidays
    from mailflow.campaign.calendars import Calendar

OFFER_FORM = "offre_stage"


@dataclass(frozen=True)
class Term:
    """A stage type or a cadre d'emplois: its id (as the calendar names it), its French title, its words, and
    why INET takes no offer for it, if so (`elsewhere`: French, for staff)."""

    id: str
    title: str
    words: tuple[str, ...]
    elsewhere: str = ""


@dataclass(frozen=True)
class TutorRule:
    """Who must tutor a stage type for some cadres (e.g. the DGS for an observation stage)."""

    stage_type: str
    cadres: tuple[str, ...]
    roles: tuple[str, ...]
    not_roles: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class Vocabulary:
    """Everything the offer reader knows besides the form's labels."""

    stage_types: tuple[Term, ...]
    cadres: tuple[Term, ...]
    tutor_rules: tuple[TutorRule, ...]

    def stage_type(self, type_id: str) -> Term:
        return next(t for t in self.stage_types if t.id == type_id)

    def cadre(self, cadre_id: str) -> Term:
        return next(c for c in self.cadres if c.id == cadre_id)


def _terms(raw: object, where: str) -> tuple[Term, ...]:
    if not isinstance(raw, list):
        raise FormDefinitionError(f"{where} must be an array of tables")
    try:
        return tuple(Term(t["id"], t["title"], tuple(t["words"]), t.get("elsewhere", "")) for t in raw)
    except (KeyError, TypeError) as exc:
        raise FormDefinitionError(f"{where}: each entry needs id, title and words ({exc})") from None


@lru_cache(maxsize=4)
def _load(path: Path) -> Vocabulary:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    try:
        rules = tuple(
            TutorRule(r["stage_type"], tuple(r["cadres"]), tuple(r["roles"]), tuple(r.get("not_roles", [])),
                      r["reason"])
            for r in data.get("tutor_rules", [])
        )
    except (KeyError, TypeError) as exc:
        raise FormDefinitionError(f"{path.name}: [[tutor_rules]] needs stage_type, cadres, roles, reason "
                                  f"({exc})") from None
    return Vocabulary(_terms(data.get("stage_types", []), f"{path.name}: [[stage_types]]"),
                      _terms(data.get("cadres", []), f"{path.name}: [[cadres]]"), rules)


def vocabulary(definition: FormDefinition) -> Vocabulary:
    """The stage types, cadres and tutor rules of an offer form definition."""
    if definition.source is None:
        return Vocabulary((), (), ())
    return _load(definition.source)


def check_periods(calendars: Mapping[str, Calendar], forms: Mapping[str, FormDefinition]) -> None:
    """Refuse at start a period whose stage_type or cadres the calendar's form does not name (file, line)."""
    for calendar in calendars.values():
        form = forms.get(calendar.form)
        words = vocabulary(form) if form is not None else Vocabulary((), (), ())
        known = {"stage_type": {t.id for t in words.stage_types}, "cadres": {c.id for c in words.cadres}}
        for index, period in enumerate(calendar.periods):
            given = {"stage_type": [period.stage_type] if period.stage_type else [], "cadres": list(period.cadres)}
            for key, values in given.items():
                for value in values:
                    if value not in known[key]:
                        text = calendar.source.read_text(encoding="utf-8")
                        names = ", ".join(sorted(known[key])) or "none"
                        raise CalendarError(
                            f"{display(calendar.source)}, line {line_of(text, ('periods', index, key))}: "
                            f"period '{period.id}': {key}: \"{value}\" is not in form {calendar.form} ({names})")
