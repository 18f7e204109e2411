"""What one staff digest says, read from the database and the calendars at one moment.

The digest is a to-do list: first what changed since the previous digest, then the decisions
the calendars ask for before a date, then every open item until someone closes it (with its
age), the proposals to check, late or incomplete, the totals of each campaign and the mails
mailflow will send in the next seven days, in words. Nothing here sends or renders anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailflow.campaign.calendars import Calendar, StaffAction
from mailflow.campaign.export import STATUS_FR
from mailflow.campaign.invitations import without_link
from mailflow.campaign.open_items import Item, open_items
from mailflow.campaign.reminders import service_since_now, target_of
from mailflow.campaign.rules import Occurrence, concerned, decide, reminder_due, slot_times
from mailflow.campaign.slots import load_slots
from mailflow.campaign.upcoming import Upcoming, upcoming
from mailflow.campaign.wording import age_fr, checks_fr, day_fr, days_left_fr, problem_fr
from mailflow.db.models import Proposal
from mailflow.db.models import Reminder as ReminderRow
from mailflow.mail.french import count
from mailflow.mail.template_context import label_or_path

if TYPE_CHECKING:
    from mailflow.context import App

# Plural forms of each status, for the totals (« 12 complètes, 3 incomplètes »).
STATUS_PLURAL_FR = {
    "complete": ("complète", "complètes"),
    "incomplete": ("incomplète", "incomplètes"),
    "to_check": ("à vérifier", "à vérifier"),
    "late": ("hors délai", "hors délai"),
    "accepted": ("retenue", "retenues"),
    "rejected": ("non retenue", "non retenues"),
    "withdrawn": ("retirée", "retirées"),
}


ITEM_WORDS = (
    ("question", "question en attente", "questions en attente"),
    ("reply", "réponse à lire", "réponses à lire"),
    ("quarantined", "courriel en quarantaine", "courriels en quarantaine"),
    ("put-back", "courriel remis à traiter", "courriels remis à traiter"),
    ("failed-send", "envoi en échec", "envois en échec"),
)


@dataclass(frozen=True)
class ProposalLine:
    """A proposal as one line of the digest, with the link to its page in the console."""

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
    age: str
    missing: tuple[str, ...]
    problems: tuple[str, ...]
    to_check: tuple[str, ...]
    link: str

    @property
    def late(self) -> bool:
        """Received after the deadline (« hors délai »)."""
        return self.status == "late"


@dataclass(frozen=True)
class ItemLine:
    """An open item as the digest shows it: new or not, how long it has waited, its first lines, its link."""

    item: Item
    new: bool
    age: str
    link: str


@dataclass(frozen=True)
class MissedLine:
    """A reminder mailflow did not send (service stopped too long, invalid address)."""

    at: datetime
    recipient: str
    what: str
    why: str


@dataclass(frozen=True)
class ActionLine:
    """« Décisions à prendre avant le vendredi 5 septembre »: what a calendar asks staff, and what is left."""

    campaign: str
    action: StaffAction
    heading: str
    when: str
    waiting: list[ProposalLine]
    last_day: bool


@dataclass(frozen=True)
class Totals:
    """One campaign in one line: « 7 propositions : 4 complètes, 2 incomplètes, 1 hors délai »."""

    campaign: str
    title: str
    text: str
    next_date: str


@dataclass(frozen=True)
class Coming:
    """A mail to come, once for all its recipients: when, what it announces, to whom."""

    at: datetime
    words: str
    who: str


@dataclass(frozen=True)
class Digest:
    """Everything one digest says at `now`; `since` is the previous digest (None: the first)."""

    now: datetime
    since: datetime | None
    base_url: str
    new_proposals: list[ProposalLine] = field(default_factory=list)
    new_versions: list[ProposalLine] = field(default_factory=list)
    missed: list[MissedLine] = field(default_factory=list)
    actions: list[ActionLine] = field(default_factory=list)
    items: list[ItemLine] = field(default_factory=list)
    to_check: list[ProposalLine] = field(default_factory=list)
    late: list[ProposalLine] = field(default_factory=list)
    without_slot: list[ProposalLine] = field(default_factory=list)
    without_link: list[str] = field(default_factory=list)
    incomplete: list[ProposalLine] = field(default_factory=list)
    totals: list[Totals] = field(default_factory=list)
    upcoming: list[Coming] = field(default_factory=list)

    @property
    def news(self) -> bool:
        """Whether something changed since the previous digest."""
        return bool(self.new_proposals or self.new_versions or self.missed or any(i.new for i in self.items))

    @property
    def something_to_say(self) -> bool:
        """Send or stay silent: news, an open item, a proposal to check, a decision the calendar asks for."""
        return bool(
            self.news or self.items or self.to_check or self.without_slot or self.without_link
            or any(a.waiting or a.last_day for a in self.actions)
        )

    @property
    def new_items(self) -> list[ItemLine]:
        """The open items that arrived since the previous digest."""
        return [i for i in self.items if i.new]

    @property
    def summary(self) -> list[str]:
        """The to-do list in a few words, for the subject and the top of the mail."""
        parts = []
        decisions = sum(len(a.waiting) for a in self.actions)
        if decisions:
            parts.append(count(decisions, "décision à prendre", "décisions à prendre"))
        for kind, one, many in ITEM_WORDS:
            number = sum(1 for i in self.items if i.item.kind == kind)
            if number:
                parts.append(count(number, one, many))
        if self.to_check:
            parts.append(count(len(self.to_check), "proposition à vérifier", "propositions à vérifier"))
        if self.without_slot:
            parts.append(count(len(self.without_slot), "proposition sans créneau", "propositions sans créneau"))
        if self.without_link:
            parts.append(count(len(self.without_link), "lien de réunion manquant", "liens de réunion manquants"))
        if self.new_proposals:
            parts.append(count(len(self.new_proposals), "nouvelle proposition", "nouvelles propositions"))
        if self.new_versions:
            parts.append(count(len(self.new_versions), "nouvelle version", "nouvelles versions"))
        if self.missed:
            parts.append(count(len(self.missed), "rappel non envoyé", "rappels non envoyés"))
        return parts


def collect(app: App, session: Session, now: datetime, since: datetime | None) -> Digest:
    """Gather what the digest says at `now`, about what happened after `since` (everything if None)."""
    zone = app.timezone
    base = app.settings.web.base_url
    lower = since or datetime.min.replace(tzinfo=now.tzinfo)
    current = sorted(
        session.scalars(select(Proposal).where(Proposal.status != "superseded", Proposal.created_at <= now)),
        key=lambda p: (p.reference, p.version),
    )
    first = dict(session.execute(select(Proposal.reference, Proposal.received_at).where(Proposal.version == 1)).all())
    lines = {p.id: _line(app, p, first.get(p.reference, p.received_at), now) for p in current}
    versions = session.scalars(
        select(Proposal).where(Proposal.version > 1, Proposal.created_at > lower, Proposal.created_at <= now)
        .order_by(Proposal.reference, Proposal.version)
    )
    items = [
        ItemLine(i, lower < i.at <= now, age_fr(i.at, now, zone), base + i.anchor)
        for i in open_items(session, app.archive)
        if i.at <= now
    ]
    missed = session.scalars(
        select(ReminderRow)
        .where(ReminderRow.status.in_(("missed", "invalid")), ReminderRow.created_at > lower,
               ReminderRow.created_at <= now)
        .order_by(ReminderRow.due_at)
    )
    no_slot = _without_slot(app, session, current, now)
    return Digest(
        now=now,
        since=since,
        base_url=base,
        new_proposals=[lines[p.id] for p in current if p.version == 1 and lower < p.created_at <= now],
        new_versions=[_line(app, p, first.get(p.reference, p.received_at), now) for p in versions],
        missed=[_missed_line(app, r) for r in missed],
        actions=_actions(app, current, lines, now),
        items=items,
        to_check=[lines[p.id] for p in current if lines[p.id].to_check or p.status == "to_check"],
        late=[lines[p.id] for p in current if p.status == "late"],
        without_slot=[lines[p.id] for p in current if p.id in no_slot],
        without_link=without_link(app.calendars, now, session=session),
        incomplete=sorted((lines[p.id] for p in current if p.status == "incomplete"), key=lambda x: x.since),
        totals=[_totals(c, current, now) for c in app.calendars.values() if _running(c, now)],
        upcoming=_coming(upcoming(app, now, days=7, digests=False, session=session)),
    )


def _coming(rows: list[Upcoming]) -> list[Coming]:
    """One line per mail and proposal, its recipients together (« l'expéditeur et le tuteur »)."""
    grouped: dict[tuple[datetime, str, str, str], list[str]] = {}
    for row in rows:
        key = (row.at, row.campaign, row.reminder, row.reference or "")
        grouped.setdefault(key, []).append(row.who)
    words = {(r.at, r.campaign, r.reminder, r.reference or ""): r.words or r.description for r in rows}
    return [Coming(key[0], words[key], ", ".join(dict.fromkeys(whos))) for key, whos in grouped.items()]


def _line(app: App, proposal: Proposal, since: datetime, now: datetime) -> ProposalLine:
    fields = proposal.fields or {}
    label = app.label_for(proposal.form)
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
        since=since,
        age=age_fr(since, now, app.timezone),
        missing=tuple(label_or_path(label, path) for path in proposal.missing or []),
        problems=tuple(problem_fr(label, p) for p in proposal.problems or []),
        to_check=tuple(checks_fr(label, proposal.flags or [])),
        link=f"{app.settings.web.base_url}/propositions/{proposal.reference}",
    )


def _missed_line(app: App, row: ReminderRow) -> MissedLine:
    """« Relance : proposition incomplète — PC-2025-0004 » and why it did not go."""
    why = (
        "le service était arrêté au-delà du délai de rattrapage"
        if row.status == "missed"
        else "adresse du destinataire invalide"
    )
    reminder_id, _, reference = row.reminder.partition(":")
    calendar = app.calendars.get(row.campaign)
    try:
        reminder = calendar.reminder(reminder_id) if calendar else None
    except KeyError:
        reminder = None
    what = (reminder.announce or reminder.description) if reminder else row.reminder
    return MissedLine(row.due_at, row.recipient, f"{what} — {reference}" if reference else what, why)


def _actions(app: App, current: list[Proposal], lines: dict[int, ProposalLine], now: datetime) -> list[ActionLine]:
    """The staff actions of every calendar whose notice has begun and whose date has not passed."""
    zone = app.timezone
    today = now.astimezone(zone).date()
    found = []
    for calendar in app.calendars.values():
        for action in calendar.staff_actions:
            if not action.date - timedelta(days=action.notice_days) <= today <= action.date:
                continue
            waiting = [lines[p.id] for p in current if p.campaign == calendar.id and p.status in action.statuses]
            found.append(
                ActionLine(
                    campaign=calendar.title,
                    action=action,
                    heading=f"{action.title} avant le {day_fr(action.date, zone)}",
                    when=days_left_fr(action.date, today),
                    waiting=waiting,
                    last_day=last_working_day_before(calendar, action.date) <= today,
                )
            )
    return found


def last_working_day_before(calendar: Calendar, day: date) -> date:
    """The working day before `day`: the last digest in which staff can still act."""
    before = day - timedelta(days=1)
    while not calendar.is_working_day(before):
        before -= timedelta(days=1)
    return before


def _running(calendar: Calendar, now: datetime) -> bool:
    """A campaign is summed up from its opening to the last of its dates."""
    today = now.astimezone(calendar.timezone).date()
    return calendar.opens <= today <= _last_date(calendar)


def _last_date(calendar: Calendar) -> date:
    days = [calendar.closes]
    for value in calendar.dates.values():
        days.extend(value if isinstance(value, list) else [value])
    return max(days)


def _totals(calendar: Calendar, current: list[Proposal], now: datetime) -> Totals:
    mine = [p for p in current if p.campaign == calendar.id]
    parts = []
    for status, (one, many) in STATUS_PLURAL_FR.items():
        number = sum(1 for p in mine if p.status == status)
        if number:
            parts.append(count(number, one, many))
    text = count(len(mine), "proposition", "propositions") + (" : " + ", ".join(parts) if parts else "")
    return Totals(calendar.id, calendar.title, text, _next_date(calendar, now))


def _next_date(calendar: Calendar, now: datetime) -> str:
    """« vendredi 20 juin (dans 4 jours, J-4), date limite des propositions », the next date staff watch."""
    zone = calendar.timezone
    today = now.astimezone(zone).date()
    dates: list[tuple[date, str]] = [(calendar.deadline, "date limite des propositions")]
    dates += [(a.date, a.title[:1].lower() + a.title[1:]) for a in calendar.staff_actions]
    for rule in calendar.slots:
        times = slot_times(calendar, rule)
        if times:
            dates.append((times[0][0].astimezone(zone).date(), rule.title))
    coming = sorted(d for d in dates if d[0] >= today)
    if not coming:
        return ""
    day, what = coming[0]
    return f"{day_fr(day, zone)} ({days_left_fr(day, today)}), {what}"


def _without_slot(app: App, session: Session, current: list[Proposal], now: datetime) -> set[int]:
    """Proposals a slot mail is due for but that got no slot (every slot taken)."""
    grace = timedelta(hours=app.settings.campaigns.grace_hours)
    since = service_since_now(app, now, session)
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
