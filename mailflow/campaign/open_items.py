"""Open items as the digest shows them: the console's open items, with their words, link and first lines.

What is open is decided in one place, `mailflow.staff.open_items` (a question, a reply, a quarantined
mail or a mail put back that nobody closed; a send that failed): the digest lists each one until a
person closes it in the console, with its age, and links to it on the « À traiter » page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from mailflow.db.models import Message
from mailflow.mail.parsing import parse
from mailflow.mail.spool import opened
from mailflow.pipeline.archive import Archive
from mailflow.pipeline.extract.body import body_text, strip_quoted
from mailflow.staff import OpenItem
from mailflow.staff import open_items as console_open_items

KIND_FR = {
    "question": "Question",
    "reply": "Réponse",
    "quarantined": "Courriel en quarantaine",
    "put-back": "Courriel remis à traiter",
    "failed-send": "Envoi en échec",
}


@dataclass(frozen=True)
class Item:
    """An open item and what the digest says of it: what it is, its console page, the sender's first lines."""

    kind: str
    id: int
    at: datetime
    who: str
    subject: str
    reason: str
    kind_fr: str
    anchor: str
    excerpt: str


def open_items(session: Session, archive: Archive) -> list[Item]:
    """Every open item, oldest first, as the console's « À traiter » page lists them."""
    return [_item(session, archive, i) for i in console_open_items(session)]


def _item(session: Session, archive: Archive, item: OpenItem) -> Item:
    mail = item.kind != "failed-send"
    return Item(
        kind=item.kind,
        id=item.id,
        at=item.at,
        who=item.who,
        subject=item.subject,
        reason=item.reason,
        kind_fr=KIND_FR.get(item.kind, item.kind),
        anchor=f"/a-traiter#item-{item.kind}-{item.id}",
        excerpt=first_lines(archive, session.get(Message, item.id)) if mail and item.kind != "quarantined" else "",
    )


def first_lines(archive: Archive, message: Message | None, lines: int = 4, width: int = 300) -> str:
    """The first lines the sender wrote (quoted thread left out), for a question read from the digest."""
    if message is None:
        return ""
    try:
        with opened(archive.mail(message.content_hash)) as raw:
            text = body_text(parse(raw)) or ""
    except (OSError, KeyError, ValueError):
        return ""
    kept = [line.strip() for line in strip_quoted(text).splitlines() if line.strip()][:lines]
    joined = "\n".join(kept)
    return joined if len(joined) <= width else joined[: width - 1].rstrip() + "…"
