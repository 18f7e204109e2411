"""`mailflow check` and `mailflow status`: is everything reachable, and where does the service stand."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import SQLAlchemyError

from mailflow.campaign.upcoming import upcoming
from mailflow.clock import SystemClock
from mailflow.context import campaign_calendars
from mailflow.db import engine as db
from mailflow.db.models import OutboxMail, QuarantineEntry, ServiceState
from mailflow.errors import MailflowError
from mailflow.files import why_not_creatable
from mailflow.mail.mailbox import make_mailbox
from mailflow.mail.oauth import TokenSource, token_source_for
from mailflow.mail.templates import Templates
from mailflow.mail.transport import make_transport
from mailflow.pipeline.forms.definition import load_form_definitions
from mailflow.pipeline.history import RETURNED, first_watch, handling_line, is_history
from mailflow.pipeline.history import STATE_KEY as HISTORY_KEY
from mailflow.service.alerts import read_contact_from
from mailflow.service.failures import LOGIN_PROBLEM_PREFIXES
from mailflow.settings import Settings, load_settings

if TYPE_CHECKING:
    from mailflow.context import App

Check = tuple[str, bool, str]


def run_checks(config: Path | None, now: datetime | None = None) -> Iterator[Check]:
    """Each check on its own: settings, database, the daemon's last mailbox contact, calendars and
    templates, mailbox, SMTP. The daemon's contact is compared with `now` (default: the system clock)."""
    try:
        settings = load_settings(config)
    except MailflowError as exc:
        yield "settings", False, str(exc)
        return
    yield "settings", True, str(settings.source)
    base = settings.source.parent if settings.source else Path.cwd()
    line = None
    database, engine = _check_database(settings, base)
    yield database
    if engine is not None:
        yield daemon_check(engine, settings, now or SystemClock().now())
        line = _line(settings, engine)
    try:

        templates = Templates.from_settings(settings)
        forms = load_form_definitions()
        calendars = campaign_calendars(settings, templates, forms)
        yield "calendars", True, f"{len(calendars)} campaign(s): {', '.join(sorted(calendars)) or 'none'}"
    except MailflowError as exc:
        yield "calendars", False, str(exc)
    yield from _check_mailbox(settings, base, line)
    yield from _check_smtp(settings, base)


def _check_database(settings: Settings, base: Path) -> tuple[Check, Engine | None]:
    """Reach the database and read its schema's revision, creating and upgrading nothing (`mailflow run`
    does both when it starts); the engine when the service's tables are there to be read."""
    file = db.sqlite_file(settings.database.url, base)
    try:
        absent = file is not None and not file.exists()
    except OSError as exc:
        return ("database", False, f"{file}: cannot be looked at ({exc.strerror})"), None
    if absent:
        why = why_not_creatable(file)
        if why is not None:
            return ("database", False, why), None
        return ("database", True, f"{file} does not exist yet: `mailflow run` (or `mailflow db upgrade`) "
                "creates it"), None
    try:
        engine = db.make_engine(settings.database.url, base)
        db.ping(engine)
        revision = db.schema_revision(engine)
    except (MailflowError, SQLAlchemyError) as exc:
        return ("database", False, str(exc)), None
    where = engine.url.render_as_string()
    if revision == db.SCHEMA_HEAD:
        return ("database", True, where), engine
    if revision is None:
        return ("database", True, f"{where}: no tables yet; `mailflow run` (or `mailflow db upgrade`) "
                "creates them"), None
    if revision in db.known_revisions():
        return ("database", True, f"{where}: schema {revision}, brought to {db.SCHEMA_HEAD} when `mailflow run` "
                "starts (or by `mailflow db upgrade`)"), engine
    return ("database", False, f"{where}: schema {revision} is unknown to this version of mailflow (a newer "
            "version wrote it?): run the version that upgraded it"), None


def _line(settings: Settings, engine: Engine) -> datetime | None:
    """The handling line as the database and the settings give it (None before the first watch)."""
    try:
        with db.session_factory(engine)() as session:
            return handling_line(settings, first_watch(session))
    except Exception:  # noqa: BLE001 - the database check already said what is wrong
        return None


def daemon_check(engine: Engine, settings: Settings, now: datetime) -> Check:
    """Is a daemon reaching the mailbox? Fails when its last contact is older than
    `[staff] alert_after_minutes` (daemon stopped, hung, or mailbox unreachable), so monitoring sees it.
    Before any daemon ran on the database (a fresh install) there is nothing to compare: it passes."""
    limit = timedelta(minutes=settings.staff.alert_after_minutes)
    with db.session_factory(engine)() as session:
        contact, _ = read_contact_from(session)
    if contact.last_ok is None and contact.error is None:
        return "daemon", True, "no daemon has run on this database yet (nothing to compare)"
    if contact.error and contact.failing_since is not None and contact.error.startswith(LOGIN_PROBLEM_PREFIXES):
        since = _utc(contact.failing_since)
        return "daemon", False, f"the daemon cannot log in to the mailbox since {since}: {contact.error}"
    if contact.last_ok is None:
        return "daemon", False, f"the daemon has never reached the mailbox; last error: {contact.error}"
    age = now - contact.last_ok
    minutes = int(age.total_seconds() // 60)
    if age > limit:
        why = f"; last error: {contact.error}" if contact.error else "; is `mailflow run` running?"
        limit_text = f"limit {settings.staff.alert_after_minutes} min"
        detail = f"last mailbox contact {_utc(contact.last_ok)}, {minutes} min ago ({limit_text}){why}"
        return "daemon", False, detail
    return "daemon", True, f"last mailbox contact {_utc(contact.last_ok)} ({minutes} min ago)"


def _token_check(section, name: str) -> tuple[TokenSource | None, Check | None]:  # noqa: ANN001
    """For auth = "oauth2": the token source and its own check line (a token acquired now)."""
    if section.auth != "oauth2":
        return None, None
    try:
        tokens = token_source_for(section)
        tokens()
    except MailflowError as exc:
        return None, (f"{name} oauth2 token", False, str(exc))
    return tokens, (f"{name} oauth2 token", True, "token acquired")


def _check_mailbox(settings, base: Path, handling: datetime | None) -> Iterator[Check]:  # noqa: ANN001
    """Log in and look, read-only (nothing is created, not even a folder); count the history left alone."""
    box = settings.mailbox
    tokens, line = _token_check(box, "mailbox")
    if line is not None:
        yield line
        if not line[1]:
            return
    folder = base / box.path
    try:
        mailbox = make_mailbox(box, base, tokens, readonly=True)
        mailbox.connect()
        refs = mailbox.waiting()
        mailbox.close()
        if box.kind == "imap":
            ok, detail = True, f"imap {box.host}:{box.port} {box.folder}, {len(refs)} mail(s) in the folder"
        elif folder.is_dir():
            ok, detail = True, f"maildir {folder}, {len(refs)} mail(s) in the folder"
        else:
            why = why_not_creatable(folder)
            ok, detail = why is None, why or f"maildir {folder} does not exist yet: `mailflow run` creates it"
    except (MailflowError, OSError) as exc:
        ok, detail = False, str(exc)
    yield "mailbox", ok, detail
    if ok:
        yield "history", True, _history_detail(refs, handling, box.folder)


def _history_detail(refs: list, line: datetime | None, folder: str) -> str:  # noqa: ANN001
    """How many mails are older than the handling line, and what becomes of them."""
    if line is None:
        return (f"mailflow has not watched this mailbox yet: the {len(refs)} mail(s) now in {folder} are history "
                "and will stay untouched, never answered (set [mailbox] handle_since to handle some; "
                "`mailflow import-history --since DATE` files them for the record; rehearse with "
                "`mailflow run --once --dry-run`)")
    older = sum(1 for r in refs if r.received_at is not None and is_history(r.received_at, line))
    if not older:
        return f"no mail older than {_utc(line)} in {folder}"
    return (f"{older} mail(s) received before {_utc(line)} stay in {folder} untouched and are never answered; "
            "`mailflow import-history --since DATE` files them for the record (add --move to file them away)")


def _check_smtp(settings, base: Path) -> Iterator[Check]:  # noqa: ANN001
    smtp = settings.smtp
    tokens, line = _token_check(smtp, "smtp")
    if line is not None:
        yield line
        if not line[1]:
            return
    try:
        transport = make_transport(smtp, base, tokens)
        transport.check()
        if smtp.kind == "smtp":
            yield "smtp", True, f"smtp {smtp.host}:{smtp.port} ({smtp.security})"
        else:
            absent = "" if (base / smtp.path).is_dir() else " (does not exist yet: the first mail sent creates it)"
            yield "smtp", True, f"directory {base / smtp.path}{absent}"
    except MailflowError as exc:
        yield "smtp", False, str(exc)


def status_lines(app: App) -> Iterator[str]:
    """What `mailflow status` prints: mailbox contact and mode, leader, queues, digest, next reminders."""
    with app.sessions() as session:
        states = {s.key: s for s in session.scalars(select(ServiceState))}
        yield from _mailbox_lines(states)
        by_status = select(OutboxMail.status, func.count()).group_by(OutboxMail.status)
        counts = dict(session.execute(by_status).all())
        yield "outbox: " + (", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "empty")
        held = QuarantineEntry.released_at.is_(None)
        waiting = select(func.count()).select_from(QuarantineEntry).where(held)
        yield f"quarantine: {session.scalar(waiting)} mail(s) waiting for a human"
        yield from _history_lines(session, app.settings, states)
        digest = states.get("digest")
        yield f"last digest: {_utc(digest.updated_at)}" if digest else "last digest: none yet"

    items = upcoming(app, app.clock.now(), days=14)
    yield f"next reminders ({len(items)} in 14 days):"
    for item in items[:10]:
        yield f"  {item}"


def _history_lines(session, settings: Settings, states: dict) -> Iterator[str]:  # noqa: ANN001
    from mailflow.db.models import Message

    watch = states.get(HISTORY_KEY)
    line = handling_line(settings, datetime.fromisoformat(watch.value["since"]) if watch else None)
    origin = "[mailbox] handle_since" if settings.mailbox.handle_since else "first watch"
    yield f"handling mail received since {_utc(line)} ({origin})" if line else "handling: not watched yet"
    returned = list(session.scalars(select(Message.message_id).where(Message.state == RETURNED)))
    if returned:
        yield (f"{len(returned)} mail(s) remis dans la boîte par l'équipe (put back in the mailbox by staff; "
               "left there, not answered; `mailflow mail reprocess MESSAGE-ID` to process one again, unless it "
               "gave a proposal):")
        for message_id in returned[:10]:
            yield f"  {message_id}"


def _mailbox_lines(states: dict) -> Iterator[str]:  # noqa: ANN001
    contact = states.get("mailbox")
    if contact is None:
        yield "mailbox: never reached by the daemon"
    else:
        value = contact.value
        last_ok = value.get("last_ok")
        shown = _utc(datetime.fromisoformat(last_ok)) if last_ok else "never"
        mode = value.get("mode", "?")
        watching = {"idle": "IDLE", "polling": "polling", "error": "unreachable"}.get(mode, mode)
        yield f"mailbox: last contact {shown} ({watching})"
        if value.get("error"):
            yield f"mailbox: last error at {_utc(contact.updated_at)}: {value['error']}"
    leader = states.get("leader")
    if leader is not None:
        value = leader.value
        since = _utc(datetime.fromisoformat(value["since"]))
        yield f"leader: {value.get('host')} pid {value.get('pid')} since {since}"
    alert = states.get("mailbox-alert")
    if alert is not None and alert.value.get("open"):
        yield f"alert: staff were told at {_utc(alert.updated_at)} that the mailbox is not reached"


def _utc(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
