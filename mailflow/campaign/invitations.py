"""Meeting links and invitation updates: the Teams link of each slot, and the .ics SEQUENCE.

A slot's link comes from one place, `slot_link()`: the link staff set for that slot in the console
(`slots.meeting_url`), else the calendar's `[[slots]] link`. An invitation keeps its UID for a proposal
and a slot kind; each time its time or its link changes, its SEQUENCE goes up by one, so
calendar programs update the event instead of adding a second one. When a link is set after the
invitation went out, `updates()` says which updated invitations to send.
"""

from __future__ import annotations

import dataclasses
import hashlib
import mimetypes
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailflow.campaign.calendars import Calendar, Reminder
from mailflow.campaign.rules import Occurrence, SlotTime, Target, invitation_ics, reminder_due
from mailflow.campaign.slots import meeting_url
from mailflow.db.models import Proposal, Slot
from mailflow.db.models import Reminder as ReminderRow
from mailflow.db.state import get_state, put_state
from mailflow.mail import french

if TYPE_CHECKING:
    from mailflow.context import App

UPDATE_MARK = "-maj"


def slot_link(calendar: Calendar, kind: str, stored: str | None = None) -> str | None:
    """The meeting link of a slot: the one staff set for this slot in the console (`stored`, read with
    `slots.meeting_url`), else the calendar's `[[slots]] link`; None while there is none."""
    if stored:
        return stored
    try:
        return calendar.slot_rule(kind).link or None
    except KeyError:
        return None


def _state_key(uid: str) -> str:
    return "ics:" + hashlib.sha1(uid.encode(), usedforsecurity=False).hexdigest()


def _fingerprint(slot: SlotTime, link: str | None) -> str:
    return f"{slot[0].isoformat()}|{slot[1].isoformat()}|{link or ''}"


def sequence(session: Session | None, uid: str, slot: SlotTime, link: str | None, now: datetime) -> int:
    """The SEQUENCE of invitation `uid` with this time and link: the same while they are unchanged,
    one more after each change (recorded in `session`; 0 for a preview without one)."""
    if session is None:
        return 0
    key = _state_key(uid)
    state = get_state(session, key)
    fingerprint = _fingerprint(slot, link)
    if state is None:
        put_state(session, key, {"sequence": 0, "fingerprint": fingerprint}, now)
        return 0
    if state.value.get("fingerprint") == fingerprint:
        return int(state.value.get("sequence", 0))
    number = int(state.value.get("sequence", 0)) + 1
    put_state(session, key, {"sequence": number, "fingerprint": fingerprint}, now)
    return number


def invitation_uid(calendar: Calendar, kind: str, reference: str, domain: str) -> str:
    """The UID of a proposal's invitation of one slot kind: the same for every update."""
    return f"{calendar.id}.{kind}.{reference}@{domain}"


def updates(
    session: Session,
    calendar: Calendar,
    targets: list[Target],
    slots: Mapping[tuple[str, str], SlotTime],
    domain: str,
    now: datetime,
) -> list[Occurrence]:
    """The updated invitations to send now: a slot whose time or link changed since its invitation
    went out, and whose meeting is still to come. Each is an occurrence of the invitation reminder
    under the name `<id>-majN` (N the new SEQUENCE), so it goes once to each recipient."""
    found: list[Occurrence] = []
    by_reference = {t.reference: t for t in targets}
    for reminder in calendar.reminders:
        if not reminder.ics or not reminder.slot or reminder.slot_relative or UPDATE_MARK in reminder.id:
            continue
        for (kind, reference), slot in slots.items():
            target = by_reference.get(reference)
            if kind != reminder.slot or target is None or slot[0] <= now:
                continue
            state = get_state(session, _state_key(invitation_uid(calendar, kind, reference, domain)))
            link = slot_link(calendar, kind, meeting_url(session, target.pk, kind))
            if state is None or state.value.get("fingerprint") == _fingerprint(slot, link):
                continue
            number = int(state.value.get("sequence", 0)) + 1
            update = dataclasses.replace(reminder, id=f"{reminder.id}{UPDATE_MARK}{number}")
            sent_to = session.scalars(
                select(ReminderRow.recipient).where(
                    ReminderRow.campaign == calendar.id,
                    ReminderRow.reminder == f"{reminder.id}:{reference}",
                    ReminderRow.status == "queued",
                )
            ).all()
            found += [Occurrence(calendar.id, update, now, address, target, slot) for address in sent_to]
    return found


def without_link(
    calendars: Mapping[str, Calendar], now: datetime, days: int = 7, session: Session | None = None
) -> list[str]:
    """For staff (digest): each Teams slot kind whose invitations go out within `days` while no meeting link
    is set, in the calendar nor (with `session`) for each slot given in the console, as one French line."""
    lines = []
    for calendar in calendars.values():
        for reminder in calendar.reminders:
            if not reminder.ics or not reminder.slot or reminder.slot_relative:
                continue
            rule = calendar.slot_rule(reminder.slot)
            due = reminder_due(calendar, reminder)
            if rule.link or due is None or not rule.days or "teams" not in f"{rule.kind} {rule.location}".lower():
                continue
            if not now <= due <= now + timedelta(days=days):
                continue
            links = [] if session is None else session.scalars(
                select(Slot.meeting_url).where(Slot.campaign == calendar.id, Slot.kind == rule.kind)).all()
            if links and all(links):
                continue
            which = f" pour {french.count(sum(not link for link in links), 'créneau', 'créneaux')}" if links else ""
            when = "sont parties le" if due <= now else "partiront le"
            lines.append(
                f"{rule.title} : aucun lien de connexion n'est indiqué{which} ; les invitations {when} "
                f"{french.datetime_fr(due, calendar.timezone)} en annonçant qu'il suivra. Indiquez le lien de "
                f"chaque créneau dans la console, ou link = \"https://…\" au créneau « {rule.kind} » du "
                f"calendrier {calendar.id}."
            )
    return lines


def is_update(reminder: Reminder) -> bool:
    """Whether a reminder is an updated invitation made by `updates()`."""
    return UPDATE_MARK in reminder.id


def invitation_attachment(
    app: App, occurrence: Occurrence, now: datetime, session: Session | None, stored_link: str | None = None
) -> tuple[str, str, bytes] | None:
    """The `.ics` of a reminder that asks for one: the slot's link as LOCATION and URL, the same UID
    for every version, the SEQUENCE of this time and link (recorded in `session`, none for a preview)."""
    reminder = occurrence.reminder
    if not reminder.ics or occurrence.slot is None or occurrence.target is None:
        return None
    calendar = app.calendars[occurrence.campaign]
    rule = calendar.slot_rule(reminder.slot or "")
    link = slot_link(calendar, rule.kind, stored_link)
    uid = invitation_uid(calendar, rule.kind, occurrence.target.reference, app.message_id_domain)
    ics = invitation_ics(
        calendar, rule, occurrence.slot, uid=uid, organizer=app.sender_address, attendee=occurrence.recipient,
        summary=f"{rule.title} – {occurrence.target.reference}", now=now,
        sequence=sequence(session, uid, occurrence.slot, link, now), link=link,
    )
    return ("invitation.ics", "text/calendar", ics)


def grid_context(calendar: Calendar) -> dict[str, str] | None:
    """The evaluation grid as templates see it: {"url": …} (a link), {"filename": …} (attached), or None."""
    grid = calendar.evaluation_grid
    if grid is None:
        return None
    return {"url": grid} if grid.startswith("https://") else {"filename": Path(grid).name}


def grid_attachment(calendar: Calendar, context: dict[str, Any]) -> tuple[str, str, bytes] | None:
    """The evaluation grid file, attached to the mail whose template names it (None for a link or no grid)."""
    grid = context.get("evaluation_grid")
    if not grid or not grid.get("filename") or not calendar.evaluation_grid:
        return None
    kind = mimetypes.guess_type(grid["filename"])[0] or "application/octet-stream"
    return (grid["filename"], kind, Path(calendar.evaluation_grid).read_bytes())


def rejected_by(session: Session, reference: str) -> str:
    """Who did not keep a rejected proposal: "students" when it had a meeting slot (it was presented to
    them), "institute" when it never had one (e.g. never complete)."""
    shown = session.scalars(
        select(Slot.id).join(Proposal, Slot.proposal_pk == Proposal.id).where(Proposal.reference == reference).limit(1)
    ).first()
    return "students" if shown is not None else "institute"
