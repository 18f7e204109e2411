"""Validation of extracted fields: required ones, SIRET, e-mails, phones and the tutor's role."""

from __future__ import annotations

import copy

import pytest

from mailflow.pipeline.validate import ROLE_PROBLEM, ROLE_TO_CHECK, is_dgs_or_dga, role_kind, validate_fields
from tests.extract_helpers import DEFINITION

COMPLETE = {
    "collectivity": {
        "name": "Ville de Villeurbanne",
        "siret": "21690266800013",
        "address": "Place Lazare-Goujon",
        "hosting_address": "9 rue Michel-Servet",
        "hr_contact": "Mme Perret",
        "hr_email": "sandrine.perret@mairie-villeurbanne.fr",
    },
    "dgs": {
        "last_name": "GIRAUD",
        "first_name": "Philippe",
        "email": "philippe.giraud@mairie-villeurbanne.fr",
        "phone": "+33465712014",
    },
    "tutor": {
        "last_name": "MARCHAND",
        "first_name": "Élodie",
        "role": "Directrice générale adjointe Ressources",
        "email": "elodie.marchand@mairie-villeurbanne.fr",
        "phone": None,
    },
    "mission": {
        "title": "T",
        "context": "C",
        "stakes": "S",
        "objectives": "O",
        "cross_disciplinary_value": "V",
    },
    "logistics": {
        "accommodation": None,
        "practical_notes": None,
        "driving_licence_required": None,
        "public_transport": True,
    },
}


def _with(path: str, value):
    fields = copy.deepcopy(COMPLETE)
    section, key = path.split(".")
    fields[section][key] = value
    return fields


def test_complete_proposal_has_nothing_missing_or_wrong():
    """A proposal with every required field valid is complete; optional phones and logistics may be None."""
    validation = validate_fields(COMPLETE, DEFINITION)
    assert validation.missing == () and validation.problems == ()
    assert validation.complete


def test_missing_fields_are_listed_in_form_order():
    """Every required field that is None is listed by dotted path, in the form's order."""
    fields = _with("mission.stakes", None)
    fields["collectivity"]["hr_email"] = None
    validation = validate_fields(fields, DEFINITION)
    assert validation.missing == ("collectivity.hr_email", "mission.stakes")
    assert not validation.complete


def test_all_eighteen_required_fields_are_reported_when_empty():
    """An empty record misses exactly the 18 required paths of DESIGN.md, phones and logistics excluded."""
    validation = validate_fields(DEFINITION.empty_record(), DEFINITION)
    assert validation.missing == DEFINITION.required_paths
    assert len(validation.missing) == 18
    assert "dgs.phone" not in validation.missing and "logistics.accommodation" not in validation.missing


def test_siret_with_a_wrong_check_digit_is_a_problem():
    """A SIRET failing its check digit is a problem (kept, not missing)."""
    validation = validate_fields(_with("collectivity.siret", "21250056500019"), DEFINITION)
    assert validation.problems == ("collectivity.siret: numéro SIRET invalide (clé de contrôle)",)
    assert validation.missing == ()


def test_siret_of_the_wrong_length_is_a_problem():
    """A SIRET that is not 14 digits is a problem naming the expected length."""
    validation = validate_fields(_with("collectivity.siret", "2169026680"), DEFINITION)
    assert validation.problems == ("collectivity.siret: numéro SIRET invalide (14 chiffres attendus)",)


@pytest.mark.parametrize("value", ["prenom.nom@", "prenom.nom arobase ville.fr", "a@b", "x@@ville.fr"])
def test_invalid_email_is_a_problem(value):
    """An e-mail address that is not syntactically valid is a problem (no DNS lookup)."""
    validation = validate_fields(_with("tutor.email", value), DEFINITION)
    assert validation.problems == ("tutor.email: adresse électronique invalide",)


@pytest.mark.parametrize("value", ["01 23", "+3312", "pas de téléphone"])
def test_invalid_phone_is_a_problem(value):
    """A phone number that could not be made E.164 is a problem."""
    validation = validate_fields(_with("dgs.phone", value), DEFINITION)
    assert validation.problems == ("dgs.phone: numéro de téléphone invalide",)


def test_overseas_phone_is_valid():
    """A Réunion number in E.164 with its own country code is valid."""
    assert validate_fields(_with("dgs.phone", "+262262123456"), DEFINITION).problems == ()


def test_tutor_who_is_not_dgs_or_dga_is_a_problem():
    """A tutor who is neither the DGS nor a DGA is a problem, not a missing field."""
    validation = validate_fields(_with("tutor.role", "Directeur de la culture"), DEFINITION)
    assert validation.problems == (f"tutor.role: {ROLE_PROBLEM}",)
    assert validation.missing == ()


@pytest.mark.parametrize(
    "role",
    [
        "DGS",
        "DGA Culture, sports et cohésion sociale",
        "Directeur général des services",
        "Directrice générale des services",
        "Directrice generale adjointe Ressources",
        "Directeur général adjoint Aménagement et transition écologique",
        "Directeur/Directrice général(e) des services",
        "directeur general adjoint des services",
        "Directrice générale déléguée aux ressources",
        "Adjointe au directeur général des services",
    ],
)
def test_roles_accepted_as_dgs_or_dga(role):
    """The DGS and the DGAs are recognised whatever the gender, accents and abbreviations."""
    assert is_dgs_or_dga(role)


@pytest.mark.parametrize(
    "role",
    [
        "Directeur de la culture",
        "Directeur général des services techniques",
        "DGST",
        "Chef de service",
        "Directeur des services",
        "Secrétaire général",
        "Responsable RH",
    ],
)
def test_roles_refused(role):
    """Directors below the general management, and the head of technical services (DGST), are refused."""
    assert not is_dgs_or_dga(role)


def test_form_definition_labels_and_required_paths():
    """The packaged definition names the form, quotes French labels and lists the 18 required paths."""
    assert DEFINITION.name == "projet_collectif"
    assert DEFINITION.label("collectivity.hr_email") == "Courriel du contact RH (impératif)"
    assert DEFINITION.required_paths[:2] == ("collectivity.name", "collectivity.siret")
    assert len(DEFINITION.required_paths) == 18


def test_a_dgst_tutor_is_for_staff_to_judge() -> None:
    """A DGST is not refused (the collectivité is not asked to change it) but « à vérifier » for staff."""
    assert role_kind("Directeur général des services techniques") == "to_check"
    assert role_kind("DGST") == "to_check"
    assert role_kind("Directrice générale adjointe Ressources") == "dga"
    assert role_kind("Directeur général des services") == "dgs"
    assert role_kind("Directeur des finances") == "other"
    fields = DEFINITION.empty_record()
    fields["tutor"]["role"] = "Directeur général des services techniques"
    validation = validate_fields(fields, DEFINITION)
    assert not any(p.startswith("tutor.role") for p in validation.problems)
    assert f"tutor.role: {ROLE_TO_CHECK}" in validation.to_check
    fields["tutor"]["role"] = "Directeur des finances"
    validation = validate_fields(fields, DEFINITION)
    assert any(p.startswith("tutor.role") for p in validation.problems)
    assert not any(p.startswith("tutor.role") for p in validation.to_check)
