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


class Moves:
    """The last step of a pass's mails: told to the server a batch at a time (one command per folder),
    then noted in one transaction. A crash between the two loses nothing: the next pass finds the mails
    processed and either still waiting (moved again) or gone (`note_moved_elsewhere`)."""

    def __init__(self, app: App, size: int = 50):
        self.app, self.size = app, size
        self.pending: list[tuple[int, MailRef]] = []
        self.moved = 0

    def add(self, pk: int, ref: MailRef) -> None:
        """Queue the move of a mail (nothing happens to one not yet processed, or one that stays)."""
        self.pending.append((pk, ref))
        if len(self.pending) >= self.size:
            self.flush()

    def flush(self) -> None:
        """Move the queued mails to the folders of their verdicts, then note where each went."""
        pending, self.pending = self.pending, []
        if not pending:
            return
        app = self.app
        with app.sessions() as session:
            rows = {pk: (state, verdict) for pk, state, verdict in session.execute(
                select(Message.id, Message.state, Message.verdict).where(Message.id.in_([pk for pk, _ in pending])))}
        outcome: dict[int, str | None] = {}  # the folder moved to; None: stays (our own mail); "": gone
        by_folder: dict[str, list[tuple[int, MailRef]]] = {}
        for pk, ref in pending:
            state, verdict = rows.get(pk, ("recorded", None))
            if state == "recorded" or state in history.STAYING:
                continue
            if verdict == "own":
                outcome[pk] = None
                continue
            folder = app.folders[FOLDER_OF_VERDICT.get(verdict or "", ATTENTION)]
            by_folder.setdefault(folder, []).append((pk, ref))
        for folder, items in by_folder.items():
            moved = app.mailbox.move([ref for _, ref in items], folder)
            for pk, ref in items:
                checkpoint("moved")
                outcome[pk] = folder if ref.key in moved else ""
        if not outcome:
            return
        with app.sessions.begin() as session:
            now = app.clock.now()
            for message in session.scalars(select(Message).where(Message.id.in_(outcome))):
                folder = outcome[message.id]
                if folder is None:
                    message.state = history.LEFT
                    _note(session, message, history.LEFT, now, history.OWN_MAIL)
                elif not folder:
                    message.state = history.GONE
                    _note(session, message, history.GONE, now, "déplacé ou supprimé par l'équipe pendant son "
                          "traitement\u00a0: mailflow ne l'a pas classé")
                elif message.state != "moved":
                    message.state = "moved"
                    _note(session, message, "moved", now, folder)
        self.moved += sum(1 for folder in outcome.values() if folder)


def move_to_folder(app: App, pk: int, ref: MailRef) -> int:
    """Move one mail to the folder of its verdict and note it; 1 when mailflow moved it."""
    moves = Moves(app)
    moves.add(pk, ref)
    moves.flush()
    return moves.moved


def _note(session: Session, message: Message, name: str, at: datetime, detail: str) -> None:
    """Note a step of the mail's journey (`mailflow mail show`); our own French text, stored as is."""
    session.add(MessageStep(message=message, step=name, at=at, detail=detail))
