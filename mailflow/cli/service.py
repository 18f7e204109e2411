"""`mailflow run` (also `--dry-run`), `import-history`, `ingest`, `check`, `status`, `db upgrade`, and the
staff console's `web` and `users`."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from mailflow.cli.base import Context, cli, guard, now_option, pass_context
from mailflow.db import engine as db
from mailflow.pipeline.backfill import import_history as backfill
from mailflow.pipeline.readers import Readers
from mailflow.pipeline.run import ingest_files
from mailflow.service.app import run_once
from mailflow.service.daemon import Daemon
from mailflow.service.failures import LoginProblem, explain, record_cause, require_secrets
from mailflow.service.health import run_checks, status_lines
from mailflow.service.logs import setup_logging
from mailflow.service.rehearsal import readonly_mailbox, rehearsal, rehearse_once
from mailflow.staff import cli_actor, note
from mailflow.web.accounts import add_user

# -- the service ---------------------------------------------------------------------------------


@cli.command()
@click.option("--once", is_flag=True, help="One pass (mailbox, reminders, digest, outbox), then exit.")
@click.option("--dry-run", is_flag=True,
              help="With --once: decide everything and print what would be filed, sent and moved; "
                   "change nothing (database, mailbox, outgoing mail).")
@pass_context
@guard
def run(ctx: Context, once: bool, dry_run: bool) -> None:
    """Run the service: watch the mailbox, send reminders and digests, drain the outbox."""
    if dry_run and not once:
        raise click.UsageError("--dry-run rehearses one pass: use it with --once")
    setup_logging(ctx.settings.logging)
    app = ctx.app(upgrade=False)
    db.upgrade_apart(app.engine)
    if dry_run:
        for line in rehearse_once(app):
            click.echo(line)
        return
    require_secrets(app)
    if once:
        readers = Readers(app.form, app.forms, app.limits, app.settings.mailbox.reader_processes,
                          archive=app.archive)
        readers.start_workers()
        try:
            report = run_once(app, readers)
        except LoginProblem as exc:
            record_cause(app, explain(exc))
            raise
        finally:
            readers.close()
        click.echo(f"mail: {report.mail}; reminders queued: {report.reminders}; "
                   f"sent: {report.sent}; failed: {report.failed}")
        return

    sys.exit(Daemon(app).run())


@cli.command("import-history")
@click.option("--since", required=True, type=click.DateTime(formats=["%Y-%m-%d"]), metavar="YYYY-MM-DD",
              help="File the mails received from this day on, up to the day mailflow started handling mail.")
@click.option("--dry-run", is_flag=True, help="Print what would be filed; change nothing.")
@click.option("--move", is_flag=True, help="Also move the mails to mailflow's folders (default: left where they are).")
@pass_context
@guard
def import_history(ctx: Context, since: datetime, dry_run: bool, move: bool) -> None:
    """File older proposals for the record (campaign by received date); answers and sends nothing."""
    app = ctx.app()
    moment = since.replace(tzinfo=ZoneInfo(app.settings.campaigns.timezone))
    if dry_run:
        with rehearsal(app) as (dry, decided):
            report = backfill(dry, moment, move=move)
            lines = list(decided().lines())
        click.echo(f"dry run, nothing changed: {report}")
        for line in lines:
            click.echo(line)
        return
    if not move:
        app.mailbox = readonly_mailbox(app)
    report = backfill(app, moment, move=move)
    summary = f"history from {moment:%Y-%m-%d} to {report.line.isoformat(timespec='seconds')}: {report}"
    note(app, cli_actor(), "import-history", target=f"mailbox:{app.mailbox.name}", after=summary)
    click.echo(summary)


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_context
@guard
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
@guard
def status(ctx: Context) -> None:
    """Where the service stands: last mailbox contact, queues, next reminders, last digest."""
    for line in status_lines(ctx.app()):
        click.echo(line)


@cli.group("db")
def db_group() -> None:
    """The database schema."""


@db_group.command("upgrade")
@pass_context
@guard
def db_upgrade(ctx: Context) -> None:
    """Create or upgrade the schema to the latest version (also done at every start)."""
    engine = db.make_engine(ctx.settings.database.url, ctx.settings.resolve(Path(".")))
    db.upgrade(engine)
    click.echo("database schema is up to date")




# -- the staff console -------------------------------------------------------------------------------


@cli.command()
@click.option("--host", help="Address to listen on (default: [web] host).")
@click.option("--port", type=int, help="Port to listen on (default: [web] port).")
@now_option
@pass_context
@guard
def web(ctx: Context, host: str | None, port: int | None, now: str | None) -> None:
    """Serve the staff console (uvicorn), on the same database as the service."""
    # The web stack (Starlette, uvicorn, MSAL) loads in the console's process, not in the daemon's.
    import uvicorn  # noqa: PLC0415

    from mailflow.web.app import build_console  # noqa: PLC0415

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
@guard
def users_add(ctx: Context, email: str) -> None:
    """Create a console account (or set a new password); the password is read from standard input."""
    password = sys.stdin.readline().rstrip("\r\n")
    app = ctx.app()
    with app.sessions.begin() as session:
        user = add_user(session, email, password, cli_actor(), app.clock.now())
    click.echo(f"account {user.email} is ready")
