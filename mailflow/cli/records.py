"""What was filed, set aside and sent: `mailflow proposals`, `quarantine`, `outbox` and `mail`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from textwrap import shorten

import click
from sqlalchemy import func, select

from mailflow.campaign.export import proposal_record, write_csv, write_json
from mailflow.campaign.spreadsheet import NO_PROPOSAL_SHEET, proposal_sheets, xlsx_apart
from mailflow.cli.base import Context, cli, guard, pass_context
from mailflow.db.models import Message, OutboxMail, Proposal, QuarantineEntry
from mailflow.errors import MailflowError
from mailflow.staff import cli_actor, decide, release, reprocess, retry_sends

# -- proposals -----------------------------------------------------------------------------------


@cli.group()
def proposals() -> None:
    """What was filed."""


def _current_proposals(session, campaign: str | None, form: str | None = None):  # noqa: ANN001, ANN202
    query = select(Proposal).order_by(Proposal.reference, Proposal.version)
    if campaign:
        query = query.where(Proposal.campaign == campaign)
    if form:
        query = query.where(Proposal.form == form)
    return list(session.scalars(query))


@proposals.command("list")
@click.option("--campaign", help="Only this campaign (e.g. projet-collectif-2025-2026).")
@pass_context
@guard
def proposals_list(ctx: Context, campaign: str | None) -> None:
    """One line per proposal version: reference, version, status, collectivité, title."""
    app = ctx.app()
    with app.sessions() as session:
        rows = _current_proposals(session, campaign)
        if not rows:
            click.echo("no proposal filed yet")
        for p in rows:
            name = (p.fields.get("collectivity") or {}).get("name") or "?"
            title = shorten((p.fields.get("mission") or {}).get("title") or "", 60, placeholder="…")
            click.echo(f"{p.reference}  v{p.version}  {p.status:<10}  {name}  —  {title}")


@proposals.command("show")
@click.argument("reference")
@pass_context
@guard
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
@click.option("--form", "form", metavar="FORM",
              help="JSON and CSV: the records of this form (default: the proposal form, projet_collectif; "
                   "offre_stage: the stage offers, which proposal.schema.json does not describe).")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file (required for xlsx unless stdout is redirected).")
@pass_context
@guard
def proposals_export(ctx: Context, fmt: str, campaign: str | None, form: str | None, output: Path | None) -> None:
    """Export proposals: JSON (per proposal.schema.json), CSV or xlsx (every form, a sheet each)."""
    app = ctx.app()
    form = form or app.form.name
    if form not in app.forms:
        raise MailflowError(f"no form {form!r}; the forms are: {', '.join(sorted(app.forms))}")
    if fmt == "xlsx":
        with app.sessions() as session:
            sheets = proposal_sheets(app, session, app.clock.now(), campaign) or [NO_PROPOSAL_SHEET]
        data = xlsx_apart(sheets)
        if output:
            output.write_bytes(data)
        else:
            sys.stdout.buffer.write(data)
        return
    with app.sessions() as session:
        records = [proposal_record(p) for p in _current_proposals(session, campaign, form)]
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
@guard
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
@guard
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
@guard
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
@guard
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
            subject = shorten(m.subject, 60, placeholder="…")
            click.echo(f"#{m.id}  {m.status:<7} tries={m.attempts}  {m.recipient}  {subject}{error}")


@outbox.command("retry")
@click.argument("ids", nargs=-1, type=int)
@pass_context
@guard
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
@guard
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


@mail.command("reprocess")
@click.argument("message_id")
@pass_context
@guard
def mail_reprocess(ctx: Context, message_id: str) -> None:
    """Process a known mail again on purpose (e.g. one staff put back in the mailbox)."""
    app = ctx.app()
    message = reprocess(app, message_id, cli_actor())
    click.echo(f"{message.message_id}: {message.verdict} — {message.reason} (now {message.state})")
    app.outbox.drain()
