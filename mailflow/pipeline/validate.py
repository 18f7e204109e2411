"""Check the fields read from a form: required ones present, SIRET, e-mails, phones, the tutor's role.

What the extractor could not read with confidence (a required field whose label was not found, a
value that looks misplaced) is neither missing nor wrong: it is "à vérifier" (`to_check`), for staff
to look at before the collectivité is told anything about it.

Pure: no clock, no IO. Lateness depends on the campaign and is decided by the pipeline.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from stdnum.fr import siret as stdnum_siret

from mailflow.pipeline.extract.confidence import MISPLACED, NOT_FOUND, NOT_FOUND_REASON, Reading
from mailflow.pipeline.extract.folding import fold
from mailflow.pipeline.forms.definition import FormDefinition

ROLE_TO_CHECK = "directeur général des services techniques, portage par la direction générale à vérifier"
ROLE_PROBLEM = "le projet doit être porté par le/la DGS ou un/une DGA"


@dataclass(frozen=True)
class Validation:
    """What is missing (required and absent), what is wrong (present but invalid) and what staff must
    check (read without confidence): dotted paths, with ": reason" for problems and items to check."""

    missing: tuple[str, ...]
    problems: tuple[str, ...]
    to_check: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        """True when nothing is missing and nothing is wrong (items to check do not make it incomplete)."""
        return not self.missing and not self.problems


def _siret_problem(value: str) -> str | None:
    if not re.fullmatch(r"\d{14}", value):
        return "numéro SIRET invalide (14 chiffres attendus)"
    if not stdnum_siret.is_valid(value):
        return "numéro SIRET invalide (clé de contrôle)"
    return None


def _email_problem(value: str) -> str | None:
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        return "adresse électronique invalide"
    return None


def _phone_problem(value: str) -> str | None:
    try:
        number = phonenumbers.parse(value, "FR")
    except phonenumbers.NumberParseException:
        return "numéro de téléphone invalide"
    if not value.startswith("+") or not phonenumbers.is_valid_number(number):
        return "numéro de téléphone invalide"
    return None


def role_kind(role: str) -> str:
    """What a tutor's "Fonction" is: "dgs", "dga", "to_check" or "other".

    A directeur général des services techniques (DGST) may or may not carry the project for
    the general management: staff judge ("to_check", "à vérifier"); the collectivité is not asked
    to change it. Any director below the general management is "other".
    """
    key = " " + fold(role) + " "
    if re.search(r" dgst | services techniques ", key):
        return "to_check"
    if not is_dgs_or_dga(role):
        return "other"
    return "dga" if re.search(r" (dga|dgas|dgaa|adjoint|adjointe|delegue|deleguee) ", key) else "dgs"


def is_dgs_or_dga(role: str) -> bool:
    """Whether a tutor's "Fonction" names the DGS or a DGA (any gender, accents or not, abbreviated or not).

    "Directeur général des services techniques" (DGST) heads the technical services, not the
    administration: it is not accepted here (see `role_kind`, which leaves it to staff).
    """
    key = " " + fold(role) + " "
    for feminine, masculine in (("directrice", "directeur"), ("generale", "general"), ("adjointe", "adjoint"),
                                ("deleguee", "delegue")):
        key = key.replace(f" {feminine} ", f" {masculine} ")
    key = re.sub(r" (trice|e|rice) ", " ", key)
    key = re.sub(r" directeur directeur ", " directeur ", key)
    if re.search(r" dgst | services techniques ", key):
        return False
    if re.search(r" (dgs|dga|dgas|dgd|dgsa|dgaa) ", key):
        return True
    return bool(re.search(r" directeur general( adjoint| delegue)?( des services)? ", key)
                or re.search(r" adjoint au directeur general ", key))


def validate_fields(fields: dict[str, dict[str, Any]], definition: FormDefinition,
                    readings: Mapping[str, Reading] | None = None) -> Validation:
    """The missing required fields (in form order), the problems of the present ones, and the fields to
    check: required but whose label was not found, or read as something that does not fit."""
    missing: list[str] = []
    problems: list[str] = []
    to_check: list[str] = []
    for f in definition.fields:
        value = (fields.get(f.section) or {}).get(f.key)
        reading = (readings or {}).get(f.path)
        if value is None or (isinstance(value, str) and not value.strip()):
            if f.required and reading is not None and reading.status == NOT_FOUND:
                to_check.append(f"{f.path}: {NOT_FOUND_REASON}")
            elif f.required:
                missing.append(f.path)
            continue
        if reading is not None and reading.status == MISPLACED:
            to_check.append(f"{f.path}: {reading.reason}")
            continue
        problem = None
        if f.type == "siret":
            problem = _siret_problem(str(value))
        elif f.type == "email":
            problem = _email_problem(str(value))
        elif f.type == "phone":
            problem = _phone_problem(str(value))
        elif f.check == "dgs_or_dga" and role_kind(str(value)) == "to_check":
            to_check.append(f"{f.path}: {ROLE_TO_CHECK}")
        elif f.check == "dgs_or_dga" and role_kind(str(value)) == "other":
            problem = ROLE_PROBLEM
        if problem:
            problems.append(f"{f.path}: {problem}")
    return Validation(tuple(missing), tuple(problems), tuple(to_check))
