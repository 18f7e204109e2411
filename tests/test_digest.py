"""The staff digest as a to-do list: changes first, decisions before a date, open items until closed, what is coming."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from openpyxl import load_workbook
from sqlalchemy import select

from mailflow.campaign.digest import SENT_KEY, build_digest, send_digest
from mailflow.campaign.due import run_due
from mailflow.clock import ManualClock
from mailflow.context import App
from mailflow.db.models import Message, OutboxMail, Proposal, QuarantineEntry
from mailflow.db.state import put_state
from mailflow.service.app import build_app
from mailflow.settings import load_settings
from mailflow.staff import mark_handled, open_items
from tests.campaign_factories import add_proposal, outbox, set_status
from tests.factories import REPO, collectivity, write_settings

MONDAY_0730 = datetime(2025, 6, 16, 5, 30, tzinfo=UTC)  # 07:30 in Paris


def app_at(tmp_path: Path, when: datetime, staff: str = "") -> App:
    extra = f'\n[staff]\ndigest_recipients = ["stages.inet@cnfpt.fr", "coordination@cnfpt.fr"]\n{staff}'
    settings = load_settings(write_settings(tmp_path, extra=extra))
    return build_app(settings, clock=ManualClock(when))


def spaced(text: str) -> str:
    """Non-breaking spaces (French typography) read as spaces, to search for phrases."""
    return text.replace("\u00a0", " ").replace("\u202f", " ")


def parts(raw: bytes | EmailMessage) -> tuple[EmailMessage, str, str]:
    mail = raw if isinstance(raw, EmailMessage) else message_from_bytes(raw, policy=policy.default)
    return mail, spaced(mail.get_body(("plain",)).get_content()), spaced(mail.get_body(("html",)).get_content())


def add_message(
    app: App, *, verdict: str, subject: str, sender: str, at: datetime,
    reason: str = "question sans formulaire : à traiter",
) -> int:
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
            reason=reason,
            created_at=at,
        )
        session.add(message)
        session.flush()
        return message.id


def test_digest_lists_the_new_proposals_in_a_table_text_and_xlsx(tmp_path: Path) -> None:
    """Monday's digest shows each new proposal (reference, collectivité, title, status, link) and attaches them."""
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
    assert spaced(mail["Subject"]) == "Stages INET – synthèse du lundi 16 juin 2025 : 2 nouvelles propositions"
    assert spaced(f"- Nouvelle proposition {ref} – {values['name']} – « {values['title']} » – complète") in text
    assert spaced(f"http://127.0.0.1:8400/propositions/{ref}") in text
    assert spaced(f'<a href="http://127.0.0.1:8400/propositions/{ref}"') in html and "<table" in html
    assert spaced("INCOMPLÈTES (1)") in text and incomplete in text
    assert spaced("incomplète depuis 2\u00a0jours – à compléter : Courriel du contact RH (impératif)") in text
    [xlsx] = [p for p in mail.iter_attachments() if p.get_filename().endswith(".xlsx")]
    sheet = load_workbook(io.BytesIO(xlsx.get_content())).active
    references = [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert references == [ref, incomplete]


def test_no_digest_on_a_quiet_day_unless_staff_ask_for_it(tmp_path: Path) -> None:
    """Nothing new, nothing open: no digest; with `digest_when_empty = true`, one anyway."""
    quiet = app_at(tmp_path / "quiet", MONDAY_0730)
    run_due(quiet)
    assert outbox(quiet, "staff/digest") == []
    assert build_digest(quiet, MONDAY_0730) is None
    always = app_at(tmp_path / "always", MONDAY_0730, staff="digest_when_empty = true\n")
    run_due(always)
    [first, _] = outbox(always, "staff/digest")
    mail, text, _ = parts(first.raw)
    assert spaced("Rien à traiter aujourd'hui.") in text and "Rien de nouveau." in text
    assert spaced(mail["Subject"]).endswith(" : rien à traiter")


def test_digest_goes_once_per_working_day_at_its_time(tmp_path: Path) -> None:
    """Not before 07:30 Paris, not twice a day, not on Saturday nor 15 August; Monday covers the weekend."""
    app = app_at(tmp_path, datetime(2025, 8, 14, 5, 29, tzinfo=UTC))
    add_proposal(app, datetime(2025, 8, 13, 10, tzinfo=UTC), status="incomplete")
    run_due(app)
    assert outbox(app, "staff/digest") == []
    app.clock.set(datetime(2025, 8, 14, 5, 30, tzinfo=UTC))
    run_due(app)
    app.clock.set(datetime(2025, 8, 14, 15, 0, tzinfo=UTC))
    add_proposal(app, datetime(2025, 8, 14, 14, tzinfo=UTC), status="incomplete")
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
    assert "lundi 18 août 2025 : 1 nouvelle proposition" in spaced(parts(monday[0].raw)[0]["Subject"])


def _needs_a_human(app: App) -> tuple[int, int]:
    at = datetime(2025, 6, 13, 15, tzinfo=UTC)
    question = add_message(
        app, verdict="question", subject="Deux missions possibles ?", sender="elu@ville.example.fr", at=at
    )
    held = add_message(
        app,
        verdict="quarantined",
        subject="Notre fiche",
        sender="dgs@autre.example.fr",
        at=datetime(2025, 6, 13, 16, tzinfo=UTC),
        reason="document illisible — fiche.pdf : PDF chiffré",
    )
    with app.sessions.begin() as session:
        session.add(
            QuarantineEntry(
                message_pk=held,
                reason="document illisible — fiche.pdf : PDF chiffré",
                created_at=datetime(2025, 6, 13, 16, tzinfo=UTC),
            )
        )
        failed = OutboxMail(
            cause="message:1",
            kind="collectivite/accuse-reception",
            recipient="x@panne.example.fr",
            subject="Accusé de réception",
            message_id="<m@x>",
            raw=b"x",
            status="failed",
            attempts=12,
            next_attempt_at=at,
            last_error="550 mailbox unavailable",
            created_at=at,
        )
        session.add(failed)
        session.flush()
        failed_id = failed.id
    return question, failed_id


def test_digest_shows_what_needs_a_human_with_links_and_no_command(tmp_path: Path) -> None:
    """Questions, quarantined mails with their reason and failed sends, each with its console link; no command."""
    app = app_at(tmp_path, datetime(2025, 6, 16, 5, 30, tzinfo=UTC))
    question, failed = _needs_a_human(app)
    message = build_digest(app, app.clock.now())
    assert message is not None
    mail, text, html = parts(message)
    assert "1 question en attente, 1 courriel en quarantaine, 1 envoi en échec" in spaced(mail["Subject"])
    assert spaced("À TRAITER (3)") in text
    assert "- Question (NOUVEAU), depuis 3 jours – elu@ville.example.fr – « Deux missions possibles ? »" in text
    assert spaced(f"http://127.0.0.1:8400/a-traiter#item-question-{question}") in text
    assert spaced("PDF chiffré") in text and "550 mailbox unavailable" in text
    assert spaced(f'href="http://127.0.0.1:8400/a-traiter#item-failed-send-{failed}"') in html
    for part in (text, html, spaced(mail["Subject"])):
        assert not re.search(r"mailflow \w|systemctl|journalctl|`|<code>|\[\[", part)


def test_an_open_item_stays_in_every_digest_with_its_age_until_closed(tmp_path: Path) -> None:
    """A question nobody closed is in Tuesday's and the next Monday's digests too, older, no longer new;
    once the three items are closed in the console, the next working day brings no digest."""
    app = app_at(tmp_path, datetime(2025, 6, 16, 5, 30, tzinfo=UTC))
    _needs_a_human(app)
    run_due(app)
    for day in (17, 18, 19, 20, 23):
        app.clock.set(datetime(2025, 6, day, 5, 30, tzinfo=UTC))
        run_due(app)
    digests = [parts(d.raw) for d in outbox(app, "staff/digest") if d.recipient == "stages.inet@cnfpt.fr"]
    assert len(digests) == 6  # every working day, though nothing new arrived
    last = digests[-1][1]
    assert "- Question, depuis 10 jours – elu@ville.example.fr – « Deux missions possibles ? »" in last
    assert "(NOUVEAU)" not in last and "Rien de nouveau." in last
    with app.sessions.begin() as session:
        for item in open_items(session):
            mark_handled(session, "send" if item.kind == "failed-send" else "mail", item.id, "cli:test",
                         app.clock.now())
    app.clock.set(datetime(2025, 6, 24, 5, 30, tzinfo=UTC))
    run_due(app)
    assert len(outbox(app, "staff/digest")) == 12  # nothing more
    assert build_digest(app, app.clock.now()) is None


def test_digest_says_what_will_be_sent_in_the_next_seven_days_in_words(tmp_path: Path) -> None:
    """On 11 June, the digest announces the reminder of 13 June to the collectivité, by name, not by template."""
    app = app_at(tmp_path, datetime(2025, 6, 11, 5, 30, tzinfo=UTC))
    values = collectivity(710)
    add_proposal(app, datetime(2025, 6, 10, tzinfo=UTC), status="incomplete", values=values, missing=("tutor.email",))
    message = build_digest(app, app.clock.now(), force=True)
    assert message is not None
    text = parts(message)[1]
    assert (
        f"- vendredi 13 juin, 9 h : Relance : proposition incomplète — {values['name']}.\n"
        f"  Destinataires : {values['sender']}." in text
    )
    assert spaced("collectivite/") not in text


def test_teams_invitations_say_the_slot_and_the_collectivite(tmp_path: Path) -> None:
    """On 1 August, the 4 August invitation reads « Invitation à la réunion Teams du mercredi 27 août, 9 h 30 »."""
    app = app_at(tmp_path, datetime(2025, 8, 1, 5, 30, tzinfo=UTC))
    values = collectivity(711)
    add_proposal(app, datetime(2025, 6, 10, tzinfo=UTC), values=values)
    text = parts(build_digest(app, app.clock.now(), force=True))[1]
    assert (
        "- lundi 4 août, 9 h : Invitation à la réunion Teams du mercredi 27 août, 9 h 30"
        f" — {values['name']}.\n  Destinataires : " in text
    )
    recipients = text.split(f"— {values['name']}.\n  Destinataires : ")[1].split("\n")[0].rstrip(".")
    assert sorted(recipients.split(", ")) == sorted([values["sender"], values["tutor_email"]])


def test_decisions_before_5_september_are_listed_and_sent_on_the_eve(tmp_path: Path) -> None:
    """From 26 August the digest lists the proposals awaiting a decision; on 4 September it goes even when all
    is decided and nothing is new; on 25 August, with nothing to say, nothing goes."""
    app = app_at(tmp_path, datetime(2025, 8, 1, 5, 30, tzinfo=UTC))
    complete = add_proposal(app, datetime(2025, 6, 2, tzinfo=UTC))
    late = add_proposal(app, datetime(2025, 6, 25, tzinfo=UTC), status="late")
    app.clock.set(datetime(2025, 8, 25, 5, 30, tzinfo=UTC))
    with app.sessions.begin() as session:  # 25 August: the arrivals are old news
        put_state(session, SENT_KEY, {"sent_at": datetime(2025, 8, 22, 5, 30, tzinfo=UTC).isoformat()},
                  app.clock.now())
    assert build_digest(app, app.clock.now()) is None
    app.clock.set(datetime(2025, 8, 26, 5, 30, tzinfo=UTC))
    message = build_digest(app, app.clock.now())
    assert message is not None
    mail, text, html = parts(message)
    assert "2 décisions à prendre" in spaced(mail["Subject"])
    assert spaced("DÉCISIONS À PRENDRE AVANT LE VENDREDI 5\u00a0SEPTEMBRE (dans 10\u00a0jours, J-10)") in text
    assert spaced(f"- {complete} – ") in text and f"- {late} – " in text and "HORS DÉLAI" in text
    assert spaced("Mission retenue ou non retenue, pour 2\u00a0propositions :") in text
    assert spaced("HORS DÉLAI") in html
    set_status(app, complete, "accepted")
    set_status(app, late, "rejected")
    with app.sessions.begin() as session:
        put_state(session, SENT_KEY, {"sent_at": datetime(2025, 9, 3, 23, tzinfo=UTC).isoformat()}, app.clock.now())
    app.clock.set(datetime(2025, 9, 3, 5, 30, tzinfo=UTC))
    assert build_digest(app, app.clock.now()) is None  # all decided, not yet the eve
    app.clock.set(datetime(2025, 9, 4, 5, 30, tzinfo=UTC))
    eve = build_digest(app, app.clock.now())
    assert eve is not None
    assert "Tout est fait : aucune proposition n'attend de décision." in parts(eve)[1]


def test_html_digest_is_built_for_outlook_with_marks_visible(tmp_path: Path) -> None:
    """Fixed-width tables (no max-width, no div layout), « HORS DÉLAI » and « À VÉRIFIER » as coloured marks."""
    app = app_at(tmp_path, datetime(2025, 6, 30, 5, 30, tzinfo=UTC))
    add_proposal(app, datetime(2025, 6, 25, tzinfo=UTC), status="late")
    flagged = add_proposal(app, datetime(2025, 6, 26, tzinfo=UTC))
    with app.sessions.begin() as session:
        proposal = session.scalars(select(Proposal).where(Proposal.reference == flagged)).one()
        proposal.flags = ["plusieurs missions proposées dans le même envoi"]
    _, text, html = parts(build_digest(app, app.clock.now()))
    assert spaced("max-width") not in html and "<div" not in html
    assert spaced('width="720"') in html
    assert re.search(r'background-color:#b00020;[^>]*>HORS DÉLAI<', html)
    assert re.search(r'background-color:#c05800;[^>]*>À VÉRIFIER<', html)
    assert spaced("À VÉRIFIER EN PREMIER : LECTURE INCERTAINE (1)") in text
    assert spaced("plusieurs missions proposées dans le même envoi") in text


def test_no_bracketed_plurals_in_staff_mails(tmp_path: Path) -> None:
    """« 1 question », « 2 questions »: plurals agree, never « question(s) »."""
    app = app_at(tmp_path, datetime(2025, 6, 16, 5, 30, tzinfo=UTC))
    _needs_a_human(app)
    for n in range(2):
        add_proposal(app, datetime(2025, 6, 14, n, tzinfo=UTC), status="incomplete", missing=("tutor.email",))
    mail, text, html = parts(build_digest(app, app.clock.now()))
    for part in (spaced(mail["Subject"]), text, html, send_digest(app, app.clock.now())):
        assert not re.search(r"\((s|x|e|es)\)", part), part


def test_sender_text_is_escaped_in_the_html_digest(tmp_path: Path) -> None:
    """A collectivité name with markup is shown, never interpreted, in the HTML table."""
    app = app_at(tmp_path, datetime(2025, 6, 16, 5, 30, tzinfo=UTC))
    values = collectivity(720)
    values["name"] = "<script>alert(1)</script> & Cie"
    add_proposal(app, datetime(2025, 6, 14, tzinfo=UTC), values=values)
    message = build_digest(app, app.clock.now())
    assert message is not None
    html = parts(message)[2]
    assert spaced("<script>") not in html
    assert spaced("&lt;script&gt;alert(1)&lt;/script&gt; &amp; Cie") in html


def test_send_digest_now_queues_and_sends_even_on_a_quiet_day(tmp_path: Path) -> None:
    """`mailflow digest --send` sends the digest now to every recipient, whatever the day brought."""
    app = app_at(tmp_path, datetime(2025, 6, 14, 10, tzinfo=UTC))  # a Saturday
    summary = send_digest(app, app.clock.now())
    assert "stages.inet@cnfpt.fr, coordination@cnfpt.fr" in summary
    rows = outbox(app, "staff/digest")
    assert len(rows) == 2 and all(r.status == "sent" for r in rows)
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 2


def test_no_shell_command_in_any_staff_template() -> None:
    """Staff read mails, not a terminal: no command line in the digest nor in the alerts (templates/staff/)."""
    command = re.compile(r"\bmailflow [a-z]+ [a-z]|systemctl|journalctl|`|<code>|\[\[|sudo ")
    for template in sorted((REPO / "templates" / "staff").glob("*.j2")):
        assert not command.search(template.read_text(encoding="utf-8")), template.name
