"""Every mail template, rendered for each audience, status and moment of the campaign, reads as French
typography asks: no breakable space before : ; ! ? », none inside a number, one colon per sentence,
no « (s) » plurals, and no date already past announced as to come."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from babel.dates import get_month_names

from mailflow.campaign.calendars import Calendar
from mailflow.campaign.digest import build_digest
from mailflow.campaign.reminders import reminder_context
from mailflow.campaign.rules import Occurrence, Target, reminder_due, slot_times
from mailflow.mail.compose import RenderedMail
from mailflow.mail.template_context import ACKNOWLEDGEMENTS, mail_context
from tests.factories import make_app
from tests.test_answer import LABELS, record

STATUSES = ("complete", "incomplete", "to_check", "late", "accepted", "rejected", "withdrawn")
# When each acknowledgement may be sent: before the deadline, just after it, during the project.
ACK_MOMENTS = (datetime(2025, 6, 10, 7, 45, tzinfo=UTC), datetime(2025, 7, 2, 9, 0, tzinfo=UTC),
               datetime(2025, 9, 8, 9, 0, tzinfo=UTC), datetime(2025, 12, 22, 9, 0, tzinfo=UTC))
MONTHS = {name: number for number, name in get_month_names("wide", locale="fr_FR").items()}
FRENCH_DATE = re.compile(r"(\d{1,2})(?:er)?[\s\u00a0\u202f](" + "|".join(MONTHS) + r")(?:[\s\u00a0\u202f](\d{4}))?")
FUTURE = re.compile(
    r"\b(avant le|prochaine?s?|à venir|sera|seront|aura|auront|\w+(?:era|eront|ira|iront|dra|dront))\b", re.IGNORECASE
)
URL = re.compile(r"(?:https?://|mailto:)\S+")


def faults(text: str, today: date) -> list[str]:
    """The typographic faults of one rendered text, each with its context."""
    text = URL.sub("URL", text)
    found = []
    for pattern, what in ((r" [:;!?»]", "regular space before high punctuation"), (r"« ", "regular space after «"),
                          (r"\d \d", "digit group split by a regular space"),
                          (r"\((?:s|x|e|es)\)", "(s) plural")):
        found += [f"{what}: …{text[max(0, m.start() - 40):m.end() + 20]!r}" for m in re.finditer(pattern, text)]
    for segment in re.split(r"\n\s*\n|\n(?=\s*(?:-|\d+\.) )|(?<=[.!?])\s+(?=[A-ZÀ-Ý«])", text):
        ours = re.sub(r"«[^»]*»", "«»", segment)  # a colon in a quoted subject or title is the sender's
        if len(re.findall(r"[\s\u00a0\u202f]:", ours)) > 1:
            found.append(f"two colons in one sentence: {' '.join(segment.split())!r}")
    for sentence in re.split(r"\n\s*\n|(?<=[.!?])\s+(?=[A-ZÀ-Ý«-])", text):
        for match in FRENCH_DATE.finditer(sentence):
            day, month, year = int(match.group(1)), MONTHS[match.group(2)], match.group(3)
            when = date(int(year) if year else today.year, month, day)
            if when < today and FUTURE.search(sentence):
                found.append(f"past date {when} announced as to come (today {today}): {' '.join(sentence.split())!r}")
    return found


def readable(rendered: RenderedMail) -> Iterator[tuple[str, str]]:
    """The subject, the text part and the text of the HTML part (tags removed)."""
    yield "subject", rendered.subject
    yield "text", rendered.text
    body = re.sub(r"(?s)<head>.*?</head>", "", rendered.html)
    body = re.sub(r"</?(?:p|li|ul|ol|tr|table|h\d|br|div)\b[^>]*>", "\n\n", body)
    yield "html", html.unescape(re.sub(r"<[^>]+>", "", body))


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return make_app(tmp_path_factory.mktemp("typography"))


def calendar_of(app: Any) -> Calendar:
    return app.calendars["projet-collectif-2025-2026"]


def proposal(status: str, phone: bool = True) -> dict[str, Any]:
    """The test proposal with a status (incomplete ones miss an e-mail and have a bad SIRET)."""
    changes: dict[str, Any] = {"status": status,
                               "collectivity": {"name": "Ville de Saint-Exemple", "siret": "21690266800013"},
                               "tutor": {"phone": "+33199005678" if phone else None,
                                         "role": "Directrice générale adjointe Aménagement"}}
    if status in ("incomplete", "late"):
        changes.update(missing=["collectivity.hr_email"],
                       problems=["collectivity.siret: numéro SIRET invalide (clé de contrôle)"])
    return record(**changes)


def check(app: Any, name: str, context: dict[str, Any], today: date, where: str) -> list[str]:
    rendered = app.templates.render(name, context)
    return [f"{name} [{where}] {part}: {fault}" for part, text in readable(rendered) for fault in faults(text, today)]


def test_acknowledgements_for_every_status_and_moment(app: Any) -> None:
    """Each acknowledgement, for each status and each moment it may be sent at, has no typographic fault."""
    problems: list[str] = []
    for name in ACKNOWLEDGEMENTS:
        for status in STATUSES:
            for now in ACK_MOMENTS:
                record_ = proposal(status)
                record_["received_at"] = now.isoformat()
                context = mail_context(
                    proposal=record_, label=lambda path: LABELS.get(path, path), campaign=calendar_of(app),
                    original={"subject": "Proposition : projet collectif", "message_id": "<m1@saint-test.fr>",
                              "sender": record_["sender"], "received_at": now},
                    unreadable=[{"filename": "fiche.pdf", "reason": "document numérisé"}], now=now,
                    recipient=record_["sender"],
                )
                problems += check(app, name, context, now.date(), f"{status}, {now:%Y-%m-%d}")
    assert problems == []


def reminder_cases(app: Any) -> Iterator[tuple[str, dict[str, Any], date, str]]:
    """Every reminder of the shipped calendars, to each audience, for each status it concerns, with and
    without a phone, a Teams link, and for both kinds of « non retenue »."""
    for calendar in app.calendars.values():
        for reminder in calendar.reminders:
            slot = slot_times(calendar, calendar.slot_rule(reminder.slot))[3] if reminder.slot else None
            due = reminder_due(calendar, reminder)
            if due is None:
                assert slot is not None
                due = slot[0] - timedelta(days=1)
            for status in reminder.statuses or ("complete",):
                for phone in (True, False):
                    data = proposal(status, phone)
                    target = Target(0, data["reference"], status, due, due, {
                        "sender": data["sender"], "tutor": data["tutor"]["email"],
                        "hr": data["collectivity"]["hr_email"], "dgs": data["dgs"]["email"]})
                    audiences = [a for a in reminder.audience if a in target.addresses] or ["staff"]
                    for audience in audiences:
                        recipient = target.addresses.get(audience) or "staff@cnfpt.fr"
                        occurrence = Occurrence(calendar.id, reminder, due, recipient,
                                                target if reminder.per_proposal else None, slot)
                        record_ = data if reminder.per_proposal else None
                        for variant in ("students", "institute", "link"):
                            context = reminder_context(app, occurrence, record_, due)
                            context["rejected_by"] = variant if variant != "link" else None
                            if variant == "link" and context["slot"] is not None:
                                context["slot"]["link"] = "https://teams.microsoft.com/l/meetup-join/exemple"
                            where = f"{audience}, {status}, phone={phone}, {variant}"
                            yield reminder.template, context, due.date(), where


def test_reminders_for_every_audience_and_status(app: Any) -> None:
    """Each reminder, to each of its audiences and for each status it concerns, has no typographic fault."""
    problems: list[str] = []
    seen = set()
    for name, context, today, where in reminder_cases(app):
        seen.add(name)
        problems += check(app, name, context, today, where)
    assert problems == []
    assert seen >= {n for n in app.templates.names() if n.startswith(("tuteur/", "rh/"))}


def test_staff_mails(app: Any, tmp_path: Path) -> None:
    """The digest and the mailbox alerts have no typographic fault."""
    now = datetime(2025, 8, 1, 5, 30, tzinfo=UTC)
    digest = build_digest(app, now, force=True)
    assert digest is not None
    problems = [f"staff/digest {fault}" for part in ("plain", "html")
                for fault in faults(html.unescape(re.sub(r"<[^>]+>", "\n", digest.get_body((part,)).get_content())),
                                    now.date())]
    problems += faults(str(digest["Subject"]), now.date())
    alert = {"mailbox": "stages.inet@cnfpt.fr", "folder": "INBOX", "last_contact": now - timedelta(hours=2),
             "back_at": now, "now": now, "limit_minutes": 15, "duration": "2 h 05", "error": "délai dépassé",
             "host": "mailflow-1"}
    for name in ("staff/alerte-boite", "staff/retour-normal"):
        problems += check(app, name, alert, now.date(), "staff")
    assert problems == []


def test_the_check_finds_each_fault() -> None:
    """The check itself: each fault it claims to find is found, and correct text passes."""
    today = date(2025, 7, 2)
    good = "Votre créneau\u00a0: le mercredi 27\u00a0août\u00a02025, de 9\u00a0h à 9\u00a0h\u00a030."
    assert faults(good, today) == []
    assert faults("Objet : test", today)
    assert faults("« test\u00a0»", today)
    assert faults("SIRET 216 902\u00a0668\u00a000013", today)
    assert faults("Objet\u00a0: test\u00a0: encore.", today)
    assert faults("2\u00a0proposition(s)", today)
    assert faults("Merci de nous la transmettre avant le vendredi 20\u00a0juin\u00a02025.", today)
    assert faults("La date limite était fixée au vendredi 20\u00a0juin\u00a02025.", today) == []
