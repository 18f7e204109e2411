"""The calendar files: one TOML file per campaign in `schedules/`, read and checked at start.

Staff edit these files each year, so an error is refused with the file, the line and the reason.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Collection, Iterable, Mapping
from datetime import date, time
from pathlib import Path
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

import holidays
from pydantic import ValidationError

from mailflow.campaign.calendar_schema import (
    DATE_LIKE,
    HOUR_RANGE,
    CalendarFile,
    CampaignTable,
    PeriodTable,
    ReminderTable,
    SlotTable,
    StaffActionTable,
)
from mailflow.campaign.calendars import (
    AUDIENCES,
    PROPOSAL_AUDIENCES,
    SLOT_DATE,
    STATUSES,
    Calendar,
    Period,
    Reminder,
    SlotRule,
    StaffAction,
)
from mailflow.errors import CalendarError
from mailflow.toml_errors import Loc, display, line_of, toml_error, validation_reason


class _Invalid(Exception):
    """A calendar error at a place in the file (`loc`), before the line is known."""

    def __init__(self, loc: Loc, reason: str):
        super().__init__(reason)
        self.loc = loc
        self.reason = reason


def load_calendars(
    directory: Path, template_names: Collection[str] | None = None, form_names: Collection[str] | None = None,
    by_stage: Collection[str] = (),
) -> dict[str, Calendar]:
    """Every `*.toml` calendar of `directory`, by campaign id; CalendarError names file, line and reason.

    `template_names` (from `Templates.names()`) and `form_names` (the form definitions) let a
    reminder naming a template, or a campaign naming a form, that does not exist be refused at start
    rather than on the day it is needed. Two calendars of one form may not be open at once, except for
    the forms `by_stage` (stage offers), whose campaign is the one with the stage a document names.
    """
    if not directory.is_dir():
        raise CalendarError(f"{display(directory)}: calendar folder not found ([campaigns] schedules)")
    calendars: dict[str, Calendar] = {}
    for path in sorted(directory.glob("*.toml")):
        calendar = load_calendar(path, template_names, form_names)
        if calendar.id in calendars:
            other = calendars[calendar.id].source
            raise CalendarError(
                f"{display(path)}, line {line_of(_read(path), ('campaign', 'id'))}: [campaign] id: "
                f'"{calendar.id}" is already the id of {display(other)}'
            )
        if calendar.form not in by_stage:
            _refuse_overlap(calendar, calendars.values())
        calendars[calendar.id] = calendar
    return calendars


def load_calendar(
    path: Path, template_names: Collection[str] | None = None, form_names: Collection[str] | None = None
) -> Calendar:
    """One calendar file, checked; CalendarError names the file, the line and the reason."""
    text = _read(path)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CalendarError(toml_error(path, text, exc)) from None
    try:
        parsed = CalendarFile.model_validate(raw)
    except ValidationError as exc:
        loc, reason = validation_reason(exc, _TABLES)
        raise CalendarError(_message(path, text, raw, loc, reason)) from None
    try:
        if form_names is not None:
            known = ", ".join(sorted(form_names)) or "none"
            if parsed.campaign.form not in form_names:
                raise _Invalid(("campaign", "form"), f'no form definition "{parsed.campaign.form}" (forms: {known})')
            for index, reminder in enumerate(parsed.reminders):
                for form in reminder.forms:
                    if form not in form_names:
                        raise _Invalid(("reminders", index, "forms"), f'no form definition "{form}" (forms: {known})')
        return _build(parsed, path, template_names)
    except _Invalid as exc:
        raise CalendarError(_message(path, text, raw, exc.loc, exc.reason)) from None


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise CalendarError(f"{display(path)}: not UTF-8 text") from None
    except OSError as exc:
        raise CalendarError(f"{display(path)}: cannot be read ({exc.strerror})") from None


def _refuse_overlap(calendar: Calendar, others: Iterable[Calendar]) -> None:
    for other in others:
        if other.form == calendar.form and calendar.opens <= other.closes and other.opens <= calendar.closes:
            line = line_of(_read(calendar.source), ("proposals", "opens"))
            raise CalendarError(
                f"{display(calendar.source)}, line {line}: "
                f"[proposals] accepts form {calendar.form} from {calendar.opens} to {calendar.closes}, "
                f"which overlaps {display(other.source)} ({other.opens} to {other.closes}); "
                "a proposal must belong to one campaign"
            )


def _build(parsed: CalendarFile, path: Path, template_names: Collection[str] | None) -> Calendar:
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
    actions = tuple(_staff_action(index, table, dates) for index, table in enumerate(parsed.staff_actions))
    _unique([a.id for a in actions], "staff_actions", "id", "staff action id")
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
        staff_actions=actions,
        team_size=campaign.team_size,
        evaluation_grid=_grid_file(campaign.evaluation_grid, path),
    )


def _grid_file(value: str | None, path: Path) -> str | None:
    """The evaluation grid: a link as written, or the path of a file beside the calendar (which must exist)."""
    if value is None or value.startswith("https://"):
        return value
    grid = path.parent / value
    if not grid.is_file():
        raise _Invalid(("campaign", "evaluation_grid"), f"file {value} not found beside the calendar")
    return str(grid)


def _check_subdiv(campaign: CampaignTable) -> None:
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


def _period(index: int, table: PeriodTable, dates: dict[str, date | list[date]]) -> Period:
    if table.ends < table.starts:
        raise _Invalid(("periods", index, "ends"), f"ends ({table.ends}) is before starts ({table.starts})")
    for key, first, other in (("starts_or", table.starts, table.starts_or), ("ends_or", table.ends, table.ends_or)):
        if other is not None and other <= first:
            raise _Invalid(("periods", index, key), f"{key} ({other}) must come after {key[:-3]} ({first}): "
                           "it is the later of the two possible days")
    dates[f"{table.id}.starts"] = table.starts
    dates[f"{table.id}.ends"] = table.ends
    if table.offers_deadline is not None:
        dates[f"{table.id}.offers_deadline"] = table.offers_deadline
    return Period(table.id, table.title, table.starts, table.ends, table.offers_deadline,
                  table.stage_type, tuple(table.cadres), table.starts_or, table.ends_or)


def _slot(index: int, table: SlotTable, dates: Mapping[str, date | list[date]]) -> SlotRule:
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
        match = HOUR_RANGE.match(text)
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
        link=table.link,
    )


def _reminder(
    index: int,
    table: ReminderTable,
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
    if table.forms and audience != ("past_senders",):
        raise _Invalid((*loc, "forms"), "forms chooses among past_senders: the audience must be past_senders")
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
        announce=table.announce,
        forms=tuple(table.forms),
    )


def _staff_action(index: int, table: StaffActionTable, dates: Mapping[str, date | list[date]]) -> StaffAction:
    loc: Loc = ("staff_actions", index)
    _check_statuses(table.statuses, (*loc, "statuses"))
    day = table.date if isinstance(table.date, date) else _named(table.date, dates, (*loc, "date"))
    if isinstance(day, list):
        day = min(day)
    return StaffAction(table.id, table.title, day, tuple(table.statuses), table.notice_days, table.todo)


def _named(name: str, dates: Mapping[str, date | list[date]], loc: Loc) -> date | list[date]:
    if DATE_LIKE.match(name):
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


_TABLES = "[campaign], [proposals], [dates], [[periods]], [[slots]], [[reminders]], [[staff_actions]]"


def _message(path: Path, text: str, raw: Mapping[str, Any], loc: Loc, reason: str) -> str:
    return f"{display(path)}, line {line_of(text, loc)}: {_where(raw, loc)}: {reason}"


def _where(raw: Mapping[str, Any], loc: Loc) -> str:
    """`reminder 'relance': template`, `[proposals] deadline`, `slot 'teams': hours`."""
    if len(loc) >= 2 and isinstance(loc[1], int) and loc[0] in ("reminders", "slots", "periods", "staff_actions"):
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
