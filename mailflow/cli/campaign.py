"""The campaign as staff preview it: `mailflow schedule list`, `digest` and `templates`."""

from __future__ import annotations

import click

from mailflow.campaign.digest import build_digest, send_digest
from mailflow.campaign.upcoming import upcoming
from mailflow.cli.base import Context, cli, guard, now_option, pass_context
from mailflow.mail.compose import preview
from mailflow.mail.templates import Templates
from mailflow.service.previews import preview_reminder, render_for_reference
from mailflow.staff import cli_actor, note

# -- schedule, digest, templates -------------------------------------------------------------------


@cli.group()
def schedule() -> None:
    """Reminders and digests to come."""


@schedule.command("list")
@click.option("--campaign", help="Only this campaign.")
@click.option("--days", type=int, default=400, show_default=True, help="How far ahead.")
@now_option
@pass_context
@guard
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
@now_option
@pass_context
@guard
def digest(ctx: Context, print_: bool, send: bool, now: str | None) -> None:
    """The staff digest, now."""
    app = ctx.app(now)
    if send:
        sent = send_digest(app, app.clock.now())
        note(app, cli_actor(), "digest-send", target="digest", after=sent)
        click.echo(sent)
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
@guard
def templates_list(ctx: Context) -> None:
    """Every template name."""
    for name in Templates.from_settings(ctx.settings).names():
        click.echo(name)


@templates.command("render")
@click.argument("name")
@click.option("--ref", "reference", help="A filed proposal's reference, to render with its data.")
@now_option
@pass_context
@guard
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
