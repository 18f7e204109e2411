"""The `mailflow` command: a thin shell over the app, turning errors into clean messages and exit codes.

Exit status: 0 success, 1 a check or an operation failed (the reason is printed),
2 the settings are wrong (one line naming the key).
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
import uvicorn
from sqlalchemy import func, select

from mailflow.campaign.digest import build_digest, send_digest
from mailflow.campaign.export import proposal_record, write_csv, write_json, xlsx_bytes
from mailflow.campaign.upcoming import upcoming
from mailflow.clock import ManualClock
from mailflow.db import engine as db
from mailflow.db.models import Message, OutboxMail, Proposal, QuarantineEntry
from mailflow.errors import MailflowError, SettingsError
from mailflow.mail.compose import preview
from mailflow.mail.templates import Templates
from mailflow.pipeline.run import ingest_files
from mailflow.service.app import build_app, run_once
from mailflow.service.daemon import Daemon
from mailflow.service.health import run_checks, status_lines
from mailflow.service.logs import setup_logging
from mailflow.service.previews import preview_reminder, render_for_reference
from mailflow.settings import Settings, load_settings
from mailflow.staff import cli_actor, decide, release, retry_sends
from mailflow.web.accounts import add_user
from mailflow.web.app import build_console

F = TypeVar("F", bound=Callable[..., Any])


def _now_option(function: F) -> F:
    return click.option(
        "--now", "now", metavar="ISO-TIME", default=None,
        help="Pretend it is this moment (e.g. 2025-08-01T09:00+02:00): previews and tests of a campaign.",
    )(function)


def _clock(now: str | None) -> ManualClock | None:
    if now is None:
        return None
    try:
        moment = datetime.fromisoformat(now)
    except ValueError:
        raise click.BadParameter(f"expected an ISO time such as 2025-08-01T09:00+02:00, got {now!r}") from None
    return ManualClock(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


class Context:
    """What every command gets: the settings path, loaded on demand, and the app built from it."""

    def __init__(self, config: Path | None):
        self.config = config
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config)
        return self._settings

    def app(self, now: str | None = None, **overrides: Any):  # noqa: ANN201 - App is imported lazily
        settings = self.settings

        return build_app(settings, clock=_clock(now), **overrides)


pass_context = click.make_pass_decorator(Context)


def _guard(function: F) -> F:
    """Print mailflow's own errors as one line instead of a traceback."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except SettingsError as exc:
            click.echo(f"mailflow: {exc}", err=True)
            sys.exit(2)
        except MailflowError as exc:
            click.echo(f"mailflow: {exc}", err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--config", type=click.Path(path_type=Path), envvar="MAILFLOW_CONFIG",
              help="Settings file (default ./settings.toml; also MAILFLOW_CONFIG).")
@click.version_option(package_name="mailflow")
@click.pass_context
def cli(ctx: click.Context, config: Path | None) -> None:
    """mailflow reads, files and answers the proposals mailed to INET's stages mailbox."""
    ctx.obj = Context(config)


def main() -> None:
    """Console entry point."""
    cli(prog_name="mailflow")


# -- the service ---------------------------------------------------------------------------------


@cli.command()
@click.option("--once", is_flag=True, help="One pass (mailbox, reminders, digest, outbox), then exit.")
@pass_context
@_guard
def run(ctx: Context, once: bool) -> None:
    """Run the service: watch the mailbox, send reminders and digests, drain the outbox."""
    setup_logging(ctx.settings.logging)
    app = ctx.app()
    if once:

        report = run_once(app)
        click.echo(f"mail: {report.mail}; reminders queued: {report.reminders}; "
                   f"sent: {report.sent}; failed: {report.failed}")
        return

    sys.exit(Daemon(app).run())


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_context
@_guard
def ingest(ctx: Context, files: tuple[Path, ...]) -> None:
    """Run the pipeline on local .eml files (received time from their Date header)."""
    app = ctx.app()
    for path, verdict in ingest_files(app, files):
        click.echo(f"{path}: {verdict}")
    app.outbox.drain()


@cli.command()
@pass_context
def check(ctx: Context) -> None:
    """Check settings, database, mailbox and SMTP; exit 1 with the reason if one fails."""
    ok = True
    for name, passed, detail in run_checks(ctx.config):
        ok &= passed
        click.echo(f"{'OK  ' if passed else 'FAIL'} {name}: {detail}")
    sys.exit(0 if ok else 1)


@cli.command()
@pass_context
@_guard
def status(ctx: Context) -> None:
    """Where the service stands: last mailbox contact, queues, next reminders, last digest."""
    for line in status_lines(ctx.app()):
        click.echo(line)


@cli.group("db")
def db_group() -> None:
    """The database schema."""


@db_group.command("upgrade")
@pass_context
@_guard
def db_upgrade(ctx: Context) -> None:
    """Create or upgrade the schema to the latest version (also done at every start)."""
    engine = db.make_engine(ctx.settings.database.url, ctx.settings.resolve(Path(".")))
    db.upgrade(engine)
    click.echo("database schema is up to date")


# -- proposals -----------------------------------------------------------------------------------


@cli.group()
def proposals() -> None:
    """What was filed."""


def _current_proposals(session, campaign: str | None):  # noqa: ANN001, ANN202
    query = select(Proposal).order_by(Proposal.reference, Proposal.version)
    if campaign:
        query = query.where(Proposal.campaign == campaign)
    return list(session.scalars(query))


@proposals.command("list")
@click.option("--campaign", help="Only this campaign (e.g. projet-collectif-2025-2026).")
@pass_context
@_guard
def proposals_list(ctx: Context, campaign: str | None) -> None:
    """One line per proposal version: reference, version, status, collectivité, title."""
    app = ctx.app()
    with app.sessions() as session:
        rows = _current_proposals(session, campaign)
        if not rows:
            click.echo("no proposal filed yet")
        for p in rows:
            name = (p.fields.get("collectivity") or {}).get("name") or "?"
            title = (p.fields.get("mission") or {}).get("title") or ""
            click.echo(f"{p.reference}  v{p.version}  {p.status:<10}  {name}  —  {title[:60]}")


@proposals.command("show")
@click.argument("reference")
@pass_context
@_guard
def proposals_show(ctx: Context, reference: str) -> None:
    """Every version of one proposal, as exported (JSON)."""
    app = ctx.app()
    with app.sessions() as session:
        rows = list(session.scalars(select(Proposal).where(Proposal.reference == reference).order_by(Proposal.version)))
        if not rows:
            raise MailflowError(f"no proposal {reference}")
        records = [proposal_record(p) for p in rows]
    click.echo(json.dumps(records if len(records) > 1 else records[0], ensure_ascii=False, indent=2))


@proposals.command("export")
@click.option("--format", "fmt", type=click.Choice(["json", "csv", "xlsx"]), default="json", show_default=True)
@click.option("--campaign", help="Only this campaign.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file (required for xlsx unless stdout is redirected).")
@pass_context
@_guard
def proposals_export(ctx: Context, fmt: str, campaign: str | None, output: Path | None) -> None:
    """Export proposals: JSON (per proposal.schema.json), CSV or xlsx."""
    app = ctx.app()
    with app.sessions() as session:
        records = [proposal_record(p) for p in _current_proposals(session, campaign)]
    if fmt == "xlsx":
        data = xlsx_bytes(records)
        if output:
            output.write_bytes(data)
        else:
            sys.stdout.buffer.write(data)
        return
    out = output.open("w", encoding="utf-8", newline="") if output else sys.stdout
    try:
        (write_json if fmt == "json" else write_csv)(records, out)
    finally:
        if output:
            out.close()


@proposals.command("set-status")
@click.argument("reference")
@click.argument("status", type=click.Choice(["accepted", "rejected", "withdrawn"]))
@pass_context
@_guard
def proposals_set_status(ctx: Context, reference: str, status: str) -> None:
    """Record a staff decision on the current version of a proposal."""
    app = ctx.app()
    with app.sessions.begin() as session:
        previous, current = decide(session, reference, status, cli_actor(), app.clock.now())
    click.echo(f"{reference} v{current.version}: {previous} → {status}")


# -- quarantine, outbox, mail ----------------------------------------------------------------------


@cli.group()
def quarantine() -> None:
    """Mails set aside for a human."""


@quarantine.command("list")
@click.option("--all", "show_all", is_flag=True, help="Also the mails already released.")
@pass_context
@_guard
def quarantine_list(ctx: Context, show_all: bool) -> None:
    """Quarantined mails with their reason."""
    app = ctx.app()
    with app.sessions() as session:
        query = select(QuarantineEntry).order_by(QuarantineEntry.id)
        if not show_all:
            query = query.where(QuarantineEntry.released_at.is_(None))
        entries = list(session.scalars(query))
        if not entries:
            click.echo("quarantine is empty")
        for e in entries:
            released = f"  (released {e.released_at:%Y-%m-%d %H:%M})" if e.released_at else ""
            click.echo(f"#{e.id}  {e.created_at:%Y-%m-%d %H:%M}  {e.message.sender}  {e.message.subject[:50]!r}"
                       f"\n      {e.reason}{released}")


@quarantine.command("release")
@click.argument("entry_id", type=int)
@pass_context
@_guard
def quarantine_release(ctx: Context, entry_id: int) -> None:
    """Run a quarantined mail through the pipeline again (after a fix or a new version of mailflow)."""
    message = release(ctx.app(), entry_id, cli_actor())
    click.echo(f"#{entry_id}: {message.verdict} — {message.reason}")


@cli.group()
def outbox() -> None:
    """Outgoing mail and its state."""


@outbox.command("list")
@click.option("--status", type=click.Choice(["pending", "sent", "failed"]), help="Only this state.")
@pass_context
@_guard
def outbox_list(ctx: Context, status: str | None) -> None:
    """Outgoing mails: state, attempts, recipient, subject, last error."""
    app = ctx.app()
    with app.sessions() as session:
        query = select(OutboxMail).order_by(OutboxMail.id)
        if status:
            query = query.where(OutboxMail.status == status)
        rows = list(session.scalars(query))
        if not rows:
            click.echo("outbox is empty")
        for m in rows:
            error = f"\n      last error: {m.last_error}" if m.last_error and m.status != "sent" else ""
            click.echo(f"#{m.id}  {m.status:<7} tries={m.attempts}  {m.recipient}  {m.subject[:60]}{error}")


@outbox.command("retry")
@click.argument("ids", nargs=-1, type=int)
@pass_context
@_guard
def outbox_retry(ctx: Context, ids: tuple[int, ...]) -> None:
    """Send failed mails again now (all failed ones, or the given ids), then drain the outbox."""
    app = ctx.app()
    with app.sessions.begin() as session:
        changed = retry_sends(session, app.clock.now(), ids, cli_actor())
    report = app.outbox.drain()
    click.echo(f"{changed} mail(s) queued again; sent {report.sent}, failed {report.failed}")


@cli.group()
def mail() -> None:
    """Received mails and where each stands."""


@mail.command("show")
@click.argument("message_id")
@pass_context
@_guard
def mail_show(ctx: Context, message_id: str) -> None:
    """The journey of one received mail (by Message-ID, with or without <>)."""
    app = ctx.app()
    wanted = message_id.strip()
    if not wanted.startswith("<"):
        wanted = f"<{wanted}>"
    with app.sessions() as session:
        rows = list(session.scalars(select(Message).where(func.lower(Message.message_id) == wanted.lower())))
        if not rows:
            raise MailflowError(f"no mail with Message-ID {wanted}")
        for m in rows:
            click.echo(f"{m.message_id}\n  from {m.sender}\n  subject {m.subject}\n"
                       f"  received {m.received_at:%Y-%m-%d %H:%M:%S} UTC, state {m.state}, verdict {m.verdict}")
            for step in m.steps:
                click.echo(f"  {step.at:%Y-%m-%d %H:%M:%S}  {step.step:<12} {step.detail or ''}")


# -- schedule, digest, templates -------------------------------------------------------------------


@cli.group()
def schedule() -> None:
    """Reminders and digests to come."""


@schedule.command("list")
@click.option("--campaign", help="Only this campaign.")
@click.option("--days", type=int, default=400, show_default=True, help="How far ahead.")
@_now_option
@pass_context
@_guard
def schedule_list(ctx: Context, campaign: str | None, days: int, now: str | None) -> None:
    """Upcoming reminders and digests, with their date, recipient, template and proposal."""
    app = ctx.app(now)
    items = upcoming(app, app.clock.now(), days=days, campaign=campaign)
    if not items:
        click.echo("nothing scheduled")
    for item in items:
        click.echo(str(item))


@cli.command()
@click.option("--print", "print_", is_flag=True, help="Print the digest (text part).")
@click.option("--send", is_flag=True, help="Queue the digest to the staff recipients and send it.")
@_now_option
@pass_context
@_guard
def digest(ctx: Context, print_: bool, send: bool, now: str | None) -> None:
    """The staff digest, now."""
    app = ctx.app(now)
    if send:
        click.echo(send_digest(app, app.clock.now()))
        return
    message = build_digest(app, app.clock.now(), force=True)
    if message is None:
        click.echo("nothing to report")
        return
    text = message.get_body(preferencelist=("plain",))
    click.echo(f"Subject: {message['Subject']}\n")
    click.echo(text.get_content() if text is not None else "")


@cli.group()
def templates() -> None:
    """Mail templates."""


@templates.command("list")
@pass_context
@_guard
def templates_list(ctx: Context) -> None:
    """Every template name."""
    for name in Templates.from_settings(ctx.settings).names():
        click.echo(name)


@templates.command("render")
@click.argument("name")
@click.option("--ref", "reference", help="A filed proposal's reference, to render with its data.")
@_now_option
@pass_context
@_guard
def templates_render(ctx: Context, name: str, reference: str | None, now: str | None) -> None:
    """Print a rendered mail (headers, text, HTML) so staff can proof-read a template they edited."""
    app = ctx.app(now)
    reminders = {r.template for calendar in app.calendars.values() for r in calendar.reminders}
    if name == "staff/digest":
        message = build_digest(app, app.clock.now(), force=True)
    elif name in reminders:
        message = preview_reminder(app, name, reference)
    else:
        message = render_for_reference(app, name, reference)
    click.echo(preview(message))


# -- the staff console -------------------------------------------------------------------------------


@cli.command()
@click.option("--host", help="Address to listen on (default: [web] host).")
@click.option("--port", type=int, help="Port to listen on (default: [web] port).")
@_now_option
@pass_context
@_guard
def web(ctx: Context, host: str | None, port: int | None, now: str | None) -> None:
    """Serve the staff console (uvicorn), on the same database as the service."""
    setup_logging(ctx.settings.logging)
    settings = ctx.settings.web
    uvicorn.run(build_console(ctx.app(now)), host=host or settings.host, port=port or settings.port,
                proxy_headers=True, forwarded_allow_ips="127.0.0.1", server_header=False, log_config=None)


@cli.group()
def users() -> None:
    """Console accounts."""


@users.command("add")
@click.argument("email")
@pass_context
@_guard
def users_add(ctx: Context, email: str) -> None:
    """Create a console account (or set a new password); the password is read from standard input."""
    password = sys.stdin.readline().rstrip("\r\n")
    app = ctx.app()
    with app.sessions.begin() as session:
        user = add_user(session, email, password, cli_actor(), app.clock.now())
    click.echo(f"account {user.email} is ready")
