"""No silent stall: staff get one mail when the mailbox is not reached for too long, one when it is back.

The facts come from the database (`service_state`), not from one process: the daemon notes every
contact with the mailbox (`note_mailbox`), and `review` compares the last one with
`[staff] alert_after_minutes`. Every daemon reviews (also a follower, so a hung leader is noticed),
and the mails go through the outbox keyed by the outage, so staff get each mail once whoever
noticed first. A daemon whose loop hangs stops noting contacts, so it raises the same alert
(and systemd's watchdog restarts it).
"""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mailflow.db.state import get_state, put_state
from mailflow.mail.outbox import enqueue

if TYPE_CHECKING:
    from mailflow.context import App

log = logging.getLogger("mailflow.service.alerts")

STATE_KEY = "mailbox-alert"
ALERT = "staff/alerte-boite"
BACK_TO_NORMAL = "staff/retour-normal"
Action = Literal["alert", "back-to-normal"]


@dataclass(frozen=True)
class Contact:
    """What the database says about the mailbox: last successful contact, last error, since when it fails."""

    last_ok: datetime | None
    error: str | None
    failing_since: datetime | None


@dataclass(frozen=True)
class OpenAlert:
    """An alert sent and not yet followed by its back-to-normal mail; `outage`: when contact was last made."""

    outage: datetime


def assess(contact: Contact, open_alert: OpenAlert | None, now: datetime, limit: timedelta,
           started_at: datetime) -> Action | None:
    """What staff must be told now: an alert, the end of one, or nothing.

    Silence is counted from the last successful contact, else from the first recorded failure,
    else from `started_at` (when this daemon started).
    """
    if open_alert is not None:
        if contact.last_ok is not None and contact.last_ok > open_alert.outage:
            return "back-to-normal"
        return None
    silent_since = contact.last_ok or contact.failing_since or started_at
    return "alert" if now - silent_since >= limit else None


def read_contact_from(session: Session) -> tuple[Contact, OpenAlert | None]:
    """The mailbox facts and the open alert, as the database holds them now."""
    return _contact(session), _open_alert(session)


def review(app: App, now: datetime, started_at: datetime) -> Action | None:
    """Queue the alert or back-to-normal mail for staff if one is due now; return which (None if none).

    Safe from several daemons at once: the outbox key (cause = the outage) and the state row
    make the second one a no-op.
    """
    limit = timedelta(minutes=app.settings.staff.alert_after_minutes)
    try:
        with app.sessions.begin() as session:
            contact, open_alert = _contact(session), _open_alert(session)
            action = assess(contact, open_alert, now, limit, started_at)
            if action is None:
                return None
            if action == "alert":
                outage = contact.last_ok or contact.failing_since or started_at
                context = _context(app, contact, outage, now, limit)
                _queue(app, session, ALERT, outage, context, now)
                put_state(session, STATE_KEY, {"open": True, "outage": outage.isoformat(),
                                                "alerted_at": now.isoformat()}, now)
                log.error("mailbox not reached since %s: alert queued for staff", outage.isoformat())
            else:
                assert open_alert is not None
                context = _context(app, contact, open_alert.outage, now, limit)
                _queue(app, session, BACK_TO_NORMAL, open_alert.outage, context, now)
                put_state(session, STATE_KEY, {"open": False, "outage": open_alert.outage.isoformat(),
                                                "closed_at": now.isoformat()}, now)
                log.info("mailbox reachable again: back-to-normal mail queued for staff")
            return action
    except IntegrityError:
        return None  # another daemon queued it at the same moment


def _contact(session: Session) -> Contact:
    row = get_state(session, "mailbox")
    if row is None:
        return Contact(None, None, None)
    value = row.value
    last_ok = _moment(value.get("last_ok"))
    failing = _moment(value.get("failing_since")) or (row.updated_at if value.get("error") else None)
    return Contact(last_ok, value.get("error"), failing)


def _open_alert(session: Session) -> OpenAlert | None:
    row = get_state(session, STATE_KEY)
    if row is None or not row.value.get("open"):
        return None
    outage = _moment(row.value.get("outage"))
    return OpenAlert(outage) if outage is not None else None


def _context(app: App, contact: Contact, outage: datetime, now: datetime, limit: timedelta) -> dict[str, Any]:
    back = contact.last_ok if contact.last_ok is not None and contact.last_ok > outage else None
    lasted = (back or now) - outage
    return {
        "mailbox": app.mailbox.name,
        "folder": app.settings.mailbox.folder,
        "last_contact": outage,
        "back_at": back,
        "now": now,
        "limit_minutes": int(limit.total_seconds() // 60),
        "duration": duration_fr(lasted),
        "error": contact.error,
        "host": socket.gethostname(),
    }


def _queue(
    app: App, session: Session, template: str, outage: datetime, context: dict[str, Any], now: datetime
) -> None:
    rendered = app.templates.render(template, context)
    for recipient in app.settings.staff.digest_recipients:
        mail = app.compose(
            rendered,
            to=[recipient],
            auto_submitted="auto-generated",
            now=now,
        )
        enqueue(session, cause=f"alert:mailbox:{outage.isoformat()}", kind=template, recipient=recipient,
                mail=mail, now=now)


def duration_fr(delta: timedelta) -> str:
    """A duration as staff read it: « 2 h 05 », « 17 minutes », « 3 jours et 4 h »."""
    minutes = max(0, int(delta.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} jour{'s' if days > 1 else ''}" + (f" et {hours} h" if hours else "")
    if hours:
        return f"{hours} h {minutes:02d}"
    return f"{minutes} minute{'s' if minutes > 1 else ''}"


def _moment(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
