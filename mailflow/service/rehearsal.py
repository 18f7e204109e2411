"""A rehearsal: one pass decided in full, with nothing changed (`run --once --dry-run`, `import-history --dry-run`).

Every side effect of a pass goes through three seams, and a rehearsal swaps each one:
- the mailbox: opened read-only (IMAP EXAMINE, BODY.PEEK, no folder created); a move is only
  described (`Move`) and never applied;
- the database: every transaction of the pass is a savepoint inside one outer transaction that
  is rolled back at the end, so the pass reads and decides as it would, and nothing is kept;
- the archive: bytes are hashed, never written. The outbox is never drained: no mail leaves.
What the pass decided (filed, answered, moved, left) is read back before the rollback.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from mailflow.campaign.due import run_due
from mailflow.context import App
from mailflow.db.models import Message, OutboxMail, Proposal
from mailflow.mail.mailbox import IncomingMail, Mailbox, MailRef, make_mailbox
from mailflow.mail.oauth import token_source_for
from mailflow.mail.spool import RawMail
from mailflow.pipeline.archive import Archive, content_hash, hashed
from mailflow.pipeline.placement import start_watching
from mailflow.pipeline.run import ingest_pass, resume


@dataclass(frozen=True)
class Move:
    """A move the pass decided: which mail, to which folder (described, not applied)."""

    key: str
    folder: str


class DescribingMailbox:
    """A read-only mailbox that describes the moves asked of it instead of making them."""

    def __init__(self, inner: Mailbox):
        self.inner = inner
        self.name = inner.name
        self.moves: list[Move] = []

    def connect(self) -> None:
        self.inner.connect()

    def close(self) -> None:
        self.inner.close()

    def uidvalidity(self) -> int | None:
        return self.inner.uidvalidity()

    def waiting(self, since: datetime | None = None) -> list[MailRef]:
        return self.inner.waiting(since)

    def fetch(self, refs: Sequence[MailRef]) -> Iterator[IncomingMail]:
        return self.inner.fetch(refs)

    def move(self, refs: Sequence[MailRef], folder: str) -> set[str]:
        self.moves.extend(Move(ref.key, folder) for ref in refs)
        return {ref.key for ref in refs}

    def wait(self, seconds: float, interrupted: Callable[[], bool] = lambda: False) -> None:
        self.inner.wait(seconds, interrupted)


class HashingArchive(Archive):
    """An archive that names bytes by their hash and keeps nothing new (reads still work)."""

    def store(self, data: RawMail) -> str:
        return content_hash(data)

    def store_chunks(self, chunks: Iterable[bytes]) -> tuple[str, int]:
        return hashed(chunks)


@dataclass
class Decisions:
    """What a rehearsed pass would have done, for the administrator to read."""

    filed: list[str] = field(default_factory=list)
    answered: list[str] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)
    mails: list[str] = field(default_factory=list)

    def lines(self) -> Iterator[str]:
        """The report, one line each, grouped."""
        for title, items in (("mails read", self.mails), ("would file", self.filed),
                             ("would send (answers, reminders, digest)", self.answered), ("would move", self.moved),
                             ("would leave in place", self.left)):
            yield f"{title}: {len(items)}"
            for item in items:
                yield f"  {item}"


def readonly_mailbox(app: App) -> Mailbox:
    """The app's mailbox opened to look only: IMAP EXAMINE, no folder created, nothing moved or cleaned."""
    if isinstance(app.mailbox, DescribingMailbox):
        return app.mailbox.inner
    if getattr(app.mailbox, "readonly", False):
        return app.mailbox
    settings = app.settings
    tokens = token_source_for(settings.mailbox) if settings.mailbox.auth == "oauth2" else None
    return make_mailbox(settings.mailbox, app.base, tokens, readonly=True, spool=app.archive.root)


def rehearse_once(app: App) -> list[str]:
    """`mailflow run --once --dry-run`: what one pass would file, send and move; nothing changes."""
    with rehearsal(app) as (dry, decided):
        resume(dry)
        line = start_watching(dry)
        ingest_pass(dry)
        run_due(dry)
        decisions = decided()
        everything = len(dry.mailbox.waiting())
        handled = len(dry.mailbox.waiting(since=line))
    lines = [f"dry run: nothing was changed (database, mailbox, outgoing mail); handling mail received since "
             f"{line.isoformat(timespec='seconds')}"]
    lines.append(f"left untouched: {everything - handled} older mail(s) in {app.settings.mailbox.folder} "
                 "(history: never moved nor answered; `mailflow import-history --since DATE` files them)")
    return lines + list(decisions.lines())


@contextlib.contextmanager
def rehearsal(app: App) -> Iterator[tuple[App, Callable[[], Decisions]]]:
    """An app for one rehearsed pass, and a function that reads what it decided (call it inside)."""
    mailbox = DescribingMailbox(readonly_mailbox(app))
    connection = app.engine.connect()
    outer = connection.begin()
    try:
        sessions = sessionmaker(bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint")
        with sessions() as session:
            marks = _marks(session)
        dry = dataclasses.replace(app, sessions=sessions, mailbox=mailbox, archive=HashingArchive(app.archive.root))
        yield dry, lambda: _decisions(sessions, marks, mailbox)
    finally:
        outer.rollback()
        connection.close()
        mailbox.close()


def _marks(session: Session) -> tuple[int, int, int]:
    """The highest ids before the pass: what is above them was decided by the pass."""
    return tuple(int(session.scalar(select(func.coalesce(func.max(model.id), 0))) or 0)  # type: ignore[return-value]
                 for model in (Message, Proposal, OutboxMail))


def _decisions(sessions: sessionmaker[Session], marks: tuple[int, int, int], mailbox: DescribingMailbox) -> Decisions:
    decisions = Decisions()
    with sessions() as session:
        messages = {m.id: m for m in session.scalars(select(Message).where(Message.id > marks[0]).order_by(Message.id))}
        uids = {str(m.uid): m for m in messages.values() if m.uid is not None}
        for message in messages.values():
            decisions.mails.append(f"{message.message_id or '(sans Message-ID)'} from {message.sender}: "
                                   f"{message.verdict or message.state} — {message.reason or ''}".rstrip(" —"))
            if message.state == "left":
                decisions.left.append(f"{message.message_id} ({message.reason})")
        for proposal in session.scalars(select(Proposal).where(Proposal.id > marks[1]).order_by(Proposal.id)):
            name = (proposal.fields.get("collectivity") or {}).get("name") or "?"
            campaign = proposal.campaign or "no campaign"
            decisions.filed.append(f"{proposal.reference} v{proposal.version} ({proposal.status}, {campaign}): {name}")
        for mail in session.scalars(select(OutboxMail).where(OutboxMail.id > marks[2]).order_by(OutboxMail.id)):
            decisions.answered.append(f"{mail.recipient}: {mail.kind} « {mail.subject} »")
        for move in mailbox.moves:
            known = uids.get(move.key)
            what = known.message_id if known is not None else f"mail {move.key}"
            decisions.moved.append(f"{what} → {move.folder}")
    return decisions
