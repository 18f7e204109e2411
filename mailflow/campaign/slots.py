"""The Teams slots of a campaign as stored (one row per proposal and slot kind), and as templates show them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailflow.campaign.calendars import Calendar
from mailflow.campaign.rules import SlotTime
from mailflow.db.models import Proposal, Slot


def load_slots(session: Session, campaign: str) -> dict[tuple[str, str], SlotTime]:
    """The slots already given in a campaign, by (slot kind, proposal reference)."""
    rows = session.execute(
        select(Slot.kind, Proposal.reference, Slot.starts_at, Slot.ends_at)
        .join(Proposal, Slot.proposal_pk == Proposal.id)
        .where(Slot.campaign == campaign)
    ).all()
    return {(kind, reference): (start, end) for kind, reference, start, end in rows}


def slot_context(calendar: Calendar, slot: SlotTime, meeting_url: str | None = None) -> dict[str, Any]:
    """A slot for templates: `starts_at`, `ends_at`, its local `day` and `hours` ("de 9 h 30 à 10 h 00"),
    and the `meeting_url` staff gave it in the console (or None)."""
    start, end = (moment.astimezone(calendar.timezone) for moment in slot)
    return {
        "starts_at": slot[0],
        "ends_at": slot[1],
        "day": start.date(),
        "hours": f"de {start.hour} h {start.minute:02d} à {end.hour} h {end.minute:02d}",
        "meeting_url": meeting_url,
    }


def meeting_url(session: Session, proposal_pk: int, kind: str | None) -> str | None:
    """The meeting link staff gave a proposal's slot of this kind in the console, if any."""
    if not kind:
        return None
    return session.scalars(select(Slot.meeting_url).where(Slot.proposal_pk == proposal_pk, Slot.kind == kind)).first()
