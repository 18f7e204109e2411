"""Check a stage offer: what the form requires, the deadline of its stage type, who tutors it. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from mailflow.pipeline.extract.folding import fold
from mailflow.pipeline.forms.definition import FormDefinition
from mailflow.pipeline.offers.reading import OfferReading, Placement
from mailflow.pipeline.offers.vocabulary import TutorRule, Vocabulary
from mailflow.pipeline.validate import validate_fields


@dataclass(frozen=True)
class OfferCheck:
    """Missing and invalid fields (asked of the collectivité), items to check (for staff), late stages."""

    missing: tuple[str, ...]
    problems: tuple[str, ...]
    to_check: tuple[str, ...]
    late: tuple[Placement, ...]


def _has(role: str, phrases: tuple[str, ...]) -> bool:
    folded = f" {fold(role)} "
    return any(re.search(rf"(?<![a-z0-9]){re.escape(fold(p))}(?![a-z0-9])", folded) for p in phrases)


def tutor_problem(rule: TutorRule, role: str) -> bool:
    """True when the tutor's role is not one the rule expects."""
    return not _has(role, rule.roles) or _has(role, rule.not_roles)


def check_offer(reading: OfferReading, definition: FormDefinition, words: Vocabulary, received: date,
                ) -> OfferCheck:
    """Everything wrong or doubtful about an offer received on day `received` (campaign time zone)."""
    validation = validate_fields(reading.fields, definition)
    to_check = list(reading.to_check)
    role = (reading.fields.get("tutor") or {}).get("role")
    for rule in words.tutor_rules:
        concerned = [p for p in reading.placements if p.type_id == rule.stage_type and p.cadre_id in rule.cadres]
        if concerned and role and tutor_problem(rule, role):
            to_check.append(f"tutor.role: {rule.reason} (fonction indiquée : {role})")
    # Late after its offers deadline; a stage the brochure gives none for, once it has begun.
    late = tuple(p for p in reading.placements
                 if (received > p.offers_deadline if p.offers_deadline is not None else received >= p.starts))
    return OfferCheck(validation.missing, validation.problems, tuple(dict.fromkeys(to_check)), late)
