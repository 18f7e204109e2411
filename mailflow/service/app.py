"""The composition root: everything mailflow uses, built once from the settings and passed in.

Tests build an `App` with a `ManualClock`, a Dovecot or Maildir mailbox and an SMTP or
directory transport; the daemon and the CLI build it from `settings.toml`. `run_once`
is one pass of the whole service, the unit the daemon repeats and tests drive.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from mailflow.campaign.due import run_due
from mailflow.clock import Clock, SystemClock
from mailflow.context import App, campaign_calendars
from mailflow.db import engine as db
from mailflow.mail.mailbox import Mailbox, TokenSource, make_mailbox
from mailflow.mail.oauth import token_source_for
from mailflow.mail.templates import Templates
from mailflow.mail.transport import Transport, make_transport
from mailflow.pipeline.archive import Archive
from mailflow.pipeline.extract import ExtractionLimits
from mailflow.pipeline.forms.definition import DEFAULT_FORM_NAME, load_form_definitions
from mailflow.pipeline.readers import Readers
from mailflow.pipeline.run import ingest_pass, resume
from mailflow.settings import Settings

log = logging.getLogger("mailflow")


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
    forms = load_form_definitions()
    calendars = campaign_calendars(settings, templates, forms)
    if mailbox is None and settings.mailbox.auth == "oauth2":
        token_source = token_source or token_source_for(settings.mailbox)
    smtp_tokens = token_source_for(settings.smtp) if transport is None and settings.smtp.auth == "oauth2" else None
    archive = Archive(settings.resolve(settings.archive.path))
    return App(
        settings=settings,
        clock=clock or SystemClock(),
        engine=engine,
        sessions=db.session_factory(engine),
        archive=archive,
        mailbox=mailbox or make_mailbox(settings.mailbox, base, token_source, spool=archive.root),
        transport=transport or make_transport(settings.smtp, base, smtp_tokens, clock=clock),
        templates=templates,
        calendars=calendars,
        form=forms[DEFAULT_FORM_NAME],
        forms=forms,
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


def run_once(app: App, readers: Readers | None = None) -> OnceReport:
    """One pass: finish interrupted mails, read new ones, queue due reminders and digests, send.

    `readers`: worker processes to read the documents in (`mailflow run --once`); None reads them here."""
    resumed = resume(app)
    report = ingest_pass(app, readers=readers)
    queued = run_due(app)
    drained = app.outbox.drain()
    return OnceReport(resumed=resumed, mail=str(report), reminders=queued, sent=drained.sent, failed=drained.failed)
