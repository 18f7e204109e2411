"""File a proposal: give it its reference, its version and its status, and supersede the old one.

A corrected form becomes the next version under the same reference, and the previous version is
marked `superseded`: a form sent in the thread of a reference, or the same mission (same SIRET,
same title) sent again. A new mail from a collectivité that already has a proposal, with another
mission, is a second proposal with its own reference: the call for proposals allows several
missions, of which only one will be offered to the students (`other_missions`, a flag for staff).
"""

from __future__ import annotations

import difflib
import unicodedata
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mailflow.campaign.calendars import Campaign
from mailflow.db.models import Collectivity, Counter, Message, OutboxMail, Proposal
from mailflow.errors import AlreadyFiled, MailflowError
from mailflow.pipeline.classify import is_internal

NO_CAMPAIGN_PREFIX = "HC"


@dataclass(frozen=True)
class Filed:
    """A proposal just filed, the version it replaced, if any, and the references of the collectivité's
    other current proposals in the same campaign."""

    proposal: Proposal
    previous: Proposal | None
    others: list[str]


def file_proposal(
    session: Session,
    *,
    form: str,
    fields: dict,
    missing: Sequence[str],
    problems: Sequence[str],
    source_kind: str,
    source_filename: str | None,
    message: Message,
    sender: str,
    received_at: datetime,
    campaign: Campaign | None,
    thread_reference: str | None,
    now: datetime,
    flags: Sequence[str] = (),
    to_check: Sequence[str] = (),
    one_per_collectivity: bool = True,
) -> Filed:
    """Write the proposal (not committed: the caller commits it with the answers it queues).

    Items to check ("path: reason", read without confidence) give the status "to_check" when nothing
    is missing or wrong; they are kept in `flags` as {"to_check": path, "reason": reason}.
    With `one_per_collectivity` (projets collectifs), a form with the SIRET of a proposal of the
    same campaign is its new version; without it (stage offers), only a form sent in its thread is.
    """
    siret = (fields.get("collectivity") or {}).get("siret")
    title = mission_title(fields)
    previous = find_previous(session, thread_reference, campaign, siret if one_per_collectivity else None, message,
                             title)
    if previous is not None:
        reference, version = previous.reference, previous.version + 1
        previous.status = "superseded"
        previous.updated_at = now
    elif campaign is not None:
        reference = next_reference(session, campaign.reference_prefix, campaign.reference_year)
        version = 1
    else:
        reference = next_reference(session, NO_CAMPAIGN_PREFIX, received_at.year)
        version = 1
    status = "incomplete" if (missing or problems) else ("to_check" if to_check else "complete")
    if campaign is not None and campaign.late:
        status = "late"
    proposal = Proposal(
        reference=reference,
        form=form,
        campaign=campaign.id if campaign else (previous.campaign if previous else None),
        status=status,
        version=version,
        late=bool(campaign and campaign.late),
        collectivity=collectivity_for(session, siret, (fields.get("collectivity") or {}).get("name"), problems),
        siret=siret,
        sender=sender,
        received_at=received_at,
        message=message,
        source_kind=source_kind,
        source_filename=source_filename,
        fields=fields,
        missing=list(missing),
        problems=list(problems),
        flags=[*flags, *(to_check_flag(item) for item in to_check)],
        supersedes=previous,
        created_at=now,
        updated_at=now,
    )
    session.add(proposal)
    session.flush()
    others = other_missions(session, proposal)
    if others:
        rule = "une seule offre sera proposée au choix des élèves"
        note = f"plusieurs missions proposées par la collectivité (aussi {', '.join(others)})\u00a0: {rule}"
        proposal.flags = [*proposal.flags, note]
    return Filed(proposal, previous, others)


def to_check_flag(item: str) -> dict[str, str]:
    """An item to check ("tutor.last_name: reason") as it is stored among a proposal's flags."""
    path, _, reason = item.partition(":")
    return {"to_check": path.strip(), "reason": reason.strip()}


def find_previous(
    session: Session,
    thread_reference: str | None,
    campaign: Campaign | None,
    siret: str | None,
    message: Message,
    title: str = "",
) -> Proposal | None:
    """The current version this new form replaces: by thread reference first, then by SIRET and mission."""
    query = select(Proposal).where(Proposal.message_pk != message.id).order_by(Proposal.version.desc())
    if thread_reference:
        found = session.scalars(query.where(Proposal.reference == thread_reference).limit(1)).first()
        if found is not None:
            return found
    if campaign is not None and siret:
        current = session.scalars(
            query.where(Proposal.campaign == campaign.id, Proposal.siret == siret, Proposal.status != "superseded")
            .order_by(Proposal.received_at.desc())
        ).all()
        return next((p for p in current if same_mission(mission_title(p.fields), title)), None)
    return None


def mission_title(fields: dict) -> str:
    """The mission's title as written in a form ("" when absent)."""
    return str((fields.get("mission") or {}).get("title") or "")


def same_mission(first: str, second: str) -> bool:
    """Two titles name the same mission: equal once case, accents, punctuation and spacing are set aside,
    or nearly so (a corrected typo); a form without a title is taken as the same mission."""
    a, b = _plain(first), _plain(second)
    if not a or not b:
        return True
    return a == b or difflib.SequenceMatcher(None, a, b).ratio() >= 0.9


def _plain(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    letters = "".join(c if c.isalnum() else " " for c in decomposed if not unicodedata.combining(c))
    return " ".join(letters.split())


def other_missions(session: Session, proposal: Proposal) -> list[str]:
    """The references of the collectivité's other current proposals in the same campaign."""
    if not proposal.siret or not proposal.campaign:
        return []
    return sorted(set(session.scalars(
        select(Proposal.reference).where(
            Proposal.campaign == proposal.campaign, Proposal.siret == proposal.siret,
            Proposal.status != "superseded", Proposal.reference != proposal.reference,
        )
    )))


def next_reference(session: Session, prefix: str, year: int) -> str:
    """The next reference of a series, e.g. PC-2025-0007 (atomic on SQLite and PostgreSQL)."""
    name = f"{prefix}-{year}"
    for _ in range(3):
        value = session.execute(
            update(Counter).where(Counter.name == name).values(value=Counter.value + 1).returning(Counter.value)
        ).scalar_one_or_none()
        if value is not None:
            return f"{name}-{value:04d}"
        try:
            with session.begin_nested():
                session.add(Counter(name=name, value=0))
        except IntegrityError:
            continue
    raise RuntimeError(f"could not allocate a reference in series {name}")


def collectivity_for(
    session: Session, siret: str | None, name: str | None, problems: Sequence[str]
) -> Collectivity | None:
    """The collectivité of a valid SIRET, created on first sight; None when the SIRET is absent or invalid."""
    if not siret or any(p.startswith("collectivity.siret") for p in problems):
        return None
    found = session.scalars(select(Collectivity).where(Collectivity.siret == siret)).first()
    if found is None:
        found = Collectivity(siret=siret, name=name)
        session.add(found)
    elif name:
        found.name = name
    return found


def filed_from(session: Session, message_pk: int) -> str | None:
    """The reference of the proposal (or offer) a mail gave, or None."""
    return session.scalars(select(Proposal.reference).where(Proposal.message_pk == message_pk)).first()


def refuse_if_filed(session: Session, message_pk: int) -> None:
    """AlreadyFiled (French, for staff) when the mail already gave a proposal or an offer: processed again,
    it would be filed a second time and acknowledged twice. Staff correct that proposal instead."""
    filed = filed_from(session, message_pk)
    if filed is not None:
        raise AlreadyFiled(f"ce courriel a déjà donné lieu à la proposition {filed}\u00a0: corrigez plutôt "
                           "cette proposition")


def set_status(session: Session, reference: str, status: str, now: datetime) -> tuple[str, Proposal]:
    """Record a staff decision (accepted, rejected, withdrawn) on the current version; return the old status."""
    current = session.scalars(
        select(Proposal).where(Proposal.reference == reference).order_by(Proposal.version.desc()).limit(1)
    ).first()
    if current is None:
        raise MailflowError(f"no proposal {reference}")
    previous, current.status, current.updated_at = current.status, status, now
    return previous, current


def thread_reference(session: Session, message_ids: Iterable[str], subject_refs: Iterable[str],
                     sender: str | None = None, internal_domains: Collection[str] = ()) -> str | None:
    """The proposal a reply belongs to: one of our mails it answers, or a known reference in its subject
    when `sender` is a correspondent of that proposal (`knows`). References follow each other and are
    easy to guess: a stranger's mail naming one must not become a new version of it."""
    ids = list(message_ids)
    if ids:
        found = session.execute(
            select(Proposal.reference)
            .join(OutboxMail, OutboxMail.proposal_pk == Proposal.id)
            .where(OutboxMail.message_id.in_(ids))
            .limit(1)
        ).scalar()
        if found:
            return found
    for reference in subject_refs:
        if knows(session, reference, sender, internal_domains):
            return reference
    return None


def knows(session: Session, reference: str, sender: str | None, internal_domains: Collection[str] = ()) -> bool:
    """Whether `sender` may write about a proposal: an address of its versions (their sender, the form's
    e-mails) or of the same domain, or one of the institute's own domains."""
    if not sender or "@" not in sender:
        return False
    sender = sender.lower()
    if is_internal(sender, internal_domains):
        return True
    domain = sender.rpartition("@")[2]
    known: set[str] = set()
    for version_sender, fields in session.execute(
            select(Proposal.sender, Proposal.fields).where(Proposal.reference == reference)):
        known.add((version_sender or "").lower())
        known.update(value.strip().lower() for section in (fields or {}).values() if isinstance(section, dict)
                     for value in section.values() if isinstance(value, str) and "@" in value)
    return any(address == sender or address.rpartition("@")[2] == domain for address in known if "@" in address)
