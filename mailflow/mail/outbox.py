"""The outbox: outgoing mails as rows, written with their cause, sent later with retries.

`enqueue` adds a row inside the caller's transaction, so a filing and its acknowledgement
are committed together or not at all; the (cause, kind, recipient) key makes a second
enqueue of the same answer a no-op. `drain` sends what is due: the due rows are first claimed,
a batch in one commit, by a conditional UPDATE (one daemon wins each row, also with two daemons on
one PostgreSQL), then handed to the transport one by one; every attempt is recorded, failures are
retried with exponential backoff and jitter, and after `max_attempts` the row is `failed` and shown
to staff.

States: pending → sending (claimed) → sent | pending (retry later) | failed.
A claimed row names its claimer (`claimed_by`: host, pid and a token of this process). A row
left in `sending` by a crash is claimed again once its lease has passed, or at once when a
daemon takes the lead (`release_claims_of_others`): the mail may then reach its recipient
twice, with the same Message-ID (clients show it once); the alternative would be to lose it.
"""

from __future__ import annotations

import logging
import os
import random
import secrets
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from email import policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.utils import getaddresses, parseaddr
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, defer, sessionmaker

from mailflow.clock import Clock
from mailflow.db.models import OutboxAttempt, OutboxMail, Proposal
from mailflow.errors import MailflowError, RecipientRefused, ServerUnreachable
from mailflow.faults import checkpoint
from mailflow.mail.compose import one_line
from mailflow.mail.transport import Transport
from mailflow.pipeline.archive import Archive

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=15)
FIRST_RETRY = timedelta(minutes=1)
LONGEST_WAIT = timedelta(hours=6)
BATCH = 50
ANSWER_CAUSES = ("message:", "proposal:")
_RNG = random.Random()
# Who claims rows from this process; the token tells a restarted daemon from a dead one with the same pid.
CLAIMER = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"[:200]


@dataclass(frozen=True)
class Claimed:
    """An outbox row this process has leased and is about to send."""

    id: int
    recipient: str
    raw: bytes


@dataclass(frozen=True)
class DrainReport:
    """What one drain did: mails sent, mails to retry later, mails given up, and why it stopped early."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    stopped: str | None = None

    def __str__(self) -> str:
        text = f"sent {self.sent}, to retry {self.retried}, failed {self.failed}"
        return f"{text} (stopped: {self.stopped})" if self.stopped else text


def normalise_recipient(recipient: str) -> str:
    """The bare, lower-cased address the outbox keys and counts on (`Name <A@B.fr>` → `a@b.fr`)."""
    return (parseaddr(recipient)[1] or recipient).strip().lower()


def enqueue(
    session: Session,
    *,
    cause: str,
    kind: str,
    recipient: str,
    mail: EmailMessage,
    now: datetime,
    proposal: Proposal | None = None,
) -> int | None:
    """Add `mail` to the outbox in the caller's transaction: the new row's id, or None (nothing added)
    if that key exists.

    The key is (cause, kind, recipient): `cause` names what made the mail necessary
    (`message:12`, `reminder:projet-collectif-2025-2026:rappel-date-limite`, `digest:2025-06-21`),
    so replaying the cause never queues a second mail. Nothing is committed here.
    """
    address = normalise_recipient(recipient)
    return session.scalar(
        _dialect_insert(session)(OutboxMail)
        .values(
            cause=cause[:200],
            kind=kind[:100],
            recipient=address[:320],
            subject=one_line(str(mail.get("Subject", "")), 998),
            message_id=str(mail.get("Message-ID", "")).strip(),
            raw=mail.as_bytes(policy=mail.policy.clone(linesep="\r\n")),
            status="pending",
            attempts=0,
            next_attempt_at=now,
            proposal_pk=proposal.id if proposal is not None else None,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["cause", "kind", "recipient"])
        .returning(OutboxMail.id)
    )


def _dialect_insert(session: Session):  # noqa: ANN202 - sqlite.insert or postgresql.insert
    """INSERT with ON CONFLICT, as the session's database spells it."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def answers_today(
    session: Session,
    recipient: str,
    now: datetime,
    tz: str | tzinfo,
    causes: Sequence[str] = ANSWER_CAUSES,
) -> int:
    """How many automatic answers (mails caused by a received mail) `recipient` was given today.

    "Today" is the local calendar day of `now` in `tz`; reminders and digests do not count.
    """
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    local = now.astimezone(zone)
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    end = start + timedelta(days=1)
    query = select(func.count()).select_from(OutboxMail).where(
        OutboxMail.recipient == normalise_recipient(recipient),
        OutboxMail.created_at >= start,
        OutboxMail.created_at < end,
        or_(*(OutboxMail.cause.startswith(prefix) for prefix in causes)),
    )
    return int(session.scalar(query) or 0)


def backoff(attempts: int, rng: random.Random | None = None) -> timedelta:
    """Wait before try number `attempts + 1`: 1 min, 2, 4… capped at 6 h, with ±20 % jitter."""
    base = min(FIRST_RETRY * (2 ** max(attempts - 1, 0)), LONGEST_WAIT)
    return base * (rng or _RNG).uniform(0.8, 1.2)


def drain(
    sessions: sessionmaker[Session],
    transport: Transport,
    clock: Clock,
    archive: Archive | None = None,
    *,
    max_attempts: int = 12,
    rng: random.Random | None = None,
    keep_open: bool = False,
) -> DrainReport:
    """Send every outbox row that is due now; safe to run from two processes at once.

    A server that cannot be reached stops the drain (the other rows wait, their attempts
    uncounted) and never makes a mail fail, however long the outage; a mail refused for good
    fails at once; other errors are retried with backoff until `max_attempts`. Sent mails are
    also stored in `archive`. `keep_open`: the connection to the server is left open for the next
    drain (the caller closes the transport), else it is closed at the end.
    """
    sent = retried = failed = 0
    skip: set[int] = set()
    try:
        while True:
            claimed = _claim(sessions, clock.now(), skip)
            if not claimed:
                return DrainReport(sent, retried, failed)
            skip.update(row.id for row in claimed)
            checkpoint("claimed")
            try:
                while claimed:
                    row = claimed.pop(0)
                    outcome, next_is_ours = _send_one(sessions, transport, clock, archive, row,
                                                      claimed[0].id if claimed else None, max_attempts, rng)
                    if outcome == "sent":
                        sent += 1
                    elif outcome == "failed":
                        failed += 1
                    else:
                        retried += 1
                    if isinstance(outcome, ServerUnreachable):
                        return DrainReport(sent, retried, failed, stopped=str(outcome))
                    if not next_is_ours:  # its lease lapsed (a slow server), or a new leader handed it out
                        break
            finally:
                _release(sessions, [rest.id for rest in claimed], clock.now())
    finally:
        if not keep_open:
            hang_up(transport)


def hang_up(transport: Transport) -> None:
    """Close the transport's connection to the server, if it keeps one."""
    close = getattr(transport, "close", None)
    if callable(close):
        close()


@dataclass(frozen=True)
class Outbox:
    """The outbox bound to one database, transport, clock and archive, to `drain` (rows are added by `enqueue`)."""

    sessions: sessionmaker[Session]
    transport: Transport
    clock: Clock
    archive: Archive | None = None
    max_attempts: int = 12

    def drain(self, rng: random.Random | None = None, keep_open: bool = False) -> DrainReport:
        """Send every row due now (see `drain`)."""
        return drain(self.sessions, self.transport, self.clock, self.archive, max_attempts=self.max_attempts,
                     rng=rng, keep_open=keep_open)

    def hang_up(self) -> None:
        """Close the connection a drain left open (`keep_open`)."""
        hang_up(self.transport)


def _claim(sessions: sessionmaker[Session], now: datetime, skip: set[int]) -> list[Claimed]:
    """Take up to BATCH due rows (waiting to be sent, or claimed by a drain whose lease has passed; oldest
    due first, none of `skip`) for this process, with their bytes, in one commit: a row moves from due
    to leased in one conditional UPDATE, which only one process can win. On PostgreSQL the rows are
    locked in that order and those another drain is claiming are skipped, so two drains never wait on
    each other (nor deadlock); SQLite has one writer at a time anyway."""
    due = (
        select(OutboxMail.id)
        .where(OutboxMail.status.in_(("pending", "sending")), OutboxMail.next_attempt_at <= now,
               OutboxMail.id.not_in(skip))
        .order_by(OutboxMail.next_attempt_at, OutboxMail.id)
        .limit(BATCH)
        .with_for_update(skip_locked=True)
    )
    with sessions.begin() as session:
        taken = session.execute(
            update(OutboxMail)
            .where(OutboxMail.id.in_(due.scalar_subquery()))
            .values(status="sending", next_attempt_at=now + LEASE, claimed_by=CLAIMER)
            .returning(OutboxMail.id, OutboxMail.recipient, OutboxMail.raw)
            .execution_options(synchronize_session=False)
        ).all()
    return sorted((Claimed(*row) for row in taken), key=lambda row: row.id)


def _release(sessions: sessionmaker[Session], row_ids: list[int], now: datetime) -> None:
    """Give back rows claimed and not tried (the server went away, or an error stopped the drain): due
    again now, their attempts uncounted. If the database refuses, they wait for their lease."""
    if not row_ids:
        return
    try:
        with sessions.begin() as session:
            session.execute(
                update(OutboxMail)
                .where(OutboxMail.id.in_(row_ids), OutboxMail.status == "sending", OutboxMail.claimed_by == CLAIMER)
                .values(status="pending", next_attempt_at=now, claimed_by=None)
                .execution_options(synchronize_session=False)
            )
    except SQLAlchemyError as exc:
        log.warning("outbox: %s claimed mails not given back (%s); they are sent once their lease has passed",
                    len(row_ids), exc)


def _still_ours(session: Session, row_id: int, now: datetime) -> bool:
    """Renew this process's lease on a row it claimed and is about to send: False when the lease has
    lapsed, or a new leader made the row due again (`release_claims_of_others`), or another took it."""
    renewed = session.execute(
        update(OutboxMail)
        .where(OutboxMail.id == row_id, OutboxMail.status == "sending", OutboxMail.claimed_by == CLAIMER,
               OutboxMail.next_attempt_at > now)
        .values(next_attempt_at=now + LEASE)
        .execution_options(synchronize_session=False)
    )
    return renewed.rowcount == 1


def _send_one(
    sessions: sessionmaker[Session],
    transport: Transport,
    clock: Clock,
    archive: Archive | None,
    row: Claimed,
    next_id: int | None,
    max_attempts: int,
    rng: random.Random | None,
) -> tuple[str | ServerUnreachable, bool]:
    """Send one claimed row and record the attempt; in the same commit, renew the claim of the batch's
    next row (`next_id`): (the outcome, whether that next row is still this process's to send)."""
    raw = row.raw
    sender, recipients = envelope(raw, row.recipient)
    error: Exception | None = None
    try:
        transport.send(raw, sender, recipients)
    except MailflowError as exc:
        error = exc
    except Exception as exc:  # a bug in a transport must not stop the service or lose the mail
        log.exception("outbox #%s: unexpected error from the transport", row.id)
        error = exc
    if error is None:
        _keep(archive, row.id, raw)  # before the transaction, which holds the database as short as it can
    now = clock.now()
    with sessions.begin() as session:
        next_is_ours = next_id is None or _still_ours(session, next_id, now)
        current = session.get(OutboxMail, row.id, options=[defer(OutboxMail.raw)])  # in hand already
        if current is None:
            return "failed", next_is_ours
        current.attempts += 1
        if error is None:
            current.status, current.sent_at, current.last_error = "sent", now, None
            session.add(OutboxAttempt(outbox_pk=current.id, at=now, error=None))
            log.info("outbox #%s sent to %s (%s)", current.id, current.recipient, current.kind)
            return "sent", next_is_ours
        text = f"{type(error).__name__}: {error}"
        current.last_error = text
        session.add(OutboxAttempt(outbox_pk=current.id, at=now, error=text))
        outage = isinstance(error, ServerUnreachable)
        if isinstance(error, RecipientRefused) or (current.attempts >= max_attempts and not outage):
            current.status = "failed"
            log.warning("outbox #%s to %s failed for good: %s", current.id, current.recipient, text)
            return "failed", next_is_ours
        current.status = "pending"
        current.next_attempt_at = now + backoff(current.attempts, rng)
        log.info("outbox #%s to %s: %s; next try %s", current.id, current.recipient, text,
                 current.next_attempt_at.isoformat(timespec="seconds"))
    return (error if isinstance(error, ServerUnreachable) else "retried"), next_is_ours


def _keep(archive: Archive | None, row_id: int, raw: bytes) -> None:
    if archive is None:
        return
    try:
        archive.store(raw)
    except OSError as exc:
        log.error("outbox #%s was sent but could not be archived: %s", row_id, exc)


def envelope(raw: bytes, recipient: str) -> tuple[str, list[str]]:
    """SMTP envelope of a stored mail: the From address, and the outbox recipient plus To and Cc."""
    headers = BytesHeaderParser(policy=policy.compat32).parsebytes(raw)
    sender = parseaddr(str(headers.get("From", "")))[1]
    recipients = [recipient]
    for _, address in getaddresses([str(v) for v in headers.get_all("To", []) + headers.get_all("Cc", [])]):
        if address and address.lower() not in (r.lower() for r in recipients):
            recipients.append(address)
    return sender, recipients


def release_claims_of_others(session: Session, now: datetime, claimer: str = CLAIMER) -> int:
    """Make due now every row another process claimed and did not finish (not committed).

    Called when a daemon takes the lead: with one daemon, any other claimer is a process that
    died; with several, the one that led is dead or lost its lock. Without this, such a mail
    would wait for its 15-minute lease.
    """
    result = session.execute(
        update(OutboxMail)
        .where(OutboxMail.status == "sending", or_(OutboxMail.claimed_by.is_(None), OutboxMail.claimed_by != claimer))
        .values(next_attempt_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)


def retry(session: Session, now: datetime, ids: Sequence[int] = ()) -> int:
    """Make failed mails, and those waiting for their next try, due now with a fresh count of attempts."""
    query = update(OutboxMail).where(OutboxMail.status.in_(("failed", "pending")))
    if ids:
        query = query.where(OutboxMail.id.in_(list(ids)))
    result = session.execute(query.values(status="pending", attempts=0, next_attempt_at=now))
    return int(result.rowcount or 0)
