"""`mailflow templates render NAME [--ref REF]`: a template, an acknowledgement or a reminder, composed as it
would be sent, for proof-reading. Nothing is queued."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from email.message import EmailMessage
from typing import Any

from sqlalchemy import select

from mailflow.campaign.export import proposal_record
from mailflow.campaign.reminders import compose_reminder, occurrence_recipients, target_of
from mailflow.campaign.rules import Occurrence, Target, reminder_due, slot_times
from mailflow.campaign.slots import load_slots
from mailflow.context import App
from mailflow.db.models import Proposal, Slot
from mailflow.errors import MailflowError
from mailflow.mail.template_context import ACKNOWLEDGEMENTS, mail_context, original_context, specimen


def render_for_reference(app: App, name: str, reference: str | None) -> EmailMessage:
    """Template `name` rendered and composed as it would be sent about proposal `reference`.

    Without a reference the made-up example proposal is used, so staff can proof-read a
    template before any proposal is filed. Nothing is queued or sent.
    """
    now = app.clock.now()
    auto = "auto-replied" if name in ACKNOWLEDGEMENTS else "auto-generated"
    if reference is None:
        example = specimen(app.templates, name)
        record = example["proposal"]
        campaign_id = record["campaign"] if record else None
        campaign = app.calendars.get(campaign_id) if campaign_id else None
        context = mail_context(
            proposal=record, label=app.form.label, original=example["original"],
            campaign=campaign or app.current_calendar(now) or _any(app.calendars),
            unreadable=example["unreadable"], slot=example["slot"], now=now,
            recipient=(record or example["original"])["sender"],
        )
        recipient = (record or example["original"])["sender"]
        rendered = app.templates.render(name, context)
        return app.compose(
            rendered, to=[recipient],
            in_reply_to=example["original"].get("message_id"), auto_submitted=auto, now=now,
        )
    with app.sessions() as session:
        proposal = session.scalar(select(Proposal).where(Proposal.reference == reference.strip().upper()))
        if proposal is None:
            raise MailflowError(f"no proposal with reference {reference} (see `mailflow proposals list`)")
        record = proposal_record(proposal)
        original = original_context(proposal.message)
        first_slot = select(Slot).where(Slot.proposal_pk == proposal.id).order_by(Slot.starts_at)
        slot_row = session.scalar(first_slot)
        slot = {"starts_at": slot_row.starts_at, "ends_at": slot_row.ends_at} if slot_row else None
        context = mail_context(
            proposal=record, label=app.form.label, original=original,
            campaign=app.calendars.get(proposal.campaign) if proposal.campaign else None, slot=slot,
            now=now, recipient=proposal.sender,
        )
    rendered = app.templates.render(name, context)
    return app.compose(
        rendered, to=[proposal.sender], in_reply_to=original["message_id"], auto_submitted=auto, now=now,
    )


def _any(calendars: Mapping[str, Any]) -> Any:
    return next(iter(calendars.values()), None)


def preview_reminder(app: App, template: str, reference: str | None = None) -> EmailMessage:
    """`mailflow templates render` for a reminder template: the mail as it would go about `reference`
    (or about the made-up example proposal), at its slot if it has one. Nothing is queued."""
    found = [(c, r) for c in app.calendars.values() for r in c.reminders if r.template == template]
    if not found:
        raise MailflowError(f"no reminder of the calendars uses template {template}")
    calendar, reminder = found[0]
    now = app.clock.now()
    if reference is not None:
        with app.sessions() as session:
            proposal = session.scalars(
                select(Proposal)
                .where(Proposal.reference == reference.strip().upper())
                .order_by(Proposal.version.desc())
                .limit(1)
            ).first()
            if proposal is None:
                raise MailflowError(f"no proposal with reference {reference} (see `mailflow proposals list`)")
            record, target = proposal_record(proposal), target_of(proposal)
            slots = load_slots(session, calendar.id)
    else:
        record = specimen(app.templates, template)["proposal"]
        target = _specimen_target(record) if record else None
        slots = {}
    slot = None
    if reminder.slot and target is not None:
        slot = (
            slots.get((reminder.slot, target.reference)) or slot_times(calendar, calendar.slot_rule(reminder.slot))[0]
        )
    recipients = occurrence_recipients(reminder, target) or ["collectivite@exemple.fr"]
    due = reminder_due(calendar, reminder) or now
    occurrence = Occurrence(calendar.id, reminder, due, recipients[0], target, slot)
    return compose_reminder(app, occurrence, record, now, [])


def _specimen_target(record: dict[str, Any]) -> Target:
    received = datetime.fromisoformat(record["received_at"])
    return Target(
        pk=0,
        reference=record["reference"],
        status=record["status"],
        received_at=received,
        changed_at=received,
        addresses={
            "sender": record.get("sender"),
            "tutor": (record.get("tutor") or {}).get("email"),
            "hr": (record.get("collectivity") or {}).get("hr_email"),
            "dgs": (record.get("dgs") or {}).get("email"),
        },
    )
