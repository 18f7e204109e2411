"""The composition root: everything mailflow uses, built once from the settings and passed in.

Tests build an `App` with a `ManualClock`, a Dovecot or Maildir mailbox and an SMTP or
directory transport; the daemon and the CLI build it from `settings.toml`. `run_once`
is one pass of the whole service, the unit the daemon repeats and tests drive.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parseaddr
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from mailflow.campaign.calendars import Calendar, find_campaign, load_calendars
from mailflow.campaign.reminders import run_due
from mailflow.clock import Clock, SystemClock
from mailflow.db import engine as db
from mailflow.mail.mailbox import Mailbox, TokenSource, make_mailbox
from mailflow.mail.oauth import token_source_for
from mailflow.mail.outbox import drain
from mailflow.mail.templates import Templates
from mailflow.mail.transport import Transport, make_transport
from mailflow.pipeline.archive import Archive
from mailflow.pipeline.extract import ExtractionLimits
from mailflow.pipeline.filing import Campaign
from mailflow.pipeline.forms.definition import FormDefinition, load_form_definition
from mailflow.pipeline.run import ingest_pass, resume
from mailflow.settings import CampaignSettings, Settings
from mailflow.shipped import shipped

log = logging.getLogger("mailflow")


@dataclass
class App:
    """What one running mailflow is made of; every stage receives what it needs from here."""

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
    def message_id_domain(self) -> str:
        """Our Message-IDs' domain: set, or the sender's address as a domain (stages.inet.cnfpt.fr)."""
        local, _, domain = self.sender_address.partition("@")
        return self.settings.smtp.message_id_domain or (f"{local}.{domain}" if domain else "localhost")

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
        calendars = load_calendars(schedules_dir(self.settings), templates.names())
        self.templates, self.calendars = templates, calendars


def schedules_dir(settings: Settings) -> Path:
    """The calendars folder: as set, or the shipped calendars when the default folder is absent."""
    folder = settings.resolve(settings.campaigns.schedules)
    if not folder.is_dir() and settings.campaigns.schedules == CampaignSettings().schedules:
        return shipped("schedules")
    return folder


def build_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    mailbox: Mailbox | None = None,
    transport: Transport | None = None,
    token_source: TokenSource | None = None,
    upgrade: bool = True,
) -> App:
    """Build the service from its settings; anything passed in replaces what the settings describe.

    `token_source` replaces the mailbox's OAuth2 tokens (tests point it at a local endpoint).
    """
    base = settings.source.parent if settings.source else Path.cwd()
    engine = db.make_engine(settings.database.url, base)
    if upgrade:
        db.upgrade(engine)
    templates = Templates.from_settings(settings)
    calendars = load_calendars(schedules_dir(settings), templates.names())
    if mailbox is None and settings.mailbox.auth == "oauth2":
        token_source = token_source or token_source_for(settings.mailbox)
    smtp_tokens = token_source_for(settings.smtp) if transport is None and settings.smtp.auth == "oauth2" else None
    return App(
        settings=settings,
        clock=clock or SystemClock(),
        engine=engine,
        sessions=db.session_factory(engine),
        archive=Archive(settings.resolve(settings.archive.path)),
        mailbox=mailbox or make_mailbox(settings.mailbox, base, token_source),
        transport=transport or make_transport(settings.smtp, base, smtp_tokens, clock=clock),
        templates=templates,
        calendars=calendars,
        form=load_form_definition(),
        limits=ExtractionLimits(max_attachment_bytes=settings.mailbox.max_message_bytes),
    )


@dataclass(frozen=True)
class OnceReport:
    """What one pass of the service did."""

    resumed: int
    mail: str
    reminders: int
    sent: int
    failed: int


def run_once(app: App) -> OnceReport:
    """One pass: finish interrupted mails, read new ones, queue due reminders and digests, send."""
    resumed = resume(app)
    report = ingest_pass(app)
    queued = run_due(app)
    drained = drain(app.sessions, app.transport, app.clock, app.archive,
                    max_attempts=app.settings.smtp.max_attempts)
    return OnceReport(resumed=resumed, mail=str(report), reminders=queued, sent=drained.sent, failed=drained.failed)
