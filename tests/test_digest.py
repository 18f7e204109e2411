"""The staff digest: arrivals, what needs a human, what is coming; once per working day; .xlsx attached."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from openpyxl import load_workbook

from mailflow.campaign.digest import build_digest, send_digest
from mailflow.campaign.due import run_due
from mailflow.clock import ManualClock
from mailflow.context import App
from mailflow.db.models import Message, OutboxMail, QuarantineEntry
from mailflow.service.app import build_app
from mailflow.settings import load_settings
from tests.campaign_factories import add_proposal, outbox
from tests.factories import collectivity, write_settings

MONDAY_0730 = datetime(2025, 6, 16, 5, 30, tzinfo=UTC)  # 07:30 in Paris


def app_at(tmp_path: Path, when: datetime, staff: str = "") -> App:
    extra = f'\n[staff]\ndigest_recipients = ["stages.inet@cnfpt.fr", "coordination@cnfpt.fr"]\n{staff}'
    settings = load_settings(write_settings(tmp_path, extra=extra))
    return build_app(settings, clock=ManualClock(when))


def parts(raw: bytes | EmailMessage) -> tuple[EmailMessage, str, str]:
    """The mail, its text and its HTML, non-breaking spaces read as spaces (as a reader sees them)."""
    mail = raw if isinstance(raw, EmailMessage) else message_from_bytes(raw, policy=policy.default)
    return mail, plain(mail.get_body(("plain",)).get_content()), plain(mail.get_body(("html",)).get_content())


def plain(text: str) -> str:
    return text.replace("\u00a0", " ").replace("\u202f", " ")


def add_message(app: App, *, verdict: str, subject: str, sender: str, at: datetime) -> int:
    with app.sessions.begin() as session:
        message = Message(
            mailbox="tests",
            uidvalidity=2,
            uid=int(at.timestamp()),
            message_id=f"<{at.timestamp()}@x.example.fr>",
            content_hash=f"{int(at.timestamp()):064d}",
            received_at=at,
            sender=sender,
            subject=subject,
            size=10,
            state="done",
            verdict=verdict,
            reason="question sans formulaire : à traiter",
            created_at=at,
        )
        session.add(message)
        session.flush()
        return message.id


def test_digest_lists_the_new_proposals_in_a_table_text_and_xlsx(tmp_path: Path) -> None:
    """Monday's digest shows each new proposal (reference, collectivité, title, status) and attaches them."""
    app = app_at(tmp_path, datetime(2025, 6, 13, 12, tzinfo=UTC))
    run_due(app)  # Friday: no arrivals, no digest
    values = collectivity(700)
    app.clock.set(datetime(2025, 6, 14, 9, tzinfo=UTC))
    ref = add_proposal(app, datetime(2025, 6, 14, 9, tzinfo=UTC), values=values)
    incomplete = add_proposal(
        app, datetime(2025, 6, 14, 10, tzinfo=UTC), status="incomplete", missing=("collectivity.hr_email",)
    )
    app.clock.set(MONDAY_0730)
    run_due(app)
    digests = outbox(app, "staff/digest")
    assert sorted(d.recipient for d in digests) == ["coordination@cnfpt.fr", "stages.inet@cnfpt.fr"]
    mail, text, html = parts(digests[0].raw)
    assert mail["Auto-Submitted"] == "auto-generated"
    assert "lundi 16 juin 2025 : 2 nouvelles propositions" in plain(mail["Subject"])
    assert f"{ref} | {values['name']} | {values['title']} | complète" in text
    assert f"<strong>{ref}</strong></td><td" in html and "<table" in html
    assert "PROPOSITIONS INCOMPLÈTES (1)" in text and incomplete in text
    assert "Courriel du contact RH" in text  # the missing field by its form label
    [xlsx] = [p for p in mail.iter_attachments() if p.get_filename().endswith(".xlsx")]
    sheet = load_workbook(io.BytesIO(xlsx.get_content())).active
    references = [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert references == [ref, incomplete]


def test_no_digest_on_a_quiet_day_unless_staff_ask_for_it(tmp_path: Path) -> None:
    """Nothing new: no digest; with `digest_when_empty = true`, one anyway."""
    quiet = app_at(tmp_path / "quiet", MONDAY_0730)
    run_due(quiet)
    assert outbox(quiet, "staff/digest") == []
    assert build_digest(quiet, MONDAY_0730) is None
    always = app_at(tmp_path / "always", MONDAY_0730, staff="digest_when_empty = true\n")
    run_due(always)
    [first, _] = outbox(always, "staff/digest")
    assert "Rien de nouveau depuis la précédente synthèse." in parts(first.raw)[1]


def test_digest_goes_once_per_working_day_at_its_time(tmp_path: Path) -> None:
    """Not before 07:30 Paris, not twice a day, not on Saturday nor 15 August; Monday covers the weekend."""
    app = app_at(tmp_path, datetime(2025, 8, 14, 5, 29, tzinfo=UTC))
    add_proposal(app, datetime(2025, 8, 13, 10, tzinfo=UTC))
    run_due(app)
    assert outbox(app, "staff/digest") == []
    app.clock.set(datetime(2025, 8, 14, 5, 30, tzinfo=UTC))
    run_due(app)
    app.clock.set(datetime(2025, 8, 14, 15, 0, tzinfo=UTC))
    add_proposal(app, datetime(2025, 8, 14, 14, tzinfo=UTC))
    run_due(app)
    assert len(outbox(app, "staff/digest")) == 2  # Thursday, to two recipients, once
    for day in (15, 16, 17):  # Assumption (Friday), Saturday, Sunday
        app.clock.set(datetime(2025, 8, day, 8, 0, tzinfo=UTC))
        run_due(app)
    assert len(outbox(app, "staff/digest")) == 2
    app.clock.set(datetime(2025, 8, 18, 6, 0, tzinfo=UTC))
    run_due(app)
    monday = outbox(app, "staff/digest")[2:]
    assert len(monday) == 2
    assert "lundi 18 août 2025 : 1 nouvelle proposition" in plain(parts(monday[0].raw)[0]["Subject"])


def test_digest_shows_what_needs_a_human(tmp_path: Path) -> None:
    """Questions, quarantined mails with their reason and failed sendings are in the digest."""
    app = app_at(tmp_path, datetime(2025, 6, 16, 5, 30, tzinfo=UTC))
    at = datetime(2025, 6, 13, 15, tzinfo=UTC)
    add_message(
        app, verdict="question", subject="Deux missions possibles ?", sender="elu@ville.example.fr", at=at
    )
    held = add_message(
        app,
        verdict="quarantined",
        subject="Notre fiche",
        sender="dgs@autre.example.fr",
        at=datetime(2025, 6, 13, 16, tzinfo=UTC),
    )
    with app.sessions.begin() as session:
        session.add(
            QuarantineEntry(
                message_pk=held,
                reason="document illisible — fiche.pdf : PDF chiffré",
                created_at=datetime(2025, 6, 13, 16, tzinfo=UTC),
            )
        )
        session.add(
            OutboxMail(
                cause="message:1",
                kind="collectivite/accuse-reception",
                recipient="x@panne.example.fr",
                subject="s",
                message_id="<m@x>",
                raw=b"x",
                status="failed",
                attempts=12,
                next_attempt_at=at,
                last_error="550 mailbox unavailable",
                created_at=at,
            )
        )
    message = build_digest(app, app.clock.now())
    assert message is not None
    _, text, html = parts(message)
    assert "QUESTIONS ET RÉPONSES À TRAITER (1)" in text and "Deux missions possibles ?" in text
    assert "COURRIELS EN QUARANTAINE (1 nouveau)" in text and "PDF chiffré" in text
    assert "ENVOIS EN ÉCHEC (1)" in text and "550 mailbox unavailable" in text
    assert "mailflow outbox retry" in html


def test_digest_says_what_will_be_sent_in_the_next_seven_days(tmp_path: Path) -> None:
    """On 11 June, the digest lists the incomplete reminder of 13 June with its recipient and reference."""
    app = app_at(tmp_path, datetime(2025, 6, 11, 5, 30, tzinfo=UTC))
    values = collectivity(710)
    ref = add_proposal(
        app, datetime(2025, 6, 10, tzinfo=UTC), status="incomplete", values=values, missing=("tutor.email",)
    )
    message = build_digest(app, app.clock.now())
    assert message is not None
    text = parts(message)[1]
    assert f"13/06/2025 09:00 | {values['sender']} | collectivite/rappel-incomplet | {ref}" in text


def test_sender_text_is_escaped_in_the_html_digest(tmp_path: Path) -> None:
    """A collectivité name with markup is shown, never interpreted, in the HTML table."""
    app = app_at(tmp_path, datetime(2025, 6, 16, 5, 30, tzinfo=UTC))
    values = collectivity(720)
    values["name"] = "<script>alert(1)</script> & Cie"
    add_proposal(app, datetime(2025, 6, 14, tzinfo=UTC), values=values)
    message = build_digest(app, app.clock.now())
    assert message is not None
    html = parts(message)[2]
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Cie" in html


def test_send_digest_now_queues_and_sends_even_on_a_quiet_day(tmp_path: Path) -> None:
    """`mailflow digest --send` sends the digest now to every recipient, whatever the day brought."""
    app = app_at(tmp_path, datetime(2025, 6, 14, 10, tzinfo=UTC))  # a Saturday
    summary = send_digest(app, app.clock.now())
    assert "stages.inet@cnfpt.fr, coordination@cnfpt.fr" in summary
    rows = outbox(app, "staff/digest")
    assert len(rows) == 2 and all(r.status == "sent" for r in rows)
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 2
