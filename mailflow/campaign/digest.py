"""The staff digest.

Every working day at `[staff] digest_time` staff get one mail: what arrived since the last
digest, what waits for a human (questions, quarantined mails, failed or missed mails, proposals
without a slot), what is still incomplete and since when, and what mailflow will send in
the next seven days, as an HTML table and plain text, with the proposals as an .xlsx file.
No mail on a day with nothing to say, unless `digest_when_empty` is set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mailflow.campaign.calendars import staff_working_day
from mailflow.campaign.export import STATUS_FR, proposal_record, to_check_items, xlsx_bytes
from mailflow.campaign.invitations import without_link
from mailflow.campaign.reminders import service_since_now, target_of
from mailflow.campaign.rules import (
    Occurrence,
    concerned,
    decide,
    reminder_due,
)
from mailflow.campaign.slots import load_slots
from mailflow.campaign.upcoming import DIGEST_TEMPLATE, Upcoming, upcoming
from mailflow.db.models import Message, OutboxMail, Proposal, QuarantineEntry
from mailflow.db.models import Reminder as ReminderRow
from mailflow.db.state import get_state, put_state
from mailflow.mail.outbox import enqueue
from mailflow.mail.template_context import label_or_path

if TYPE_CHECKING:
    from mailflow.context import App

SENT_KEY = "digest"
CHECKED_KEY = "digest-check"
QUESTION_VERDICTS = ("question", "reply")


# --- what is coming ---------------------------------------------------------------------------------


# --- the digest's content ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ProposalLine:
    """A proposal as one line of the digest."""

    reference: str
    version: int
    campaign: str | None
    collectivity: str
    title: str
    status: str
    status_fr: str
    sender: str
    received_at: datetime
    since: datetime
    missing: tuple[str, ...]
    problems: tuple[str, ...]
    to_check: tuple[str, ...] = ()


@dataclass(frozen=True)
class MailLine:
    """A mail received that needs a human (a question, a reply without form, a quarantined mail)."""

    received_at: datetime
    sender: str
    subject: str
    reason: str


@dataclass(frozen=True)
class OutboxLine:
    """A mail mailflow could not send, or a reminder it missed."""

    at: datetime
    recipient: str
    what: str
    error: str


@dataclass(frozen=True)
class Digest:
    """Everything one digest says; `has_news` is False on a day with nothing to say."""

    now: datetime
    since: datetime | None
    new_proposals: list[ProposalLine] = field(default_factory=list)
    new_versions: list[ProposalLine] = field(default_factory=list)
    questions: list[MailLine] = field(default_factory=list)
    quarantined: list[MailLine] = field(default_factory=list)
    still_quarantined: int = 0
    to_check: list[ProposalLine] = field(default_factory=list)
    incomplete: list[ProposalLine] = field(default_factory=list)
    failures: list[OutboxLine] = field(default_factory=list)
    missed: list[OutboxLine] = field(default_factory=list)
    without_slot: list[ProposalLine] = field(default_factory=list)
    without_link: list[str] = field(default_factory=list)
    upcoming: list[Upcoming] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)

    @property
    def has_news(self) -> bool:
        """Whether there is something to tell: arrivals, or something waiting for a human."""
        return bool(
            self.new_proposals
            or self.new_versions
            or self.questions
            or self.quarantined
            or self.failures
            or self.missed
            or self.without_slot
            or self.to_check
        )


def last_sent(session: Session) -> datetime | None:
    """When the last digest was queued (the start of what the next one reports)."""
    state = get_state(session, SENT_KEY)
    return datetime.fromisoformat(state.value["sent_at"]) if state and state.value.get("sent_at") else None


def collect(app: App, session: Session, now: datetime, since: datetime | None, *, details: bool = True) -> Digest:
    """Gather what the digest says at `now`, about what happened after `since` (everything if None).

    Without `details`, only what decides whether there is something to say is gathered
    (not the incomplete list, the coming mails nor the spreadsheet): the daily check is cheap.
    """
    lower = since or datetime.min.replace(tzinfo=now.tzinfo)
    current = list(session.scalars(select(Proposal).where(Proposal.status != "superseded")))
    first = _first_received(session)
    lines = {p.id: _line(app, p, first) for p in current}
    arrived = [p for p in current if lower < p.created_at <= now]
    arrived_versions = session.scalars(
        select(Proposal).where(Proposal.version > 1, Proposal.created_at > lower, Proposal.created_at <= now)
    )
    questions = session.scalars(
        select(Message)
        .where(Message.verdict.in_(QUESTION_VERDICTS), Message.created_at > lower, Message.created_at <= now)
        .order_by(Message.received_at)
    )
    held = session.scalars(
        select(QuarantineEntry).where(QuarantineEntry.released_at.is_(None)).order_by(QuarantineEntry.created_at)
    ).all()
    failed = session.scalars(select(OutboxMail).where(OutboxMail.status == "failed").order_by(OutboxMail.created_at))
    missed = session.scalars(
        select(ReminderRow)
        .where(
            ReminderRow.status.in_(("missed", "invalid")),
            ReminderRow.created_at > lower,
            ReminderRow.created_at <= now,
        )
        .order_by(ReminderRow.due_at)
    )
    grace = timedelta(hours=app.settings.campaigns.grace_hours)
    no_slot = _without_slot(app, session, current, now, grace, service_since_now(app, now, session))
    ordered = sorted(current, key=_order)
    return Digest(
        now=now,
        since=since,
        new_proposals=[lines[p.id] for p in sorted(arrived, key=_order) if p.version == 1],
        new_versions=[_line(app, p, first) for p in sorted(arrived_versions, key=_order)],
        questions=[MailLine(m.received_at, m.sender, m.subject, m.reason or "") for m in questions],
        quarantined=[_quarantine_line(q) for q in held if lower < q.created_at <= now],
        still_quarantined=sum(1 for q in held if q.created_at <= lower),
        to_check=[lines[p.id] for p in ordered if to_check_items(p.flags or []) and p.status != "superseded"],
        incomplete=sorted((lines[p.id] for p in current if p.status == "incomplete"), key=lambda x: x.since)
        if details
        else [],
        failures=[OutboxLine(o.created_at, o.recipient, o.kind, o.last_error or "") for o in failed],
        missed=[_missed_line(r) for r in missed],
        without_slot=[lines[p.id] for p in ordered if p.id in no_slot],
        without_link=without_link(app.calendars, now, session=session) if details else [],
        upcoming=upcoming(app, now, days=7, digests=False, session=session) if details else [],
        records=[proposal_record(p) for p in ordered] if details else [],
    )


def _order(proposal: Proposal) -> tuple[str, int]:
    return (proposal.reference, proposal.version)


def _first_received(session: Session) -> dict[str, datetime]:
    rows = session.execute(select(Proposal.reference, Proposal.received_at).where(Proposal.version == 1)).all()
    return dict(rows)


def _line(app: App, proposal: Proposal, first: dict[str, datetime]) -> ProposalLine:
    fields = proposal.fields or {}
    return ProposalLine(
        reference=proposal.reference,
        version=proposal.version,
        campaign=proposal.campaign,
        collectivity=(fields.get("collectivity") or {}).get("name") or "(nom non lu)",
        title=(fields.get("mission") or {}).get("title") or "(intitulé non lu)",
        status=proposal.status,
        status_fr=STATUS_FR.get(proposal.status, proposal.status),
        sender=proposal.sender,
        received_at=proposal.received_at,
        since=first.get(proposal.reference, proposal.received_at),
        missing=tuple(label_or_path(app.form.label, path) for path in proposal.missing or []),
        problems=tuple(
            f"{label_or_path(app.form.label, p.partition(':')[0].strip())} : {p.partition(':')[2].strip()}"
            for p in proposal.problems or []
        ),
        to_check=tuple(
            f"{label_or_path(app.form.label, p.partition(':')[0].strip())} : {p.partition(':')[2].strip()}"
            for p in to_check_items(proposal.flags or [])
        ),
    )


def _quarantine_line(entry: QuarantineEntry) -> MailLine:
    message = entry.message
    return MailLine(message.received_at, message.sender, message.subject, entry.reason)


def _missed_line(row: ReminderRow) -> OutboxLine:
    why = (
        "non envoyé : le service était arrêté au-delà du délai de rattrapage"
        if row.status == "missed"
        else "non envoyé : adresse du destinataire invalide"
    )
    return OutboxLine(row.due_at, row.recipient, f"{row.campaign} / {row.reminder}", why)


def _without_slot(
    app: App, session: Session, current: list[Proposal], now: datetime, grace: timedelta, since: datetime
) -> set[int]:
    """Proposals a slot mail is due for but that got no slot (every slot taken)."""
    found: set[int] = set()
    for calendar in app.calendars.values():
        slots = load_slots(session, calendar.id)
        for reminder in calendar.reminders:
            if not reminder.slot or reminder.slot_relative:
                continue
            due = reminder_due(calendar, reminder)
            if due is None or now < due:
                continue
            for proposal in current:
                if proposal.campaign != calendar.id or (reminder.slot, proposal.reference) in slots:
                    continue
                target = target_of(proposal)
                occurrence = Occurrence(calendar.id, reminder, due, "", target)
                if concerned(reminder, target) and decide(calendar, occurrence, now, grace, since) == "send":
                    found.add(proposal.id)
    return found


# --- the mail ---------------------------------------------------------------------------------------


def render_digest(app: App, digest: Digest, to: list[str]) -> EmailMessage:
    """The digest mail: HTML table and text, with the proposals as an .xlsx attachment."""
    zone = app.timezone
    context = {
        "digest": digest,
        "campaigns": list(app.calendars.values()),
        "today": digest.now.astimezone(zone).date(),
        "court": lambda moment: moment.astimezone(zone).strftime("%d/%m/%Y %H:%M"),
        "without_link": digest.without_link,
    }
    rendered = app.templates.render(DIGEST_TEMPLATE, context)
    day = digest.now.astimezone(app.timezone).date()
    attachments = []
    if digest.records:
        attachments.append(
            (
                f"propositions-{day.isoformat()}.xlsx",
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                xlsx_bytes(digest.records),
            )
        )
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
        since = last_sent(session)
        quiet_allowed = not (force or app.settings.staff.digest_when_empty)
        if quiet_allowed and not collect(app, session, now, since, details=False).has_news:
            return None
        digest = collect(app, session, now, since)
    return render_digest(app, digest, list(app.settings.staff.digest_recipients))


def queue_digest(app: App, now: datetime, cause: str, *, force: bool = False) -> int:
    """Queue the digest (one mail per staff recipient) under `cause`; return how many were queued."""
    recipients = list(app.settings.staff.digest_recipients)
    if not recipients:
        return 0
    queued = 0
    try:
        with app.sessions.begin() as session:
            since = last_sent(session)
            quiet_allowed = not (force or app.settings.staff.digest_when_empty)
            if quiet_allowed and not collect(app, session, now, since, details=False).has_news:
                return 0
            digest = collect(app, session, now, since)
            for recipient in recipients:
                mail = render_digest(app, digest, [recipient])
                row = enqueue(session, cause=cause, kind=DIGEST_TEMPLATE, recipient=recipient, mail=mail, now=now)
                queued += row is not None
            put_state(session, SENT_KEY, {"sent_at": now.isoformat(), "cause": cause}, now)
    except IntegrityError:
        return 0  # another process queued it first
    return queued


def queue_digest_if_due(app: App, now: datetime) -> int:
    """The scheduled digest: once per working day, from `digest_time` on; nothing on a quiet day."""
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
    return f"digest queued for {recipients} ({queued} mail(s)); outbox: {report}"
