"""Never an answer to a robot or to a stranger: classification over a generated corpus, and who an answer goes to."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select

from mailflow.db.models import Message
from mailflow.pipeline import robots
from mailflow.pipeline.acknowledge import choose_recipients
from mailflow.pipeline.classify import SYNTHETIC_ID_DOMAIN, believable_date, classify_message, message_id_of
from mailflow.pipeline.forms.definition import load_form_definition
from mailflow.pipeline.forwards import is_forwarded
from mailflow.pipeline.run import ingest_files
from tests.corpus.robots import RobotMail, robot_mails
from tests.factories import collectivity, mail, make_app, proposal_body, question_mail

INTERNAL = ("cnfpt.fr",)
CORPUS = robot_mails()


def in_thread(ids, refs):  # noqa: ANN001, ANN201
    """A thread lookup that finds every mail a reply to one of our acknowledgements (the worst case)."""
    return "PC-2025-0007"


def classify(message: EmailMessage, thread_of=in_thread):  # noqa: ANN001, ANN201
    return classify_message(message, own_addresses=("stages.inet@cnfpt.fr",), own_domains=("stages.inet.cnfpt.fr",),
                            internal_domains=INTERNAL, thread_of=thread_of)


def reparsed(message: EmailMessage) -> EmailMessage:
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_corpus_covers_bounces_lists_and_auto_replies() -> None:
    """The generated corpus holds each family, from many programs (a guard against an emptied generator)."""
    families = {family: [m for m in CORPUS if m.family == family] for family in ("bounce", "list", "auto-reply")}
    assert all(len(found) >= 15 for found in families.values()), {k: len(v) for k, v in families.items()}


@pytest.mark.parametrize("robot", CORPUS, ids=lambda m: f"{m.family}-{m.name}")
def test_no_mail_of_the_corpus_would_be_answered(robot: RobotMail) -> None:
    """Every bounce, list mail and auto-reply of the corpus is ignored, even when it sits in one of our threads."""
    verdict = classify(robot.message)
    assert verdict.kind == "ignored", f"{robot.name}: {verdict}"
    assert "ni dépôt ni réponse" in verdict.reason


CONTROLS = {
    "question": question_mail(),
    "proposal": mail(sender="rh@commune-test.example.fr", subject="Proposition de projet collectif",
                     body=proposal_body(collectivity(1))),
    "outlook": mail(sender="Claire Roux <claire.roux@agglo-test.example.fr>", subject="RE: Convention de stage",
                    body="Bonjour,\nvoici nos questions.\n", headers={
                        "Thread-Index": "AdnZ1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e==", "X-MS-Has-Attach": "",
                        "X-MS-TNEF-Correlator": "", "X-MS-Exchange-Organization-AuthAs": "Internal",
                        "Content-Language": "fr-FR", "X-Auto-Response-Suppress": "DR, RN, NRN"}),
    "subject-about-viruses": mail(sender="prevention@ville-test.example.fr",
                                  subject="Virus de la grippe : projet de sensibilisation", body="Bonjour,\n"),
    "subject-absence-de-reponse": mail(sender="dgs@ville-test.example.fr", subject="Re: Absence de réponse",
                                       body="Bonjour,\nnous attendons votre retour.\n"),
    "body-quoting-a-bounce": mail(sender="dgs@ville-test.example.fr", subject="Adresse erronée ?",
                                  body="Bonjour,\nj'ai reçu ceci :\nVotre message n'a pas pu être remis.\n"),
}


@pytest.mark.parametrize("name", sorted(CONTROLS))
def test_mail_a_person_writes_is_not_mistaken_for_a_robot(name: str) -> None:
    """Ordinary mails, including Outlook's usual headers and worrying words in the subject, are not ignored."""
    verdict = classify(reparsed(CONTROLS[name]), thread_of=lambda ids, refs: None)
    assert verdict.kind == "candidate", verdict.reason


@pytest.mark.parametrize("name", ["microsoft-365-ndr-en", "exim", "qmail", "gmail-dsn"])
def test_a_person_forwarding_a_bounce_is_not_a_robot(name: str) -> None:
    """A collectivité (or a colleague) forwarding a bounce it received, to ask about it, wrote a mail itself:
    it is not ignored (a colleague's is for staff: nobody is answered automatically)."""
    (bounce,) = [m for m in CORPUS if m.name == name]
    outside = _forward_of(bounce.message, "dgs@ville-test.example.fr", "TR: message non remis")
    assert classify(outside, thread_of=lambda ids, refs: None).kind == "candidate"
    colleague = _forward_of(bounce.message, "agnes.collegue@cnfpt.fr", "Fwd: Undeliverable")
    verdict = classify(colleague, thread_of=lambda ids, refs: None)
    assert verdict.kind == "candidate" and verdict.colleague
    assert choose_recipients(verdict, None, FORM, INTERNAL).to == ()


def test_exchange_suppress_header_counts_only_for_auto_replies() -> None:
    """X-Auto-Response-Suppress asking for no auto-reply (All, OOF, AutoReply) is honoured; DR/RN alone are not."""
    for value, kind in (("All", "ignored"), ("OOF, AutoReply", "ignored"), ("DR, RN, NRN", "candidate")):
        message = mail(sender="a@ville-test.example.fr", subject="Bonjour", body="Bonjour\n",
                       headers={"X-Auto-Response-Suppress": value})
        assert classify(message, thread_of=lambda ids, refs: None).kind == kind, value


# -- who an answer goes to ------------------------------------------------------------------------

FORM = load_form_definition()


def _forward_of(inner: EmailMessage, sender: str, subject: str = "TR: Proposition de projet collectif") -> EmailMessage:
    outer = mail(sender=sender, subject=subject, body="Bonjour,\nvoir le message ci-joint.\n")
    outer.add_attachment(inner)
    return reparsed(outer)


def test_question_forwarded_from_outside_is_answered_to_its_sender_only() -> None:
    """A mayor forwards a citizen's question: the mayor may be answered, the citizen never."""
    inner = question_mail(sender="citoyen@fai-test.example.fr")
    verdict = classify(_forward_of(inner, "maire@commune-test.example.fr", "TR: Question"), lambda ids, refs: None)
    assert verdict.forwarded and verdict.author == "citoyen@fai-test.example.fr"
    recipients = choose_recipients(verdict, None, FORM, INTERNAL)
    assert (recipients.to, recipients.cc) == (("maire@commune-test.example.fr",), ())


def test_proposal_forwarded_by_a_colleague_goes_to_the_form_addresses_with_the_colleague_in_copy() -> None:
    """A colleague forwards a form: acknowledged to the form's addresses (not to the forwarded mail's author),
    colleague in Cc; an internal address typed in the form is not written to."""
    values = collectivity(7)
    inner = mail(sender="secretariat@mairie-test.example.fr", subject="Proposition", body=proposal_body(values))
    verdict = classify(_forward_of(inner, "Agnès Collègue <agnes.collegue@cnfpt.fr>"), lambda ids, refs: None)
    assert verdict.kind == "candidate" and verdict.colleague
    fields = {"collectivity": {"hr_email": "RH@Mairie-Test.example.fr"}, "dgs": {"email": "dgs@mairie-test.example.fr"},
              "tutor": {"email": "referent@cnfpt.fr"}}
    recipients = choose_recipients(verdict, fields, FORM, INTERNAL)
    assert recipients.to == ("rh@mairie-test.example.fr", "dgs@mairie-test.example.fr")
    assert recipients.cc == ("agnes.collegue@cnfpt.fr",)
    assert recipients.sender == "rh@mairie-test.example.fr"  # the proposal is the collectivité's, not the colleague's
    assert "secretariat@mairie-test.example.fr" not in recipients.to + recipients.cc


def test_colleague_mail_is_for_staff_and_never_answered() -> None:
    """A colleague's own mail (internal domain or subdomain, not a forward) goes to staff without an answer."""
    for sender in ("agnes.collegue@cnfpt.fr", "jean@inet.cnfpt.fr"):
        verdict = classify(question_mail(sender=sender), lambda ids, refs: None)
        assert verdict.kind == "internal" and "collègue" in verdict.reason
        assert choose_recipients(verdict, None, FORM, INTERNAL).to == ()
    assert classify(question_mail(sender="x@notcnfpt.fr"), lambda ids, refs: None).kind == "candidate"


def test_colleague_forward_without_a_form_is_not_answered() -> None:
    """A question a colleague forwards: nobody is answered automatically."""
    verdict = classify(_forward_of(question_mail(), "agnes.collegue@cnfpt.fr", "TR: Question"), lambda i, r: None)
    recipients = choose_recipients(verdict, None, FORM, INTERNAL)
    assert recipients.to == () and recipients.why_none


def test_one_forward_detector_for_subject_attachment_and_inline_separator() -> None:
    """A forward is told by its subject, an attached message or a forward separator; a reply quoting is not one."""
    separator = "Voir plus bas.\n\n---------- Forwarded message ---------\nDe : A <a@x.example.fr>\n"
    reply = "Merci.\n\n-----Original Message-----\nFrom: A <a@x.example.fr>\nSent: lundi\n"
    assert is_forwarded(reparsed(mail(sender="a@b.example.fr", subject="Proposition", body=separator)))
    assert is_forwarded(reparsed(mail(sender="a@b.example.fr", subject="Transféré : Proposition", body="x\n")))
    assert not is_forwarded(reparsed(mail(sender="a@b.example.fr", subject="RE: Proposition", body=reply)))


# -- Message-ID and Date --------------------------------------------------------------------------


def test_mail_without_message_id_gets_a_stable_synthetic_one() -> None:
    """No Message-ID (or an empty '<>'): one made from the content hash, the same every time."""
    bare = email.message_from_bytes(b"From: a@b.example.fr\r\nSubject: x\r\n\r\nbody\r\n", policy=email.policy.default)
    assert message_id_of(bare, "ab" * 32) == f"<{'ab' * 16}@{SYNTHETIC_ID_DOMAIN}>"
    empty = email.message_from_bytes(b"Message-ID: <>\r\n\r\nbody\r\n", policy=email.policy.default)
    assert message_id_of(empty, "cd" * 32).startswith("<cdcd")
    assert message_id_of(question_mail(message_id="<q1@ville-test.example.fr>"), "00") == "<q1@ville-test.example.fr>"
    unbracketed = email.message_from_bytes(b"Message-ID: q2@ville-test.example.fr\r\n\r\nx\r\n",
                                           policy=email.policy.default)
    assert message_id_of(unbracketed, "00") == "<q2@ville-test.example.fr>"


def test_absurd_date_header_is_not_believed() -> None:
    """Year 101 or far in the future: not believed; an ordinary date is."""
    now = datetime(2025, 6, 10, 9, 0, tzinfo=UTC)
    assert believable_date(datetime(101, 6, 10, tzinfo=UTC), now) is None
    assert believable_date(datetime(2999, 1, 1, tzinfo=UTC), now) is None
    assert believable_date(None, now) is None
    assert believable_date(datetime(2025, 6, 9, tzinfo=UTC), now) == datetime(2025, 6, 9, tzinfo=UTC)


def test_mail_ingested_from_a_file_with_an_absurd_date_is_dated_now(tmp_path: Path) -> None:
    """`mailflow ingest` of a file dated year 101: received now, not in antiquity."""
    app = make_app(tmp_path)
    path = tmp_path / "vieux.eml"
    path.write_bytes(b"From: elu@commune-test.example.fr\r\nSubject: Question\r\n"
                     b"Date: Mon, 10 Jun 0101 09:00:00 +0000\r\n\r\nBonjour\r\n")
    ingest_files(app, [path])
    with app.sessions() as session:
        (message,) = session.scalars(select(Message))
    assert message.received_at.replace(tzinfo=UTC) == app.clock.now()


def test_bounce_detectors_read_a_light_copy_of_a_large_mail(monkeypatch: pytest.MonkeyPatch) -> None:
    """A mail with 18 MB of attachments: the bounce detectors, which read every line of every part (close
    to a minute on the whole mail), are handed its structure with at most TEXT_BUDGET characters a part."""
    handed: list[email.message.Message] = []
    detect = robots.all_failures
    monkeypatch.setattr(robots, "all_failures", lambda message: (handed.append(message), detect(message))[1])
    message = question_mail()
    message.add_attachment(bytes(range(256)) * 70_000, maintype="application", subtype="pdf", filename="gros.pdf")
    message.add_attachment(("ligne de texte\n" * 400_000).encode(), maintype="text", subtype="plain",
                           filename="annexe.txt")
    assert classify(reparsed(message), thread_of=lambda ids, refs: None).kind == "candidate"
    (copy,) = handed
    leaves = [part for part in copy.walk() if not part.is_multipart()]
    assert [part.get_content_type() for part in leaves] == ["text/plain", "application/pdf", "text/plain"]
    assert max(len(part.get_payload()) for part in leaves) <= robots.TEXT_BUDGET
