"""Reading a stage offer's words: stage types, cadres, dates, and what is left for staff to check."""

from __future__ import annotations

import email
import email.policy
from datetime import date
from pathlib import Path

import pytest

from mailflow.campaign.calendar_file import load_calendar
from mailflow.pipeline.extract import ExtractionLimits, extract_forms, read_mail
from mailflow.pipeline.forms.definition import load_form_definitions
from mailflow.pipeline.offers.reading import date_ranges, named, read_offer
from mailflow.pipeline.offers.vocabulary import OFFER_FORM, vocabulary
from mailflow.pipeline.reading import sort_kinds
from mailflow.pipeline.recognise import Document
from tests.corpus.classes import build_cases
from tests.corpus.score_classes import recorded
from tests.factories import REPO, SHARED

FORM = load_form_definitions()[OFFER_FORM]
WORDS = vocabulary(FORM)
CALENDAR = load_calendar(REPO / "schedules" / "stages-2022-2023.toml")


def reading(text: str):  # noqa: ANN201
    return read_offer(Document(None, "body", tuple(text.split("\n"))), FORM, CALENDAR, WORDS)


@pytest.mark.parametrize(("text", "expected"), [
    ("du 14 mars au 8 avril 2022", [(date(2022, 3, 14), date(2022, 4, 8))]),
    ("du 28 ou 29 mars au 15 ou 16 avril 2022", [(date(2022, 3, 28), date(2022, 4, 15))]),
    ("Du 1er février au 3 mars 2023", [(date(2023, 2, 1), date(2023, 3, 3))]),
    ("du 14/03/2022 au 08/04/2022", [(date(2022, 3, 14), date(2022, 4, 8))]),
    ("en mars", []),
])
def test_french_periods_are_read(text: str, expected: list) -> None:
    """The brochure's ways of writing a period are read as dates."""
    assert date_ranges(text) == expected


def test_stage_types_and_cadres_are_named_in_any_case_and_accent() -> None:
    """"STAGE THEMATIQUE" and "élèves ingenieurs en chef" are the stage type and the cadre of the form."""
    assert named("Offre : STAGE THEMATIQUE", WORDS.stage_types) == ("thematique",)
    assert named("pour des élèves ingenieurs en chef", WORDS.cadres) == ("ingenieurs",)


def test_the_dates_tell_the_cadre_when_the_letter_does_not() -> None:
    """An observation stage "du 28 mars au 16 avril 2022" is the conservateurs' one (the calendar's dates)."""
    offer = reading("Nous proposons un stage d'observation du 28 mars au 16 avril 2022.")
    assert [p.period for p in offer.placements] == ["observation-conservateurs"]
    assert offer.to_check == ()


def test_a_stage_type_with_several_cadres_and_no_cadre_is_to_check() -> None:
    """"Un stage d'observation" alone (three cadres have one): no stage guessed, the cadre is to check."""
    offer = reading("Nous proposons un stage d'observation au sein de notre direction générale.")
    assert offer.placements == ()
    assert [item.partition(":")[0] for item in offer.to_check] == ["stage.cadres"]


def test_a_letter_naming_no_stage_type_is_to_check() -> None:
    """An offer that names a cadre but no stage type: the type is to check, nothing is guessed."""
    offer = reading("Nous souhaitons accueillir un élève administrateur territorial.")
    assert offer.placements == ()
    assert "stage.type: type de stage non reconnu dans l'offre" in offer.to_check


def test_a_period_that_is_not_the_calendars_is_to_check() -> None:
    """A thematic stage "du 5 septembre au 21 octobre 2022": the calendar's period is kept, the dates are checked."""
    offer = reading("Stage thématique pour un élève administrateur, du 5 septembre au 21 octobre 2022.")
    assert [p.period for p in offer.placements] == ["thematique"]
    assert any(item.startswith("stage.period:") for item in offer.to_check)


@pytest.mark.slow
def test_no_projet_collectif_form_is_taken_for_a_stage_offer(tmp_path: Path) -> None:
    """The shared samples and one mail of each layout class: every form read stays a projet collectif form,
    and none is also filed as a stage offer (the forms name the cadres d'emplois too)."""
    forms = load_form_definitions()
    paths = sorted((SHARED / "samples").glob("*/message.eml"))
    paths += [case.folder / "message.eml" for case in build_cases(tmp_path, 1, recorded()["seed"])]
    assert len(paths) > 10
    for path in paths:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        read = extract_forms(message, forms["projet_collectif"]).forms
        kept, offers = sort_kinds(message, read, "projet_collectif", forms, read_mail(message, ExtractionLimits()))
        assert (len(kept), offers) == (len(read), []), path.parent.name
