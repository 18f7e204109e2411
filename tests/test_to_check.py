""""À vérifier" end to end: a field read without confidence goes to staff, the collectivité is asked nothing.

A form whose tutor block cannot be located is filed with the status to_check, listed first in the
staff digest, and its acknowledgement says the proposal is being reviewed without asking for the tutor.
A tutor block present but left empty is still missing, and the collectivité is asked for it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path

from sqlalchemy import select

from mailflow.campaign.digest import build_digest
from mailflow.campaign.export import proposal_record
from mailflow.db.models import OutboxMail, Proposal
from mailflow.pipeline import run as pipeline
from mailflow.pipeline.extract import extract_forms
from mailflow.pipeline.extract.confidence import EMPTY, MISPLACED, NOT_FOUND, READ
from mailflow.pipeline.validate import validate_fields
from tests.extract_helpers import DEFINITION, reparse
from tests.factories import collectivity, make_app, proposal_body, proposal_mail

TUTOR = ("tutor.last_name", "tutor.first_name", "tutor.role", "tutor.email")


def without_tutor_block(values: dict[str, str]) -> str:
    """The form typed in a mail body with the whole tutor part left out (heading and labels)."""
    body = proposal_body(values)
    start = body.index("TUTEUR DU PROJET COLLECTIF")
    end = body.index("MISSION DE PROJET COLLECTIF")
    return body[:start] + body[end:]


def test_a_tutor_block_that_cannot_be_located_is_to_check_not_missing() -> None:
    """Extraction says the tutor's labels were not found; validation lists them to check, nothing missing."""
    message = proposal_mail(collectivity(901))
    message.set_content(without_tutor_block(collectivity(901)))
    (form,) = extract_forms(reparse(message), DEFINITION).forms
    assert {form.readings[p].status for p in TUTOR} == {NOT_FOUND}
    assert form.readings["collectivity.name"].status == READ
    validation = validate_fields(form.fields, DEFINITION, form.readings)
    assert validation.missing == ()
    assert validation.problems == ()
    assert [item.split(":")[0] for item in validation.to_check] == list(TUTOR)
    assert validation.complete


def test_a_tutor_block_left_empty_is_missing() -> None:
    """The tutor's labels are there with nothing after them: the fields are missing, nothing to check."""
    values = {**collectivity(902), "tutor_last_name": "", "tutor_first_name": ""}
    (form,) = extract_forms(reparse(proposal_mail(values)), DEFINITION).forms
    assert form.readings["tutor.last_name"].status == EMPTY
    validation = validate_fields(form.fields, DEFINITION, form.readings)
    assert validation.missing == ("tutor.last_name", "tutor.first_name")
    assert validation.to_check == ()


def test_a_heading_read_as_a_value_is_to_check() -> None:
    """A value that is the form's own heading (a misread layout) is flagged, not validated nor asked for."""
    values = {**collectivity(903), "tutor_role": "Mission de projet collectif"}
    (form,) = extract_forms(reparse(proposal_mail(values)), DEFINITION).forms
    validation = validate_fields(form.fields, DEFINITION, form.readings)
    assert form.readings["tutor.role"].status == MISPLACED
    assert [item.split(":")[0] for item in validation.to_check] == ["tutor.role"]
    assert not any(p.startswith("tutor.role") for p in validation.problems)
    assert "tutor.role" not in validation.missing


def test_form_without_tutor_block_is_filed_flagged_listed_and_acknowledged_without_asking(tmp_path: Path) -> None:
    """Through the pipeline: filed as to_check, first in the digest, acknowledgement asks nothing."""
    app = make_app(tmp_path)
    values = collectivity(904)
    message = proposal_mail(values, date=datetime(2025, 6, 10, 9, 0, tzinfo=UTC))
    message.set_content(without_tutor_block(values))
    path = tmp_path / "no-tutor.eml"
    path.write_bytes(bytes(message))
    assert pipeline.ingest_files(app, [path]) == [(path, "proposal")]

    with app.sessions() as session:
        (proposal,) = session.scalars(select(Proposal))
        record = proposal_record(proposal)
        (ack,) = session.scalars(select(OutboxMail))
        ack_kind, raw = ack.kind, ack.raw
    assert record["status"] == "to_check"
    assert record["missing"] == [] and record["problems"] == []
    assert [item.split(":")[0] for item in record["to_check"]] == list(TUTOR)
    assert record["collectivity"]["name"] == values["name"]

    assert ack_kind == "collectivite/accuse-reception"
    mail = message_from_bytes(raw, policy=policy.default)
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert "en cours d'examen" in text and "en cours d'examen" in html
    for body in (text, html):
        assert "complète" not in body
        assert "à compléter" not in body and "rubrique non renseignée" not in body
        assert not re.search(r"(Nom|Prénom|Fonction|Courriel) du tuteur", body)
        assert "non renseigné" not in body

    digest = build_digest(app, datetime(2025, 6, 11, 6, 0, tzinfo=UTC), force=True)
    assert digest is not None
    staff_text = digest.get_body(("plain",)).get_content()
    assert "À VÉRIFIER EN PREMIER" in staff_text
    first_section = staff_text.split("À VÉRIFIER EN PREMIER", 1)[1].split("\n\n", 1)[0]
    assert record["reference"] in first_section
    assert "Nom du tuteur ou de la tutrice" in first_section
    assert staff_text.index("À VÉRIFIER EN PREMIER") < staff_text.index("NOUVEAU DEPUIS LA PRÉCÉDENTE SYNTHÈSE")
