"""Acknowledgements end to end: a mail in the mailbox, the pipeline, the outbox, what aiosmtpd receives."""

from __future__ import annotations

import base64
import json
import mailbox as stdlib_mailbox
import os
import re
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from mailflow.cli import cli
from mailflow.db.models import Message, OutboxMail, Proposal
from mailflow.mail.outbox import drain
from mailflow.pipeline.run import ingest_pass
from mailflow.service.previews import render_for_reference
from tests.factories import SHARED, collectivity, mail, make_app, proposal_mail, question_mail
from tests.fixtures.smtp import ReceivedMail, SmtpServer

JUNE_10 = datetime(2025, 6, 10, 9, 0, tzinfo=UTC)


class Service:
    """One mailflow on a Maildir and the test SMTP server, moved by hand through time."""

    def __init__(self, folder: Path, smtp: SmtpServer):
        self.folder = folder
        self.smtp = smtp
        self.app = make_app(folder, smtp=smtp, handle_since="2025-01-01")  # mails are delivered at their own dates
        self.box = stdlib_mailbox.Maildir(folder / "inbox", create=True)

    def receive(self, message: EmailMessage | bytes, at: datetime = JUNE_10) -> None:
        """Deliver a mail at `at` (the file's delivery time is the received time), then run the pipeline."""
        raw = message if isinstance(message, bytes) else message.as_bytes(policy=policy.SMTP)
        key = self.box.add(raw)
        (path,) = (self.folder / "inbox" / "new").glob(f"{key}*")
        os.utime(path, (at.timestamp(), at.timestamp()))
        self.app.clock.set(at + timedelta(minutes=1))
        ingest_pass(self.app)

    def send(self) -> None:
        """Drain the outbox to the SMTP server."""
        drain(self.app.sessions, self.app.transport, self.app.clock, self.app.archive)

    def received_by(self, address: str) -> list[ReceivedMail]:
        return [m for m in self.smtp.messages if address in m.rcpt_tos]

    def one_for(self, address: str) -> EmailMessage:
        """The single mail the server received for `address`, parsed as a client would."""
        mails = self.received_by(address)
        assert len(mails) == 1, f"{len(mails)} mails for {address}"
        raw = mails[0].raw
        raw.decode("ascii")
        return BytesParser(policy=policy.default).parsebytes(raw)  # type: ignore[return-value]

    def proposals(self) -> list[Proposal]:
        with self.app.sessions() as session:
            return list(session.scalars(select(Proposal).order_by(Proposal.id)))


@pytest.fixture
def service(tmp_path: Path, smtp: SmtpServer) -> Service:
    return Service(tmp_path, smtp)


def text_of(message: EmailMessage) -> str:
    """The text part, with line breaks folded to spaces so that sentences can be searched."""
    return " ".join(message.get_body(("plain",)).get_content().split())


def html_of(message: EmailMessage) -> str:
    return message.get_body(("html",)).get_content()


def assert_answers(ack: EmailMessage, original: EmailMessage, domain: str = "stages.inet.cnfpt.fr") -> None:
    """Headers every acknowledgement carries, threaded to the mail it answers."""
    assert str(ack["From"]) == "INET - Stages <stages.inet@cnfpt.fr>"
    assert str(ack["In-Reply-To"]).strip() == original["Message-ID"]  # a long one is folded onto its own line
    assert original["Message-ID"] in str(ack["References"])
    assert str(ack["Auto-Submitted"]) == "auto-replied"
    assert re.fullmatch(rf"<[^@<>]+@{re.escape(domain)}>", str(ack["Message-ID"]))
    assert ack["Date"].datetime is not None
    assert ack.get_content_type() == "multipart/alternative"
    assert len(ack.get_all("Subject")) == 1 and len(ack.get_all("To")) == 1


def test_complete_proposal_is_acknowledged_with_summary_and_dates(service: Service) -> None:
    """A complete proposal gets the complete acknowledgement: reference in the subject, summary, dates."""
    values = collectivity()
    incoming = proposal_mail(values)
    service.receive(incoming)
    service.send()
    ack = service.one_for(values["sender"])
    assert_answers(ack, incoming)
    assert str(ack["To"]) == values["sender"]
    assert str(ack["Subject"]) == (
        "[PC-2025-0001] Accusé de réception de votre proposition de projet collectif"
    )
    text = text_of(ack)
    assert "Votre proposition est complète" in text
    assert f"collectivité : {values['name']}" in text
    assert "Paul DURAND" in text and "Anne LEROY, Directrice générale adjointe Ressources" in text
    assert values["title"] in text
    assert "reçue le mardi 10 juin 2025 à 11 h." in text
    assert "avec les élèves, les mercredi 27, jeudi 28 et vendredi 29 août 2025" in text
    assert "du lundi 13 octobre au vendredi 19 décembre 2025" in text
    assert "contribution forfaitaire de 4 000 €" in text
    assert "Collectivité</td>" in html_of(ack)


def test_incomplete_proposal_lists_each_item_by_its_form_label(service: Service) -> None:
    """Missing HR e-mail and a wrong SIRET check digit are named with the form's labels and what to do."""
    values = collectivity() | {"hr_email": "", "siret": "21250056500019"}
    values["hr_contact"] = "Mme Claire Martin"
    incoming = proposal_mail(values)
    service.receive(incoming)
    service.send()
    ack = service.one_for(values["sender"])
    assert_answers(ack, incoming)
    assert str(ack["Subject"]) == (
        "[PC-2025-0001] Accusé de réception – proposition de projet collectif à compléter"
    )
    text = text_of(ack)
    assert "« Courriel du contact RH (impératif) » : rubrique non renseignée" in text
    assert "« N° de SIRET de la collectivité » : numéro SIRET invalide" in text
    assert "répondez simplement à ce courriel en conservant dans l'objet la référence [PC-2025-0001]" in text
    assert "joindre la fiche complétée et corrigée" in text
    assert "avant le vendredi 20 juin 2025" in text


def test_resubmission_gets_the_new_version_mail_and_a_duplicate_gets_nothing(service: Service) -> None:
    """A reply with the corrected form supersedes version 1; the same mail delivered again is not answered."""
    values = collectivity() | {"hr_email": ""}
    first = proposal_mail(values)
    service.receive(first)
    service.send()
    first_ack = service.one_for(values["sender"])
    corrected = proposal_mail(
        values | {"hr_email": values["sender"]},
        subject="RE: " + str(first_ack["Subject"]),
        date=JUNE_10 + timedelta(days=2),
        headers={"In-Reply-To": str(first_ack["Message-ID"]), "References": str(first_ack["Message-ID"])},
    )
    service.receive(corrected, JUNE_10 + timedelta(days=2))
    service.receive(corrected, JUNE_10 + timedelta(days=2, minutes=5))
    service.send()
    acks = service.received_by(values["sender"])
    assert len(acks) == 2
    second = BytesParser(policy=policy.default).parsebytes(acks[1].raw)
    assert_answers(second, corrected)  # type: ignore[arg-type]
    assert "Nouvelle version de votre proposition de projet collectif" in str(second["Subject"])
    text = text_of(second)  # type: ignore[arg-type]
    assert "remplace la version précédente et reste enregistrée sous la référence PC-2025-0001 (version 2)" in text
    assert "désormais complète" in text
    assert [(p.version, p.status) for p in service.proposals()] == [(1, "superseded"), (2, "complete")]


def test_late_proposal_gets_the_after_deadline_mail(service: Service) -> None:
    """A proposal received after 20 June is acknowledged as late, with the deadline it missed."""
    values = collectivity()
    at = datetime(2025, 6, 25, 8, 0, tzinfo=UTC)
    incoming = proposal_mail(values, date=at)
    service.receive(incoming, at)
    service.send()
    ack = service.one_for(values["sender"])
    assert_answers(ack, incoming)
    assert "reçue après la date limite" in str(ack["Subject"])
    text = text_of(ack)
    assert "La date limite de transmission des propositions était fixée au vendredi 20 juin 2025" in text
    assert "reçue le mercredi 25 juin 2025 à 10 h," in text


def test_unreadable_attachment_gets_the_formats_that_work(service: Service) -> None:
    """A corrupt Word file: the sender is told which file could not be read and which formats work."""
    incoming = mail(sender="rh@commune-test.example.fr", subject="Proposition de projet collectif",
                    body="Bonjour,\n\nVeuillez trouver ci-joint notre proposition.\n\nCordialement\n")
    incoming.add_attachment(b"PK\x03\x04 not really a docx", maintype="application",
                            subtype="vnd.openxmlformats-officedocument.wordprocessingml.document",
                            filename="Fiche projet collectif.docx")
    service.receive(incoming)
    service.send()
    ack = service.one_for("rh@commune-test.example.fr")
    assert_answers(ack, incoming)
    assert str(ack["Subject"]).startswith("Document illisible")
    text = text_of(ack)
    assert "- Fiche projet collectif.docx " in text
    assert "Word (.docx ou .doc) ou OpenDocument (.odt)" in text


def test_question_gets_a_short_acknowledgement_with_the_calendar(service: Service) -> None:
    """A question without a form gets the short acknowledgement and the campaign's calendar."""
    incoming = question_mail("elu@commune-test.example.fr")
    service.receive(incoming)
    service.send()
    ack = service.one_for("elu@commune-test.example.fr")
    assert_answers(ack, incoming)
    assert str(ack["Subject"]) == "Accusé de réception de votre message – Question sur les projets collectifs"
    text = text_of(ack)
    assert "qui vous répondra dans les meilleurs délais" in text
    assert "doivent nous parvenir avant le vendredi 20 juin 2025" in text


BOUNCE = (
    b"Return-Path: <>\r\nFrom: Mail Delivery System <MAILER-DAEMON@mx.saint-test.example.fr>\r\n"
    b"To: stages.inet@cnfpt.fr\r\nSubject: Undelivered Mail Returned to Sender\r\n"
    b"Date: Tue, 10 Jun 2025 11:00:00 +0200\r\nMessage-ID: <bounce.1@mx.saint-test.example.fr>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n"
    b"--b\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
    b"--b\r\nContent-Type: message/delivery-status\r\n\r\n"
    b"Reporting-MTA: dns; mx.saint-test.example.fr\r\n\r\n"
    b"Final-Recipient: rfc822; nobody@saint-test.example.fr\r\nAction: failed\r\nStatus: 5.1.1\r\n"
    b"--b--\r\n"
)


def test_auto_replies_bounces_and_list_mail_get_nothing(service: Service) -> None:
    """Out-of-office replies, bounces and list mail (even carrying a form) are never answered."""
    values = collectivity()
    out_of_office = question_mail(values["sender"], subject="Réponse automatique : absente",
                                  headers={"Auto-Submitted": "auto-replied"})
    list_values = collectivity()
    list_mail = proposal_mail(list_values, headers={"List-Id": "<rh.listes.example.fr>",
                                                    "Precedence": "list"})
    service.receive(out_of_office)
    service.receive(BOUNCE)
    service.receive(list_mail)
    service.send()
    assert service.received_by(values["sender"]) == []
    assert service.received_by(list_values["sender"]) == []
    assert [m for m in service.smtp.messages if "saint-test.example.fr" in " ".join(m.rcpt_tos)] == []
    with service.app.sessions() as session:
        assert list(session.scalars(select(OutboxMail))) == []


def test_sender_over_the_daily_limit_gets_nothing_more(service: Service) -> None:
    """Seven mails from one address in a day: five answers; the next day, answers again."""
    sender = "elu@commune-test.example.fr"
    for number in range(7):
        at = JUNE_10 + timedelta(minutes=number)
        service.receive(question_mail(sender, subject=f"Question {number}"), at)
    service.send()
    assert len(service.received_by(sender)) == 5
    service.receive(question_mail(sender, subject="Question du lendemain"), JUNE_10 + timedelta(days=1))
    service.send()
    assert len(service.received_by(sender)) == 6


def test_failed_dmarc_is_filed_but_not_answered(service: Service) -> None:
    """A proposal whose sender failed DMARC at our MX is filed for staff, with no automatic answer."""
    values = collectivity()
    incoming = proposal_mail(values, headers={
        "Authentication-Results": "mx.cnfpt.fr; spf=fail smtp.mailfrom=ville-test.example.fr; dmarc=fail",
    })
    service.receive(incoming)
    service.send()
    assert service.received_by(values["sender"]) == []
    assert [p.reference for p in service.proposals()] == ["PC-2025-0001"]


def encoded_subject(raw: bytes, subject: str) -> bytes:
    """Replace the Subject header with an RFC 2047 encoded value (which may hide CR/LF)."""
    encoded = "=?utf-8?b?" + base64.b64encode(subject.encode()).decode() + "?="
    return re.sub(rb"(?m)^Subject:.*(\r\n[ \t].*)*", b"Subject: " + encoded.encode(), raw, count=1)


def test_hostile_fields_give_an_escaped_intact_mail(service: Service) -> None:
    """<script>, CR/LF in an encoded subject, a 10,000-character title: escaped, one line each, readable."""
    values = collectivity()
    values["name"] = "Ville <script>alert('x')</script> & Cie"
    values["title"] = "Mission " + "très longue " * 833
    incoming = proposal_mail(values, subject="Proposition")
    raw = encoded_subject(incoming.as_bytes(policy=policy.SMTP), "Proposition\r\nBcc: victim@evil.example")
    service.receive(raw)
    question = question_mail("elu@commune-test.example.fr")
    hostile = "Question\r\nBcc: victim@evil.example\r\n\r\n<b>corps</b>" + "y" * 10_000
    service.receive(encoded_subject(question.as_bytes(policy=policy.SMTP), hostile))
    service.send()
    ack = service.one_for(values["sender"])
    html = html_of(ack)
    assert "<script>" not in html
    assert "Ville &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; Cie" in html
    text = text_of(ack)
    assert "Ville <script>alert('x')</script> & Cie" in text
    assert " ".join(values["title"].split()) in text
    answer = service.one_for("elu@commune-test.example.fr")
    assert answer["Bcc"] is None and len(answer.get_all("Subject")) == 1
    assert str(answer["Subject"]).startswith("Accusé de réception de votre message – Question Bcc: victim")
    assert len(str(answer["Subject"])) <= 200
    assert not [m for m in service.smtp.messages if "victim@evil.example" in m.rcpt_tos]
    assert "&lt;b&gt;corps&lt;/b&gt;" in html_of(answer)


SAMPLES = SHARED / "samples"


def sample_acks(service: Service) -> dict[str, EmailMessage | None]:
    """Deliver samples 01→08 in order at their Date, answer them, and map each case to its answer."""
    if not SAMPLES.is_dir():
        pytest.skip(f"{SAMPLES} not present (../shared is absent)")
    answers: dict[str, EmailMessage | None] = {}
    for case in sorted(p for p in SAMPLES.iterdir() if (p / "message.eml").is_file()):
        raw = (case / "message.eml").read_bytes()
        parsed = BytesParser(policy=policy.default).parsebytes(raw)
        before = len(service.smtp.messages)
        service.receive(raw, parsedate_to_datetime(str(parsed["Date"])).astimezone(UTC))
        service.send()
        new = service.smtp.messages[before:]
        answers[case.name] = (
            BytesParser(policy=policy.default).parsebytes(new[0].raw) if new else None  # type: ignore[misc]
        )
        expected = json.loads((case / "expected.json").read_text(encoding="utf-8"))
        if new and "sender" in expected:
            assert new[0].rcpt_tos == (expected["sender"],), case.name
    return answers


def test_shared_samples_get_the_right_acknowledgements(service: Service) -> None:
    """Each sample gets the variant it calls for, and the out-of-office reply gets nothing."""
    answers = sample_acks(service)
    subject = {name: str(ack["Subject"]) if ack is not None else None for name, ack in answers.items()}
    assert subject["01-villeurbanne-docx"] == (
        "[PC-2025-0001] Accusé de réception de votre proposition de projet collectif"
    )
    assert subject["02-grand-poitiers-pdf"].startswith("[PC-2025-0002] Accusé de réception")
    assert subject["03-drome-docx-missing-hr-email"].endswith("à compléter")
    assert "« Courriel du contact RH (impératif) » : rubrique non renseignée" in text_of(
        answers["03-drome-docx-missing-hr-email"])
    assert subject["04-montreuil-body"].startswith("[PC-2025-0004]")
    besancon = text_of(answers["05-besancon-docx-problems"])  # type: ignore[arg-type]
    assert "« N° de SIRET de la collectivité » : numéro SIRET invalide" in besancon
    assert "« Fonction du tuteur ou de la tutrice (DGS ou DGA) »" in besancon
    assert "Ville de Besançon" in besancon
    assert subject["06-lorient-out-of-office"] is None
    assert subject["07-cergy-question-no-form"].startswith("Accusé de réception de votre message")
    assert "Nouvelle version" in subject["08-drome-resubmission"]
    drome = text_of(answers["08-drome-resubmission"])  # type: ignore[arg-type]
    assert "remplace la version précédente et reste enregistrée sous la référence PC-2025-0003" in drome
    assert "Département de la Drôme" in drome


def test_templates_render_command_previews_a_filed_proposal(service: Service, tmp_path: Path) -> None:
    """`mailflow templates render NAME --ref REF` prints the mail as it would go, with the proposal's data."""
    values = collectivity()
    service.receive(proposal_mail(values))
    message = render_for_reference(service.app, "collectivite/accuse-reception", "PC-2025-0001")
    assert str(message["To"]) == values["sender"]
    assert str(message["Subject"]).startswith("[PC-2025-0001]")
    assert values["title"] in " ".join(message.get_body(("plain",)).get_content().split())
    config = str(tmp_path / "settings.toml")
    result = CliRunner().invoke(cli, ["--config", config, "templates", "render",
                                      "collectivite/accuse-reception-incomplet", "--ref", "PC-2025-0001"])
    assert result.exit_code == 0, result.output
    assert "Subject: [PC-2025-0001] Accusé de réception – proposition de projet collectif à compléter" in (
        result.output
    )
    assert "----- text part -----" in result.output and "----- HTML part -----" in result.output
    example = CliRunner().invoke(cli, ["--config", config, "templates", "render", "collectivite/hors-delai"])
    assert example.exit_code == 0, example.output
    assert "PC-2025-0007" in example.output
    unknown = CliRunner().invoke(cli, ["--config", config, "templates", "render",
                                       "collectivite/accuse-reception", "--ref", "PC-2025-0999"])
    assert unknown.exit_code != 0
    assert "PC-2025-0999" in unknown.output


def test_reply_giving_the_missing_value_completes_the_proposal(service: Service) -> None:
    """« Le courriel du contact RH est … » in the thread files version 2 and the sender gets the updated
    acknowledgement; a value the reply does not give stays listed, and the mail stays for staff."""
    values = collectivity() | {"hr_email": "", "dgs_email": ""}
    first = proposal_mail(values)
    service.receive(first)
    service.send()
    ack = service.one_for(values["sender"])
    assert "« Courriel du contact RH (impératif) » : rubrique non renseignée" in text_of(ack)
    reply = mail(
        sender=values["sender"], subject="RE: " + str(ack["Subject"]), date=JUNE_10 + timedelta(days=1),
        headers={"In-Reply-To": str(ack["Message-ID"]), "References": str(ack["Message-ID"])},
        body="Bonjour,\n\nLe courriel du contact RH est k.haddad@ville-test.example.fr.\n\nCordialement,\n"
             f"Claire Martin\n{values['sender']}\n\n> Votre proposition est toutefois incomplète.\n",
    )
    service.receive(reply, JUNE_10 + timedelta(days=1))
    service.send()
    answers = service.received_by(values["sender"])
    assert len(answers) == 2
    second = BytesParser(policy=policy.default).parsebytes(answers[1].raw)
    assert str(second["Subject"]) == (
        "[PC-2025-0001] Nouvelle version de votre proposition de projet collectif – à compléter")
    text = text_of(second)  # type: ignore[arg-type]
    assert "« Courriel du contact RH (impératif) »" not in text
    assert "rubrique non renseignée" in text  # the DGS's e-mail, still missing
    current = service.proposals()[-1]
    assert (current.version, current.status) == (2, "incomplete")
    assert current.fields["collectivity"]["hr_email"] == "k.haddad@ville-test.example.fr"
    assert current.missing == ["dgs.email"]
    with service.app.sessions() as session:
        message = session.get(Message, current.message_pk)
        assert message is not None and message.verdict == "reply"
        assert "restent à lire par le service : Courriel du directeur général des services" in (message.reason or "")
    complete = mail(
        sender=values["sender"], subject="RE: " + str(second["Subject"]), date=JUNE_10 + timedelta(days=2),
        headers={"In-Reply-To": str(second["Message-ID"]), "References": str(second["Message-ID"])},
        body="Bonjour,\n\nVoici l'adresse du DGS : p.durand@ville-test.example.fr\n\nCordialement\n",
    )
    service.receive(complete, JUNE_10 + timedelta(days=2))
    service.send()
    third = BytesParser(policy=policy.default).parsebytes(service.received_by(values["sender"])[2].raw)
    assert "désormais complète" in text_of(third)  # type: ignore[arg-type]
    assert [(p.version, p.status) for p in service.proposals()] == [
        (1, "superseded"), (2, "superseded"), (3, "complete")]


def test_reply_without_a_readable_value_stays_for_staff(service: Service) -> None:
    """A reply in the thread that gives none of the missing values files nothing and gets no answer."""
    values = collectivity() | {"hr_email": ""}
    service.receive(proposal_mail(values))
    service.send()
    ack = service.one_for(values["sender"])
    reply = mail(
        sender=values["sender"], subject="RE: " + str(ack["Subject"]), date=JUNE_10 + timedelta(days=1),
        headers={"In-Reply-To": str(ack["Message-ID"])},
        body="Bonjour,\n\nNous revenons vers vous très vite.\n\nCordialement\n",
    )
    service.receive(reply, JUNE_10 + timedelta(days=1))
    service.send()
    assert len(service.received_by(values["sender"])) == 1
    assert [(p.version, p.status) for p in service.proposals()] == [(1, "incomplete")]
