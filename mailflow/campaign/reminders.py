"""Reminders: queue the calendars' reminder mails that are due into the outbox.

`run_campaign` (called by `campaign.due.run_due`) is the whole behaviour: it reads the calendars and
the database, decides with `mailflow.campaign.rules` which reminder mails are due now, and writes each one (its
`reminders` row and its outbox row) in one transaction, so a reminder goes at most once to
each recipient whatever restarts, crashes or second daemons happen. Tests call it with a
`ManualClock`; the daemon's jobs (`service.jobs`) call it at the times the calendars give.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mailflow.campaign import invitations
from mailflow.campaign.calendars import Calendar, Reminder
from mailflow.campaign.export import offer_periods, proposal_record
from mailflow.campaign.rules import (
    Occurrence,
    SlotTime,
    Target,
    allocate,
    concerned,
    decide,
    occurrences,
    recipients,
    reminder_due,
    until_end,
)
from mailflow.campaign.slots import load_slots, meeting_url, slot_context
from mailflow.db.models import Proposal, Slot
from mailflow.db.models import Reminder as ReminderRow
from mailflow.db.state import get_state, put_state
from mailflow.errors import MailflowError, TemplateError
from mailflow.mail.outbox import enqueue
from mailflow.mail.template_context import mail_context

if TYPE_CHECKING:

    from mailflow.context import App

log = logging.getLogger("mailflow.campaign.reminders")

STATE_KEY = "scheduler"
LOOKAHEAD = timedelta(days=2)


# --- reading the database ---------------------------------------------------------------------------


def load_targets(session: Session, campaign: str) -> list[Target]:
    """The current version of every proposal of a campaign, oldest first (the order slots are given in).
    Only the addresses reminders need are read from the fields (decoding them all was slow)."""
    addresses = [Proposal.fields[path].as_string().label(key) for key, path in ADDRESSES.items()]
    rows = session.execute(
        select(Proposal.id, Proposal.reference, Proposal.status, Proposal.received_at, Proposal.created_at,
               Proposal.updated_at, Proposal.sender, *addresses)
        .where(Proposal.campaign == campaign, Proposal.status != "superseded")
    ).all()
    first_seen = dict(
        session.execute(
            select(Proposal.reference, Proposal.received_at).where(Proposal.campaign == campaign, Proposal.version == 1)
        ).all()
    )
    rows = sorted(rows, key=lambda r: (first_seen.get(r.reference, r.received_at), r.reference))
    return [_target(r, {key: getattr(r, key) for key in ADDRESSES}) for r in rows]


def target_of(proposal: Proposal) -> Target:
    """A proposal row as reminders see it: its status, since when, and its contacts' addresses."""
    fields = proposal.fields or {}
    return _target(proposal, {key: (fields.get(section) or {}).get(name) for key, (section, name) in ADDRESSES.items()})


ADDRESSES = {"tutor": ("tutor", "email"), "hr": ("collectivity", "hr_email"), "dgs": ("dgs", "email")}


def _target(row: Any, addresses: dict[str, str | None]) -> Target:
    changed = row.received_at if row.updated_at <= row.created_at else row.updated_at
    return Target(pk=row.id, reference=row.reference, status=row.status, received_at=row.received_at,
                  changed_at=max(changed, row.received_at), addresses={"sender": row.sender, **addresses})


def past_senders(session: Session, calendar: Calendar, reminder: Reminder, before: datetime) -> list[str]:
    """Who sent a proposal in another campaign before `before` (of the reminder's statuses and forms, if
    any), and has not sent one in this campaign (for the reminder's period, when it has one: a
    collectivité that offered an observation stage is still called for the thematic ones)."""
    query = select(Proposal.sender).where(
        Proposal.received_at < before,
        (Proposal.campaign != calendar.id) | Proposal.campaign.is_(None),
        Proposal.status != "superseded",
    )
    if reminder.statuses:
        query = query.where(Proposal.status.in_(reminder.statuses))
    if reminder.forms:
        query = query.where(Proposal.form.in_(reminder.forms))
    rows = session.execute(select(Proposal.sender, Proposal.fields).where(Proposal.campaign == calendar.id))
    already = {s.lower() for s, fields in rows if reminder.period is None or reminder.period in offer_periods(fields)}
    found = dict.fromkeys(s.strip().lower() for s in session.scalars(query.order_by(Proposal.received_at)))
    return [s for s in found if s and s not in already]


def done_keys(session: Session, campaign: str) -> set[tuple[str, str]]:
    """(reminder key, recipient) of every reminder already queued, missed or refused in a campaign."""
    rows = session.execute(
        select(ReminderRow.reminder, ReminderRow.recipient).where(ReminderRow.campaign == campaign)
    ).all()
    return {(key, recipient) for key, recipient in rows}


def service_since(app: App, now: datetime) -> datetime:
    """When the scheduler first ran on this database (recorded on the first call)."""
    for _ in range(2):
        try:
            with app.sessions.begin() as session:
                state = get_state(session, STATE_KEY)
                if state is not None and state.value.get("first_run"):
                    return datetime.fromisoformat(state.value["first_run"])
                put_state(session, STATE_KEY, {"first_run": now.isoformat()}, now)
            return now
        except IntegrityError:
            continue
    return now


def service_since_now(app: App, now: datetime, session: Session | None = None) -> datetime:
    """When the scheduler first ran on this database, or `now` if it never did (nothing written).

    Pass the `session` in hand when there is one: on SQLite a second one would wait for its lock.
    """
    if session is None:
        with app.sessions() as own:
            return service_since_now(app, now, own)
    state = get_state(session, STATE_KEY)
    if state is not None and state.value.get("first_run"):
        return datetime.fromisoformat(state.value["first_run"])
    return now


# --- deciding and queueing --------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """What the scheduler knows about one campaign at one moment."""

    calendar: Calendar
    targets: list[Target]
    slots: dict[tuple[str, str], SlotTime]
    done: set[tuple[str, str]]
    past: dict[str, list[str]]


def plan(app: App, session: Session, calendar: Calendar, reminders: Iterable[Reminder]) -> Plan:
    """Read a campaign's proposals, slots and the reminders already handled; past senders are
    looked up for the given `reminders` only (they cost a query each)."""
    past = {}
    for reminder in reminders:
        due = reminder_due(calendar, reminder)
        if "past_senders" in reminder.audience and due is not None:
            past[reminder.id] = past_senders(session, calendar, reminder, due)
    return Plan(
        calendar=calendar,
        targets=load_targets(session, calendar.id),
        slots=load_slots(session, calendar.id),
        done=done_keys(session, calendar.id),
        past=past,
    )


def mails_of(app: App, plan: Plan, reminder: Reminder) -> list[Occurrence]:
    """Every mail of a reminder given what `plan` knows, those already handled left out."""
    found = occurrences(
        plan.calendar,
        reminder,
        plan.targets,
        plan.slots,
        staff=app.settings.staff.digest_recipients,
        past_senders=plan.past.get(reminder.id, ()),
    )
    return [o for o in found if (o.key, o.recipient) not in plan.done]


def run_campaign(app: App, calendar: Calendar, now: datetime, since: datetime, grace: timedelta) -> int:
    """Queue the due reminders of one campaign; record the missed ones for the digest."""
    active = [r for r in calendar.reminders if _active(calendar, r, now, since, grace)]
    if not active:
        return 0
    with app.sessions() as session:
        current = plan(app, session, calendar, active)
    queued = 0
    for reminder in active:
        if reminder.slot and not reminder.slot_relative:
            give_slots(app, current, reminder, now, since, grace)
        for occurrence in mails_of(app, current, reminder):
            decision = decide(calendar, occurrence, now, grace, since)
            if decision in ("wait", "skip"):
                continue
            if decision == "send" and reminder.slot and occurrence.slot is None:
                log.warning("%s: no free %s slot for %s", occurrence.cause, reminder.slot, occurrence.recipient)
                continue
            queued += record(app, occurrence, now, missed=decision == "missed")
    with app.sessions() as session:
        slots = load_slots(session, calendar.id)
        changed = invitations.updates(session, calendar, current.targets, slots, app.message_id_domain, now)
    return queued + sum(record(app, occurrence, now, missed=False) for occurrence in changed)


def _active(calendar: Calendar, reminder: Reminder, now: datetime, since: datetime, grace: timedelta) -> bool:
    """False for a reminder not due yet, or whose time (and catch-up period) ended before the
    service first ran; True otherwise (and always for reminders relative to each slot)."""
    due = reminder_due(calendar, reminder)
    if due is None:
        return True
    limit = max(until_end(calendar, reminder) or due, due)
    return due <= now and limit + grace >= since


def give_slots(app: App, current: Plan, reminder: Reminder, now: datetime, since: datetime, grace: timedelta) -> None:
    """Give a slot to each proposal this reminder is about to be sent for, first come first served."""
    assert reminder.slot is not None
    calendar = current.calendar
    due = reminder_due(calendar, reminder)
    assert due is not None
    waiting = [
        t.reference
        for t in current.targets
        if concerned(reminder, t)
        and (reminder.slot, t.reference) not in current.slots
        and decide(calendar, Occurrence(calendar.id, reminder, due, "", t), now, grace, since) == "send"
    ]
    if not waiting:
        return
    rule = calendar.slot_rule(reminder.slot)
    taken = {ref: start for (kind, ref), (start, _) in current.slots.items() if kind == reminder.slot}
    given, unplaced = allocate(calendar, rule, waiting, taken)
    if unplaced:
        log.warning("%s: every %s slot is taken; without a slot: %s", calendar.id, rule.kind, ", ".join(unplaced))
    pks = {t.reference: t.pk for t in current.targets}
    try:
        with app.sessions.begin() as session:
            for reference, (start, end) in given.items():
                session.add(
                    Slot(
                        campaign=calendar.id,
                        kind=rule.kind,
                        starts_at=start,
                        ends_at=end,
                        proposal_pk=pks[reference],
                    )
                )
    except IntegrityError:
        log.info("%s: slots given by another process meanwhile; taking theirs", calendar.id)
        with app.sessions() as session:
            current.slots.clear()
            current.slots.update(load_slots(session, calendar.id))
        return
    for reference, slot in given.items():
        current.slots[(rule.kind, reference)] = slot


class _FixTheTemplate(Exception):
    """A template failed: nothing is recorded, so the reminder goes once staff fix the template."""


def record(app: App, occurrence: Occurrence, now: datetime, *, missed: bool) -> int:
    """Write one reminder (queued with its mail, or missed) in one transaction; 1 if a mail was queued."""
    status = "missed"
    try:
        with app.sessions.begin() as session:
            outbox_pk = None
            if not missed:
                try:
                    mail, proposal = reminder_mail(app, session, occurrence, now)
                except TemplateError as exc:
                    raise _FixTheTemplate(str(exc)) from exc
                except MailflowError as exc:
                    log.error("%s to %s: not sent: %s", occurrence.cause, occurrence.recipient, exc)
                    status = "invalid"
                else:
                    outbox_pk = enqueue(
                        session,
                        cause=occurrence.cause,
                        kind=occurrence.reminder.template,
                        recipient=occurrence.recipient,
                        mail=mail,
                        now=now,
                        proposal=proposal,
                    )
                    status = "queued"
            session.add(
                ReminderRow(
                    campaign=occurrence.campaign,
                    reminder=occurrence.key,
                    recipient=occurrence.recipient,
                    proposal_pk=occurrence.target.pk if occurrence.target else None,
                    due_at=occurrence.due_at,
                    status=status,
                    outbox_pk=outbox_pk,
                    created_at=now,
                )
            )
    except IntegrityError:
        return 0  # another process recorded it first
    except _FixTheTemplate as exc:
        log.error("%s to %s: template error, retried at the next pass: %s", occurrence.cause, occurrence.recipient, exc)
        return 0
    if status == "missed":
        log.warning(
            "%s to %s: due %s, missed while the service was down",
            occurrence.cause,
            occurrence.recipient,
            occurrence.due_at.isoformat(),
        )
    return 1 if status == "queued" else 0


def reminder_context(
    app: App, occurrence: Occurrence, record: dict[str, Any] | None, now: datetime | None = None,
    stored_link: str | None = None,
) -> dict[str, Any]:
    """The template context of a reminder mail: the acknowledgements' context (`proposal` is the
    export record, `campaign` the calendar, `slot` with its local `day`, `hours` and `link`), plus
    `reminder`, `recipient`, `roles` (sender, tutor… this recipient is), `period`, `slot_rule`,
    `evaluation_grid`, `invitation_update` and `rejected_by` (set by `reminder_mail`)."""
    calendar = app.calendars[occurrence.campaign]
    reminder = occurrence.reminder
    slot = None
    if occurrence.slot is not None and reminder.slot:
        slot = slot_context(calendar, occurrence.slot, invitations.slot_link(calendar, reminder.slot, stored_link))
    context = mail_context(proposal=record, label=app.form.label, campaign=calendar, slot=slot,
                           now=now or occurrence.due_at, recipient=occurrence.recipient)
    roles = [
        a
        for a in reminder.audience
        if occurrence.target is None
        or (occurrence.target.addresses.get(a) or "").strip().lower() == occurrence.recipient
    ]
    context.update(
        reminder={"id": reminder.id, "description": reminder.description, "due_at": occurrence.due_at},
        recipient=occurrence.recipient,
        roles=roles or context["roles"],
        period=calendar.period(reminder.period) if reminder.period else None,
        slot_rule=calendar.slot_rule(reminder.slot) if reminder.slot else None,
        evaluation_grid=invitations.grid_context(calendar),
        invitation_update=invitations.is_update(reminder),
    )
    return context


def compose_reminder(
    app: App, occurrence: Occurrence, record: dict[str, Any] | None, now: datetime, references: list[str],
    *, session: Session | None = None, rejected: str | None = None, stored_link: str | None = None,
) -> EmailMessage:
    """The reminder mail, rendered and composed, with its .ics invitation when the reminder asks for one
    (its SEQUENCE recorded in `session`) and the evaluation grid when the calendar gives it as a file."""
    context = reminder_context(app, occurrence, record, now, stored_link)
    context["rejected_by"] = rejected
    rendered = app.templates.render(occurrence.reminder.template, context)
    calendar = app.calendars[occurrence.campaign]
    attachments = [a for a in (invitations.invitation_attachment(app, occurrence, now, session, stored_link),
                               invitations.grid_attachment(calendar, context)) if a is not None]
    return app.compose(
        rendered,
        to=[occurrence.recipient],
        references=references,
        auto_submitted="auto-generated",
        now=now,
        attachments=attachments,
    )


def reminder_mail(
    app: App, session: Session, occurrence: Occurrence, now: datetime
) -> tuple[EmailMessage, Proposal | None]:
    """The reminder mail of an occurrence, about its proposal as it stands in the database."""
    proposal = session.get(Proposal, occurrence.target.pk) if occurrence.target else None
    record = proposal_record(proposal) if proposal is not None else None
    references = [proposal.message.message_id] if proposal is not None and proposal.message else []
    rejected = invitations.rejected_by(session, proposal.reference) if proposal is not None else None
    link = meeting_url(session, proposal.id, occurrence.reminder.slot) if proposal is not None else None
    mail = compose_reminder(app, occurrence, record, now, references, session=session, rejected=rejected,
                            stored_link=link)
    return mail, proposal


def occurrence_recipients(reminder: Reminder, target: Target | None) -> list[str]:
    """The addresses a reminder goes to for a proposal (none for staff or past senders)."""
    return recipients(reminder, target) if target is not None and reminder.per_proposal else []
