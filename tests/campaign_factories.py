"""Factories for the calendar, reminder and digest tests: proposals filed straight into the database.

The whole pipeline is exercised by test_campaign_simulation.py; these helpers let the
scheduler tests put a proposal of a given status at a given time without mailing it.
"""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any

from sqlalchemy import select

from mailflow.context import App
from mailflow.db.models import Message, OutboxMail, Proposal
from mailflow.pipeline import filing
from tests.factories import collectivity

CAMPAIGN = "projet-collectif-2025-2026"
_serial = itertools.count(1)


def proposal_fields(values: dict[str, str]) -> dict[str, Any]:
    """The `fields` of a filed proposal from factories.collectivity() values."""
    return {
        "collectivity": {
            "name": values["name"],
            "siret": values["siret"],
            "address": values["address"],
            "hosting_address": values["hosting_address"],
            "hr_contact": values["hr_contact"],
            "hr_email": values["hr_email"] or None,
        },
        "dgs": {"last_name": "DURAND", "first_name": "Paul", "email": values["dgs_email"], "phone": None},
        "tutor": {
            "last_name": values["tutor_last_name"],
            "first_name": values["tutor_first_name"],
            "role": values["tutor_role"],
            "email": values["tutor_email"],
            "phone": "+33199001122",
        },
        "mission": {
            "title": values["title"],
            "context": values["context"],
            "stakes": values["stakes"],
            "objectives": values["objectives"],
            "cross_disciplinary_value": values["value"],
        },
        "logistics": {
            "accommodation": None,
            "practical_notes": None,
            "driving_licence_required": None,
            "public_transport": True,
        },
    }


def add_proposal(
    app: App,
    received_at: datetime,
    *,
    status: str = "complete",
    values: dict[str, str] | None = None,
    missing: tuple[str, ...] = (),
    campaign: str | None = CAMPAIGN,
    reference: str | None = None,
) -> str:
    """File a proposal (version 1, or the next version of `reference`) at the clock's time; its reference."""
    n = next(_serial)
    values = values or collectivity(500 + n)
    now = app.clock.now()
    with app.sessions.begin() as session:
        message = Message(
            mailbox="tests",
            uidvalidity=1,
            uid=n,
            message_id=f"<p{n}@tests.example.fr>",
            content_hash=f"{n:064d}",
            received_at=received_at,
            sender=values["sender"],
            subject="Proposition",
            size=100,
            state="done",
            verdict="proposal",
            created_at=now,
        )
        session.add(message)
        session.flush()
        previous = None
        if reference is not None:
            previous = session.scalars(
                select(Proposal).where(Proposal.reference == reference).order_by(Proposal.version.desc())
            ).first()
            assert previous is not None
            previous.status, previous.updated_at = "superseded", now
        ref = reference or f"PC-2025-{n:04d}"
        session.add(
            Proposal(
                reference=ref,
                form="projet_collectif",
                campaign=campaign,
                status=status,
                version=previous.version + 1 if previous else 1,
                late=status == "late",
                siret=values["siret"],
                sender=values["sender"],
                received_at=received_at,
                message_pk=message.id,
                source_kind="body",
                source_filename=None,
                fields=proposal_fields(values),
                missing=list(missing),
                problems=[],
                flags=[],
                supersedes=previous,
                created_at=now,
                updated_at=now,
            )
        )
    return ref


def set_status(app: App, reference: str, status: str) -> None:
    """A staff decision, as `mailflow proposals set-status` records it, at the app's clock time."""
    with app.sessions.begin() as session:
        filing.set_status(session, reference, status, app.clock.now())


def outbox(app: App, kind_prefix: str = "") -> list[OutboxMail]:
    """The outbox rows (optionally of templates starting with `kind_prefix`), oldest first."""
    with app.sessions() as session:
        rows = session.scalars(select(OutboxMail).order_by(OutboxMail.id)).all()
    return [row for row in rows if row.kind.startswith(kind_prefix)]
