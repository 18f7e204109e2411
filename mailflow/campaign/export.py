"""Proposals as records: JSON per proposal.schema.json, and flat rows for CSV (the xlsx is `spreadsheet`)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from typing import IO, Any

from mailflow.db.models import Proposal

SECTIONS = ("collectivity", "dgs", "tutor", "mission", "logistics")


def proposal_record(proposal: Proposal) -> dict[str, Any]:
    """One proposal exactly as `mailflow proposals export --format json` prints it."""
    fields = proposal.fields or {}
    record: dict[str, Any] = {
        "reference": proposal.reference,
        "form": proposal.form,
        "campaign": proposal.campaign,
        "status": proposal.status,
        "version": proposal.version,
        "supersedes": proposal.supersedes.reference if proposal.supersedes is not None else None,
        "missing": list(proposal.missing or []),
        "problems": list(proposal.problems or []),
        "to_check": to_check_items(proposal.flags or []),
        "flags": [f for f in proposal.flags or [] if not isinstance(f, dict)],
        "received_at": proposal.received_at.isoformat(),
        "sender": proposal.sender,
    }
    for section in SECTIONS if proposal.form == "projet_collectif" else tuple(fields):
        value = fields.get(section)
        record[section] = [dict(v) for v in value] if isinstance(value, list) else dict(value or {})
    record["source"] = {
        "kind": proposal.source_kind,
        "filename": proposal.source_filename,
        "message_id": proposal.message.message_id or None,
    }
    return record


def offer_periods(fields: dict | None) -> set[str]:
    """The calendar periods a stage offer is for (none for a projet collectif)."""
    return {p.get("period") for p in (fields or {}).get("placements") or [] if isinstance(p, dict)}


def to_check_items(flags: Sequence[object]) -> list[str]:
    """The items to check stored among a proposal's flags, as "path: reason"."""
    return [f"{f['to_check']}: {f.get('reason', '')}".rstrip(": ") for f in flags
            if isinstance(f, dict) and "to_check" in f]


def flat_row(record: dict[str, Any]) -> dict[str, Any]:
    """A record as one row of dotted columns (collectivity.name, …) for spreadsheets."""
    row: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, dict):
            for sub, inner in value.items():
                row[f"{key}.{sub}"] = inner
        elif isinstance(value, list):
            row[key] = "; ".join(_item(v) for v in value)
        else:
            row[key] = value
    return row


def _item(value: Any) -> str:
    if isinstance(value, dict):  # a stage of an offer, an item to check
        return " – ".join(str(v) for v in value.values() if v not in (None, ""))
    return str(value)


def write_json(records: Sequence[dict[str, Any]], out: IO[str]) -> None:
    """The JSON array of records."""
    json.dump(list(records), out, ensure_ascii=False, indent=2)
    out.write("\n")


def write_csv(records: Iterable[dict[str, Any]], out: IO[str]) -> None:
    """CSV with a header row of dotted column names. A text that a spreadsheet would take for a formula
    (=, +, -, @ first: a form's values are a stranger's) is written after an apostrophe, as text."""
    rows = [{key: _as_text(value) for key, value in flat_row(r).items()} for r in records]
    columns = _columns(rows)
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)


def _as_text(value: Any) -> Any:
    return "'" + value if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    return list(columns)


STATUS_FR = {
    "complete": "complète",
    "incomplete": "incomplète",
    "to_check": "à vérifier",
    "late": "hors délai",
    "superseded": "remplacée",
    "withdrawn": "retirée",
    "accepted": "retenue",
    "rejected": "non retenue",
}
