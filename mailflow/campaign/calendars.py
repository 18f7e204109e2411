"""Campaign calendars as the rest of mailflow sees them (read from `schedules/` by `calendar_file`).

A calendar gives a campaign's dates (when proposals are accepted, the deadline, named dates
for mails), its meeting slots and its reminders (when, to whom, which template).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import holidays

AUDIENCES = ("sender", "tutor", "hr", "dgs", "staff", "past_senders")
PROPOSAL_AUDIENCES = ("sender", "tutor", "hr", "dgs")
STATUSES = ("complete", "incomplete", "to_check", "late", "superseded", "withdrawn", "accepted", "rejected")
SLOT_DATE = "slot"


# --- what the rest of mailflow sees --------------------------------------------------------------


@dataclass(frozen=True)
class Reminder:
    """One reminder of a campaign: when it is due, to whom, with which template."""

    id: str
    description: str
    template: str
    audience: tuple[str, ...]
    statuses: tuple[str, ...]
    anchor: date | str
    offset_days: int
    at: time
    working_day: Literal["previous", "next"] | None
    until: date | None
    slot: str | None
    ics: bool
    period: str | None
    announce: str = ""
    forms: tuple[str, ...] = ()  # past_senders: of proposals of these forms only (default: any)

    @property
    def per_proposal(self) -> bool:
        """True when it is sent about each proposal (sender, tutor, HR, DGS), not to a fixed list."""
        return any(a in PROPOSAL_AUDIENCES for a in self.audience)

    @property
    def slot_relative(self) -> bool:
        """True when its date is the day of each proposal's slot (e.g. the day before the meeting)."""
        return self.anchor == SLOT_DATE


@dataclass(frozen=True)
class SlotRule:
    """Meeting slots of one kind (Teams meeting, tutor call): days, hours, length, who gets one."""

    kind: str
    title: str
    days: tuple[date, ...]
    hours: tuple[tuple[time, time], ...]
    length_minutes: int
    gap_minutes: int
    statuses: tuple[str, ...]
    location: str
    description: str
    link: str = ""


@dataclass(frozen=True)
class Period:
    """A stage type's period, with the date until which collectivités may send offers.

    `stage_type` and `cadres` name, in the words of the offer form, which stage offers it receives.
    """

    id: str
    title: str
    starts: date
    ends: date
    offers_deadline: date | None
    stage_type: str | None = None
    cadres: tuple[str, ...] = ()
    starts_or: date | None = None  # the brochure's « du 28 ou 29 mars au 15 ou 16 avril »
    ends_or: date | None = None


@dataclass(frozen=True)
class StaffAction:
    """Something staff must do before a date of the campaign, e.g. decide on every complete proposal.

    The proposals still in one of `statuses` are what is left to do; the digest lists them from
    `notice_days` before `date`, and is sent the last working day before it even with nothing new.
    """

    id: str
    title: str
    date: date
    statuses: tuple[str, ...]
    notice_days: int
    todo: str


@dataclass(frozen=True)
class Calendar:
    """A campaign as read from its TOML file; `dates` are the named dates templates use."""

    id: str
    title: str
    form: str
    reference_prefix: str
    reference_year: int
    timezone: ZoneInfo
    contribution_eur: int | None
    opens: date
    deadline: date
    closes: date
    dates: Mapping[str, date | list[date]]
    reminders: tuple[Reminder, ...]
    slots: tuple[SlotRule, ...]
    source: Path
    periods: tuple[Period, ...] = ()
    holidays_country: str = "FR"
    holidays_subdiv: str | None = None
    staff_actions: tuple[StaffAction, ...] = ()
    team_size: int | None = None
    evaluation_grid: str | None = None

    def reminder(self, reminder_id: str) -> Reminder:
        """The reminder with this id (KeyError when there is none)."""
        for reminder in self.reminders:
            if reminder.id == reminder_id:
                return reminder
        raise KeyError(reminder_id)

    def slot_rule(self, kind: str) -> SlotRule:
        """The slot rule of this kind (KeyError when there is none)."""
        for rule in self.slots:
            if rule.kind == kind:
                return rule
        raise KeyError(kind)

    def period(self, period_id: str) -> Period:
        """The period with this id (KeyError when there is none)."""
        for period in self.periods:
            if period.id == period_id:
                return period
        raise KeyError(period_id)

    def is_working_day(self, day: date) -> bool:
        """Monday to Friday and not a public holiday (of the calendar's country and subdivision)."""
        if day.weekday() >= 5:
            return False
        return day not in public_holidays(self.holidays_country, self.holidays_subdiv, day.year)


@lru_cache(maxsize=64)
def public_holidays(country: str, subdiv: str | None, year: int) -> frozenset[date]:
    """The public holidays of a country (and subdivision, e.g. FR 6AE for Alsace) in one year."""
    return frozenset(holidays.country_holidays(country, subdiv=subdiv, years=year))


@dataclass(frozen=True)
class Campaign:
    """The campaign a proposal belongs to, as filing needs it."""

    id: str
    reference_prefix: str
    reference_year: int
    late: bool


def staff_working_day(calendars: Iterable[Calendar], day: date) -> bool:
    """A working day for staff: Monday to Friday, not a public holiday of the campaigns' calendars."""
    first = next(iter(calendars), None)
    return day.weekday() < 5 if first is None else first.is_working_day(day)


def find_campaign(
    calendars: Iterable[Calendar], form: str, received_at: datetime
) -> tuple[Calendar, bool] | None:
    """The campaign accepting `form` at `received_at`, and whether the proposal is late; None if none does.

    A proposal is late when it is received after the end of the deadline day in the campaign's
    time zone, and still accepted until the end of the `closes` day. Where several accept it (stage
    offers), the one opened last.
    """
    found = open_campaigns(calendars, form, received_at)
    return found[0] if found else None


def open_campaigns(calendars: Iterable[Calendar], form: str, received_at: datetime) -> list[tuple[Calendar, bool]]:
    """Every campaign accepting `form` at `received_at`, with lateness (see `find_campaign`), the last opened first."""
    found: list[tuple[Calendar, bool]] = []
    for calendar in calendars:
        if calendar.form != form:
            continue
        day = received_at.astimezone(calendar.timezone).date()
        if calendar.opens <= day <= calendar.closes:
            found.append((calendar, day > calendar.deadline))
    return sorted(found, key=lambda item: item[0].opens, reverse=True)


