"""Mail staff handle on purpose: `mailflow import-history` (older proposals filed for the record) and
`mailflow mail reprocess` (a known mail read again).

Mail received before the handling line (the first watch, or `handle_since`) is history: the
daemon never touches it. An administrator who wants last years' proposals in the database runs
this once. Each mail goes through the same pipeline, dated by its arrival on the server (which
decides its campaign), with a hold that forbids any answer; nothing is sent, and the mail stays
where it is unless `move` is asked.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from mailflow.db.models import Message, MessageStep
from mailflow.errors import MailflowError
from mailflow.mail.mailbox import MailRef
from mailflow.mail.spool import opened
from mailflow.pipeline import history
from mailflow.pipeline.filing import refuse_if_filed
from mailflow.pipeline.placement import known_locations, move_to_folder, start_watching
from mailflow.pipeline.recording import record
from mailflow.pipeline.run import process

if TYPE_CHECKING:
    from mailflow.context import App


@dataclass
class ImportReport:
    """What an import did: mails read, verdicts, mails already known, and the line it stopped at."""

    line: datetime
    verdicts: Counter[str] = field(default_factory=Counter)
    known: int = 0
    moved: int = 0

    def __str__(self) -> str:
        verdicts = ", ".join(f"{n} {v}" for v, n in sorted(self.verdicts.items())) or "nothing new"
        return f"{verdicts}; already known: {self.known}; moved: {self.moved}; nothing sent"


def import_history(app: App, since: datetime, *, move: bool = False) -> ImportReport:
    """File the mails received from `since` up to the handling line, answering none of them."""
    line = start_watching(app)
    report = ImportReport(line=line)
    mailbox = app.mailbox
    refs = [r for r in mailbox.waiting(since=since) if r.received_at is None or history.is_history(r.received_at, line)]
    uidvalidity = mailbox.uidvalidity()
    with app.sessions() as session:
        known = known_locations(session, mailbox.name, uidvalidity, refs)
    fresh = [r for r in refs if r.uid not in known]
    report.known = len(refs) - len(fresh)
    for incoming in mailbox.fetch(fresh):
        when = incoming.received_at
        received = f"reçu le {when:%d/%m/%Y}" if when is not None else "date de réception inconnue"
        reason = (f"historique importé ({received}, avant le début du traitement automatique)\u00a0: "
                  "aucune réponse automatique")
        with opened(incoming.raw):
            pk = record(app, incoming, mailbox.name, uidvalidity, hold=reason)
            report.verdicts[process(app, pk, incoming.raw)] += 1
        if move:
            report.moved += move_to_folder(app, pk, incoming.ref)
        else:
            _leave(app, pk)
    return report


def _leave(app: App, pk: int) -> None:
    """Note that the mail stays in the watched folder, where staff keep their history."""
    with app.sessions.begin() as session:
        message = session.get_one(Message, pk)
        if message.state == "processed":
            message.state = history.LEFT
            session.add(MessageStep(message=message, step=history.LEFT, at=app.clock.now(),
                                    detail="historique importé\u00a0: laissé dans la boîte"))


def reprocess(app: App, message_id: str) -> Message:
    """`mailflow mail reprocess`: run a known mail through the pipeline again, on purpose.

    For a mail staff put back in the folder (or any mail they want read again): it is filed and
    answered as a new mail would be (the holds still apply: history, flagged answered), then
    moved to its folder if it is still in the watched one. A mail that already gave a proposal is
    refused (AlreadyFiled): staff correct that proposal instead.
    """
    wanted = message_id.strip()
    if not wanted.startswith("<"):
        wanted = f"<{wanted}>"
    with app.sessions.begin() as session:
        message = session.scalars(
            select(Message).where(func.lower(Message.message_id) == wanted.lower()).order_by(Message.id.desc())
        ).first()
        if message is None:
            raise MailflowError(f"no mail with Message-ID {wanted}")
        refuse_if_filed(session, message.id)
        was = message.state
        message.state = "recorded"
        session.add(MessageStep(message=message, step="reprocess", at=app.clock.now(),
                                detail=f"retraité à la demande de l'équipe (état précédent\u00a0: {was})"))
        pk, uid, where = message.id, message.uid, message.mailbox
    process(app, pk)
    if uid is not None and where == app.mailbox.name and was in history.STAYING:
        move_to_folder(app, pk, MailRef(key=str(uid), uid=uid, size=0))
    with app.sessions() as session:
        return session.get_one(Message, pk)
