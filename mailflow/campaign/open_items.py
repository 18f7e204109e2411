"""What waits for a person, read from the database: questions, replies, quarantined mails, failed sends.

An item is open as long as what it is about is: a mail classified as a question or a reply
(or quarantined) that nobody has closed, a send that failed. The digest lists every open item
until it is closed, with its age; links go to the console's « À traiter » page.
The staff console (`mailflow web`) closes items; until its model is on this branch an item is
closed by what the pipeline itself records (a released quarantined mail is no longer quarantined).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailflow.db.models import Message, OutboxMail
from mailflow.mail.parsing import parse
from mailflow.pipeline.archive import Archive
from mailflow.pipeline.extract.body import body_text, strip_quoted

OPEN_VERDICTS = ("question", "reply", "quarantined")
KIND_FR = {
    "question": "Question",
    "reply": "Réponse",
    "quarantined": "Courriel en quarantaine",
    "put-back": "Courriel remis à traiter",
    "failed-send": "Envoi en échec",
}


@dataclass(frozen=True)
class OpenItem:
    """Something that waits for a person, until someone closes it."""

    kind: str  # question, reply, quarantined, put-back, failed-send
    id: int
    at: datetime
    who: str
    subject: str
    reason: str
    content_hash: str | None = None

    @property
    def kind_fr(self) -> str:
        """What it is, in French (« Question », « Envoi en échec »)."""
        return KIND_FR.get(self.kind, self.kind)

    @property
    def anchor(self) -> str:
        """Its place on the console's « À traiter » page."""
        return f"/a-traiter#item-{self.kind}-{self.id}"


def open_items(session: Session) -> list[OpenItem]:
    """Open items, oldest first: mails needing a human and sends that failed."""
    mails = session.scalars(
        select(Message).where(Message.verdict.in_(OPEN_VERDICTS)).order_by(Message.received_at, Message.id)
    )
    items = [
        OpenItem(m.verdict or "question", m.id, m.received_at, m.sender, m.subject, m.reason or "", m.content_hash)
        for m in mails
    ]
    failed = session.scalars(
        select(OutboxMail).where(OutboxMail.status == "failed").order_by(OutboxMail.created_at, OutboxMail.id)
    )
    items += [OpenItem("failed-send", o.id, o.created_at, o.recipient, o.subject, o.last_error or "") for o in failed]
    return items


def first_lines(archive: Archive, item: OpenItem, lines: int = 4, width: int = 300) -> str:
    """The first lines the sender wrote (quoted thread left out), for a question read from the digest."""
    if item.content_hash is None or item.kind == "quarantined":
        return ""
    try:
        text = body_text(parse(archive.load(item.content_hash))) or ""
    except (OSError, KeyError, ValueError):
        return ""
    kept = [line.strip() for line in strip_quoted(text).splitlines() if line.strip()][:lines]
    joined = "\n".join(kept)
    return joined if len(joined) <= width else joined[: width - 1].rstrip() + "…"
