"""Campaign calendars: one TOML file per campaign in `schedules/`, read and checked at start.

A calendar gives a campaign's dates (when proposals are accepted, the deadline, named dates
for mails), its meeting slots and its reminders (when, to whom, which template). Staff edit
these files each year, so an error is refused with the file, the line and the reason.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mailflow.errors import CalendarError

AUDIENCES = ("sender", "tutor", "hr", "dgs", "staff", "past_senders")
PROPOSAL_AUDIENCES = ("sender", "tutor", "hr", "dgs")
STATUSES = ("complete", "incomplete", "late", "superseded", "withdrawn", "accepted", "rejected")
SLOT_DATE = "slot"
_DATE_LIKE = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}$")
_HOUR_RANGE = re.compile(r"^\s*(\d{1,2}:\d{2})\s*-\s*(\d{1,2}:\d{2})\s*$")

Loc = tuple[str | int, ...]


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


@dataclass(frozen=True)
class Period:
    """A stage type's period, with the date until which collectivités may send offers."""

    id: str
    title: str
    starts: date
    ends: date
    offers_deadline: date | None


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


# --- the file format, as pydantic models ---------------------------------------------------------


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _refuse_datetime(value: Any) -> Any:
    if isinstance(value, datetime):
        raise ValueError("expected a date such as 2025-06-20, got a date and time")
    return value


class _CampaignTable(_Table):
    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]*$", max_length=100)]
    title: str
    form: Annotated[str, Field(pattern=r"^[a-z0-9_]+$")]
    reference_prefix: Annotated[str, Field(pattern=r"^[A-Z]{1,6}$")]
    reference_year: Annotated[int, Field(ge=2000, le=2100)]
    timezone: str = "Europe/Paris"
    contribution_eur: Annotated[int, Field(ge=0)] | None = None
    holidays_country: str = "FR"
    holidays_subdiv: str | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f'unknown time zone "{value}" (e.g. "Europe/Paris")') from None
        return value


class _ProposalsTable(_Table):
    opens: date
    deadline: date
    closes: date

    _no_datetime = field_validator("opens", "deadline", "closes", mode="before")(_refuse_datetime)


class _PeriodTable(_Table):
    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")]
    title: str
    starts: date
    ends: date
    offers_deadline: date | None = None

    _no_datetime = field_validator("starts", "ends", "offers_deadline", mode="before")(_refuse_datetime)


class _ReminderTable(_Table):
    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=60)]
    description: str = ""
    audience: str | list[str]
    statuses: list[str] = []
    date: date | str
    offset_days: int = 0
    time: str = "09:00"
    working_day: Literal["previous", "next"] | None = None
    until: date | str | None = None
    slot: str | None = None
    ics: bool = False
    period: str | None = None
    template: str

    _no_datetime = field_validator("date", "until", mode="before")(_refuse_datetime)


class _SlotTable(_Table):
    kind: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=40)]
    title: str
    days: str | date | list[date]
    hours: list[str]
    length_minutes: Annotated[int, Field(ge=5, le=480)]
    gap_minutes: Annotated[int, Field(ge=0, le=240)] = 0
    statuses: list[str]
    location: str = ""
    description: str = ""

    _no_datetime = field_validator("days", mode="before")(_refuse_datetime)


class _CalendarFile(_Table):
    campaign: _CampaignTable
    proposals: _ProposalsTable
    dates: dict[str, date | list[date]] = {}
    periods: list[_PeriodTable] = []
    reminders: list[_ReminderTable] = []
    slots: list[_SlotTable] = []

    @field_validator("dates", mode="before")
    @classmethod
    def _dates_only(cls, value: Any) -> Any:
        if isinstance(value, dict):
            for item in value.values():
                for one in item if isinstance(item, list) else [item]:
                    _refuse_datetime(one)
        return value


# --- loading --------------------------------------------------------------------------------------


class _Invalid(Exception):
    """A calendar error at a place in the file (`loc`), before the line is known."""

    def __init__(self, loc: Loc, reason: str):
        super().__init__(reason)
        self.loc = loc
        self.reason = reason


def load_calendars(directory: Path, template_names: Collection[str] | None = None) -> dict[str, Calendar]:
    """Every `*.toml` calendar of `directory`, by campaign id; CalendarError names file, line and reason.

    `template_names` (from `Templates.names()`) lets a reminder naming a template that does
    not exist be refused at start rather than on the day it is due.
    """
    if not directory.is_dir():
        raise CalendarError(f"{_display(directory)}: calendar folder not found ([campaigns] schedules)")
    calendars: dict[str, Calendar] = {}
    for path in sorted(directory.glob("*.toml")):
        calendar = load_calendar(path, template_names)
        if calendar.id in calendars:
            other = calendars[calendar.id].source
            raise CalendarError(
                f"{_display(path)}, line {_line_of(_read(path), ('campaign', 'id'))}: [campaign] id: "
                f'"{calendar.id}" is already the id of {_display(other)}'
            )
        _refuse_overlap(calendar, calendars.values())
        calendars[calendar.id] = calendar
    return calendars


def load_calendar(path: Path, template_names: Collection[str] | None = None) -> Calendar:
    """One calendar file, checked; CalendarError names the file, the line and the reason."""
    text = _read(path)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CalendarError(_toml_error(path, exc)) from None
    try:
        parsed = _CalendarFile.model_validate(raw)
    except ValidationError as exc:
        loc, reason = _pydantic_reason(exc)
        raise CalendarError(_message(path, text, raw, loc, reason)) from None
    try:
        return _build(parsed, path, template_names)
    except _Invalid as exc:
        raise CalendarError(_message(path, text, raw, exc.loc, exc.reason)) from None


def find_campaign(
    calendars: Iterable[Calendar], form: str, received_at: datetime
) -> tuple[Calendar, bool] | None:
    """The campaign accepting `form` at `received_at`, and whether the proposal is late; None if none does.

    A proposal is late when it is received after the end of the deadline day in the campaign's
    time zone, and still accepted until the end of the `closes` day.
    """
    found: list[tuple[Calendar, bool]] = []
    for calendar in calendars:
        if calendar.form != form:
            continue
        day = received_at.astimezone(calendar.timezone).date()
        if calendar.opens <= day <= calendar.closes:
            found.append((calendar, day > calendar.deadline))
    if not found:
        return None
    return max(found, key=lambda item: item[0].opens)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise CalendarError(f"{_display(path)}: not UTF-8 text") from None
    except OSError as exc:
        raise CalendarError(f"{_display(path)}: cannot be read ({exc.strerror})") from None


def _refuse_overlap(calendar: Calendar, others: Iterable[Calendar]) -> None:
    for other in others:
        if other.form == calendar.form and calendar.opens <= other.closes and other.opens <= calendar.closes:
            line = _line_of(_read(calendar.source), ("proposals", "opens"))
            raise CalendarError(
                f"{_display(calendar.source)}, line {line}: "
                f"[proposals] accepts form {calendar.form} from {calendar.opens} to {calendar.closes}, "
                f"which overlaps {_display(other.source)} ({other.opens} to {other.closes}); "
                "a proposal must belong to one campaign"
            )


def _build(parsed: _CalendarFile, path: Path, template_names: Collection[str] | None) -> Calendar:
    campaign, proposals = parsed.campaign, parsed.proposals
    if not proposals.opens <= proposals.deadline <= proposals.closes:
        raise _Invalid(
            ("proposals", "deadline"),
            "expected opens <= deadline <= closes, "
            f"got {proposals.opens}, {proposals.deadline}, {proposals.closes}",
        )
    _check_subdiv(campaign)
    dates: dict[str, date | list[date]] = {}
    for name, value in parsed.dates.items():
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            raise _Invalid(("dates", name), "a date name is lower-case letters, digits and _")
        dates[name] = list(value) if isinstance(value, list) else value
    periods = tuple(_period(index, table, dates) for index, table in enumerate(parsed.periods))
    slots = tuple(_slot(index, table, dates) for index, table in enumerate(parsed.slots))
    _unique([s.kind for s in slots], "slots", "kind", "slot kind")
    _unique([p.id for p in periods], "periods", "id", "period id")
    reminders = tuple(
        _reminder(index, table, dates, {s.kind for s in slots}, {p.id for p in periods}, template_names)
        for index, table in enumerate(parsed.reminders)
    )
    _unique([r.id for r in reminders], "reminders", "id", "reminder id")
    return Calendar(
        id=campaign.id,
        title=campaign.title,
        form=campaign.form,
        reference_prefix=campaign.reference_prefix,
        reference_year=campaign.reference_year,
        timezone=ZoneInfo(campaign.timezone),
        contribution_eur=campaign.contribution_eur,
        opens=proposals.opens,
        deadline=proposals.deadline,
        closes=proposals.closes,
        dates=MappingProxyType(dates),
        reminders=reminders,
        slots=slots,
        source=path,
        periods=periods,
        holidays_country=campaign.holidays_country,
        holidays_subdiv=campaign.holidays_subdiv,
    )


def _check_subdiv(campaign: _CampaignTable) -> None:
    try:
        holidays.country_holidays(campaign.holidays_country, subdiv=campaign.holidays_subdiv)
    except NotImplementedError as exc:
        key = "holidays_subdiv" if campaign.holidays_subdiv else "holidays_country"
        raise _Invalid(("campaign", key), f"unknown public holiday calendar ({exc})") from None


def _unique(values: list[str], table: str, key: str, what: str) -> None:
    seen: set[str] = set()
    for index, value in enumerate(values):
        if value in seen:
            raise _Invalid((table, index, key), f'{what} "{value}" is used twice in this file')
        seen.add(value)


def _period(index: int, table: _PeriodTable, dates: dict[str, date | list[date]]) -> Period:
    if table.ends < table.starts:
        raise _Invalid(("periods", index, "ends"), f"ends ({table.ends}) is before starts ({table.starts})")
    dates[f"{table.id}.starts"] = table.starts
    dates[f"{table.id}.ends"] = table.ends
    if table.offers_deadline is not None:
        dates[f"{table.id}.offers_deadline"] = table.offers_deadline
    return Period(table.id, table.title, table.starts, table.ends, table.offers_deadline)


def _slot(index: int, table: _SlotTable, dates: Mapping[str, date | list[date]]) -> SlotRule:
    loc: Loc = ("slots", index)
    if isinstance(table.days, str):
        days = _named(table.days, dates, (*loc, "days"))
        day_list = tuple(days) if isinstance(days, list) else (days,)
    elif isinstance(table.days, list):
        day_list = tuple(table.days)
    else:
        day_list = (table.days,)
    if not day_list:
        raise _Invalid((*loc, "days"), "no day given")
    hours = []
    for hour_index, text in enumerate(table.hours):
        match = _HOUR_RANGE.match(text)
        start = _parse_time(match.group(1)) if match else None
        end = _parse_time(match.group(2)) if match else None
        if start is None or end is None or end <= start:
            raise _Invalid(
                (*loc, "hours", hour_index), f'expected a time range such as "09:00-12:00", got "{text}"'
            )
        hours.append((start, end))
    if not hours:
        raise _Invalid((*loc, "hours"), "no time range given")
    _check_statuses(table.statuses, (*loc, "statuses"))
    return SlotRule(
        kind=table.kind,
        title=table.title,
        days=tuple(sorted(day_list)),
        hours=tuple(sorted(hours)),
        length_minutes=table.length_minutes,
        gap_minutes=table.gap_minutes,
        statuses=tuple(table.statuses),
        location=table.location,
        description=table.description,
    )


def _reminder(
    index: int,
    table: _ReminderTable,
    dates: Mapping[str, date | list[date]],
    slot_kinds: set[str],
    period_ids: set[str],
    template_names: Collection[str] | None,
) -> Reminder:
    loc: Loc = ("reminders", index)
    audience = (table.audience,) if isinstance(table.audience, str) else tuple(table.audience)
    if not audience:
        raise _Invalid((*loc, "audience"), "no audience given")
    for who in audience:
        if who not in AUDIENCES:
            known = ", ".join(AUDIENCES)
            raise _Invalid((*loc, "audience"), f'unknown audience "{who}" (expected one of: {known})')
    per_proposal = any(a in PROPOSAL_AUDIENCES for a in audience)
    if per_proposal and any(a not in PROPOSAL_AUDIENCES for a in audience):
        raise _Invalid(
            (*loc, "audience"),
            "staff and past_senders cannot be mixed with proposal audiences in one reminder",
        )
    _check_statuses(table.statuses, (*loc, "statuses"))
    if table.slot is not None and table.slot not in slot_kinds:
        known = ", ".join(sorted(slot_kinds)) or "none in this file"
        raise _Invalid((*loc, "slot"), f'unknown slot kind "{table.slot}" (slots: {known})')
    if table.slot is not None and not per_proposal:
        raise _Invalid(
            (*loc, "slot"), "a slot is given to a proposal: the audience must be sender, tutor, hr or dgs"
        )
    if table.ics and table.slot is None:
        raise _Invalid((*loc, "ics"), "ics = true needs a slot")
    if table.period is not None and table.period not in period_ids:
        raise _Invalid((*loc, "period"), f'unknown period "{table.period}"')
    anchor: date | str = table.date
    if isinstance(anchor, str):
        if anchor == SLOT_DATE:
            if table.slot is None:
                raise _Invalid((*loc, "date"), 'date = "slot" needs a slot (slot = "…")')
        else:
            named = _named(anchor, dates, (*loc, "date"))
            if isinstance(named, list):
                raise _Invalid((*loc, "date"), f'"{anchor}" is a list of dates; a reminder needs one date')
    until = None
    if table.until is not None:
        value = table.until if isinstance(table.until, date) else _named(table.until, dates, (*loc, "until"))
        until = max(value) if isinstance(value, list) else value
    at = _parse_time(table.time)
    if at is None:
        raise _Invalid((*loc, "time"), f'expected a time of day "HH:MM", got "{table.time}"')
    if template_names is not None and table.template not in template_names:
        raise _Invalid((*loc, "template"), f'unknown template "{table.template}"')
    return Reminder(
        id=table.id,
        description=table.description,
        template=table.template,
        audience=audience,
        statuses=tuple(table.statuses),
        anchor=anchor,
        offset_days=table.offset_days,
        at=at,
        working_day=table.working_day,
        until=until,
        slot=table.slot,
        ics=table.ics,
        period=table.period,
    )


def _named(name: str, dates: Mapping[str, date | list[date]], loc: Loc) -> date | list[date]:
    if _DATE_LIKE.match(name):
        try:
            date.fromisoformat(name if len(name) == 10 else "-".join(p.zfill(2) for p in name.split("-")))
        except ValueError:
            raise _Invalid(loc, f'"{name}" is not a valid date') from None
        raise _Invalid(loc, f"write a date without quotes: {name}")
    if name not in dates:
        known = ", ".join(sorted(dates)) or "none"
        raise _Invalid(loc, f'unknown named date "{name}" (named dates: {known})')
    return dates[name]


def _check_statuses(statuses: list[str], loc: Loc) -> None:
    for status in statuses:
        if status not in STATUSES:
            raise _Invalid(loc, f'unknown status "{status}" (expected one of: {", ".join(STATUSES)})')


def _parse_time(text: str) -> time | None:
    try:
        hours, minutes = text.strip().split(":")
        return time(int(hours), int(minutes))
    except ValueError:
        return None


# --- error messages with a line number ------------------------------------------------------------


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _toml_error(path: Path, exc: tomllib.TOMLDecodeError) -> str:
    text = str(exc)
    match = re.search(r"\(at line (\d+), column \d+\)", text)
    reason = re.sub(r"\s*\(at (?:line \d+, column \d+|end of document)\)", "", text)
    if reason.startswith("Invalid date or datetime"):
        reason = "invalid date (expected a real date such as 2025-06-20)"
    else:
        reason = f"not valid TOML: {reason}"
    line = match.group(1) if match else str(len(_read(path).splitlines()) or 1)
    return f"{_display(path)}, line {line}: {reason}"


def _pydantic_reason(exc: ValidationError) -> tuple[Loc, str]:
    # An unknown key first (a typo explains the "missing" that comes with it); then the deepest
    # error, which for a union (str | list[date]) is the member matching what was written.
    error = min(exc.errors(), key=lambda e: (e["type"] != "extra_forbidden", -len(e["loc"])))
    loc = _without_union_tags(tuple(error["loc"]))
    kind = error["type"]
    given = error.get("input")
    if kind == "extra_forbidden":
        if len(loc) == 1:
            return loc, f"unknown table (expected {_TABLES})"
        return loc, "unknown key"
    if kind == "missing":
        return loc, "missing value"
    if kind == "value_error":
        return loc, str(error["msg"]).removeprefix("Value error, ")
    if kind.startswith("date") or "date" in str(error["msg"]).lower():
        return loc, f"expected a date such as 2025-06-20, got {_show(given)}"
    if kind == "string_pattern_mismatch":
        return loc, f"{_show(given)} has characters not allowed here ({error['ctx']['pattern']})"
    if kind == "literal_error":
        return loc, "expected " + str(error["msg"]).removeprefix("Input should be ").replace("'", '"')
    if kind.startswith("int"):
        return loc, f"expected a whole number, got {_show(given)}"
    message = str(error["msg"]).removeprefix("Input should be ").split(",")[0]
    return loc, f"expected {message}, got {_show(given)}"


def _without_union_tags(loc: Loc) -> Loc:
    """Drop the union member names pydantic puts after a key (`date`, `str`, `list[date]`…)."""
    kept: list[str | int] = []
    for index, part in enumerate(loc):
        after_key = index >= 2 and isinstance(loc[index - 1], str)
        if after_key and isinstance(part, str) and (part in _UNION_TAGS or "[" in part):
            continue
        kept.append(part)
    return tuple(kept)


_TABLES = "[campaign], [proposals], [dates], [[periods]], [[slots]], [[reminders]]"
_UNION_TAGS = {"str", "date", "int", "bool"}


def _show(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else repr(value)


def _message(path: Path, text: str, raw: Mapping[str, Any], loc: Loc, reason: str) -> str:
    return f"{_display(path)}, line {_line_of(text, loc)}: {_where(raw, loc)}: {reason}"


def _where(raw: Mapping[str, Any], loc: Loc) -> str:
    """`reminder 'relance': template`, `[proposals] deadline`, `slot 'teams': hours`."""
    if len(loc) >= 2 and isinstance(loc[1], int) and loc[0] in ("reminders", "slots", "periods"):
        table = raw.get(str(loc[0]), [])
        entry = table[loc[1]] if isinstance(table, list) and loc[1] < len(table) else {}
        key = "kind" if loc[0] == "slots" else "id"
        name = entry.get(key) if isinstance(entry, dict) else None
        label = f"{str(loc[0])[:-1]} '{name}'" if name else f"{str(loc[0])[:-1]} #{loc[1] + 1}"
        rest = [str(p) for p in loc[2:] if not isinstance(p, int)]
        return f"{label}: {'.'.join(rest)}" if rest else label
    if not loc:
        return "calendar"
    rest = [str(p) for p in loc[1:] if not isinstance(p, int)]
    return f"[{loc[0]}] {'.'.join(rest)}".rstrip() if rest else f"[{loc[0]}]"


def _line_of(text: str, loc: Loc) -> int:
    """The line of the table or key that `loc` points at (tomllib keeps no positions)."""
    lines = text.splitlines()
    if not loc:
        return 1
    head, rest = str(loc[0]), list(loc[1:])
    start = None
    if rest and isinstance(rest[0], int):
        pattern = re.compile(rf"^\s*\[\[\s*{re.escape(head)}\s*\]\]")
        count = -1
        for number, line in enumerate(lines):
            if pattern.match(line):
                count += 1
                if count == rest[0]:
                    start = number
                    break
        rest = rest[1:]
    else:
        pattern = re.compile(rf"^\s*\[\s*{re.escape(head)}\s*\]")
        start = next((n for n, line in enumerate(lines) if pattern.match(line)), None)
    if start is None:
        key_line = _key_line(lines, 0, len(lines), head)
        return (key_line if key_line is not None else 0) + 1
    end = next((n for n in range(start + 1, len(lines)) if lines[n].lstrip().startswith("[")), len(lines))
    key = next((str(p) for p in rest if not isinstance(p, int)), None)
    if key is not None:
        found = _key_line(lines, start + 1, end, key)
        if found is not None:
            return found + 1
    return start + 1


def _key_line(lines: list[str], start: int, end: int, key: str) -> int | None:
    pattern = re.compile(rf"""^\s*(?:{re.escape(key)}|"{re.escape(key)}"|'{re.escape(key)}')\s*=""")
    return next((n for n in range(start, end) if pattern.match(lines[n])), None)
