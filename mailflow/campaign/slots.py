"""The Teams slots of a campaign as stored (one row per proposal and slot kind), and as templates show them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailflow.campaign.calendars import Calendar
from mailflow.campaign.rules import SlotTime
from mailflow.db.models import Proposal, Slot
from mailflow.mail import french


def load_slots(session: Session, campaign: str) -> dict[tuple[str, str], SlotTime]:
    """The slots already given in a campaign, by (slot kind, proposal reference)."""
    rows = session.execute(
        select(Slot.kind, Proposal.reference, Slot.starts_at, Slot.ends_at)
        .join(Proposal, Slot.proposal_pk == Proposal.id)
        .where(Slot.campaign == campaign)
    ).all()
    return {(kind, reference): (start, end) for kind, reference, start, end in rows}


def slot_context(calendar: Calendar, slot: SlotTime, link: str | None = None) -> dict[str, Any]:
    """A slot for templates: `starts_at`, `ends_at`, its local `day`, `hours` ("de 9 h 30 à 10 h") and its
    meeting `link` (also `meeting_url`, the console's name)."""
    return {
        "starts_at": slot[0],
        "ends_at": slot[1],
        "day": slot[0].astimezone(calendar.timezone).date(),
        "hours": french.hours_fr(slot[0], slot[1], calendar.timezone),
        "link": link,
        "meeting_url": link,
    }


def meeting_url(session: Session, proposal_pk: int, kind: str | None) -> str | None:
    """The meeting link staff gave a proposal's slot of this kind in the console, if any."""
    if not kind:
        return None
    return session.scalars(select(Slot.meeting_url).where(Slot.proposal_pk == proposal_pk, Slot.kind == kind)).first()
