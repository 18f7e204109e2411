"""What one running mailflow is made of, handed to the stages that need more than one or two of its parts.

Built by the composition root (`mailflow.service.app.build_app`); this module imports no stage, so
any stage can receive an `App` without importing the code that builds it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parseaddr
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from mailflow.campaign.calendar_file import load_calendars
from mailflow.campaign.calendars import Calendar, Campaign, find_campaign
from mailflow.clock import Clock
from mailflow.mail.compose import Composer
from mailflow.mail.mailbox import Mailbox
from mailflow.mail.outbox import Outbox
from mailflow.mail.templates import Templates
from mailflow.mail.transport import Transport
from mailflow.pipeline.archive import Archive
from mailflow.pipeline.extract.limits import ExtractionLimits
from mailflow.pipeline.forms.definition import FormDefinition
from mailflow.pipeline.offers.vocabulary import check_periods
from mailflow.settings import CampaignSettings, Settings
from mailflow.shipped import shipped


@dataclass
class App:
    """The parts of one running mailflow: settings, clock, database, archive, mailbox, transport, templates,
    calendars and form; `outbox` and `compose` are bound from them."""

    settings: Settings
    clock: Clock
    engine: Engine
    sessions: sessionmaker[Session]
    archive: Archive
    mailbox: Mailbox
    transport: Transport
    templates: Templates
    calendars: dict[str, Calendar]
    form: FormDefinition
    limits: ExtractionLimits = field(default_factory=ExtractionLimits)
    forms: dict[str, FormDefinition] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.forms = {self.form.name: self.form, **self.forms}

    def label_for(self, form: str | None) -> Callable[[str], str]:
        """The labels of a proposal's own form (an offer's fields are not a projet collectif's)."""
        return self.forms.get(form or "", self.form).label

    @property
    def base(self) -> Path:
        """The folder relative paths in the settings are taken from."""
        return self.settings.source.parent if self.settings.source else Path.cwd()

    @property
    def timezone(self) -> ZoneInfo:
        return ZoneInfo(self.settings.campaigns.timezone)

    @property
    def sender_address(self) -> str:
        return parseaddr(self.settings.smtp.sender)[1].lower()

    @property
    def own_addresses(self) -> tuple[str, ...]:
        return (self.sender_address,)

    @property
    def internal_domains(self) -> tuple[str, ...]:
        """The institute's own domains: set in `[mailbox] internal_domains`, else those of the mailbox
        username and of the sender address. Mail from them is staff's, never answered automatically."""
        configured = self.settings.mailbox.internal_domains
        if configured is not None:
            return tuple(d.strip().lower().lstrip("@") for d in configured if d.strip())
        addresses = (self.settings.mailbox.username, self.sender_address)
        return tuple(dict.fromkeys(a.rpartition("@")[2].lower() for a in addresses if "@" in a))

    @property
    def message_id_domain(self) -> str:
        """Our Message-IDs' domain: set, or the sender's address as a domain (stages.inet.cnfpt.fr)."""
        local, _, domain = self.sender_address.partition("@")
        return self.settings.smtp.message_id_domain or (f"{local}.{domain}" if domain else "localhost")

    @property
    def compose(self) -> Composer:
        """Compose an outgoing mail from our sender, with a Message-ID on our domain."""
        return Composer(self.settings.smtp.sender, self.message_id_domain)

    @property
    def outbox(self) -> Outbox:
        """The outbox, bound to this database, transport, clock and archive."""
        return Outbox(self.sessions, self.transport, self.clock, self.archive,
                      max_attempts=self.settings.smtp.max_attempts)

    @property
    def folders(self) -> dict[str, str]:
        box = self.settings.mailbox
        return {"processed": box.processed_folder, "attention": box.attention_folder, "ignored": box.ignored_folder}

    def campaign_for(self, form: str, received_at: datetime) -> Campaign | None:
        """The campaign accepting `form` at that time, with lateness; None when none accepts it."""
        found = find_campaign(self.calendars.values(), form, received_at)
        if found is None:
            return None
        calendar, late = found
        return Campaign(calendar.id, calendar.reference_prefix, calendar.reference_year, late)

    def current_calendar(self, at: datetime) -> Calendar | None:
        """The campaign of our form open at `at` (for answers that concern no proposal yet)."""
        found = find_campaign(self.calendars.values(), self.form.name, at)
        return found[0] if found else None

    def reload(self) -> None:
        """Re-read calendars and templates (SIGHUP); on error keep the old ones and raise the reason."""
        templates = Templates.from_settings(self.settings)
        calendars = campaign_calendars(self.settings, templates, self.forms)
        self.templates, self.calendars = templates, calendars


def campaign_calendars(settings: Settings, templates: Templates,
                       forms: Mapping[str, FormDefinition]) -> dict[str, Calendar]:
    """The calendars of `[campaigns] schedules`, checked against the templates and the form definitions."""
    calendars = load_calendars(schedules_dir(settings), templates.names(), forms,
                               by_stage=[name for name, form in forms.items() if form.campaign_by_stage])
    check_periods(calendars, forms)
    return calendars


def schedules_dir(settings: Settings) -> Path:
    """The calendars folder: as set, or the shipped calendars when the default folder is absent."""
    folder = settings.resolve(settings.campaigns.schedules)
    if not folder.is_dir() and settings.campaigns.schedules == CampaignSettings().schedules:
        return shipped("schedules")
    return folder
