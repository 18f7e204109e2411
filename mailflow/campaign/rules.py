"""Which reminders are due, for whom, and when: pure functions of a calendar, proposals and a time.

Nothing here reads the database or the clock: `mailflow.campaign.reminders` gathers the proposals
(`Target`s), the slots already given and the time, and acts on what these functions decide.
Every time is an aware datetime; days and times of day are the campaign's (Europe/Paris),
so a reminder at 09:00 stays at 09:00 across the summer/winter time change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from icalendar import Calendar as ICalendar
from icalendar import Event, vCalAddress, vText

from mailflow.campaign.calendars import Calendar, Reminder, SlotRule

Decision = Literal["wait", "send", "missed", "skip"]
SlotTime = tuple[datetime, datetime]


@dataclass(frozen=True)
class Target:
    """A proposal (its current version) as reminders see it.

    `changed_at` is when it last came to be what it is: received (or filed, for a new
    version), or given a status by staff. A reminder concerns it only if it already was so
    at the reminder's time, unless the reminder has an `until` that lets late comers catch up.
    """

    pk: int
    reference: str
    status: str
    received_at: datetime
    changed_at: datetime
    addresses: Mapping[str, str | None]


@dataclass(frozen=True)
class Occurrence:
    """One reminder mail: which reminder, to whom, about which proposal, due when."""

    campaign: str
    reminder: Reminder
    due_at: datetime
    recipient: str
    target: Target | None = None
    slot: SlotTime | None = None

    @property
    def key(self) -> str:
        """The reminder's name in the `reminders` table: `<id>` or `<id>:<reference>`."""
        return f"{self.reminder.id}:{self.target.reference}" if self.target else self.reminder.id

    @property
    def cause(self) -> str:
        """The outbox cause: `reminder:<campaign>:<reminder>[:<reference>]`."""
        return f"reminder:{self.campaign}:{self.key}"


# --- when -----------------------------------------------------------------------------------------


def shift_to_working_day(
    calendar: Calendar, day: date, direction: Literal["previous", "next"] | None
) -> date:
    """`day`, or the nearest working day before/after it when it is a weekend or a public holiday."""
    if direction is None:
        return day
    step = timedelta(days=-1 if direction == "previous" else 1)
    while not calendar.is_working_day(day):
        day += step
    return day


def at_local(calendar: Calendar, day: date, moment: time) -> datetime:
    """`day` at `moment` in the campaign's time zone, as an aware UTC datetime."""
    return datetime.combine(day, moment, tzinfo=calendar.timezone).astimezone(UTC)


def end_of_day(calendar: Calendar, day: date) -> datetime:
    """The last instant of `day` in the campaign's time zone (UTC)."""
    return at_local(calendar, day + timedelta(days=1), time(0)) - timedelta(microseconds=1)


def due_on(calendar: Calendar, reminder: Reminder, base: date) -> datetime:
    """The reminder's time for a base day: offset, moved to a working day if asked, at its time of day."""
    day = shift_to_working_day(calendar, base + timedelta(days=reminder.offset_days), reminder.working_day)
    return at_local(calendar, day, reminder.at)


def reminder_due(calendar: Calendar, reminder: Reminder) -> datetime | None:
    """When a reminder with a fixed date is due; None for one relative to each proposal's slot."""
    if reminder.slot_relative:
        return None
    anchor = reminder.anchor
    base = anchor if isinstance(anchor, date) else calendar.dates[anchor]
    assert isinstance(base, date)
    return due_on(calendar, reminder, base)


def until_end(calendar: Calendar, reminder: Reminder) -> datetime | None:
    """The end of the reminder's `until` day, or None when it has none."""
    return end_of_day(calendar, reminder.until) if reminder.until else None


# --- slots ----------------------------------------------------------------------------------------


def slot_times(calendar: Calendar, rule: SlotRule) -> list[SlotTime]:
    """Every slot the rule offers, in order: each day, each time range cut into slots of its length."""
    found: list[SlotTime] = []
    length = timedelta(minutes=rule.length_minutes)
    step = length + timedelta(minutes=rule.gap_minutes)
    for day in rule.days:
        for start, end in rule.hours:
            begin = datetime.combine(day, start, tzinfo=calendar.timezone)
            stop = datetime.combine(day, end, tzinfo=calendar.timezone)
            while begin + length <= stop:
                found.append((begin.astimezone(UTC), (begin + length).astimezone(UTC)))
                begin += step
    return found


def allocate(
    calendar: Calendar, rule: SlotRule, references: Sequence[str], taken: Mapping[str, datetime]
) -> tuple[dict[str, SlotTime], list[str]]:
    """Give each reference without a slot the first free one, in the order given.

    `taken` maps references to the start of the slot they already have (those keep it).
    Returns the new slots and the references left without one because all slots are taken.
    """
    busy = set(taken.values())
    free = [slot for slot in slot_times(calendar, rule) if slot[0] not in busy]
    given: dict[str, SlotTime] = {}
    unplaced: list[str] = []
    for reference in references:
        if reference in taken or reference in given:
            continue
        if free:
            given[reference] = free.pop(0)
        else:
            unplaced.append(reference)
    return given, unplaced


# --- who, and whether now ---------------------------------------------------------------------------


def concerned(reminder: Reminder, target: Target) -> bool:
    """Whether a proposal is of a status the reminder is about (superseded versions never are)."""
    if target.status == "superseded":
        return False
    return not reminder.statuses or target.status in reminder.statuses


def recipients(reminder: Reminder, target: Target) -> list[str]:
    """The addresses of the reminder's audience for one proposal, lower-cased, once each."""
    found: list[str] = []
    for audience in reminder.audience:
        address = (target.addresses.get(audience) or "").strip().lower()
        if address and address not in found:
            found.append(address)
    return found


def occurrences(
    calendar: Calendar,
    reminder: Reminder,
    targets: Iterable[Target],
    slots: Mapping[tuple[str, str], SlotTime],
    *,
    staff: Sequence[str] = (),
    past_senders: Sequence[str] = (),
) -> list[Occurrence]:
    """Every mail this reminder means, given the proposals now; the scheduler decides which are due.

    `slots` maps (slot kind, reference) to the slot already given. A reminder relative to the
    slot is only for proposals that have one; a reminder that carries a slot gets it when known.
    """
    fixed = reminder_due(calendar, reminder)
    if not reminder.per_proposal:
        assert fixed is not None
        addresses = staff if "staff" in reminder.audience else past_senders
        unique = dict.fromkeys(a.strip().lower() for a in addresses if a and a.strip())
        return [Occurrence(calendar.id, reminder, fixed, address) for address in unique]
    found: list[Occurrence] = []
    for target in targets:
        if not concerned(reminder, target):
            continue
        slot = slots.get((reminder.slot, target.reference)) if reminder.slot else None
        if reminder.slot_relative:
            if slot is None:
                continue
            due = due_on(calendar, reminder, slot[0].astimezone(calendar.timezone).date())
        else:
            assert fixed is not None
            due = fixed
        for address in recipients(reminder, target):
            found.append(Occurrence(calendar.id, reminder, due, address, target, slot))
    return found


def effective_due(calendar: Calendar, occurrence: Occurrence) -> datetime | None:
    """When the mail is really due: its time, or later for a proposal that came to match after it.

    None when the proposal came to match after the reminder's time and the reminder has no
    `until` (or after its `until`): that mail is not meant for it.
    """
    due = occurrence.due_at
    target = occurrence.target
    if target is None or target.changed_at <= due:
        return due
    limit = until_end(calendar, occurrence.reminder)
    if limit is None or target.changed_at > limit:
        return None
    return target.changed_at


def decide(
    calendar: Calendar, occurrence: Occurrence, now: datetime, grace: timedelta, service_since: datetime
) -> Decision:
    """What to do with a mail not sent yet.

    wait: not due yet; send: due, within the grace period; missed: due while the service was
    down and now too late (staff are told); skip: not meant for this proposal, or due before
    the service ever ran on this database.
    """
    due = effective_due(calendar, occurrence)
    if due is None:
        return "skip"
    if now < due:
        return "wait"
    if now <= due + grace:
        return "send"
    if due + grace < service_since:
        return "skip"
    return "missed"


# --- the .ics invitation ----------------------------------------------------------------------------


def invitation_ics(
    calendar: Calendar,
    rule: SlotRule,
    slot: SlotTime,
    *,
    uid: str,
    organizer: str,
    attendee: str,
    summary: str,
    now: datetime,
    sequence: int = 0,
    link: str | None = None,
) -> bytes:
    """An RFC 5545 invitation (METHOD:REQUEST) for one slot, in the campaign's time zone.

    With a meeting `link`, it is the LOCATION (clickable in Outlook) and the URL; the UID stays the
    same for every version of the invitation and `sequence` tells calendars which one is newest.
    """
    cal = ICalendar()
    cal.add("prodid", "-//CNFPT INET//mailflow//FR")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "REQUEST")
    event = Event()
    event.add("uid", uid)
    event.add("dtstamp", now.astimezone(UTC))
    event.add("sequence", sequence)
    event.add("dtstart", slot[0].astimezone(calendar.timezone))
    event.add("dtend", slot[1].astimezone(calendar.timezone))
    event.add("summary", summary)
    if link:
        event.add("location", link)
        event.add("url", link)
    elif rule.location:
        event.add("location", rule.location)
    description = rule.description
    if link:
        description = f"{description}\n\nLien de connexion : {link}".strip()
    if description:
        event.add("description", description)
    event.add("status", "CONFIRMED")
    event.add("transp", "OPAQUE")
    host = vCalAddress(f"mailto:{organizer}")
    host.params["cn"] = vText("Service des stages de l'INET")
    event.add("organizer", host)
    guest = vCalAddress(f"mailto:{attendee}")
    guest.params["role"] = vText("REQ-PARTICIPANT")
    guest.params["partstat"] = vText("NEEDS-ACTION")
    guest.params["rsvp"] = vText("FALSE")
    event.add("attendee", guest)
    cal.add_component(event)
    year = slot[0].year
    cal.add_missing_timezones(first_date=date(year - 1, 1, 1), last_date=date(year + 2, 1, 1))
    return cal.to_ical()
