"""The Teams link of a slot: in the invitation, its .ics and the reminder; an updated invitation keeps its
UID with a higher SEQUENCE; staff are told when invitations go out without a link."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

from icalendar import Calendar as ICalendar

from mailflow.campaign.calendars import Calendar
from mailflow.campaign.digest import build_digest
from mailflow.campaign.due import run_due
from mailflow.campaign.invitations import without_link
from mailflow.clock import ManualClock
from mailflow.context import App
from tests.campaign_factories import CAMPAIGN, add_proposal, outbox, set_status
from tests.factories import make_app

LINK = "https://teams.microsoft.com/l/meetup-join/19%3ameeting-exemple"
AUGUST_4 = datetime(2025, 8, 4, 7, 0, tzinfo=UTC)


def with_link(app: App, link: str) -> None:
    """Set the Teams link of the campaign's « teams » slots, as an edit of the calendar file would."""
    calendar: Calendar = app.calendars[CAMPAIGN]
    slots = tuple(dataclasses.replace(rule, link=link) if rule.kind == "teams" else rule for rule in calendar.slots)
    app.calendars[CAMPAIGN] = dataclasses.replace(calendar, slots=slots)


def invitation(row) -> tuple[str, ICalendar]:  # noqa: ANN001
    mail = message_from_bytes(row.raw, policy=policy.default)
    [ics] = [part for part in mail.iter_attachments() if part.get_filename() == "invitation.ics"]
    return " ".join(mail.get_body(("plain",)).get_content().split()), ICalendar.from_ical(ics.get_content())


def event_of(calendar: ICalendar):  # noqa: ANN201
    return next(component for component in calendar.walk("VEVENT"))


def test_link_in_the_invitation_its_ics_and_the_reminder(tmp_path: Path) -> None:
    """With a link in the calendar, the mail, the .ics (LOCATION, URL) and the day-before reminder carry it."""
    app = make_app(tmp_path, clock=ManualClock(datetime(2025, 6, 1, tzinfo=UTC)))
    with_link(app, LINK)
    run_due(app)
    add_proposal(app, datetime(2025, 6, 5, tzinfo=UTC))
    app.clock.set(AUGUST_4)
    run_due(app)
    rows = outbox(app, "collectivite/rappel-reunion-teams")
    assert rows
    text, ics = invitation(rows[0])
    assert f"Lien de connexion à la réunion Teams : {LINK}" in text
    event = event_of(ics)
    assert str(event["LOCATION"]) == LINK and str(event["URL"]) == LINK
    assert int(event["SEQUENCE"]) == 0
    app.clock.set(datetime(2025, 8, 26, 7, 0, tzinfo=UTC))
    run_due(app)
    [eve] = outbox(app, "collectivite/rappel-veille-teams")[:1]
    assert LINK in message_from_bytes(eve.raw, policy=policy.default).get_body(("plain",)).get_content()


def test_link_set_later_sends_an_update_with_the_same_uid(tmp_path: Path) -> None:
    """Sent without a link, the invitation says it will follow; once set, an update goes with SEQUENCE 1."""
    app = make_app(tmp_path, clock=ManualClock(datetime(2025, 6, 1, tzinfo=UTC)))
    run_due(app)
    add_proposal(app, datetime(2025, 6, 5, tzinfo=UTC))
    app.clock.set(AUGUST_4)
    run_due(app)
    first = outbox(app, "collectivite/rappel-reunion-teams")
    text, ics = invitation(first[0])
    assert "Le lien de connexion à la réunion Teams vous sera adressé par courriel avant la réunion" in text
    assert str(event_of(ics)["LOCATION"]) == "Microsoft Teams" and "URL" not in event_of(ics)
    run_due(app)
    assert len(outbox(app, "collectivite/rappel-reunion-teams")) == len(first)  # nothing changed, nothing sent
    with_link(app, LINK)
    app.clock.set(AUGUST_4 + timedelta(days=2))
    run_due(app)
    run_due(app)
    rows = outbox(app, "collectivite/rappel-reunion-teams")
    updates = rows[len(first):]
    assert len(updates) == len(first)  # one update to each recipient of the first invitation, once
    mail = message_from_bytes(updates[0].raw, policy=policy.default)
    assert str(mail["Subject"]).split("] ", 1)[1].startswith("Mise à jour")
    text, new = invitation(updates[0])
    assert "Ce courriel met à jour l'invitation" in text and LINK in text
    assert str(event_of(new)["UID"]) == str(event_of(ics)["UID"])
    assert int(event_of(new)["SEQUENCE"]) == 1
    assert str(event_of(new)["URL"]) == LINK


def test_staff_are_told_of_slots_without_a_link(tmp_path: Path) -> None:
    """A week before the invitations, and until the meetings, the digest names the slots without a link."""
    app = make_app(tmp_path, clock=ManualClock(datetime(2025, 7, 29, 5, 0, tzinfo=UTC)))
    [line] = without_link(app.calendars, app.clock.now())
    assert "aucun lien de connexion" in line and "lundi 4 août 2025" in " ".join(line.split())
    assert without_link(app.calendars, datetime(2025, 7, 1, tzinfo=UTC)) == []
    assert without_link(app.calendars, datetime(2025, 8, 30, tzinfo=UTC)) == []
    digest = build_digest(app, app.clock.now(), force=True)
    assert digest is not None
    assert "LIENS DE RÉUNION MANQUANTS (1)" in digest.get_body(("plain",)).get_content()
    with_link(app, LINK)
    assert without_link(app.calendars, app.clock.now()) == []


def test_non_retenue_says_who_did_not_keep_the_mission(tmp_path: Path) -> None:
    """Rejected after its Teams meeting: not chosen by the students; rejected unseen: not kept by the INET."""
    app = make_app(tmp_path, clock=ManualClock(datetime(2025, 6, 1, tzinfo=UTC)))
    run_due(app)
    shown = add_proposal(app, datetime(2025, 6, 5, tzinfo=UTC))
    unseen = add_proposal(app, datetime(2025, 6, 6, tzinfo=UTC), status="incomplete",
                          missing=("collectivity.hr_email",))
    app.clock.set(AUGUST_4)
    run_due(app)
    app.clock.set(datetime(2025, 9, 1, tzinfo=UTC))
    set_status(app, shown, "rejected")
    set_status(app, unseen, "rejected")
    app.clock.set(datetime(2025, 9, 5, 12, 0, tzinfo=UTC))
    run_due(app)
    texts = {}
    for row in outbox(app, "collectivite/rappel-equipe-non-retenue"):
        mail = message_from_bytes(row.raw, policy=policy.default)
        texts[str(mail["Subject"])[1:13]] = " ".join(mail.get_body(("plain",)).get_content().split())
    assert "n'a été choisie par aucune équipe d'élèves" in texts[shown]
    assert "n'a pas été retenue par l'INET" in texts[unseen]
    assert "dépasse chaque année" not in texts[shown] + texts[unseen]
