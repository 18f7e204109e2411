"""Pure scheduling: reminder times in Paris across the time change, working days, slots, decisions, .ics."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from icalendar import Calendar as ICalendar

from mailflow.campaign.calendar_file import load_calendar
from mailflow.campaign.calendars import Calendar
from mailflow.campaign.rules import (
    Occurrence,
    Target,
    allocate,
    decide,
    invitation_ics,
    occurrences,
    reminder_due,
    shift_to_working_day,
    slot_times,
)

REPO = Path(__file__).resolve().parents[1]
NOW = datetime(2025, 6, 1, tzinfo=UTC)
GRACE = timedelta(hours=72)


@pytest.fixture(scope="module")
def projects() -> Calendar:
    return load_calendar(REPO / "schedules" / "projet-collectif-2025-2026.toml")


def target(
    reference: str, status: str = "complete", *, at: datetime = NOW, **addresses: str | None
) -> Target:
    emails = {
        "sender": "rh@ville.example.fr",
        "tutor": "dga@ville.example.fr",
        "hr": "rh@ville.example.fr",
        "dgs": "dgs@ville.example.fr",
    }
    emails.update(addresses)
    return Target(pk=1, reference=reference, status=status, received_at=at, changed_at=at, addresses=emails)


def test_reminders_keep_their_paris_time_across_the_time_change(projects: Calendar) -> None:
    """09:00 in Paris is 07:00 UTC in October (summer time) and 08:00 UTC in December (winter time)."""
    october = reminder_due(projects, projects.reminder("conditions-accueil"))
    december = reminder_due(projects, projects.reminder("fin-de-projet"))
    assert october == datetime(2025, 10, 6, 7, 0, tzinfo=UTC)
    assert december == datetime(2025, 12, 5, 8, 0, tzinfo=UTC)
    assert (
        october.astimezone(projects.timezone).time()
        == december.astimezone(projects.timezone).time()
        == time(9)
    )


def test_shipped_reminders_fall_on_the_seed_dates(projects: Calendar) -> None:
    """Incomplete reminder a week before 20 June, slots mailed in August, decisions on 5 September."""
    local = {r.id: reminder_due(projects, r) for r in projects.reminders}
    paris = {k: v.astimezone(projects.timezone) for k, v in local.items() if v is not None}
    assert paris["relance-incomplet"] == datetime(2025, 6, 13, 9, 0, tzinfo=projects.timezone)
    assert paris["invitation-teams"].date().month == 8
    assert paris["equipe-retenue"].date() == paris["equipe-non-retenue"].date() == date(2025, 9, 5)
    assert paris["convention-rh"].date() < date(2025, 10, 13)
    assert paris["grille-evaluation"].date() == date(2025, 12, 19)
    assert local["veille-teams"] is None  # relative to each proposal's slot


def test_weekends_and_public_holidays_are_skipped_when_asked(projects: Calendar) -> None:
    """A date on a Sunday or on 15 August moves to the previous (or next) working day."""
    assert shift_to_working_day(projects, date(2025, 8, 17), "previous") == date(
        2025, 8, 14
    )  # Sun, Fri 15 Aug off
    assert shift_to_working_day(projects, date(2025, 8, 16), "next") == date(2025, 8, 18)
    assert shift_to_working_day(projects, date(2025, 12, 26), "next") == date(
        2025, 12, 29
    )  # Alsace: 26 Dec off
    assert shift_to_working_day(projects, date(2025, 8, 17), None) == date(2025, 8, 17)


def test_the_day_before_a_monday_meeting_is_the_friday(projects: Calendar) -> None:
    """The eve reminder of a meeting on a Monday is sent on the Friday before, at 09:00 Paris."""
    veille = projects.reminder("veille-teams")
    monday = (datetime(2025, 9, 1, 7, 30, tzinfo=UTC), datetime(2025, 9, 1, 8, 0, tzinfo=UTC))
    [mail] = occurrences(
        projects,
        replace(veille, audience=("sender",)),
        [target("PC-2025-0001")],
        {("teams", "PC-2025-0001"): monday},
    )
    assert mail.due_at.astimezone(projects.timezone) == datetime(2025, 8, 29, 9, 0, tzinfo=projects.timezone)


def test_slots_cover_the_three_days_without_overlap(projects: Calendar) -> None:
    """Teams slots: 27-29 August, within the configured hours, 30 minutes each, none overlapping."""
    slots = slot_times(projects, projects.slot_rule("teams"))
    assert len(slots) == 36
    assert {s[0].astimezone(projects.timezone).date() for s in slots} == {
        date(2025, 8, d) for d in (27, 28, 29)
    }
    for (start, end), (next_start, _) in zip(slots, slots[1:], strict=False):
        assert end - start == timedelta(minutes=30)
        assert end <= next_start
    assert slots[0][0].astimezone(projects.timezone).time() == time(9, 30)


def test_each_proposal_gets_its_own_slot_and_keeps_it(projects: Calendar) -> None:
    """No two proposals share a slot; one that already has a slot keeps it; the overflow is reported."""
    rule = replace(projects.slot_rule("teams"), days=(date(2025, 8, 27),), hours=((time(9), time(10)),))
    first, _ = allocate(projects, rule, ["A"], {})
    given, unplaced = allocate(projects, rule, ["A", "B", "C"], {"A": first["A"][0]})
    assert "A" not in given
    assert given["B"][0] != first["A"][0]
    assert unplaced == ["C"]


def test_one_mail_per_address_even_when_sender_and_tutor_are_the_same(projects: Calendar) -> None:
    """A reminder to sender and tutor goes once to a person who is both; superseded versions get nothing."""
    reminder = projects.reminder("equipe-retenue")
    same = target("PC-2025-0001", "accepted", tutor="RH@ville.example.fr")
    old = target("PC-2025-0002", "superseded")
    mails = occurrences(projects, reminder, [same, old], {})
    assert [(m.recipient, m.key) for m in mails] == [("rh@ville.example.fr", "equipe-retenue:PC-2025-0001")]
    assert mails[0].cause == "reminder:projet-collectif-2025-2026:equipe-retenue:PC-2025-0001"


def test_status_filter_chooses_who_is_reminded(projects: Calendar) -> None:
    """The incomplete reminder goes to incomplete proposals only."""
    reminder = projects.reminder("relance-incomplet")
    mails = occurrences(projects, reminder, [target("A", "complete"), target("B", "incomplete")], {})
    assert [m.target.reference for m in mails if m.target] == ["B"]


def test_decisions_wait_send_miss_and_skip(projects: Calendar) -> None:
    """Before its time: wait; within grace: send; later: missed; before the service existed: skip."""
    reminder = projects.reminder("relance-incomplet")
    due = reminder_due(projects, reminder)
    assert due is not None
    mail = Occurrence(projects.id, reminder, due, "rh@ville.example.fr", target("B", "incomplete"))
    since = datetime(2025, 6, 1, tzinfo=UTC)
    assert decide(projects, mail, due - timedelta(minutes=1), GRACE, since) == "wait"
    assert decide(projects, mail, due, GRACE, since) == "send"
    assert decide(projects, mail, due + GRACE, GRACE, since) == "send"
    assert decide(projects, mail, due + GRACE + timedelta(minutes=1), GRACE, since) == "missed"
    assert decide(projects, mail, due + timedelta(days=30), GRACE, due + timedelta(days=20)) == "skip"


def test_a_decision_after_the_date_still_gets_its_mail_until_the_limit(projects: Calendar) -> None:
    """A proposal accepted after 5 September still gets « retenue » (until the tutor calls), not after."""
    reminder = projects.reminder("equipe-retenue")
    due = reminder_due(projects, reminder)
    assert due is not None
    since = datetime(2025, 6, 1, tzinfo=UTC)
    late_decision = datetime(2025, 9, 9, 10, tzinfo=UTC)
    accepted = replace(target("A", "accepted"), changed_at=late_decision)
    mail = Occurrence(projects.id, reminder, due, "rh@ville.example.fr", accepted)
    assert decide(projects, mail, late_decision, GRACE, since) == "send"
    too_late = replace(accepted, changed_at=datetime(2025, 9, 20, tzinfo=UTC))
    mail = Occurrence(projects.id, reminder, due, "rh@ville.example.fr", too_late)
    assert decide(projects, mail, datetime(2025, 9, 20, 1, tzinfo=UTC), GRACE, since) == "skip"


def test_a_proposal_received_after_a_reminder_without_limit_is_not_reminded(projects: Calendar) -> None:
    """The incomplete reminder of 13 June is not sent to a proposal that arrived on 16 June."""
    reminder = projects.reminder("relance-incomplet")
    due = reminder_due(projects, reminder)
    assert due is not None
    arrived = target("B", "incomplete", at=datetime(2025, 6, 16, tzinfo=UTC))
    mail = Occurrence(projects.id, reminder, due, "rh@ville.example.fr", arrived)
    assert decide(projects, mail, datetime(2025, 6, 16, 1, tzinfo=UTC), GRACE, NOW) == "skip"


def test_invitation_is_a_valid_rfc5545_request_in_paris_time(projects: Calendar) -> None:
    """The .ics is a METHOD:REQUEST event at the slot's Paris time, for the recipient, with a stable UID."""
    rule = projects.slot_rule("teams")
    slot = slot_times(projects, rule)[0]
    raw = invitation_ics(
        projects,
        rule,
        slot,
        uid="x.teams.PC-2025-0001@cnfpt.fr",
        organizer="stages.inet@cnfpt.fr",
        attendee="rh@ville.example.fr",
        summary="Réunion Teams – PC-2025-0001",
        now=NOW,
    )
    parsed = ICalendar.from_ical(raw)
    assert str(parsed["METHOD"]) == "REQUEST"
    [event] = parsed.walk("VEVENT")
    start = event.decoded("DTSTART")
    assert start.tzinfo is not None and str(start.tzinfo) == "Europe/Paris"
    assert (start.date(), start.time()) == (date(2025, 8, 27), time(9, 30))
    assert event.decoded("DTEND") - start == timedelta(minutes=30)
    assert str(event["UID"]) == "x.teams.PC-2025-0001@cnfpt.fr"
    assert str(event["ATTENDEE"]) == "mailto:rh@ville.example.fr"
    assert str(event["SUMMARY"]) == "Réunion Teams – PC-2025-0001"
    assert parsed.walk("VTIMEZONE"), "the time zone is described for clients that do not know it"
