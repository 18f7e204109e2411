"""Classification: what must never be answered is ignored; replies find their thread; forwards their sender."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

import pytest

from mailflow.pipeline.classify import classify_message
from tests.factories import SHARED, mail

OWN = {"own_addresses": ("stages.inet@cnfpt.fr",), "own_domains": ("stages.inet.cnfpt.fr",)}


def no_thread(ids, refs):  # noqa: ANN001, ANN201
    return None


def classify(message: EmailMessage, thread_of=no_thread):  # noqa: ANN001, ANN201
    return classify_message(message, thread_of=thread_of, **OWN)


def normal(**headers: str) -> EmailMessage:
    return mail(sender="Jean Dupont <jean.dupont@ville-test.example.fr>", subject=headers.pop("subject", "Bonjour"),
                body="Bonjour,\nune question.\n", headers=headers)


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({"Auto-Submitted": "auto-replied"}, "Auto-Submitted: auto-replied"),
        ({"Auto-Submitted": "auto-generated"}, "Auto-Submitted: auto-generated"),
        ({"X-Autoreply": "yes"}, "X-Autoreply"),
        ({"X-Auto-Response-Suppress": "All"}, "X-Auto-Response-Suppress"),
        ({"Precedence": "bulk"}, "Precedence: bulk"),
        ({"Precedence": "list"}, "Precedence: list"),
        ({"List-Id": "<info.cdg.example.fr>"}, "liste de diffusion"),
        ({"List-Unsubscribe": "<mailto:off@example.fr>"}, "liste de diffusion"),
        ({"Return-Path": "<>"}, "non-remise"),
        ({"subject": "Réponse automatique : absent jusqu'au 30 juin"}, "objet du message"),
        ({"subject": "Automatic reply: Projet collectif"}, "objet du message"),
    ],
)
def test_automatic_mail_is_ignored(headers: dict[str, str], why: str) -> None:
    """Auto-replies, list and bulk mail and bounces are ignored, with the reason that caught them."""
    verdict = classify(normal(**headers))
    assert verdict.kind == "ignored"
    assert why in verdict.reason


def test_auto_submitted_no_is_a_normal_mail() -> None:
    """`Auto-Submitted: no` is what a person's mail says; it is not ignored."""
    assert classify(normal(**{"Auto-Submitted": "no"})).kind == "candidate"


def test_delivery_status_notification_is_ignored() -> None:
    """A multipart/report DSN from MAILER-DAEMON is a bounce."""
    raw = (
        b"From: Mail Delivery System <MAILER-DAEMON@mx.example.fr>\r\nTo: stages.inet@cnfpt.fr\r\n"
        b"Subject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nThis is the mail system.\r\n"
        b"--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.fr\r\n\r\n"
        b"--b--\r\n"
    )
    verdict = classify(email.message_from_bytes(raw, policy=email.policy.default))
    assert verdict.kind == "ignored"


def test_mailer_daemon_sender_is_a_bounce() -> None:
    """A mail from MAILER-DAEMON is never answered."""
    message = mail(sender="MAILER-DAEMON@mx.example.fr", subject="failure notice", body="Sorry.\n")
    assert classify(message).kind == "ignored"


def test_our_own_mail_is_ignored() -> None:
    """A mail from our own address, or with a Message-ID of our domain, is ours: no loop."""
    assert classify(mail(sender="stages.inet@cnfpt.fr", subject="x", body="x\n")).kind == "ignored"
    ours = mail(sender="someone@example.fr", subject="x", body="x\n", message_id="<abc.123@stages.inet.cnfpt.fr>")
    assert "notre domaine" in classify(ours).reason


def test_reply_to_our_mail_finds_its_thread() -> None:
    """A reply whose In-Reply-To is one of our mails belongs to that proposal's thread."""
    known = {"<ack.1@cnfpt.fr>": "PC-2025-0007"}

    def thread_of(ids, refs):  # noqa: ANN001, ANN202
        return next((known[i] for i in ids if i in known), None)

    reply = normal(subject="RE: Accusé de réception", **{"In-Reply-To": "<ack.1@cnfpt.fr>"})
    verdict = classify(reply, thread_of)
    assert (verdict.kind, verdict.reference) == ("reply", "PC-2025-0007")


def test_reference_in_subject_finds_its_thread() -> None:
    """`[PC-2025-0003]` in the subject is enough to find the thread when the reference exists."""
    seen = []

    def thread_of(ids, refs):  # noqa: ANN001, ANN202
        seen.append(list(refs))
        return "PC-2025-0003" if "PC-2025-0003" in refs else None

    verdict = classify(normal(subject="RE: [PC-2025-0003] Accusé de réception"), thread_of)
    assert verdict.kind == "reply" and verdict.reference == "PC-2025-0003"
    assert seen == [["PC-2025-0003"]]


def test_reply_to_address_is_the_contact() -> None:
    """The answer goes to Reply-To when set at the sender's domain (or a subdomain of it), else to From."""
    message = normal(**{"Reply-To": "Anne Tutrice <anne.tutrice@ville-test.example.fr>"})
    assert classify(message).contact == "anne.tutrice@ville-test.example.fr"
    subdomain = "dgs@mairie.ville-test.example.fr"
    assert classify(normal(**{"Reply-To": subdomain})).contact == subdomain
    assert classify(normal()).contact == "jean.dupont@ville-test.example.fr"


def test_an_answer_never_goes_to_a_reply_to_of_another_domain() -> None:
    """An answer quotes the mail's subject: sent to any Reply-To, it would relay a stranger's words (a
    phishing link) from INET's address to a third party. It goes to From instead; without From, nowhere."""
    lure = normal(subject="Votre dossier est suspendu : régularisez sur https://paiement.example/",
                  **{"Reply-To": "victime@messagerie.example"})
    assert classify(lure).contact == "jean.dupont@ville-test.example.fr"
    del lure["From"]
    assert classify(lure).contact is None


def test_inline_forward_is_answered_to_its_sender_only() -> None:
    """A `TR:` forward: the contact is who forwarded it; the original author (Outlook's French header
    block) is only noted for staff."""
    body = (
        "Pour information.\n\n-----Message d'origine-----\n"
        "De : Marie Curie <marie.curie@agglo-test.example.fr>\n"
        "Envoyé : lundi 2 juin 2025 10:12\nÀ : Jean Dupont\nObjet : Proposition\n\nBonjour...\n"
    )
    message = mail(sender="jean.dupont@mairie-test.example.fr", subject="TR: Proposition", body=body)
    verdict = classify(message)
    assert verdict.kind == "candidate" and verdict.forwarded
    assert verdict.contact == "jean.dupont@mairie-test.example.fr"
    assert verdict.author == "marie.curie@agglo-test.example.fr"


def test_attached_forward_is_answered_to_its_sender_only() -> None:
    """A forward as message/rfc822 (no `Fwd:` in the subject) is a forward: its sender is the contact,
    the attached mail's author is only noted."""
    inner = mail(sender="Paul Martin <paul.martin@dept-test.example.fr>", subject="Proposition", body="Form\n")
    outer = mail(sender="secretariat@mairie-test.example.fr", subject="Proposition", body="Voir ci-joint.\n")
    outer.add_attachment(inner)
    parsed = email.message_from_bytes(outer.as_bytes(), policy=email.policy.default)
    verdict = classify(parsed)
    assert verdict.forwarded and verdict.contact == "secretariat@mairie-test.example.fr"
    assert verdict.author == "paul.martin@dept-test.example.fr"


def test_ordinary_mail_is_a_candidate() -> None:
    """A mail from outside that is none of the above goes on to extraction."""
    verdict = classify(normal())
    assert verdict.kind == "candidate" and not verdict.forwarded


def _sample(name: str) -> EmailMessage:
    path = SHARED / "samples" / name / "message.eml"
    if not path.exists():
        pytest.skip(f"{path} not present (../shared is absent)")
    return email.message_from_bytes(path.read_bytes(), policy=email.policy.default)


def test_sample_out_of_office_is_ignored() -> None:
    """Sample 06 (out-of-office mentioning projets collectifs) is ignored."""
    verdict = classify(_sample("06-lorient-out-of-office"))
    assert verdict.kind == "ignored" and "Auto-Submitted" in verdict.reason


def test_sample_resubmission_is_a_reply_in_thread() -> None:
    """Sample 08 replies to the acknowledgement of PC-2025-0003 (encoded References header)."""
    seen: list[list[str]] = []

    def thread_of(ids, refs):  # noqa: ANN001, ANN202
        seen.append(list(ids))
        return "PC-2025-0003" if "PC-2025-0003" in refs else None

    verdict = classify(_sample("08-drome-resubmission"), thread_of)
    assert verdict.kind == "reply" and verdict.reference == "PC-2025-0003"
    assert "<ack.PC-2025-0003.20250610094402@stages.inet.cnfpt.fr>" in seen[0]
    assert verdict.contact == "nfaure@ladrome.fr"


def test_sample_secretariat_answers_go_to_reply_to() -> None:
    """Sample 02 is sent by a secretariat with Reply-To the tutor: the contact is the Reply-To."""
    assert classify(_sample("02-grand-poitiers-pdf")).contact == "anne-sophie.riviere@grandpoitiers.fr"
