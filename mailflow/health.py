"""`mailflow check` and `mailflow status`: is everything reachable, and where does the service stand."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from . import db
from .errors import MailflowError
from .settings import load_settings

if TYPE_CHECKING:
    from .app import App

Check = tuple[str, bool, str]


def run_checks(config: Path | None) -> Iterator[Check]:
    """Each check on its own: settings, database, calendars and templates, mailbox, SMTP."""
    try:
        settings = load_settings(config)
    except MailflowError as exc:
        yield "settings", False, str(exc)
        return
    yield "settings", True, str(settings.source)
    base = settings.source.parent if settings.source else Path.cwd()
    try:
        engine = db.make_engine(settings.database.url, base)
        db.ping(engine)
        db.upgrade(engine)
        yield "database", True, engine.url.render_as_string()
    except MailflowError as exc:
        yield "database", False, str(exc)
    try:
        from .answer import Templates
        from .calendars import load_calendars

        templates = Templates.from_settings(settings)
        calendars = load_calendars(settings.resolve(settings.campaigns.schedules), templates.names())
        yield "calendars", True, f"{len(calendars)} campaign(s): {', '.join(sorted(calendars)) or 'none'}"
    except MailflowError as exc:
        yield "calendars", False, str(exc)
    yield from _check_mailbox(settings, base)
    yield from _check_smtp(settings, base)


def _check_mailbox(settings, base: Path) -> Iterator[Check]:  # noqa: ANN001
    from .oauth import token_source_for
    from .source import make_mailbox

    box = settings.mailbox
    tokens = None
    if box.auth == "oauth2":
        try:
            tokens = token_source_for(box)
            tokens()
        except MailflowError as exc:
            yield "mailbox oauth2 token", False, str(exc)
            return
        yield "mailbox oauth2 token", True, "token acquired"
    try:
        mailbox = make_mailbox(box, base, tokens)
        mailbox.connect()
        waiting = len(mailbox.waiting())
        mailbox.close()
        where = f"{box.host}:{box.port} {box.folder}" if box.kind == "imap" else str(base / box.path)
        yield "mailbox", True, f"{box.kind} {where}, {waiting} mail(s) waiting"
    except MailflowError as exc:
        yield "mailbox", False, str(exc)


def _check_smtp(settings, base: Path) -> Iterator[Check]:  # noqa: ANN001
    from .oauth import token_source_for
    from .send import make_transport

    smtp = settings.smtp
    tokens = None
    if smtp.auth == "oauth2":
        try:
            tokens = token_source_for(smtp)
            tokens()
        except MailflowError as exc:
            yield "smtp oauth2 token", False, str(exc)
            return
        yield "smtp oauth2 token", True, "token acquired"
    try:
        transport = make_transport(smtp, base, tokens) if tokens else make_transport(smtp, base)
        transport.check()
        where = f"{smtp.host}:{smtp.port} ({smtp.security})" if smtp.kind == "smtp" else str(base / smtp.path)
        yield "smtp", True, f"{smtp.kind} {where}"
    except MailflowError as exc:
        yield "smtp", False, str(exc)


def status_lines(app: App) -> Iterator[str]:
    """What `mailflow status` prints."""
    from .models import OutboxMail, QuarantineEntry, ServiceState

    with app.sessions() as session:
        states = {s.key: s for s in session.scalars(select(ServiceState))}
        contact = states.get("mailbox")
        if contact:
            mode = contact.value.get("mode", "?")
            yield f"mailbox: last contact {contact.updated_at:%Y-%m-%d %H:%M:%S} UTC ({mode})"
            if contact.value.get("error"):
                yield f"mailbox: last error: {contact.value['error']}"
        else:
            yield "mailbox: never reached by the daemon"
        counts = dict(session.execute(select(OutboxMail.status, func.count()).group_by(OutboxMail.status)).all())
        yield "outbox: " + (", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "empty")
        held = session.scalar(select(func.count()).select_from(QuarantineEntry).where(QuarantineEntry.released_at.is_(None)))
        yield f"quarantine: {held} mail(s) waiting for a human"
        digest = states.get("digest")
        yield f"last digest: {digest.updated_at:%Y-%m-%d %H:%M} UTC" if digest else "last digest: none yet"
    from .digest import upcoming

    items = upcoming(app, app.clock.now(), days=14)
    yield f"next reminders ({len(items)} in 14 days):"
    for item in items[:10]:
        yield f"  {item}"
