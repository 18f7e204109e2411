"""The 2025-2026 campaign, 1 June to 31 December 2025, on an injected clock, through the whole service.

Proposals are delivered to the Maildir at their arrival time, staff decide on 5 and
8 September, and the service's pass (`run_once`: mailbox, reminders, digests, outbox) runs at
every moment something is due. Every mail that reaches the SMTP server is checked: who, when,
which template, the .ics; none is missing and none is sent twice, with or without restarts.
"""

from __future__ import annotations

import mailbox
import os
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import holidays
import pytest
from icalendar import Calendar as ICalendar
from sqlalchemy import select

from mailflow.campaign.due import next_due
from mailflow.clock import ManualClock
from mailflow.context import App
from mailflow.db.models import Message, OutboxMail
from mailflow.service.app import build_app, run_once
from mailflow.staff import mark_handled
from tests.campaign_factories import set_status
from tests.factories import collectivity, make_app, proposal_mail, question_mail
from tests.test_digest import spaced

PARIS = ZoneInfo("Europe/Paris")
START = datetime(2025, 6, 1, 0, 0, tzinfo=PARIS)
END = datetime(2025, 12, 31, 23, 0, tzinfo=PARIS)
STAFF = "stages.inet@cnfpt.fr"


def paris(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2025, month, day, hour, minute, tzinfo=PARIS)


@dataclass(frozen=True)
class Sent:
    """A mail as the SMTP server got it: template (from the outbox), recipient, Paris time, the mail."""

    template: str
    recipient: str
    at: datetime
    mail: EmailMessage


class Campaign:
    """The collectivités of the simulation and what happens to them."""

    def __init__(self) -> None:
        self.a = collectivity(31)
        self.b = collectivity(32)
        self.c = collectivity(33)
        self.d = collectivity(34)
        self.e = collectivity(35)
        self.f = collectivity(36)
        self.f["tutor_email"] = self.f["sender"]  # the tutor sends the proposal herself
        self.g = collectivity(37)
        b_first = dict(self.b, hr_email="")
        c_first = dict(self.c, tutor_role="")
        g_first = dict(self.g, hr_email="")
        self.arrivals = [
            (paris(6, 3, 10), "a", proposal_mail(self.a)),
            (paris(6, 5, 11), "b1", proposal_mail(b_first)),
            (paris(6, 10, 16), "c", proposal_mail(c_first)),
            (paris(6, 12, 9, 15), "f", proposal_mail(self.f)),
            (paris(6, 16, 14), "b2", proposal_mail(self.b, subject="RE: [PC-2025-0002] Accusé de réception")),
            (paris(6, 17, 18), "g", proposal_mail(g_first)),
            (paris(6, 18, 8, 45), "d", proposal_mail(self.d)),
            (paris(6, 23, 10), "e", proposal_mail(self.e)),
            (paris(7, 2, 11), "q", question_mail("secretariat@ville-question.example.fr")),
        ]
        self.references = {
            "a": "PC-2025-0001",
            "b": "PC-2025-0002",
            "c": "PC-2025-0003",
            "f": "PC-2025-0004",
            "g": "PC-2025-0005",
            "d": "PC-2025-0006",
            "e": "PC-2025-0007",
        }
        self.decisions = [
            (paris(9, 4, 17), "a", "accepted"),
            (paris(9, 4, 17, 5), "b", "rejected"),
            (paris(9, 5, 10), "d", "accepted"),
            (paris(9, 8, 10), "f", "accepted"),  # decided after the teams were announced
        ]
        self.question_closed = paris(7, 15, 16)  # staff answered it and closed it in the console

    def expected(self) -> list[tuple[str, str, datetime]]:
        """Every mail of the campaign: (template, recipient, Paris time)."""
        a, b, c, d, e, f, g = self.a, self.b, self.c, self.d, self.e, self.f, self.g
        mails = [
            ("collectivite/accuse-reception", a["sender"], paris(6, 3, 10)),
            ("collectivite/accuse-reception-incomplet", b["sender"], paris(6, 5, 11)),
            ("collectivite/accuse-reception-incomplet", c["sender"], paris(6, 10, 16)),
            ("collectivite/accuse-reception", f["sender"], paris(6, 12, 9, 15)),
            ("collectivite/rappel-incomplet", b["sender"], paris(6, 13, 9)),
            ("collectivite/rappel-incomplet", c["sender"], paris(6, 13, 9)),
            ("collectivite/nouvelle-version", b["sender"], paris(6, 16, 14)),
            ("collectivite/accuse-reception-incomplet", g["sender"], paris(6, 17, 18)),
            ("collectivite/accuse-reception", d["sender"], paris(6, 18, 8, 45)),
            ("collectivite/hors-delai", e["sender"], paris(6, 23, 10)),
            ("collectivite/question-recue", "secretariat@ville-question.example.fr", paris(7, 2, 11)),
        ]
        complete = [a, b, f, d]  # in order of first arrival: that is the order of the slots
        for who in complete:
            for address in dict.fromkeys([who["sender"], who["tutor_email"]]):
                mails.append(("collectivite/rappel-reunion-teams", address, paris(8, 4, 9)))
                mails.append(("collectivite/rappel-veille-teams", address, paris(8, 26, 9)))
        for who in (a, d):
            mails.append(("collectivite/rappel-equipe-retenue", who["sender"], paris(9, 5, 14)))
            mails.append(("collectivite/rappel-equipe-retenue", who["tutor_email"], paris(9, 5, 14)))
            mails.append(("tuteur/appel-tuteur", who["tutor_email"], paris(9, 5, 14, 30)))
        mails.append(("collectivite/rappel-equipe-non-retenue", b["sender"], paris(9, 5, 14)))
        mails.append(("collectivite/rappel-equipe-retenue", f["sender"], paris(9, 8, 10)))
        mails.append(("tuteur/appel-tuteur", f["tutor_email"], paris(9, 8, 10)))
        for who in (a, d, f):
            mails.append(("tuteur/rappel-veille-appel", who["tutor_email"], paris(9, 10, 9)))
            mails.append(("rh/convention-accueil", who["hr_email"], paris(9, 15, 9)))
            mails.append(("tuteur/conditions-accueil", who["tutor_email"], paris(10, 6, 9)))
            mails.append(("tuteur/fin-de-projet", who["tutor_email"], paris(12, 5, 9)))
            mails.append(("tuteur/grille-evaluation", who["tutor_email"], paris(12, 19, 9)))
        return sorted(mails, key=lambda m: (m[2], m[0], m[1]))

    def teams_slots(self) -> dict[str, datetime]:
        """The Teams slot each complete proposal should get, first come first served."""
        order = ["a", "b", "f", "d"]
        return {
            self.references[k]: paris(8, 27, 9, 30) + timedelta(minutes=30 * i) for i, k in enumerate(order)
        }

    def tutor_slots(self) -> dict[str, datetime]:
        """The tutor call slots: A and D on 5 September, F after its late decision."""
        order = ["a", "d", "f"]
        return {self.references[k]: paris(9, 11, 9) + timedelta(minutes=30 * i) for i, k in enumerate(order)}


def deliver(app: App, message: EmailMessage, at: datetime) -> None:
    """Put a mail in the Maildir as delivered at `at` (its file time is the received time)."""
    folder = Path(app.settings.resolve(app.settings.mailbox.path))
    box = mailbox.Maildir(folder, create=True)
    key = box.add(message.as_bytes())
    path = folder / "new" / key
    stamp = at.timestamp()
    os.utime(path, (stamp, stamp))


def simulate(  # noqa: ANN201
    tmp_path: Path, smtp, restarts: tuple[datetime, ...] = (), until: datetime = END  # noqa: ANN001
) -> tuple[App, Campaign]:
    """Run the campaign up to `until`; at each time in `restarts` the process stops and starts again on the same DB."""
    campaign = Campaign()
    clock = ManualClock(START)
    app = make_app(tmp_path, smtp=smtp, clock=clock)
    scripted = sorted(
        [(at, "arrival", (name, message)) for at, name, message in campaign.arrivals]
        + [(at, "decision", (who, status)) for at, who, status in campaign.decisions]
        + [(at, "restart", None) for at in restarts]
        + [(campaign.question_closed, "close", None)],
        key=lambda event: event[0],
    )
    now = START
    while now <= until:
        clock.set(now)
        while scripted and scripted[0][0] <= now:
            _, kind, payload = scripted.pop(0)
            if kind == "arrival":
                deliver(app, payload[1], now)
            elif kind == "decision":
                set_status(app, campaign.references[payload[0]], payload[1])
            elif kind == "close":
                close_question(app, now)
            else:
                app.engine.dispose()
                app = build_app(app.settings, clock=clock)
        report = run_once(app)
        assert report.failed == 0
        later = [t for t in (next_due(app, now), scripted[0][0] if scripted else None) if t is not None]
        now = min([*later, now + timedelta(days=1)])
    return app, campaign


def close_question(app: App, now: datetime) -> None:
    """Staff close the question in the console (« Marquer comme traité »)."""
    with app.sessions.begin() as session:
        [question] = session.scalars(select(Message.id).where(Message.verdict == "question"))
        mark_handled(session, "mail", question, "coordination@cnfpt.fr", now)


def received(app: App, smtp) -> list[Sent]:  # noqa: ANN001
    """What the SMTP server got, with each mail's template found in the outbox by its Message-ID."""
    with app.sessions() as session:
        kinds = {row.message_id: row.kind for row in session.scalars(select(OutboxMail))}
    found = []
    for got in smtp.messages:
        mail = got.message
        [recipient] = got.rcpt_tos
        at = parsedate_to_datetime(mail["Date"]).astimezone(PARIS)
        found.append(Sent(kinds[mail["Message-ID"].strip()], recipient.lower(), at, mail))
    return found


def working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in holidays.country_holidays("FR", subdiv="6AE", years=day.year)


@pytest.mark.parametrize(
    "restarts",
    [(), (paris(8, 20, 12), paris(9, 5, 14, 10), paris(12, 19, 8))],
    ids=["one-process", "restarted-three-times"],
)
@pytest.mark.slow
def test_whole_campaign_sends_every_mail_once_at_its_time(tmp_path: Path, smtp, restarts) -> None:  # noqa: ANN001
    """June→December 2025: every acknowledgement and reminder reaches the right person at its time, once."""
    app, campaign = simulate(tmp_path, smtp, restarts)
    sent = received(app, smtp)
    others = sorted(
        ((s.template, s.recipient, s.at) for s in sent if s.template != "staff/digest"),
        key=lambda m: (m[2], m[0], m[1]),
    )
    assert others == campaign.expected()

    teams = campaign.teams_slots()
    calls = campaign.tutor_slots()
    for mail in sent:
        if mail.template not in ("collectivite/rappel-reunion-teams", "tuteur/appel-tuteur"):
            assert not [p for p in mail.mail.iter_attachments() if p.get_content_type() == "text/calendar"]
            continue
        [part] = [p for p in mail.mail.iter_attachments() if p.get_content_type() == "text/calendar"]
        ics = ICalendar.from_ical(part.get_content())
        assert str(ics["METHOD"]) == "REQUEST"
        [event] = ics.walk("VEVENT")
        reference = str(event["UID"]).split("@")[0].rsplit(".", 1)[1]
        expected_start = (teams if mail.template.startswith("collectivite") else calls)[reference]
        assert event.decoded("DTSTART") == expected_start
        assert event.decoded("DTEND") - event.decoded("DTSTART") == timedelta(minutes=30)
        assert str(event["ATTENDEE"]) == f"mailto:{mail.recipient}"
        assert f"[{reference}]" in mail.mail["Subject"]

    digests = [s for s in sent if s.template == "staff/digest"]
    days = [s.at.date() for s in digests]
    assert len(days) == len(set(days)), "at most one digest a day"
    assert all(s.recipient == STAFF and s.at.time().strftime("%H:%M") == "07:30" for s in digests)
    assert all(working_day(day) for day in days)
    for at, _, _ in campaign.arrivals:
        day = at.date() + timedelta(days=1)
        while not working_day(day):
            day += timedelta(days=1)
        assert day in days, f"no digest the working day after the arrival of {at}"
    check_digests_day_by_day(digests)


def check_digests_day_by_day(digests: list[Sent]) -> None:
    """Read every digest as staff would: the open question in each until it is closed, the decisions on the eve
    of 5 September, silence on the working days with nothing open and nothing new."""
    texts = {s.at.date(): spaced(s.mail.get_body(("plain",)).get_content().replace("\r\n", "\n")) for s in digests}
    question = "- Question{new}, depuis {age} – secretariat@ville-question.example.fr – « Question sur les projets"
    day = date(2025, 7, 3)
    while day <= date(2025, 7, 15):  # open from 2 July 11:00 until closed on 15 July at 16:00
        if working_day(day):
            assert day in texts, f"no digest on {day} while a question waits"
            age = (day - date(2025, 7, 2)).days
            expected = question.format(
                new=" (NOUVEAU)" if day == date(2025, 7, 3) else "",
                age="hier" if age == 1 else f"{age} jours",
            )
            assert expected in texts[day], f"the question is not in the digest of {day}"
            assert "Pouvons-nous proposer deux missions ?" in texts[day]
        day += timedelta(days=1)
    assert not [d for d, text in texts.items() if d > date(2025, 7, 15) and "Question sur les projets" in text]
    # From 16 July until the decisions' notice (26 August) nothing is open and nothing new: no digest, except
    # in the week before the Teams invitations (4 August), to say that no meeting link is set yet.
    quiet = [d for d in texts if date(2025, 7, 16) <= d <= date(2025, 8, 25)]
    assert quiet == [d for d in quiet if date(2025, 7, 28) <= d <= date(2025, 8, 4)]
    assert all("LIENS DE RÉUNION MANQUANTS" in texts[d] for d in quiet)
    # 5 June (the 3 June proposal was in the 4 June digest) and 10 June (after the 9 June holiday): nothing.
    assert date(2025, 6, 4) in texts and date(2025, 6, 5) not in texts
    assert date(2025, 6, 6) in texts and date(2025, 6, 10) not in texts
    eve = texts[date(2025, 9, 4)]
    assert "DÉCISIONS À PRENDRE AVANT LE VENDREDI 5 SEPTEMBRE (demain)" in eve
    assert eve.index("NOUVEAU DEPUIS") < eve.index("DÉCISIONS À PRENDRE")
    waiting = eve.split("DÉCISIONS À PRENDRE")[1].split("\n\n")[0]
    for reference in ("PC-2025-0001", "PC-2025-0002", "PC-2025-0004", "PC-2025-0006", "PC-2025-0007"):
        assert f"- {reference} – " in waiting
    assert "PC-2025-0003" not in waiting and "PC-2025-0005" not in waiting  # incomplete: nothing to decide
    assert "Rien de nouveau." in eve and "À TRAITER" not in eve
    # From the notice (26 August) to the eve, every working day's digest lists what is left to decide.
    assert all(d in texts and "DÉCISIONS À PRENDRE" in texts[d] for d in
               (date(2025, 8, 26), date(2025, 8, 29), date(2025, 9, 1), date(2025, 9, 3)))


def test_service_down_longer_than_grace_reports_the_missed_reminder(tmp_path: Path, smtp) -> None:  # noqa: ANN001
    """Stopped from 25 to 29 August: the eve reminders of 26 August are not sent late but shown to staff."""
    campaign = Campaign()
    clock = ManualClock(START)
    app = make_app(tmp_path, smtp=smtp, clock=clock)
    for at, _, message in campaign.arrivals[:2]:
        clock.set(at)
        deliver(app, message, at)
        run_once(app)
    for moment in (paris(8, 4, 9), paris(8, 25, 9), paris(8, 29, 10)):
        clock.set(moment)
        run_once(app)
    sent = received(app, smtp)
    assert [s.template for s in sent if s.template == "collectivite/rappel-veille-teams"] == []
    digest = [s for s in sent if s.template == "staff/digest" and s.at.date() == date(2025, 8, 29)]
    text = digest[0].mail.get_body(("plain",)).get_content()
    assert "RAPPELS NON ENVOYÉS (2)" in text and "Rappel de la réunion Teams — PC-2025-0001" in text
