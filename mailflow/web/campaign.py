"""Tableau de bord, Calendrier (mails to come, Teams slots and their links) and Envois (the outbox)."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mailflow import staff
from mailflow.campaign.calendars import Calendar
from mailflow.campaign.rules import reminder_due
from mailflow.campaign.upcoming import Upcoming, upcoming
from mailflow.db.models import AuditEntry, OutboxMail, Proposal, Slot
from mailflow.db.models import Reminder as ReminderRow

from .common import DECISIONS, action, console, render

if TYPE_CHECKING:
    from mailflow.context import App


def current_calendar(app: App, now: datetime) -> Calendar | None:
    """The campaign open now, else the one whose dates are nearest ahead, else the latest one."""
    found = app.current_calendar(now)
    if found is not None:
        return found
    calendars = sorted(app.calendars.values(), key=lambda c: c.closes)
    ahead = [c for c in calendars if c.closes >= now.date()]
    return ahead[0] if ahead else (calendars[-1] if calendars else None)


def _named_dates(calendar: Calendar) -> list[tuple[date, str]]:
    found = [(calendar.deadline, "deadline"), (calendar.closes, "closes")]
    for name, value in calendar.dates.items():
        for day in value if isinstance(value, list) else [value]:
            found.append((day, name))
    return sorted(set(found))


def decision_deadline(calendar: Calendar) -> datetime | None:
    """When the first mail that depends on a decision (retenue / non retenue) goes: decisions are due then."""
    moments = [reminder_due(calendar, r) for r in calendar.reminders
               if set(r.statuses) & set(DECISIONS) and not r.slot_relative]
    return min((m for m in moments if m is not None), default=None)


def _fingerprint(session: Session, now: datetime) -> tuple[Any, ...]:
    """What the plan of the mails to come depends on, read cheaply: it changes when any input changes."""
    proposals = session.execute(select(func.count(), func.max(Proposal.id), func.max(Proposal.updated_at))).one()
    others = [session.scalar(select(func.count()).select_from(model)) for model in (Slot, ReminderRow)]
    last_action = session.scalar(select(func.max(AuditEntry.id)))
    return (*proposals, *others, last_action, now.replace(second=0, microsecond=0))


def coming_week(app: App, session: Session, now: datetime, cache: dict[str, Any]) -> list[Upcoming]:
    """The mails of the next 7 days, recomputed only when the database or the minute changed.

    Planning them reads every proposal of the campaign; the dashboard is opened far more often
    than proposals change.
    """
    key = _fingerprint(session, now)
    if cache.get("key") != key:
        cache.update(key=key, value=upcoming(app, now, days=7, session=session))
    return list(cache["value"])


def dashboard(request: Request) -> Response:
    """For the current campaign: proposals by status, next date, decisions to take, open items, next 7 days."""
    app = console(request)
    now = app.clock.now()
    calendar = current_calendar(app, now)
    with app.sessions() as session:
        counts: dict[str, int] = {}
        undecided = 0
        if calendar is not None:
            rows = session.execute(
                select(Proposal.status, func.count()).where(Proposal.campaign == calendar.id,
                                                            Proposal.status != "superseded")
                .group_by(Proposal.status)).all()
            counts = {status: n for status, n in rows}
            undecided = sum(n for status, n in counts.items() if status not in DECISIONS)
        items = staff.open_items(session)
        coming = coming_week(app, session, now, request.app.state.coming)
    today = now.astimezone(calendar.timezone).date() if calendar else now.date()
    next_date = next(((day, name) for day, name in _named_dates(calendar) if day >= today), None) if calendar else None
    by_kind: dict[str, int] = {}
    for item in items:
        by_kind[item.kind] = by_kind.get(item.kind, 0) + 1
    return render(request, "dashboard.html", {
        "calendar": calendar, "counts": counts, "total": sum(counts.values()), "undecided": undecided,
        "decisions_due": decision_deadline(calendar) if calendar else None,
        "next_date": next_date, "days_left": (next_date[0] - today).days if next_date else None,
        "open": by_kind, "open_total": len(items), "coming": coming,
    })


def calendar_page(request: Request) -> Response:
    """The mails to come by date (60 days), and the slots given, each with its meeting link."""
    app = console(request)
    now = app.clock.now()
    with app.sessions() as session:
        coming = upcoming(app, now, days=int(request.query_params.get("jours", "60") or 60)
                          if request.query_params.get("jours", "60").isdigit() else 60, session=session)
        slots = session.execute(
            select(Slot, Proposal.reference).join(Proposal, Slot.proposal_pk == Proposal.id)
            .order_by(Slot.starts_at)).all()
        rows = [{"id": s.id, "kind": s.kind, "campaign": s.campaign, "starts_at": s.starts_at, "ends_at": s.ends_at,
                 "reference": ref, "meeting_url": s.meeting_url} for s, ref in slots]
    events = _events(app)
    return render(request, "calendar.html", {"coming": coming, "slots": rows, "events": events})


def _events(app: App) -> dict[tuple[str, str], str]:
    """What each reminder announces, for the calendar (its description in the campaign file)."""
    return {(c.id, r.id): r.description for c in app.calendars.values() for r in c.reminders}


def outbox_page(request: Request) -> Response:
    """The outbox, failures first, then waiting, then the last mails sent."""
    app = console(request)
    order = case((OutboxMail.status == "failed", 0), (OutboxMail.status == "pending", 1),
                 (OutboxMail.status == "sending", 2), else_=3)
    with app.sessions() as session:
        rows = list(session.scalars(select(OutboxMail).order_by(order, OutboxMail.created_at.desc()).limit(300)))
        shown: list[dict[str, Any]] = [
            {"id": o.id, "status": o.status, "recipient": o.recipient, "subject": o.subject, "attempts": o.attempts,
             "error": o.last_error, "at": o.sent_at or o.next_attempt_at, "kind": o.kind} for o in rows]
    return render(request, "outbox.html", {"rows": shown})


def _retry(app: App, session: Session, form: dict[str, str], actor: str) -> str:
    ids = [int(form["outbox_id"])] if form.get("outbox_id", "").isdigit() else []
    staff.retry_sends(session, app.clock.now(), ids, actor)
    return "/envois"


async def retry(request: Request) -> Response:
    """Queue a failed mail again (or all of them) and hand the outbox to the transport now."""
    response = await action(_retry, "Les envois ont été relancés.")(request)
    app = console(request)
    await run_in_threadpool(app.outbox.drain)
    return response


def _meeting_link(app: App, session: Session, form: dict[str, str], actor: str) -> str | None:
    staff.set_meeting_url(session, int(form["slot_id"]), form.get("meeting_url", ""), actor, app.clock.now())
    return None


def _move_slot(app: App, session: Session, form: dict[str, str], actor: str) -> str | None:
    slot = session.get(Slot, int(form["slot_id"]))
    if slot is None or slot.campaign not in app.calendars:
        raise staff.StaffActionError("ce créneau n'existe plus")
    try:
        starts_at = datetime.fromisoformat(form.get("starts_at", ""))
    except ValueError:
        raise staff.StaffActionError("choisissez un créneau dans la liste") from None
    staff.move_slot(session, app.calendars[slot.campaign], slot.id, starts_at, actor, app.clock.now())
    return None


routes = [
    Route("/", dashboard, methods=["GET"]),
    Route("/calendrier", calendar_page, methods=["GET"]),
    Route("/creneaux/{slot_id:int}/lien", action(_meeting_link, "Lien de réunion enregistré."), methods=["POST"]),
    Route("/creneaux/{slot_id:int}/deplacer", action(_move_slot, "Créneau modifié."), methods=["POST"]),
    Route("/envois", outbox_page, methods=["GET"]),
    Route("/envois/relancer", retry, methods=["POST"]),
]
