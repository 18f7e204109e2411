"""Step 1 of a mail's path: its bytes archived and its row committed, before anything else happens;
and the history of its steps, one line each (`mailflow mail show`, the console)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailflow.db.models import Message, MessageStep
from mailflow.faults import checkpoint
from mailflow.mail.mailbox import IncomingMail
from mailflow.mail.parsing import header, parse_headers, storable
from mailflow.pipeline import history
from mailflow.pipeline.classify import message_id_of

if TYPE_CHECKING:
    from mailflow.context import App


def record(app: App, incoming: IncomingMail, mailbox: str, uidvalidity: int | None, hold: str | None = None) -> int:
    """Archive the raw bytes, then commit the mail's row; return its id. Idempotent.

    A mail already known by Message-ID and content (seen again after a UIDVALIDITY change,
    or delivered twice) keeps its first row; its new location is noted. One that staff put back
    in the folder after mailflow filed it is noted as such and stays there. `hold`: why this mail
    must never be answered (also when it is flagged \\Answered).
    """
    digest = app.archive.store(incoming.raw)
    checkpoint("archived")
    with app.sessions.begin() as session:
        return row_for(app, session, incoming, digest, mailbox, uidvalidity, hold).id


def row_for(app: App, session: Session, incoming: IncomingMail, digest: str, mailbox: str, uidvalidity: int | None,
         hold: str | None = None) -> Message:
    """The mail's row: the one already known by Message-ID and content, else a new one (see `record`)."""
    parsed = parse_headers(incoming.raw)
    message_id = storable(message_id_of(parsed, digest))[:998]
    now = app.clock.now()
    received = incoming.received_at or now  # a server that gives no INTERNALDATE
    existing = session.scalars(
        select(Message).where(Message.message_id == message_id, Message.content_hash == digest)
    ).first()
    if existing is not None:
        if (existing.mailbox, existing.uidvalidity, existing.uid) != (mailbox, uidvalidity, incoming.ref.uid):
            where = f"{mailbox} uidvalidity={uidvalidity} uid={incoming.ref.uid}"
            if existing.mailbox == mailbox and existing.uidvalidity == uidvalidity and history.was_put_back(
                existing, received, uidvalidity
            ):
                existing.state = history.RETURNED
                existing.uid = incoming.ref.uid
                step(session, existing, history.RETURNED, now, f"{history.RETURNED_BY_STAFF} ({where})\u00a0: "
                      "ni réponse ni nouveau classement\u00a0; mailflow mail reprocess pour le retraiter, "
                      "sauf s'il a donné une proposition (à corriger dans la console)")
                return existing
            step(session, existing, "seen-again", now, where)
            if existing.state == "recorded" and uidvalidity is not None:
                existing.mailbox, existing.uidvalidity, existing.uid = mailbox, uidvalidity, incoming.ref.uid
        return existing
    row = Message(
        mailbox=mailbox,
        uidvalidity=uidvalidity,
        uid=incoming.ref.uid,
        message_id=message_id,
        content_hash=digest,
        received_at=received,
        sender=storable(header(parsed, "From"))[:998],
        subject=storable(header(parsed, "Subject")),
        size=incoming.ref.size,
        truncated=incoming.truncated,
        state="recorded",
        created_at=now,
        attachments=[],  # a new mail has none yet, nor history: known without asking the database
        steps=[],
    )
    session.add(row)
    session.flush()
    step(session, row, "recorded", now, f"{len(incoming.raw)} octets archivés ({digest[:12]}…)")
    if incoming.ref.answered:
        history.hold(session, row, history.ANSWERED_BY_STAFF, now)
    if hold:
        history.hold(session, row, hold, now)
    return row


def step(session: Session, message: Message, name: str, at: datetime, detail: str | None = None) -> None:
    """Add one line to the mail's history (`mailflow mail show`, the console)."""
    session.add(MessageStep(message=message, step=name, at=at, detail=None if detail is None else storable(detail)))
