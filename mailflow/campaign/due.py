"""What is due now: the campaigns' reminders and the staff digest, queued into the outbox; and when the next is."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from mailflow.campaign.digest import queue_digest_if_due
from mailflow.campaign.reminders import LOOKAHEAD, run_campaign, service_since
from mailflow.campaign.upcoming import upcoming
from mailflow.context import App


def run_due(app: App) -> int:
    """Queue every reminder and digest due now into the outbox; return how many mails were queued.

    Safe to call as often as wanted, by several processes at once: what was queued, missed or
    refused is recorded in `reminders` and never done twice.
    """
    now = app.clock.now()
    since = service_since(app, now)
    grace = timedelta(hours=app.settings.campaigns.grace_hours)
    queued = 0
    for calendar in app.calendars.values():
        queued += run_campaign(app, calendar, now, since, grace)
    queued += queue_digest_if_due(app, now)
    return queued


def next_due(app: App, now: datetime) -> datetime | None:
    """The next moment after `now` when a reminder or a digest is due (for the daemon's jobs)."""
    for days in (LOOKAHEAD.days + 1, 31, 400):
        later = [item.at for item in upcoming(app, now, days=days) if item.at > now]
        if later:
            return min(later)
    return None


def due_times(app: App, start: datetime, end: datetime) -> Iterable[datetime]:
    days = max(1, (end - start).days + 1)
    return sorted({item.at for item in upcoming(app, start, days=days) if start < item.at <= end})
