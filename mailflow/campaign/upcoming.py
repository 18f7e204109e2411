"""What mailflow will send in the next days: each reminder and digest with its date, audience and recipients
(`mailflow schedule list`, the digest, the console's calendar)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailflow.campaign.calendars import PROPOSAL_AUDIENCES, Calendar, Reminder, staff_working_day
from mailflow.campaign.export import STATUS_FR
from mailflow.campaign.reminders import mails_of, plan, service_since_now
from mailflow.campaign.rules import (
    Occurrence,
    SlotTime,
    allocate,
    concerned,
    decide,
    due_on,
    effective_due,
    reminder_due,
    slot_times,
    until_end,
)
from mailflow.campaign.wording import day_fr, moment_fr
from mailflow.db.models import Proposal
from mailflow.mail.french import time_fr

if TYPE_CHECKING:
    from mailflow.context import App

DIGEST_TEMPLATE = "staff/digest"

AUDIENCE_FR = {
    "sender": "l'expéditeur de la proposition",
    "tutor": "le tuteur",
    "hr": "le contact RH",
    "dgs": "le DGS",
    "staff": "le service des stages",
    "past_senders": "les collectivités des campagnes précédentes",
}


@dataclass(frozen=True)
class Upcoming:
    """One mail mailflow will send: when, to whom (or to which audience), which template, about what."""

    at: datetime
    campaign: str
    reminder: str
    template: str
    recipient: str | None
    reference: str | None
    description: str
    audience: str = ""
    local: datetime | None = None
    words: str = ""
    event: date | datetime | None = None
    event_words: str = ""

    @property
    def who(self) -> str:
        """The address, or the audience in words when no proposal is concerned yet."""
        return self.recipient or self.audience

    def __str__(self) -> str:
        """One line of `mailflow schedule list`: the mail's date, the event's date, what, to whom."""
        local = self.local or self.at
        moment = f"{local:%Y-%m-%d %H:%M} {day_fr(local, local.tzinfo or UTC)}"
        event = f"({self.event_words})" if self.event_words else ""
        about = f" [{self.reference}]" if self.reference else ""
        return f"{moment:<38} {event:<32} {self.words or self.description} → {self.who}{about}"


def upcoming(
    app: App,
    now: datetime,
    days: int = 7,
    campaign: str | None = None,
    *,
    digests: bool = True,
    session: Session | None = None,
) -> list[Upcoming]:
    """The mails due after `now` and within `days`, in order, as the calendars and the database stand.

    Proposals that would get a slot are shown at the slot they would get; a reminder no
    proposal is concerned by yet is shown once, with its audience in words, so that the
    list reads like the campaign's timetable. With `digests`, the next digest is included.
    """
    if session is None:
        with app.sessions() as own:
            return upcoming(app, now, days, campaign, digests=digests, session=own)
    end = now + timedelta(days=days)
    grace = timedelta(hours=app.settings.campaigns.grace_hours)
    since = service_since_now(app, now, session)
    found: list[Upcoming] = []
    for calendar in app.calendars.values():
        if campaign is not None and calendar.id != campaign:
            continue
        reminders = [r for r in calendar.reminders if _in_window(calendar, r, now, end)]
        if not reminders:
            continue
        current = plan(app, session, calendar, reminders)
        names = _names(session, calendar.id)
        for reminder in reminders:
            if reminder.slot and not reminder.slot_relative:
                _tentative_slots(calendar, reminder, current.targets, current.slots)
            rows = []
            for occurrence in mails_of(app, current, reminder):
                at = effective_due(calendar, occurrence)
                if at is None or decide(calendar, occurrence, max(now, at), grace, since) != "send":
                    continue
                if now < at <= end:
                    rows.append(_row(calendar, occurrence, at, names))
            if not rows and not _any_target(reminder, current.targets):
                placeholder = _placeholder(calendar, reminder, now, end)
                if placeholder is not None:
                    rows.append(placeholder)
            found.extend(rows)
    if digests and campaign is None:
        found.extend(_next_digest(app, now, end))
    return sorted(found, key=lambda u: (u.at, u.campaign, u.reminder, u.reference or "", u.who))


def _in_window(calendar: Calendar, reminder: Reminder, now: datetime, end: datetime) -> bool:
    """Whether a reminder may have a mail due in (now, end]: its time, up to its `until`, meets the window."""
    due = reminder_due(calendar, reminder)
    if due is None:
        return True
    return due <= end and max(due, until_end(calendar, reminder) or due) > now


def _names(session: Session, campaign: str) -> dict[str, str]:
    """The collectivité's name of each current proposal of a campaign, by reference."""
    rows = session.execute(
        select(Proposal.reference, Proposal.fields).where(
            Proposal.campaign == campaign, Proposal.status != "superseded"
        )
    )
    return {ref: ((fields or {}).get("collectivity") or {}).get("name") or "" for ref, fields in rows}


def words(
    calendar: Calendar, reminder: Reminder, slot: SlotTime | None = None, name: str = ""
) -> tuple[str, date | datetime | None, str]:
    """What a mail announces, in words, with the date of the event it is about (and that date in words).

    « Invitation à la réunion Teams du jeudi 28 août, 10 h — Ville de Brest »; the event is the
    slot for a slot mail, else the reminder's named date when the mail is sent before it.
    """
    what = reminder.announce or reminder.description or reminder.id
    event: date | datetime | None = None
    zone = calendar.timezone
    event_words = ""
    if slot is not None:
        event = slot[0]
        what = f"{what} du {moment_fr(slot[0], zone)}"
        event_words = f"le {day_fr(event, zone)}, {time_fr(event, zone)}"
    elif reminder.slot is not None:
        times = slot_times(calendar, calendar.slot_rule(reminder.slot))
        if times:
            event = times[0][0]
            event_words = f"dès le {day_fr(event, zone)}"
    elif isinstance(reminder.anchor, str) and reminder.anchor in calendar.dates:
        named = calendar.dates[reminder.anchor]
        event = named[0] if isinstance(named, list) else named
        event_words = f"le {day_fr(event, zone)}"
    if name:
        what = f"{what} — {name}"
    return what, event, event_words


def _row(calendar: Calendar, occurrence: Occurrence, at: datetime, names: dict[str, str]) -> Upcoming:
    reference = occurrence.target.reference if occurrence.target else None
    what, event, event_words = words(calendar, occurrence.reminder, occurrence.slot, names.get(reference or "", ""))
    return Upcoming(
        at=at,
        campaign=calendar.id,
        reminder=occurrence.reminder.id,
        template=occurrence.reminder.template,
        recipient=occurrence.recipient,
        reference=occurrence.target.reference if occurrence.target else None,
        description=occurrence.reminder.description,
        audience=_audience_fr(occurrence.reminder),
        local=at.astimezone(calendar.timezone),
        words=what,
        event=event,
        event_words=event_words,
    )


def _tentative_slots(calendar: Calendar, reminder: Reminder, targets: Sequence[Any], slots: dict) -> None:
    assert reminder.slot is not None
    waiting = [t.reference for t in targets if concerned(reminder, t) and (reminder.slot, t.reference) not in slots]
    taken = {ref: start for (kind, ref), (start, _) in slots.items() if kind == reminder.slot}
    given, _ = allocate(calendar, calendar.slot_rule(reminder.slot), waiting, taken)
    for reference, slot in given.items():
        slots[(reminder.slot, reference)] = slot


def _any_target(reminder: Reminder, targets: Sequence[Any]) -> bool:
    return reminder.per_proposal and any(concerned(reminder, t) for t in targets)


def _placeholder(calendar: Calendar, reminder: Reminder, now: datetime, end: datetime) -> Upcoming | None:
    if reminder.slot_relative:
        days = slot_times(calendar, calendar.slot_rule(reminder.slot or ""))
        if not days:
            return None
        at = due_on(calendar, reminder, days[0][0].astimezone(calendar.timezone).date())
    else:
        at = reminder_due(calendar, reminder)
    if at is None or not now < at <= end:
        return None
    if "staff" in reminder.audience:
        return None  # staff are real addresses, listed as such
    what, event, event_words = words(calendar, reminder)
    return Upcoming(
        at=at,
        campaign=calendar.id,
        reminder=reminder.id,
        template=reminder.template,
        recipient=None,
        reference=None,
        description=reminder.description,
        audience=_audience_fr(reminder),
        local=at.astimezone(calendar.timezone),
        words=what,
        event=event,
        event_words=event_words,
    )


def _audience_fr(reminder: Reminder) -> str:
    who = " et ".join(AUDIENCE_FR[a] for a in reminder.audience)
    if reminder.statuses and any(a in PROPOSAL_AUDIENCES for a in reminder.audience):
        states = " ou ".join(STATUS_FR.get(s, s) for s in reminder.statuses)
        return f"{who} (propositions dont le statut est {states})"
    return who


def _next_digest(app: App, now: datetime, end: datetime) -> list[Upcoming]:
    staff = app.settings.staff
    day = now.astimezone(app.timezone).date()
    for _ in range(15):
        at = datetime.combine(day, staff.digest_time, tzinfo=app.timezone).astimezone(UTC)
        if at > now and staff_working_day(app.calendars.values(), day):
            if at > end:
                return []
            return [
                Upcoming(
                    at=at,
                    campaign="-",
                    reminder="digest",
                    template=DIGEST_TEMPLATE,
                    recipient=recipient,
                    reference=None,
                    description="Synthèse quotidienne (si quelque chose est à signaler)",
                    words=f"Synthèse du service des stages, {time_fr(at, app.timezone)}",
                    audience=AUDIENCE_FR["staff"],
                    local=at.astimezone(app.timezone),
                )
                for recipient in staff.digest_recipients
            ]
        day += timedelta(days=1)
    return []
