"""The proposals as a spreadsheet staff can read: attached to the digest, and `proposals export --format xlsx`.

One sheet per campaign, one row per current proposal (a corrected resubmission replaces the
earlier version), French headers taken from the form's labels, dates as real Excel dates in
the campaign's local time, Oui / Non, statuses and decisions in French, the missing and invalid
items in the form's words, the meeting slots and the last mail sent; header row frozen,
filters on, columns wide enough to read.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy import select
from sqlalchemy.orm import Session

from mailflow.campaign.export import STATUS_FR
from mailflow.campaign.wording import checks_fr, problem_fr
from mailflow.db.models import OutboxMail, Proposal, Slot
from mailflow.mail.template_context import label_or_path

if TYPE_CHECKING:
    from mailflow.context import App

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DATE_FORMAT = "dd/mm/yyyy hh:mm"
DECISION_FR = {"accepted": "retenue", "rejected": "non retenue", "withdrawn": "retirée"}
NO_CAMPAIGN = "Sans campagne"
MAX_WIDTH = 60


@dataclass(frozen=True)
class Column:
    """A column: its French header and how wide it may grow."""

    header: str
    width: int = 0


def workbook_bytes(app: App, session: Session, now: datetime, campaign: str | None = None) -> bytes | None:
    """The .xlsx of every current proposal (of `campaign` only, if given) filed by `now`; None when there is none."""
    query = select(Proposal).where(Proposal.status != "superseded", Proposal.created_at <= now)
    if campaign is not None:
        query = query.where(Proposal.campaign == campaign)
    proposals = sorted(session.scalars(query), key=lambda p: p.reference)
    if not proposals:
        return None
    slots = _slots(session)
    last_mails = _last_mails(session, now)
    book = Workbook()
    book.remove(book.active)
    titles = {c.id: c.title for c in app.calendars.values()}
    groups: dict[tuple[str | None, str], list[Proposal]] = {}
    for proposal in proposals:  # one sheet per campaign, and per form (offers without a campaign apart)
        groups.setdefault((proposal.campaign, proposal.form), []).append(proposal)
    for campaign_id, form in sorted(groups, key=lambda c: (c[0] is None, c[0] or "", c[1])):
        outside = NO_CAMPAIGN if form == app.form.name else f"{NO_CAMPAIGN} ({form.replace('_', ' ')})"
        name = titles.get(campaign_id or "", campaign_id or outside)
        sheet = book.create_sheet(_sheet_title(name, book.sheetnames))
        kinds = _slot_kinds(app, campaign_id)
        _fill(app, sheet, groups[(campaign_id, form)], kinds, slots, last_mails)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def empty_workbook() -> bytes:
    """A workbook with the header only, when there is no proposal to export."""
    book = Workbook()
    book.active.title = "Propositions"
    book.active.append(["Aucune proposition"])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


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


def _fill(
    app: App,
    sheet: Worksheet,
    proposals: list[Proposal],
    kinds: list[tuple[str, str]],
    slots: dict[tuple[str, str], datetime],
    last_mails: dict[str, tuple[str, datetime]],
) -> None:
    zone = app.timezone
    form = app.forms.get(proposals[0].form, app.form)
    headers = ["Référence", "Version", "Statut", "Décision", "Reçue le", "Expéditeur"]
    headers += [label_or_path(form.label, f.path) for f in form.fields]
    headers += ["Éléments manquants", "Éléments non valides", "À vérifier"]
    headers += [title for _, title in kinds]
    headers += ["Dernier courriel envoyé", "Envoyé le"]
    sheet.append(headers)
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
        sheet.append([_cell(v) for v in row])
    _style(sheet, len(headers), len(proposals))


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


def _cell(value: Any) -> Any:
    """Control characters a sender typed are dropped (Excel cannot store them); text is never a formula."""
    return ILLEGAL_CHARACTERS_RE.sub("", value) if isinstance(value, str) else value


def _style(sheet: Worksheet, columns: int, rows: int) -> None:
    header_fill = PatternFill("solid", fgColor="DCE6F1")
    for cell in sheet[1]:
        cell.font = Font(bold=True)
        cell.fill = header_fill
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for line in sheet.iter_rows(min_row=2):
        for cell in line:
            if isinstance(cell.value, datetime):
                cell.number_format = DATE_FORMAT
            elif isinstance(cell.value, str):
                cell.data_type = "s"
                cell.alignment = Alignment(wrap_text="\n" in cell.value, vertical="top")
    for index in range(1, columns + 1):
        letter = get_column_letter(index)
        widths = [_width(c.value) for c in sheet[letter]]
        sheet.column_dimensions[letter].width = min(MAX_WIDTH, max(10, *widths) + 2)
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = f"A1:{get_column_letter(columns)}{rows + 1}"


def _width(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, datetime):
        return 16
    return max((len(line) for line in str(value).splitlines()), default=0)


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
