"""The offer stage of a mail: read each stage offer it carries, check it, file it (ST-…) and acknowledge it.

Runs inside the mail's transaction, like the filing of projets collectifs. Unlike them, a
collectivité may offer several stages: an offer never replaces another one of the same SIRET, only
a new offer sent in the thread of its own reference does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailflow.campaign.calendars import Calendar, Campaign, open_campaigns
from mailflow.db.models import Message, Proposal
from mailflow.pipeline.acknowledge import Original, acknowledge_proposal, answer_recipients
from mailflow.pipeline.classify import Verdict
from mailflow.pipeline.filing import file_proposal
from mailflow.pipeline.forms.definition import FormDefinition
from mailflow.pipeline.offers.checks import OfferCheck, check_offer
from mailflow.pipeline.offers.reading import OfferReading, french_period, read_offer
from mailflow.pipeline.offers.vocabulary import OFFER_FORM, Vocabulary, vocabulary
from mailflow.pipeline.recognise import Document

if TYPE_CHECKING:
    from mailflow.context import App


def offer_thread(session: Session, reference: str | None) -> str | None:
    """The thread's reference when it is an offer's (a projet collectif's thread does not take an offer)."""
    if not reference:
        return None
    form = session.scalars(select(Proposal.form).where(Proposal.reference == reference).limit(1)).first()
    return reference if form == OFFER_FORM else None


def file_offers(
    app: App,
    session: Session,
    original: Original,
    verdict: Verdict,
    documents: Sequence[Document],
    now: datetime,
    note: Callable[[Session, Message, str, datetime, str], None],
) -> list[str]:
    """File one offer per document; return "ST-2022-0001 v1 (complete)" for each. `note` adds a step."""
    message = original.message
    definition = app.forms[OFFER_FORM]
    words = vocabulary(definition)
    campaigns = open_campaigns(app.calendars.values(), OFFER_FORM, message.received_at)
    references = []
    for document in documents:
        calendar, after_deadline, reading, check = _read_in_its_campaign(
            document, definition, words, campaigns, message.received_at.astimezone(app.timezone))
        # Late: after the deadline of a stage it names; an offer that names none, after the campaign's.
        # A stage the brochure gives no deadline for is late only once it has begun (check_offer).
        late = bool(check.late) or (after_deadline and not reading.placements)
        for placement, stored in zip(reading.placements, reading.fields["placements"], strict=True):
            stored["late"] = placement in check.late
        campaign = Campaign(calendar.id, calendar.reference_prefix, calendar.reference_year, late) if calendar else None
        flags = [f"hors délai\u00a0: {p.stage_type.lower()} des {p.cadre}, "
                 + (f"offres attendues jusqu'au {p.offers_deadline:%d/%m/%Y}" if p.offers_deadline
                    else f"stage commencé le {p.starts:%d/%m/%Y}")
                 + f" ({french_period(p.starts, p.ends, p.starts_or, p.ends_or)})"
                 for p in check.late]
        recipients = answer_recipients(
            session, original, verdict, reading.fields, now, form=definition, internal_domains=app.internal_domains,
            daily_limit=app.settings.smtp.answers_per_sender_per_day, timezone=app.timezone,
        )
        filed = file_proposal(
            session, form=OFFER_FORM, fields=reading.fields, missing=check.missing, problems=check.problems,
            to_check=check.to_check, source_kind=document.source_kind, source_filename=document.filename,
            message=message, sender=recipients.sender, received_at=message.received_at, campaign=campaign,
            thread_reference=offer_thread(session, verdict.reference), now=now, flags=flags,
            one_per_collectivity=False,
        )
        proposal = filed.proposal
        references.append(f"{proposal.reference} v{proposal.version} ({proposal.status})")
        note(session, message, "filed", now, references[-1])
        if recipients.why_none is not None:
            note(session, message, "not-answered", now, recipients.why_none)
        elif acknowledge_proposal(app, session, filed, original, recipients, now):
            note(session, message, "answered", now, f"accusé de réception de {proposal.reference} mis en file")
    return references



def _read_in_its_campaign(
    document: Document, definition: FormDefinition, words: Vocabulary, campaigns: Sequence[tuple[Calendar, bool]],
    received_at: datetime,
) -> tuple[Calendar | None, bool, OfferReading, OfferCheck]:
    """The offer read and checked in the open campaign (`campaigns`, the last opened first) that has the stage
    it names: at the dates it gives, else still to come, else the last opened; with whether it came after
    that campaign's deadline. Next year's offers come in before this year's last stage. `received_at`: in the
    service's time zone (each campaign's own is used for its dates)."""
    if not campaigns:
        reading = read_offer(document, definition, None, words)
        return None, False, reading, check_offer(reading, definition, words, received_at.date())
    candidates = []
    for calendar, after_deadline in campaigns:
        reading = read_offer(document, definition, calendar, words)
        check = check_offer(reading, definition, words, received_at.astimezone(calendar.timezone).date())
        named = bool(reading.placements)
        at_its_dates = named and not any(note.startswith("stage.period:") for note in reading.to_check)
        rank = (at_its_dates, named and not check.late, named)
        candidates.append((rank, (calendar, after_deadline, reading, check)))
    return max(candidates, key=lambda candidate: candidate[0])[1]
