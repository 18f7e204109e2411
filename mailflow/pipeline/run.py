"""A mail's path through mailflow, in order: record, classify, extract, validate, file, answer, move.

The guarantees of DESIGN.md live here:
- a mail is archived and its row committed before the server is told anything;
- classification, extraction, filing and the answers it queues are one transaction;
- a mail that breaks a stage is quarantined with a French reason, and the next mail goes on;
- a step that did not finish (crash, restart) is resumed from the archive, never redone twice.
"""

from __future__ import annotations

import logging
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailflow.db.models import Attachment as AttachmentRow
from mailflow.db.models import Message, QuarantineEntry
from mailflow.errors import Discard, ExtractionError, Quarantine
from mailflow.faults import checkpoint
from mailflow.mail.french import count
from mailflow.mail.imap_support import batches
from mailflow.mail.mailbox import IncomingMail, MailRef
from mailflow.mail.parsing import header_date, parse, storable
from mailflow.mail.spool import RawMail, opened, read_mail
from mailflow.memory import release_free_memory
from mailflow.pipeline import history
from mailflow.pipeline.acknowledge import Original, acknowledge_message, acknowledge_proposal, recipients_for
from mailflow.pipeline.classify import Verdict, believable_date, classify_message, from_address
from mailflow.pipeline.extract import ExtractedForm
from mailflow.pipeline.extract.documents import walk
from mailflow.pipeline.filing import file_proposal, thread_reference
from mailflow.pipeline.offers.filing import file_offers
from mailflow.pipeline.placement import Moves, known_locations, note_moved_elsewhere, start_watching
from mailflow.pipeline.readers import Pending, Readers
from mailflow.pipeline.reading import read_proposals
from mailflow.pipeline.recording import record, row_for, step
from mailflow.pipeline.reply import complete_from_reply
from mailflow.pipeline.validate import validate_fields

if TYPE_CHECKING:
    from mailflow.context import App

log = logging.getLogger("mailflow.pipeline.run")

@dataclass
class PassReport:
    """What one pass over the mailbox did."""

    verdicts: Tally[str] = field(default_factory=Tally)
    moved: int = 0

    def __str__(self) -> str:
        parts = [f"{count} {verdict}" for verdict, count in sorted(self.verdicts.items())]
        return ", ".join(parts) or "nothing new"


# -- the mailbox pass --------------------------------------------------------------------------


def ingest_pass(app: App, keep_going: Callable[[], bool] = lambda: True, readers: Readers | None = None,
                after_mail: Callable[[], object] = lambda: None) -> PassReport:
    """Process every mail waiting in the mailbox, then move each to the folder staff expect.

    `keep_going()` is asked after each mail: the daemon stops there on SIGTERM (and feeds its watchdog).
    `readers` read the documents of a fetched batch ahead, in worker processes; without them each
    mail is read here, in turn. `after_mail()` runs once a mail is filed and its answers queued (committed):
    the daemon's sender sends them then, beside the pass, so that a long backlog is answered as it goes
    (on SQLite, the two threads take turns to write: `db.engine.WriteTurn`).
    """
    report = PassReport()
    mailbox = app.mailbox
    line = start_watching(app)
    refs = mailbox.waiting(since=line)
    uidvalidity = mailbox.uidvalidity()
    with app.sessions() as session:
        known = known_locations(session, mailbox.name, uidvalidity, refs)
    moves = Moves(app, app.settings.mailbox.batch_size)
    to_fetch = []
    for ref in refs:
        row = known.get(ref.uid) if ref.uid is not None else None
        if row is None or row[1] == "recorded":
            to_fetch.append(ref)
        elif row[1] not in history.STAYING:
            moves.add(row[0], ref)
    seen: set[int] = set()
    readers = readers or readers_here(app)
    chunks = batches(mailbox.fetch(to_fetch), app.settings.mailbox.batch_size, lambda mail: len(mail.raw))

    def fetch_and_start() -> list[tuple[IncomingMail, Pending]]:
        return [(incoming, readers.start(incoming.raw)) for incoming in next(chunks, [])]

    batch = fetch_and_start()
    while batch:
        upcoming: list[tuple[IncomingMail, Pending]] = []
        while batch:
            incoming, reading = batch.pop(0)
            if not batch:
                # The batch's last mail: the next batch is fetched and its reading started first, so that
                # the reader processes read while this mail is filed and the batch moved.
                upcoming = fetch_and_start()
            checkpoint("fetched")
            with opened(incoming.raw):
                pk, verdict = ingest_one(app, incoming, mailbox.name, uidvalidity, reading)
            checkpoint("processed")
            after_mail()
            report.verdicts[verdict] += 1
            moves.add(pk, incoming.ref)
            seen.add(pk)
            del incoming  # archived: nothing here needs its bytes any more
            if not keep_going():
                for _, rest in batch + upcoming:
                    rest.cancel()
                moves.flush()
                report.moved = moves.moved
                return report
        moves.flush()
        release_free_memory()
        batch = upcoming
    moves.flush()
    report.moved = moves.moved
    note_moved_elsewhere(app, mailbox.name, uidvalidity, {r.uid for r in refs if r.uid is not None}, seen)
    return report


def ingest_files(app: App, paths: Iterable[Path]) -> list[tuple[Path, str]]:
    """`mailflow ingest`: the same pipeline on .eml files; received time from a believable Date header, else now."""
    results = []
    for path in paths:
        with opened(read_mail(path)) as raw:
            received = believable_date(header_date(raw), app.clock.now()) or app.clock.now()
            incoming = IncomingMail(ref=MailRef(key=str(path), size=len(raw)), raw=raw, received_at=received)
            pk = record(app, incoming, "file", None)
        results.append((path, process(app, pk)))
    return results


def ingest_one(app: App, incoming: IncomingMail, mailbox: str, uidvalidity: int | None,
               reading: Pending | None = None) -> tuple[int, str]:
    """Archive a fetched mail, then record and process it in one transaction: (its id, its verdict).

    Nothing is told to the server before that commit: a crash before it leaves the mail waiting, to
    be fetched again. A stage that fails is rolled back to its savepoint and the mail quarantined in
    the same transaction. If the database refuses the transaction, the mail is recorded and processed
    in two, as `resume` would.
    """
    reading = reading or Pending(readers_here(app))
    # A worker reading the mail stores it too: its work is waited for here, not in the transaction, so
    # that the database is not held while a worker reads.
    digest = reading.stored(app.archive, incoming.raw)
    checkpoint("archived")
    try:
        with app.sessions.begin() as session:
            message = row_for(app, session, incoming, digest, mailbox, uidvalidity)
            checkpoint("recorded")
            if message.state != "recorded":
                return message.id, "duplicate"
            try:
                with session.begin_nested():
                    return message.id, _run_stages(app, session, message, incoming.raw, reading)
            except Exception as exc:  # noqa: BLE001 - one broken mail must never stop the daemon
                log.exception("mail #%s could not be processed; quarantined", message.id)
                _quarantine(app, session, message, _internal_error(exc))
                return message.id, "quarantined"
    except Exception:  # noqa: BLE001 - the database refused the transaction: the slower path
        log.exception("mail %s: recording and processing in one transaction failed; retried in two", incoming.ref)
        pk = record(app, incoming, mailbox, uidvalidity)
        return pk, process(app, pk, incoming.raw)


# -- steps 2 to 6: classify, extract, validate, file, answer (one transaction) ----------------------


def process(app: App, pk: int, raw: RawMail | None = None) -> str:
    """Run the stages on a recorded mail; return its verdict. Never raises for a bad mail.

    `raw` is the mail's bytes when the caller has them in hand (those `record` just archived);
    otherwise they are read back from the archive. Its documents are read here.
    """
    try:
        with app.sessions.begin() as session:
            message = session.get_one(Message, pk)
            if message.state != "recorded":
                return "duplicate"  # the same mail (Message-ID and content) was processed before
            return _run_stages(app, session, message, raw, Pending(readers_here(app)))
    except Exception as exc:  # noqa: BLE001 - one broken mail must never stop the daemon
        log.exception("mail #%s could not be processed; quarantined", pk)
        with app.sessions.begin() as session:
            _quarantine(app, session, session.get_one(Message, pk), _internal_error(exc))
        return "quarantined"


def readers_here(app: App) -> Readers:
    """Readers without workers: each mail is read in this process, when its reading is asked for."""
    return Readers(app.form, app.forms, app.limits, processes=0, read=read_proposals)


def _run_stages(app: App, session: Session, message: Message, raw: RawMail | None, reading: Pending) -> str:
    with opened(app.archive.mail(message.content_hash)) if raw is None else nullcontext(raw) as mail:
        verdict = _stages(app, session, message, mail, reading)
    filed = ", ".join(line.detail.split(" ", 1)[0] for line in message.steps if line.step == "filed" and line.detail)
    log.info("mail %s from %s: %s (%s)", message.message_id, message.sender, verdict, message.reason,
             extra={"message_id": message.message_id, "outcome": verdict, "reference": filed or None})
    return verdict


def _internal_error(exc: Exception) -> str:
    return (f"erreur interne lors du traitement ({exc.__class__.__name__})\u00a0: le message est conservé pour un "
            "traitement manuel")


def _stages(app: App, session: Session, message: Message, raw: RawMail, reading: Pending) -> str:
    now = app.clock.now()
    parsed = parse(raw)
    original = Original(message, parsed)
    try:
        if message.truncated:
            size_mb = message.size / 1_000_000
            raise Quarantine(f"message trop volumineux ({size_mb:.1f} Mo) : seuls ses en-têtes ont été conservés")
        if history.is_own_mail(parsed, app.message_id_domain):
            _finish(session, message, "own", history.OWN_MAIL, now)
            return "own"
        verdict = classify_message(
            parsed,
            own_addresses=app.own_addresses,
            own_domains=(app.message_id_domain,),
            internal_domains=app.internal_domains,
            thread_of=lambda ids, refs: thread_reference(session, ids, refs, from_address(parsed),
                                                         app.internal_domains),
            automatic=reading.automatic,
        )
        step(session, message, "classified", now, f"{verdict.kind}: {verdict.reason}")
        if verdict.kind == "ignored":
            raise Discard(verdict.reason)
        collected = walk(parsed)
        if not message.attachments:  # listed once (a mail processed again after a crash has them)
            message.attachments = [AttachmentRow(filename=f.filename, content_type=f.content_type, size=f.size,
                                                 content_hash=f.content_hash)
                                   for f in reading.files(app.archive, collected)]
        if verdict.kind == "internal":
            _finish(session, message, "question", verdict.reason, now)
            return "question"
        found = reading.result(parsed, collected)
        forms, offers, unreadable = found.forms, found.offers, found.unreadable
        step(session, message, "extracted", now, f"{count(len(forms), 'formulaire', 'formulaires')}, "
             f"{count(len(offers), 'offre', 'offres')} de stage, "
             f"{count(len(unreadable), 'document illisible', 'documents illisibles')}")
        if forms or offers:
            filed = _file_forms(app, session, message, original, verdict, forms, now) if forms else []
            filed += file_offers(app, session, original, verdict, offers, now, step) if offers else []
            _finish(session, message, "proposal", "proposition enregistrée : " + ", ".join(filed), now)
            return "proposal"
        if unreadable:
            items = [{"filename": u.filename or "(sans nom)", "reason": u.reason} for u in unreadable]
            reasons = " ; ".join(f"{i['filename']} : {i['reason']}" for i in items)
            _quarantine(app, session, message, f"document illisible — {reasons}")
            _answer(app, session, original, verdict, now, "collectivite/document-illisible", unreadable=items)
            return "quarantined"
        if verdict.kind == "reply":
            kind, left = complete_from_reply(app, session, message, original, verdict, parsed, now,
                                             lambda n, d: step(session, message, n, now, d))
            _finish(session, message, kind, f"réponse sans formulaire dans le fil de {verdict.reference}{left}", now)
            return kind
        _finish(session, message, "question", "question sans formulaire : à traiter par le service des stages", now)
        _answer(app, session, original, verdict, now, "collectivite/question-recue")
        return "question"
    except Discard as stop:
        _finish(session, message, "ignored", stop.reason, now)
        return "ignored"
    except (Quarantine, ExtractionError) as stop:
        _quarantine(app, session, message, stop.reason)
        return "quarantined"


def _file_forms(
    app: App,
    session: Session,
    message: Message,
    original: Original,
    verdict: Verdict,
    forms: Sequence[ExtractedForm],
    now: datetime,
) -> list[str]:
    match = app.campaign_for(app.form.name, message.received_at)
    several = len(forms) > 1
    references = []
    for form in forms:
        validation = validate_fields(form.fields, app.form, form.readings)
        recipients = recipients_for(app, session, original, verdict, form.fields, now)
        filed = file_proposal(
            session,
            form=app.form.name,
            fields=form.fields,
            missing=validation.missing, problems=validation.problems, to_check=validation.to_check,
            source_kind=form.source_kind,
            source_filename=form.filename,
            message=message,
            sender=recipients.sender,
            received_at=message.received_at,
            campaign=match,
            thread_reference=verdict.reference,
            now=now,
            flags=["plusieurs missions proposées dans le même envoi"] if several else [],
        )
        proposal = filed.proposal
        references.append(f"{proposal.reference} v{proposal.version} ({proposal.status})")
        step(session, message, "filed", now, references[-1])
        if recipients.why_none is None:
            if acknowledge_proposal(app, session, filed, original, recipients, now) is not None:
                step(session, message, "answered", now, f"accusé de réception de {proposal.reference} mis en file")
        else:
            step(session, message, "not-answered", now, recipients.why_none)
    return references


def _answer(
    app: App, session: Session, original: Original, verdict: Verdict, now: datetime, template: str, **extra: Any
) -> None:
    recipients = recipients_for(app, session, original, verdict, None, now)
    if recipients.why_none is not None:
        step(session, original.message, "not-answered", now, recipients.why_none)
        return
    if acknowledge_message(app, session, template, original, recipients, now, **extra) is not None:
        step(session, original.message, "answered", now, f"{template} mis en file")


def _quarantine(app: App, session: Session, message: Message, reason: str) -> None:
    now = app.clock.now()
    session.add(QuarantineEntry(message=message, reason=storable(reason), created_at=now))
    _finish(session, message, "quarantined", reason, now)


def _finish(session: Session, message: Message, verdict: str, reason: str, now: datetime) -> None:
    message.verdict = verdict
    message.reason = storable(reason)
    message.state = "processed"
    step(session, message, verdict, now, reason)


def resume(app: App) -> int:
    """Process mails recorded but not processed (after a crash); they are in the archive already."""
    with app.sessions() as session:
        pending = list(session.scalars(select(Message.id).where(Message.state == "recorded")))
    for pk in pending:
        process(app, pk)
    return len(pending)


