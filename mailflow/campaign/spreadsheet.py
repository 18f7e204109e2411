"""The proposals as a spreadsheet staff can read: attached to the digest, and `proposals export --format xlsx`.

One sheet per campaign, one row per current proposal (a corrected resubmission replaces the
earlier version), French headers taken from the form's labels, dates as real Excel dates in
the campaign's local time, Oui / Non, statuses and decisions in French, the missing and invalid
items in the form's words, the meeting slots and the last mail sent. This module gathers the
sheets' content; `workbook` writes the file, in a process of its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailflow.apart import run_apart
from mailflow.campaign.export import STATUS_FR
from mailflow.campaign.wording import checks_fr, problem_fr
from mailflow.db.models import OutboxMail, Proposal, Slot
from mailflow.mail.template_context import label_or_path

if TYPE_CHECKING:
    from mailflow.context import App

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DECISION_FR = {"accepted": "retenue", "rejected": "non retenue", "withdrawn": "retirée"}
NO_CAMPAIGN = "Sans campagne"
WRITING_SECONDS = 600  # thousands of proposals take seconds: past this, the writing process is stuck


class Sheet(NamedTuple):
    """One sheet of the file: its name, its header row and its rows of plain values."""

    title: str
    headers: list[str]
    rows: list[list[Any]]


NO_PROPOSAL_SHEET = Sheet("Propositions", ["Aucune proposition"], [])  # an export with nothing in it


def proposal_sheets(app: App, session: Session, now: datetime, campaign: str | None = None) -> list[Sheet]:
    """The sheets of every current proposal (of `campaign` only, if given) filed by `now`: one per campaign,
    and per form (offers without a campaign apart); none when there is no proposal."""
    query = select(Proposal).where(Proposal.status != "superseded", Proposal.created_at <= now)
    if campaign is not None:
        query = query.where(Proposal.campaign == campaign)
    proposals = sorted(session.scalars(query), key=lambda p: p.reference)
    if not proposals:
        return []
    slots, last_mails = _slots(session), _last_mails(session, now)
    titles = {c.id: c.title for c in app.calendars.values()}
    groups: dict[tuple[str | None, str], list[Proposal]] = {}
    for proposal in proposals:
        groups.setdefault((proposal.campaign, proposal.form), []).append(proposal)
    sheets: list[Sheet] = []
    for campaign_id, form in sorted(groups, key=lambda c: (c[0] is None, c[0] or "", c[1])):
        outside = NO_CAMPAIGN if form == app.form.name else f"{NO_CAMPAIGN} ({form.replace('_', ' ')})"
        name = titles.get(campaign_id or "", campaign_id or outside)
        title = _sheet_title(name, [s.title for s in sheets])
        sheets.append(_sheet(app, title, groups[(campaign_id, form)], _slot_kinds(app, campaign_id), slots, last_mails))
    return sheets


def xlsx_apart(sheets: Sequence[Sheet]) -> bytes:
    """The .xlsx file of `sheets` (at least one). openpyxl writes it in a short-lived process (see `workbook`),
    given plain tuples so that it imports nothing of the database: about half a second."""
    return run_apart("mailflow.campaign.workbook:write_workbook", [tuple(sheet) for sheet in sheets],
                     timeout=WRITING_SECONDS)


def _sheet_title(name: str, taken: Iterable[str]) -> str:
    """Excel allows 31 characters and none of []:*?/\\ in a sheet's name."""
    clean = "".join(" " if ch in "[]:*?/\\" else ch for ch in name).strip()[:31] or NO_CAMPAIGN
    title, n = clean, 2
    while title in taken:
        title = f"{clean[:28]} {n}"
        n += 1
    return title


def _slot_kinds(app: App, campaign_id: str | None) -> list[tuple[str, str]]:
    calendar = app.calendars.get(campaign_id or "")
    return [(rule.kind, f"Créneau : {rule.title}") for rule in calendar.slots] if calendar else []


def _sheet(
    app: App,
    title: str,
    proposals: list[Proposal],
    kinds: list[tuple[str, str]],
    slots: dict[tuple[str, str], datetime],
    last_mails: dict[str, tuple[str, datetime]],
) -> Sheet:
    zone = app.timezone
    form = app.forms.get(proposals[0].form, app.form)
    headers = ["Référence", "Version", "Statut", "Décision", "Reçue le", "Expéditeur"]
    headers += [label_or_path(form.label, f.path) for f in form.fields]
    headers += ["Éléments manquants", "Éléments non valides", "À vérifier"]
    headers += [heading for _, heading in kinds]
    headers += ["Dernier courriel envoyé", "Envoyé le"]
    rows = []
    for proposal in proposals:
        fields = proposal.fields or {}
        last = last_mails.get(proposal.reference)
        row: list[Any] = [
            proposal.reference,
            proposal.version,
            STATUS_FR.get(proposal.status, proposal.status),
            DECISION_FR.get(proposal.status, "à prendre" if proposal.status in ("complete", "late") else ""),
            _local(proposal.received_at, zone),
            proposal.sender,
        ]
        for definition in form.fields:
            row.append(_value((fields.get(definition.section) or {}).get(definition.key)))
        row += [
            "\n".join(label_or_path(form.label, p) for p in proposal.missing or []),
            "\n".join(problem_fr(form.label, str(p)) for p in proposal.problems or []),
            "\n".join(checks_fr(form.label, proposal.flags or [])),
        ]
        row += [_local(slots[(kind, proposal.reference)], zone) if (kind, proposal.reference) in slots else None
                for kind, _ in kinds]
        row += [last[0] if last else None, _local(last[1], zone) if last else None]
        rows.append(row)
    return Sheet(title, headers, rows)


def _local(moment: datetime, zone: Any) -> datetime:
    """Excel has no time zones: the wall-clock time in the campaign's zone, as staff read it."""
    return moment.astimezone(zone).replace(tzinfo=None)


def _value(value: Any) -> Any:
    if isinstance(value, bool):
        return "Oui" if value else "Non"
    if isinstance(value, list | tuple):
        return "\n".join(str(v) for v in value)
    if isinstance(value, dict):
        return "\n".join(f"{k} : {v}" for k, v in value.items() if v)
    return value


def _slots(session: Session) -> dict[tuple[str, str], datetime]:
    """The start of each proposal's slot, by (kind, reference)."""
    rows = session.execute(select(Slot.kind, Proposal.reference, Slot.starts_at).join(
        Proposal, Proposal.id == Slot.proposal_pk))
    return {(kind, reference): start for kind, reference, start in rows}


def _last_mails(session: Session, now: datetime) -> dict[str, tuple[str, datetime]]:
    """The last mail sent about each proposal (any version): its subject and when it left."""
    rows = session.execute(
        select(Proposal.reference, OutboxMail.subject, OutboxMail.sent_at)
        .join(Proposal, Proposal.id == OutboxMail.proposal_pk)
        .where(OutboxMail.status == "sent", OutboxMail.sent_at.is_not(None), OutboxMail.sent_at <= now)
        .order_by(OutboxMail.sent_at, OutboxMail.id)
    )
    return {reference: (subject, sent_at) for reference, subject, sent_at in rows}
