"""The staff digest: one mail each working day that has something to say, read as a to-do list.

What it says is gathered by `digest_content.collect` (changes since the previous digest, the
decisions the calendars ask for, every open item until it is closed, totals, mails to come);
here it is rendered (HTML for Outlook, plain text, the proposals as an .xlsx file) and queued.
It is sent at `[staff] digest_time` on a working day when there is something to say, and always
the last working day before a date that needs a staff decision; otherwise nothing is sent
(unless `digest_when_empty`).
"""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from typing import TYPE_CHECKING

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mailflow.campaign import wording
from mailflow.campaign.calendars import staff_working_day
from mailflow.campaign.digest_content import Digest, collect
from mailflow.campaign.spreadsheet import XLSX_TYPE, Sheet, proposal_sheets, xlsx_apart
from mailflow.campaign.upcoming import DIGEST_TEMPLATE
from mailflow.db.state import get_state, put_state
from mailflow.mail import french
from mailflow.mail.outbox import enqueue

if TYPE_CHECKING:
    from mailflow.context import App

SENT_KEY = "digest"
CHECKED_KEY = "digest-check"


def last_sent(session: Session) -> datetime | None:
    """When the last digest was queued (the start of what the next one reports)."""
    state = get_state(session, SENT_KEY)
    return datetime.fromisoformat(state.value["sent_at"]) if state and state.value.get("sent_at") else None


# --- the mail ---------------------------------------------------------------------------------------


def render_digest(app: App, digest: Digest, to: list[str], spreadsheet: bytes | None) -> EmailMessage:
    """The digest mail: HTML (tables Outlook renders) and text, with the proposals as an .xlsx file."""
    zone = app.timezone
    context = {
        "digest": digest,
        "today": digest.now.astimezone(zone).date(),
        "day": lambda moment: wording.day_fr(moment, zone),
        "court": lambda moment: wording.short_fr(moment, zone),
        "hour": lambda moment: french.time_fr(moment, zone),
        "digest_time": french.time_fr(datetime.combine(digest.now.date(), app.settings.staff.digest_time, zone), zone),
        "count": french.count,
        "plural": french.plural,
    }
    rendered = app.templates.render(DIGEST_TEMPLATE, context)
    day = digest.now.astimezone(zone).date()
    attachments = []
    if spreadsheet is not None:
        attachments.append((f"propositions-{day.isoformat()}.xlsx", XLSX_TYPE, spreadsheet))
    return app.compose(
        rendered,
        to=to,
        auto_submitted="auto-generated",
        now=digest.now,
        attachments=attachments,
    )


def build_digest(app: App, now: datetime, force: bool = False) -> EmailMessage | None:
    """The digest as it would be sent at `now`; None on a day with nothing to say (unless `force`
    or `digest_when_empty`)."""
    with app.sessions() as session:
        digest = collect(app, session, now, last_sent(session))
        if not (force or app.settings.staff.digest_when_empty or digest.something_to_say):
            return None
        sheets = proposal_sheets(app, session, now)
    return render_digest(app, digest, list(app.settings.staff.digest_recipients), _spreadsheet(sheets))


def queue_digest(app: App, now: datetime, cause: str, *, force: bool = False) -> int:
    """Queue the digest (one mail per staff recipient) under `cause`; return how many were queued."""
    recipients = list(app.settings.staff.digest_recipients)
    if not recipients:
        return 0
    with app.sessions() as session:
        since = last_sent(session)
        digest = collect(app, session, now, since)
        if not (force or app.settings.staff.digest_when_empty or digest.something_to_say):
            return 0
        sheets = proposal_sheets(app, session, now)
    spreadsheet = _spreadsheet(sheets)  # before the write transaction: it takes a process of its own
    queued = 0
    try:
        with app.sessions.begin() as session:
            if last_sent(session) != since:
                return 0  # another process queued a digest meanwhile
            for recipient in recipients:
                mail = render_digest(app, digest, [recipient], spreadsheet)
                queued += enqueue(session, cause=cause, kind=DIGEST_TEMPLATE, recipient=recipient, mail=mail,
                                  now=now) is not None
            put_state(session, SENT_KEY, {"sent_at": now.isoformat(), "cause": cause}, now)
    except IntegrityError:
        return 0  # another process queued it first
    return queued


def _spreadsheet(sheets: list[Sheet]) -> bytes | None:
    return xlsx_apart(sheets) if sheets else None


def queue_digest_if_due(app: App, now: datetime) -> int:
    """The scheduled digest: once per working day, from `digest_time` on; nothing on a day with nothing to say."""
    local = now.astimezone(app.timezone)
    today = local.date()
    if not staff_working_day(app.calendars.values(), today) or local.time() < app.settings.staff.digest_time:
        return 0
    with app.sessions() as session:
        checked = get_state(session, CHECKED_KEY)
        if checked is not None and checked.value.get("day") == today.isoformat():
            return 0
    queued = queue_digest(app, now, f"digest:{today.isoformat()}")
    try:
        with app.sessions.begin() as session:
            put_state(session, CHECKED_KEY, {"day": today.isoformat()}, now)
    except IntegrityError:
        pass
    return queued


def send_digest(app: App, now: datetime) -> str:
    """`mailflow digest --send`: queue the digest now, even on a quiet day, and send it."""

    cause = f"digest:{now.astimezone(app.timezone).isoformat(timespec='seconds')}:manual"
    queued = queue_digest(app, now, cause, force=True)
    report = app.outbox.drain()
    recipients = ", ".join(app.settings.staff.digest_recipients) or "nobody (no digest_recipients)"
    return f"digest queued for {recipients} ({queued} {'mail' if queued == 1 else 'mails'}); outbox: {report}"
