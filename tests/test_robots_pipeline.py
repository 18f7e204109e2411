"""Robots and strangers through the real pipeline: a Dovecot mailbox, the outbox, what aiosmtpd receives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from mailflow.cli import cli
from mailflow.clock import ManualClock
from mailflow.db.models import Message, Proposal
from mailflow.mail.outbox import drain
from mailflow.pipeline.run import ingest_pass
from tests.corpus.robots import robot_mails
from tests.factories import collectivity, mail, make_app, proposal_body, question_mail

ARRIVAL = datetime(2025, 6, 10, 9, 0, tzinfo=UTC)
IGNORED, ATTENTION, PROCESSED = "mailflow/Ignorés", "mailflow/À traiter", "mailflow/Traités"


class Mailflow:
    """mailflow on the test Dovecot and the test SMTP server; the mailbox watched before mail arrives."""

    def __init__(self, folder: Path, imap, smtp, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
        self.imap, self.smtp = imap, smtp
        self.app = make_app(folder, imap=imap, smtp=smtp, monkeypatch=monkeypatch,
                            clock=ManualClock(ARRIVAL - timedelta(hours=1)))
        self.app.mailbox.connect()
        ingest_pass(self.app)  # the first watch, on an empty mailbox

    def deliver(self, raw: bytes, at: datetime = ARRIVAL) -> None:
        self.imap.append(raw, internaldate=at)

    def run(self) -> None:
        """One pass over the mailbox, then everything queued is handed to the SMTP server."""
        self.app.clock.set(ARRIVAL + timedelta(minutes=5))
        self.app.mailbox.close()  # a new session sees what was appended meanwhile, as the daemon's IDLE would
        self.app.mailbox.connect()
        ingest_pass(self.app)
        drain(self.app.sessions, self.app.transport, self.app.clock, self.app.archive)

    def messages(self) -> list[Message]:
        with self.app.sessions() as session:
            return list(session.scalars(select(Message).order_by(Message.id)))

    def close(self) -> None:
        self.app.mailbox.close()


@pytest.fixture
def service(tmp_path: Path, imap_server, smtp, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN001, ANN201
    running = Mailflow(tmp_path, imap_server, smtp, monkeypatch)
    yield running
    running.close()


def parsed(raw: bytes) -> EmailMessage:
    return BytesParser(policy=policy.default).parsebytes(raw)  # type: ignore[return-value]


@pytest.mark.timeout(300)
def test_robot_corpus_reaches_nobody(service: Mailflow) -> None:
    """Every bounce, list mail and auto-reply of the corpus is set aside in "Ignorés" and nothing is sent
    for any of them; the one question from a person in the same batch is answered (the path works)."""
    corpus = robot_mails()
    for robot in corpus:
        service.deliver(robot.raw)
    service.deliver(question_mail(sender="elu@commune-test.example.fr").as_bytes())
    service.run()
    assert [m.rcpt_tos for m in service.smtp.messages] == [("elu@commune-test.example.fr",)]
    assert len(service.imap.messages(IGNORED)) == len(corpus)
    assert service.imap.messages("INBOX") == []
    verdicts = [m.verdict for m in service.messages()]
    assert verdicts.count("ignored") == len(corpus) and verdicts.count("question") == 1


def _outlook_forward(sender: str, author: str, subject: str, body: str) -> EmailMessage:
    """An inline forward as Outlook writes it in French."""
    text = (
        "Bonjour,\n\nje vous transmets ce message.\n\n"
        "________________________________\n"
        f"De : {author}\nEnvoyé : lundi 9 juin 2025 17:02\nÀ : {sender}\nObjet : {subject}\n\n{body}"
    )
    return mail(sender=sender, subject=f"TR: {subject}", body=text)


@pytest.mark.timeout(300)
def test_forwards_answer_the_forwarder_or_the_form_never_the_author(service: Mailflow) -> None:
    """A question forwarded from outside is answered to its sender only; a proposal forwarded by a colleague
    (attached or inline) is acknowledged to the form's addresses with the colleague in Cc; the authors of the
    forwarded messages and a colleague writing on his own account receive nothing."""
    question = "Bonjour,\nmon fils peut-il faire son stage chez vous ?\nCordialement\n"
    service.deliver(_outlook_forward("maire@commune-x.example.fr", "Un citoyen <citoyen@fai-test.example.fr>",
                                     "Stage", question).as_bytes())
    attached_values = collectivity(21)
    inner = mail(sender="Secrétariat <secretariat@mairie-y.example.fr>", subject="Proposition de projet collectif",
                 body=proposal_body(attached_values))
    colleague_forward = mail(sender="Agnès Collègue <agnes.collegue@cnfpt.fr>", subject="Proposition de la mairie",
                             body="Bonjour,\nune proposition reçue à mon adresse, ci-jointe.\n")
    colleague_forward.add_attachment(inner)
    service.deliver(colleague_forward.as_bytes())
    inline_values = collectivity(22)
    service.deliver(_outlook_forward("Marc Collègue <marc.collegue@cnfpt.fr>",
                                     "Assistante <assistante@ville-z.example.fr>", "Projet collectif",
                                     proposal_body(inline_values)).as_bytes())
    service.deliver(question_mail(sender="jean.collegue@cnfpt.fr").as_bytes())
    service.run()

    sent = {tuple(sorted(m.rcpt_tos)): parsed(m.raw) for m in service.smtp.messages}
    assert len(sent) == 3, list(sent)
    assert ("maire@commune-x.example.fr",) in sent
    for values, colleague in ((attached_values, "agnes.collegue@cnfpt.fr"), (inline_values, "marc.collegue@cnfpt.fr")):
        form = [values["hr_email"], values["dgs_email"], values["tutor_email"]]
        ack = sent[tuple(sorted([*form, colleague]))]
        assert [a.addr_spec for a in ack["To"].addresses] == form
        assert [a.addr_spec for a in ack["Cc"].addresses] == [colleague]
    everyone = {address for recipients in sent for address in recipients}
    for stranger in ("citoyen@fai-test.example.fr", "secretariat@mairie-y.example.fr", "assistante@ville-z.example.fr",
                     "jean.collegue@cnfpt.fr"):
        assert stranger not in everyone
    with service.app.sessions() as session:
        senders = sorted(p.sender for p in session.scalars(select(Proposal)))
    assert senders == sorted([attached_values["hr_email"], inline_values["hr_email"]])
    assert len(service.imap.messages(PROCESSED)) == 2
    assert len(service.imap.messages(ATTENTION)) == 2  # the forwarded question and the colleague's own mail


@pytest.mark.timeout(300)
def test_mail_without_message_id_or_date_is_named_and_dated_by_the_server(service: Mailflow) -> None:
    """No Message-ID: `mailflow mail show` reaches it by its synthetic id; no Date or a Date in year 101:
    the server's arrival time is the received time."""
    bare = b"From: elu@commune-test.example.fr\r\nTo: stages.inet@cnfpt.fr\r\nSubject: Sans date\r\n\r\nBonjour\r\n"
    absurd = (b"From: dgs@commune-test.example.fr\r\nTo: stages.inet@cnfpt.fr\r\nSubject: Vieux client\r\n"
              b"Date: Mon, 10 Jun 0101 09:00:00 +0000\r\nMessage-ID: <old-client@commune-test.example.fr>\r\n"
              b"\r\nBonjour\r\n")
    service.deliver(bare, at=ARRIVAL)
    service.deliver(absurd, at=ARRIVAL + timedelta(minutes=1))
    service.run()
    first, second = service.messages()
    assert first.message_id.endswith("@sans-message-id.mailflow.invalid>")
    assert first.received_at.replace(tzinfo=UTC) == ARRIVAL
    assert second.received_at.replace(tzinfo=UTC) == ARRIVAL + timedelta(minutes=1)
    shown = CliRunner().invoke(cli, ["--config", str(service.app.settings.source), "mail", "show",
                                     first.message_id.strip("<>")])
    assert shown.exit_code == 0, shown.output
    assert "Sans date" in shown.output and "2025-06-10 09:00:00" in shown.output
