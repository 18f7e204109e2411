"""What a member of staff does to the data, in one place for the console and the CLI.

Every function here changes the database inside the caller's transaction and writes one
audit line (who, when, what, before, after) in that same transaction, so an action and its
trace are committed together or not at all. Who acted is a console account's address, or
`cli:<unix user>` for the `mailflow` command.
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailflow.campaign.calendars import Calendar
from mailflow.campaign.export import proposal_record
from mailflow.campaign.rules import SlotTime, slot_times
from mailflow.db.models import AuditEntry, Message, MessageStep, OutboxMail, Proposal, Slot
from mailflow.errors import MailflowError
from mailflow.mail.compose import AddressError
from mailflow.mail.french import count
from mailflow.mail.outbox import enqueue, retry
from mailflow.mail.parsing import parse_headers
from mailflow.mail.spool import opened
from mailflow.mail.template_context import acknowledgement_template
from mailflow.pipeline.acknowledge import Original, Recipients, answer_mail
from mailflow.pipeline.backfill import reprocess as reprocess_mail
from mailflow.pipeline.extract.normalize import normalise_value
from mailflow.pipeline.filing import filed_from, set_status
from mailflow.pipeline.forms.definition import FormDefinition
from mailflow.pipeline.quarantine import quarantine_release
from mailflow.pipeline.validate import validate_fields

if TYPE_CHECKING:
    from mailflow.context import App

DECISIONS = {"accepted": "retenue", "rejected": "non retenue", "withdrawn": "retirée"}
# Statuses the pipeline computes; a correction recomputes them. A decision or lateness is kept.
COMPUTED = ("complete", "incomplete", "to_check")
OPEN_VERDICTS = ("question", "reply", "quarantined")


class StaffActionError(MailflowError):
    """A staff action cannot be done as asked (unknown proposal, invalid value…); the message is French."""


def cli_actor() -> str:
    """Who acts from the `mailflow` command: the Unix account running it."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def audit(
    session: Session,
    actor: str,
    action: str,
    now: datetime,
    *,
    reference: str | None = None,
    target: str | None = None,
    before: Any = None,
    after: Any = None,
) -> AuditEntry:
    """Write one audit line in the caller's transaction."""
    entry = AuditEntry(at=now, actor=actor, action=action, reference=reference, target=target,
                       before=_text(before), after=_text(after))
    session.add(entry)
    return entry


def current(session: Session, reference: str) -> Proposal:
    """The current (latest) version of a proposal; StaffActionError when there is none."""
    found = session.scalars(
        select(Proposal).where(Proposal.reference == reference.strip().upper())
        .order_by(Proposal.version.desc()).limit(1)
    ).first()
    if found is None:
        raise StaffActionError(f"aucune proposition ne porte la référence {reference}")
    return found


def decide(session: Session, reference: str, decision: str, actor: str, now: datetime) -> tuple[str, Proposal]:
    """Record the decision (accepted = retenue, rejected = non retenue, withdrawn = retirée); return the old status."""
    if decision not in DECISIONS:
        raise StaffActionError(f"décision inconnue : {decision}")
    try:
        previous, proposal = set_status(session, reference, decision, now)
    except MailflowError as exc:
        raise StaffActionError(f"aucune proposition ne porte la référence {reference}") from exc
    audit(session, actor, "decision", now, reference=proposal.reference, target="status",
          before=previous, after=decision)
    return previous, proposal


def recompute(proposal: Proposal, form: FormDefinition) -> None:
    """Validate the fields again with the pipeline's rules; a computed status follows the result
    (incomplete, else "to_check" while a value read without confidence is not accepted, else complete)."""
    validation = validate_fields(proposal.fields or {}, form)
    proposal.missing, proposal.problems = list(validation.missing), list(validation.problems)
    if proposal.status in COMPUTED:
        pending = any(isinstance(f, dict) and "to_check" in f for f in proposal.flags or [])
        proposal.status = "incomplete" if not validation.complete else ("to_check" if pending else "complete")


def flag_text(flag: object) -> str:
    """A flag as staff read it: a value to check ("path : reason") or a remark."""
    if isinstance(flag, dict) and "to_check" in flag:
        return f"{flag['to_check']}\u00a0: {flag.get('reason', '')}".rstrip(" :\u00a0")
    return str(flag)


def correct_field(
    session: Session, form: FormDefinition, reference: str, path: str, value: str, actor: str, now: datetime
) -> Proposal:
    """Set one field of the current version to what staff read, then validate and recompute its status."""
    try:
        definition = form.field(path)
    except KeyError:
        raise StaffActionError(f"champ inconnu : {path}") from None
    proposal = current(session, reference)
    # A copy of each section (a stage offer also keeps its list of placements), so that the change is seen.
    fields = {section: dict(values) if isinstance(values, dict) else values
              for section, values in (proposal.fields or {}).items()}
    old = (fields.get(definition.section) or {}).get(definition.key)
    new = normalise_value(definition, value, form) if value.strip() else None
    if new is None and value.strip() and definition.type == "checkbox":
        raise StaffActionError(f"{definition.mail_label}\u00a0: répondez « oui » ou « non »")
    fields.setdefault(definition.section, {})[definition.key] = new
    before_status = proposal.status
    proposal.fields = fields
    # Staff typed the value: it no longer waits to be checked.
    proposal.flags = [f for f in proposal.flags or [] if not (isinstance(f, dict) and f.get("to_check") == path)]
    recompute(proposal, form)
    proposal.updated_at = now
    audit(session, actor, "correction", now, reference=proposal.reference, target=path, before=old, after=new)
    if proposal.status != before_status:
        audit(session, actor, "status", now, reference=proposal.reference, target="status",
              before=before_status, after=proposal.status)
    return proposal


def accept_flag(
    session: Session, form: FormDefinition, reference: str, index: int, text: str, actor: str, now: datetime
) -> Proposal:
    """Accept a value flagged for checking (the `index`-th flag, still reading `text`): the flag goes,
    the value stays, and the status follows."""
    proposal = current(session, reference)
    flags = list(proposal.flags or [])
    if not 0 <= index < len(flags) or flag_text(flags[index]) != text:
        raise StaffActionError("cette valeur à vérifier a déjà été traitée\u00a0: rechargez la page")
    before_status = proposal.status
    del flags[index]
    proposal.flags, proposal.updated_at = flags, now
    recompute(proposal, form)
    audit(session, actor, "flag-accepted", now, reference=proposal.reference, target="flags", before=text,
          after=None if proposal.status == before_status else proposal.status)
    return proposal


def set_note(session: Session, reference: str, note: str, actor: str, now: datetime) -> Proposal:
    """Write the staff note of a proposal (kept on the current version)."""
    proposal = current(session, reference)
    old, proposal.note = proposal.note, note.strip() or None
    audit(session, actor, "note", now, reference=proposal.reference, target="note", before=old, after=proposal.note)
    return proposal


def set_meeting_url(session: Session, slot_id: int, url: str, actor: str, now: datetime) -> Slot:
    """Give a slot its meeting link (https only), carried by the invitations and reminders that follow."""
    slot = session.get(Slot, slot_id)
    if slot is None:
        raise StaffActionError(f"le créneau n°\u00a0{slot_id} n'existe plus")
    url = url.strip()
    parts = urlsplit(url)
    if url and (parts.scheme != "https" or not parts.netloc or any(ch.isspace() for ch in url)):
        raise StaffActionError("le lien de réunion doit être une adresse https://")
    proposal = session.get_one(Proposal, slot.proposal_pk)
    old, slot.meeting_url = slot.meeting_url, url or None
    audit(session, actor, "meeting-link", now, reference=proposal.reference, target=f"slot:{slot.id}",
          before=old, after=slot.meeting_url)
    return slot


def free_slots(session: Session, calendar: Calendar, slot: Slot) -> list[SlotTime]:
    """The times a slot could move to: those its rule offers that no other proposal has."""
    taken = set(session.scalars(select(Slot.starts_at).where(Slot.campaign == slot.campaign, Slot.kind == slot.kind)))
    return [t for t in slot_times(calendar, calendar.slot_rule(slot.kind)) if t[0] not in taken]


def move_slot(
    session: Session, calendar: Calendar, slot_id: int, starts_at: datetime, actor: str, now: datetime
) -> Slot:
    """Give a proposal another free time of the same kind (the next reminders and invitations carry it)."""
    slot = session.get(Slot, slot_id)
    if slot is None:
        raise StaffActionError(f"le créneau n°\u00a0{slot_id} n'existe plus")
    wanted = [t for t in free_slots(session, calendar, slot) if t[0] == starts_at]
    if not wanted:
        raise StaffActionError("ce créneau n'est pas libre")
    proposal = session.get_one(Proposal, slot.proposal_pk)
    old = slot.starts_at
    slot.starts_at, slot.ends_at = wanted[0]
    audit(session, actor, "slot", now, reference=proposal.reference, target=f"slot:{slot.id}",
          before=old.isoformat(), after=slot.starts_at.isoformat())
    return slot


def mark_handled(session: Session, kind: str, item_id: int, actor: str, now: datetime) -> None:
    """Close an open item: a mail (question, reply, quarantined, put back) or a failed send."""
    if kind not in ("mail", "send"):
        raise StaffActionError(f"type d'élément inconnu : {kind}")
    row = session.get(Message if kind == "mail" else OutboxMail, item_id)
    if row is None:
        raise StaffActionError("cet élément n'existe plus")
    row.handled_at, row.handled_by = now, actor
    reference = session.get(Proposal, row.proposal_pk).reference if isinstance(row, OutboxMail) and row.proposal_pk \
        else None
    audit(session, actor, "handled", now, reference=reference, target=f"{kind}:{item_id}", before="ouvert",
          after="traité")


def put_back(session: Session, message_pk: int, actor: str, now: datetime) -> None:
    """Reopen a mail for a person: it is listed in "À traiter" until someone closes it."""
    message = session.get(Message, message_pk)
    if message is None:
        raise StaffActionError("ce courriel n'existe plus")
    message.put_back_at, message.handled_at, message.handled_by = now, None, None
    audit(session, actor, "put-back", now, target=f"mail:{message_pk}", after="à traiter")


def attach(session: Session, message_pk: int, reference: str, actor: str, now: datetime) -> Proposal:
    """Note that a mail (a reply, a question) concerns a proposal; it is then listed on its page."""
    message = session.get(Message, message_pk)
    if message is None:
        raise StaffActionError("ce courriel n'existe plus")
    proposal = current(session, reference)
    session.add(MessageStep(message=message, step="attached", at=now, detail=proposal.reference))
    audit(session, actor, "attach", now, reference=proposal.reference, target=f"mail:{message_pk}",
          after=proposal.reference)
    return proposal


def attached_messages(session: Session, reference: str) -> list[Message]:
    """Mails staff attached to a proposal, oldest first."""
    return list(session.scalars(
        select(Message).join(MessageStep, MessageStep.message_pk == Message.id)
        .where(MessageStep.step == "attached", MessageStep.detail == reference)
        .order_by(Message.received_at).distinct()
    ))


def retry_sends(session: Session, now: datetime, ids: Sequence[int], actor: str) -> int:
    """Queue failed (or waiting) mails again now; one audit line per request."""
    changed = retry(session, now, ids)
    audit(session, actor, "retry-send", now, target="outbox:" + (",".join(map(str, ids)) or "all"),
          after=f"{count(changed, 'courriel remis', 'courriels remis')} en file")
    return changed


@dataclass(frozen=True)
class OpenItem:
    """Something that waits for a person, until someone closes it."""

    kind: str  # question, reply, quarantined, put-back, failed-send
    id: int
    at: datetime
    who: str
    subject: str
    reason: str


def open_items(session: Session, limit: int = 500) -> list[OpenItem]:
    """Open items, oldest first: mails needing a human (not yet handled) and sends that failed."""
    mails = session.scalars(
        select(Message).where(
            Message.handled_at.is_(None),
            Message.verdict.in_(OPEN_VERDICTS) | Message.put_back_at.is_not(None),
        ).order_by(Message.received_at).limit(limit)
    )
    items = [
        OpenItem("put-back" if m.put_back_at and m.verdict not in OPEN_VERDICTS else m.verdict or "put-back",
                 m.id, m.received_at, m.sender, m.subject, m.reason or "")
        for m in mails
    ]
    failed = session.scalars(
        select(OutboxMail).where(OutboxMail.status == "failed", OutboxMail.handled_at.is_(None))
        .order_by(OutboxMail.created_at).limit(limit)
    )
    items += [OpenItem("failed-send", o.id, o.created_at, o.recipient, o.subject, o.last_error or "") for o in failed]
    return items


# -- actions that need the whole service (archive, templates, pipeline) ----------------------------


def release(app: App, entry_id: int, actor: str) -> Message:
    """Release a quarantined mail: it goes through the pipeline again; the outcome is audited."""
    message = quarantine_release(app, entry_id)
    note(app, actor, "release", target=f"quarantine:{entry_id}", before="en quarantaine",
         after=f"{message.verdict} — {message.reason}", message=message)
    return message


def note(app: App, actor: str, action: str, *, target: str, after: str, before: str | None = None,
         message: Message | None = None) -> None:
    """One audit line, in a transaction of its own, for an action run through the whole service in
    several commits (a release, a mail read again, a history import, a digest sent on demand): noted once
    it has ended, with the reference of the proposal `message` gave, if any."""
    with app.sessions.begin() as session:
        reference = filed_from(session, message.id) if message is not None else None
        audit(session, actor, action, app.clock.now(), reference=reference, target=target, before=before,
              after=after)


def reprocess(app: App, message_id: str, actor: str) -> Message:
    """Read a known mail again on purpose (`backfill.reprocess`: refused when it already gave a proposal);
    the outcome is audited."""
    message = reprocess_mail(app, message_id)
    note(app, actor, "reprocess", target=f"mail:{message.id}", after=f"{message.verdict} — {message.reason}",
         message=message)
    return message


def updated_acknowledgement(app: App, session: Session, reference: str) -> EmailMessage:
    """The acknowledgement the current version would get now (after corrections), for a preview."""
    return _updated(app, session, reference)[1]


def _updated(app: App, session: Session, reference: str) -> tuple[str, EmailMessage]:
    proposal = current(session, reference)
    message = proposal.message
    with opened(app.archive.mail(message.content_hash)) as raw:
        original = Original(message, parse_headers(raw))  # threading needs its headers only
    record = proposal_record(proposal)
    template = acknowledgement_template(record, late=proposal.late)
    try:
        return template, answer_mail(app, template, original, Recipients(to=(proposal.sender,), sender=proposal.sender),
                                     app.clock.now(), proposal=proposal, record=record)
    except AddressError as exc:
        raise StaffActionError(f"adresse de réponse inutilisable ({exc})") from exc


def send_updated_acknowledgement(app: App, session: Session, reference: str, actor: str) -> int:
    """Queue the updated acknowledgement of a proposal (once per correction state)."""
    now = app.clock.now()
    proposal = current(session, reference)
    template, mail = _updated(app, session, reference)
    cause = f"proposal:{proposal.id}:update:{proposal.updated_at.isoformat()}"
    queued = enqueue(session, cause=cause, kind=template, recipient=proposal.sender,
                     mail=mail, now=now, proposal=proposal)
    if queued is None:
        raise StaffActionError("cet accusé de réception mis à jour a déjà été envoyé")
    audit(session, actor, "acknowledgement", now, reference=proposal.reference, target=proposal.sender,
          after=str(mail["Subject"]))
    return queued
