"""The calendar file format (`schedules/*.toml`) as pydantic models: which tables and keys a calendar may have."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mailflow.settings import known_zone

DATE_LIKE = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}$")


HOUR_RANGE = re.compile(r"^\s*(\d{1,2}:\d{2})\s*-\s*(\d{1,2}:\d{2})\s*$")


class Table(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def refuse_datetime(value: Any) -> Any:
    if isinstance(value, datetime):
        raise ValueError("expected a date such as 2025-06-20, got a date and time")
    return value


class CampaignTable(Table):
    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]*$", max_length=100)]
    title: str
    form: Annotated[str, Field(pattern=r"^[a-z0-9_]+$")]
    reference_prefix: Annotated[str, Field(pattern=r"^[A-Z]{1,6}$")]
    reference_year: Annotated[int, Field(ge=2000, le=2100)]
    timezone: str = "Europe/Paris"
    contribution_eur: Annotated[int, Field(ge=0)] | None = None
    holidays_country: str = "FR"
    holidays_subdiv: str | None = None
    team_size: Annotated[int, Field(ge=1, le=20)] | None = None
    evaluation_grid: str | None = None

    @field_validator("evaluation_grid")
    @classmethod
    def _grid(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("https://") and ("/" in value or "\\" in value):
            raise ValueError("expected an https:// link or the name of a file beside the calendar")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return known_zone(value)


class ProposalsTable(Table):
    opens: date
    deadline: date
    closes: date

    _no_datetime = field_validator("opens", "deadline", "closes", mode="before")(refuse_datetime)


class PeriodTable(Table):
    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")]
    title: str
    starts: date
    ends: date
    starts_or: date | None = None  # « du 28 ou 29 mars »: the other possible first day
    ends_or: date | None = None  # « au 15 ou 16 avril »: the other possible last day
    offers_deadline: date | None = None
    stage_type: Annotated[str, Field(pattern=r"^[a-z0-9_]+$")] | None = None
    cadres: list[Annotated[str, Field(pattern=r"^[a-z0-9_]+$")]] = []

    _no_datetime = field_validator("starts", "ends", "starts_or", "ends_or", "offers_deadline",
                                   mode="before")(refuse_datetime)


class ReminderTable(Table):
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
    forms: list[Annotated[str, Field(pattern=r"^[a-z0-9_]+$")]] = []
    announce: str = ""
    template: str

    _no_datetime = field_validator("date", "until", mode="before")(refuse_datetime)


class SlotTable(Table):
    kind: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=40)]
    title: str
    days: str | date | list[date]
    hours: list[str]
    length_minutes: Annotated[int, Field(ge=5, le=480)]
    gap_minutes: Annotated[int, Field(ge=0, le=240)] = 0
    statuses: list[str]
    location: str = ""
    description: str = ""
    link: Annotated[str, Field(pattern=r"^(https://\S+)?$")] = ""

    _no_datetime = field_validator("days", mode="before")(refuse_datetime)


class StaffActionTable(Table):
    """`[[staff_actions]]`: what staff must do before a date (listed in the digest)."""

    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=60)]
    title: str
    date: date | str
    statuses: list[str]
    notice_days: Annotated[int, Field(ge=0, le=90)] = 7
    todo: str = ""

    _no_datetime = field_validator("date", mode="before")(refuse_datetime)


class CalendarFile(Table):
    campaign: CampaignTable
    proposals: ProposalsTable
    dates: dict[str, date | list[date]] = {}
    periods: list[PeriodTable] = []
    reminders: list[ReminderTable] = []
    slots: list[SlotTable] = []
    staff_actions: list[StaffActionTable] = []

    @field_validator("dates", mode="before")
    @classmethod
    def _dates_only(cls, value: Any) -> Any:
        if isinstance(value, dict):
            for item in value.values():
                for one in item if isinstance(item, list) else [item]:
                    refuse_datetime(one)
        return value
