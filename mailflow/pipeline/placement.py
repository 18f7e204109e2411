"""Where a mail is: the ledger of locations in the watched folder, and the last step, the move.

A mail is known by (mailbox, UIDVALIDITY, UID) before any body is fetched; the pass moves it to
the folder of its verdict only once it is recorded. Some mails stay in the watched folder on
purpose (mailflow's own mail, history filed for the record, a mail staff put back), and a mail
staff moved or deleted while mailflow worked on it is noted as such.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailflow.db.models import Message, MessageStep
from mailflow.faults import checkpoint
from mailflow.mail.mailbox import MailRef
from mailflow.pipeline import history

if TYPE_CHECKING:
    from mailflow.context import App

# Which folder staff find a mail in, by verdict.
PROCESSED, ATTENTION, IGNORED = "processed", "attention", "ignored"
FOLDER_OF_VERDICT = {
    "proposal": PROCESSED,
    "reply": ATTENTION,
    "question": ATTENTION,
    "quarantined": ATTENTION,
    "ignored": IGNORED,
    "own": IGNORED,  # never moved: left in the watched folder for staff (see _move)
}


def start_watching(app: App) -> datetime:
    """The handling line: `handle_since`, or the first watch of the mailbox (noted now if this is it)."""
    with app.sessions.begin() as session:
        return history.watch(session, app.settings, app.mailbox.name, app.clock.now())


def note_moved_elsewhere(app: App, mailbox: str, uidvalidity: int | None, waiting: set[int], seen: set[int]) -> None:
    """Mails whose move was done but not noted (a crash right after it) are no longer waiting: note it."""
    query = select(Message).where(Message.mailbox == mailbox, Message.state == "processed")
    if uidvalidity is not None:
        query = query.where(Message.uidvalidity == uidvalidity, Message.uid.not_in(waiting))
    else:
        query = query.where(Message.id.not_in(seen))
    with app.sessions.begin() as session:
        for message in session.scalars(query):
            message.state = "moved"
            _note(session, message, "moved", app.clock.now(), "déjà hors du dossier surveillé")


def known_locations(
    session: Session, mailbox: str, uidvalidity: int | None, refs: list[MailRef]
) -> dict[int, tuple[int, str]]:
    """The known mails among `refs`, by UID: their id and state."""
    uids = [r.uid for r in refs if r.uid is not None]
    if not uids or uidvalidity is None:
        return {}
    rows = session.execute(
        select(Message.uid, Message.id, Message.state).where(
            Message.mailbox == mailbox, Message.uidvalidity == uidvalidity, Message.uid.in_(uids)
        )
    )
    return {uid: (pk, state) for uid, pk, state in rows}


def move_to_folder(app: App, pk: int, ref: MailRef) -> int:
    """Tell the server: move the mail to the folder of its verdict, then note it (after the commit).

    Our own mail stays where it is, unread; a mail staff moved or deleted meanwhile is noted as
    such. Returns 1 when mailflow moved it.
    """
    with app.sessions() as session:
        message = session.get_one(Message, pk)
        if message.state == "recorded" or message.state in history.STAYING:
            return 0
        stays = message.verdict == "own"
        folder = app.folders[FOLDER_OF_VERDICT.get(message.verdict or "", ATTENTION)]
    moved = False if stays else app.mailbox.move(ref, folder)
    checkpoint("moved")
    with app.sessions.begin() as session:
        message = session.get_one(Message, pk)
        if stays:
            message.state = history.LEFT
            _note(session, message, history.LEFT, app.clock.now(), history.OWN_MAIL)
        elif not moved:
            message.state = history.GONE
            _note(session, message, history.GONE, app.clock.now(),
                  "déplacé ou supprimé par l'équipe pendant son traitement\u00a0: mailflow ne l'a pas classé")
        elif message.state != "moved":
            message.state = "moved"
            _note(session, message, "moved", app.clock.now(), folder)
    return int(moved)


def _note(session: Session, message: Message, name: str, at: datetime, detail: str) -> None:
    """Note a step of the mail's journey (`mailflow mail show`); our own French text, stored as is."""
    session.add(MessageStep(message=message, step=name, at=at, detail=detail))
