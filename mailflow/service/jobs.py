"""The daemon's scheduled jobs (APScheduler 3): queue what is due and drain the outbox at each due time, at
each digest time, every few minutes to catch up, and once at start."""

from __future__ import annotations

import logging
from collections.abc import Callable

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from mailflow.campaign.due import due_times, run_due
from mailflow.campaign.reminders import LOOKAHEAD
from mailflow.context import App

log = logging.getLogger(__name__)

RESYNC_MINUTES = 10


def start_scheduler(app: App, job: Callable[[], object] | None = None) -> BackgroundScheduler:
    """Start the daemon's scheduler: `job` (default `run_due` then drain) at each due time,
    at each digest time, every few minutes to catch up, and once now."""

    scheduler = BackgroundScheduler(
        executors={"default": ThreadPoolExecutor(1)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        timezone=app.timezone,
    )
    scheduler.mailflow_job = job or _default_job(app)  # type: ignore[attr-defined]
    scheduler.start()
    reschedule(app, scheduler)
    scheduler.add_job(scheduler.mailflow_job, id="catch-up", name="catch up after start")  # type: ignore[attr-defined]
    return scheduler


def reschedule(app: App, scheduler: BackgroundScheduler) -> None:
    """Replace the jobs with those the calendars and the database give now (after a reload…)."""

    job = getattr(scheduler, "mailflow_job", None) or _default_job(app)
    now = app.clock.now()
    wanted = {f"due:{at.isoformat()}": at for at in due_times(app, now, now + LOOKAHEAD)}
    for existing in scheduler.get_jobs():
        if existing.id.startswith("due:") and existing.id not in wanted:
            existing.remove()
    for job_id, at in wanted.items():
        scheduler.add_job(job, DateTrigger(run_date=at), id=job_id, name=job_id, replace_existing=True)
    staff = app.settings.staff
    scheduler.add_job(
        job,
        CronTrigger(
            day_of_week="mon-fri",
            hour=staff.digest_time.hour,
            minute=staff.digest_time.minute,
            timezone=app.timezone,
        ),
        id="digest",
        name="staff digest",
        replace_existing=True,
    )
    scheduler.add_job(
        lambda: (job(), reschedule(app, scheduler)),
        IntervalTrigger(minutes=RESYNC_MINUTES, timezone=app.timezone),
        id="resync",
        name="catch up and re-read the calendars' due times",
        replace_existing=True,
    )


def _default_job(app: App) -> Callable[[], None]:
    def job() -> None:

        try:
            run_due(app)
            app.outbox.drain()
        except Exception:  # a failed pass is retried by the next job; the daemon must go on
            log.exception("scheduled pass failed")

    return job
