"""What the collectivité templates can rely on: the proposal as exported, the missing and invalid items in
the form's own words, the campaign, the mail being answered, its Teams slot; and the made-up example
proposal (`templates/_exemple.json`) that previews use before any proposal is filed."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mailflow.errors import TemplateError
from mailflow.mail import french

if TYPE_CHECKING:
    from mailflow.db.models import Message
    from mailflow.mail.templates import Templates

def label_or_path(label: Callable[[str], str], path: str) -> str:
    """The form's label for a dotted path, or the path itself when the form has none."""
    try:
        return label(path) or path
    except (LookupError, ValueError):
        return path


def missing_items(paths: Iterable[str], label: Callable[[str], str]) -> list[dict[str, str]]:
    """`missing` paths as `[{"path", "label"}]`, labelled with the form's own wording (else the path)."""
    return [{"path": path, "label": label_or_path(label, path)} for path in paths]


def problem_items(problems: Iterable[str], label: Callable[[str], str]) -> list[dict[str, str]]:
    """`problems` (`"path: reason"`) as `[{"path", "label", "reason"}]`."""
    items = []
    for problem in problems:
        path, _, reason = problem.partition(":")
        path = path.strip()
        reason = reason.strip() or "valeur invalide"
        items.append({"path": path, "label": label_or_path(label, path), "reason": reason})
    return items


def mail_context(
    *,
    proposal: Mapping[str, Any] | None = None,
    label: Callable[[str], str] = lambda path: path,
    campaign: Any = None,
    original: Mapping[str, Any] | None = None,
    unreadable: Sequence[Mapping[str, str]] = (),
    slot: Mapping[str, Any] | None = None,
    supersedes: str | None = None,
    now: datetime | None = None,
    recipient: str | None = None,
) -> dict[str, Any]:
    """The full context every collectivité template can rely on (absent things are None or empty).

    `proposal` is the export dict (`export.proposal_record`); `label` maps a dotted path to the
    form's label (`FormDefinition.label`); `original` describes the mail being answered; `now`
    (the mail's date) lets templates leave out dates already past (`today`, filter `to_come`);
    `recipient` chooses the salutation and the `roles` (sender, tutor, hr, dgs) the mail speaks to.
    """
    record = dict(proposal) if proposal is not None else None
    if record is not None:
        record.setdefault("supersedes", supersedes)
    roles = recipient_roles(record, recipient)
    return {
        "proposal": record,
        "missing_items": missing_items(record.get("missing", []), label) if record else [],
        "problem_items": problem_items(record.get("problems", []), label) if record else [],
        "campaign": campaign,
        "original": dict(original or {"subject": "", "message_id": None, "sender": "", "received_at": None}),
        "unreadable": [dict(item) for item in unreadable],
        "slot": dict(slot) if slot is not None else None,
        "today": now,
        "roles": roles,
        "salutation": salutation_for(record, roles),
        "several_missions": any("plusieurs missions" in flag for flag in (record or {}).get("flags") or []),
        "rejected_by": None,
        "evaluation_grid": None,
    }


def recipient_roles(record: Mapping[str, Any] | None, recipient: str | None) -> list[str]:
    """Who `recipient` is in a proposal: "tutor", "dgs", "hr", "sender" (several when one person is several)."""
    if record is None or not recipient:
        return []
    address = recipient.strip().lower()
    found = {
        "tutor": (record.get("tutor") or {}).get("email"),
        "dgs": (record.get("dgs") or {}).get("email"),
        "hr": (record.get("collectivity") or {}).get("hr_email"),
        "sender": record.get("sender"),
    }
    return [role for role, value in found.items() if (value or "").strip().lower() == address]


def salutation_for(record: Mapping[str, Any] | None, roles: Sequence[str]) -> str:
    """The salutation for the first role known: the tutor by function, the HR contact by civility."""
    if record is not None and "tutor" in roles:
        return french.salutation(record.get("tutor"))
    if record is not None and "hr" in roles:
        return french.salutation(None, (record.get("collectivity") or {}).get("hr_contact"))
    return "Madame, Monsieur,"


def acknowledgement_template(proposal: Mapping[str, Any], *, late: bool = False) -> str:
    """Which acknowledgement a filed proposal gets: late, new version, incomplete or complete; a stage offer
    has one of its own, which says all of that itself."""
    if proposal.get("form") == "offre_stage":
        return OFFER_ACKNOWLEDGEMENT
    if late or proposal.get("status") == "late":
        return "collectivite/hors-delai"
    if proposal.get("supersedes") or (proposal.get("version") or 1) > 1:
        return "collectivite/nouvelle-version"
    if proposal.get("missing") or proposal.get("problems") or proposal.get("status") == "incomplete":
        return "collectivite/accuse-reception-incomplet"
    return "collectivite/accuse-reception"


OFFER_ACKNOWLEDGEMENT = "collectivite/accuse-reception-offre"
ACKNOWLEDGEMENTS = (
    "collectivite/accuse-reception",
    "collectivite/accuse-reception-incomplet",
    "collectivite/nouvelle-version",
    "collectivite/hors-delai",
    "collectivite/document-illisible",
    "collectivite/question-recue",
)
SPECIMEN = "_exemple.json"


def specimen(templates: Templates, name: str) -> dict[str, Any]:
    """The made-up proposal of `templates/_exemple.json`, adapted to template `name` (for previews)."""
    for folder in templates.folders:
        path = folder / SPECIMEN
        if path.is_file():
            break
    else:
        raise TemplateError(f"{SPECIMEN} not found in {', '.join(map(str, templates.folders))}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TemplateError(f"{path}: cannot be read as JSON ({exc})") from None
    variant = data.get("variants", {}).get(name, {})
    proposal = variant.get("proposal", {})
    return {
        "proposal": None if proposal is None else _merged(data["proposal"], proposal),
        "original": _merged(data["original"], variant.get("original", {})),
        "unreadable": data.get("unreadable", []),
        "slot": data.get("slot"),
    }


def _merged(base: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in changes.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = value
    return merged


def original_context(message: Message) -> dict[str, Any]:
    """The received mail an answer is about, as templates see it (`original`)."""
    return {
        "subject": message.subject,
        "message_id": message.message_id,
        "sender": message.sender,
        "received_at": message.received_at,
    }
