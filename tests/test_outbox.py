"""The outbox on SQLite and PostgreSQL: idempotent enqueue, drain with retries, nothing lost or sent twice."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from mailflow.clock import ManualClock
from mailflow.db import engine as db
from mailflow.db.models import OutboxAttempt, OutboxMail
from mailflow.errors import TransportError
from mailflow.mail.compose import RenderedMail, compose
from mailflow.mail.outbox import answers_today, backoff, drain, enqueue, envelope, retry
from mailflow.mail.transport import SmtpTransport
from mailflow.pipeline.archive import Archive, content_hash
from tests.fixtures.smtp import SmtpServer

START = datetime(2025, 6, 10, 7, 45, tzinfo=UTC)
RH = "rh@saint-test.fr"


@pytest.fixture
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    """Sessions on a fresh database at the latest migration."""
    engine = db.make_engine(db_url)
    db.upgrade(engine)
    try:
        yield db.session_factory(engine)
    finally:
        engine.dispose()


def mail(to: str = "rh@saint-test.fr", subject: str = "[PC-2025-0001] Accusé de réception",
         cc: tuple[str, ...] = ()) -> EmailMessage:
    rendered = RenderedMail(subject, "Nous accusons réception de votre proposition.\n", "<p>Bien reçu.</p>")
    return compose(rendered, sender="INET - Stages <stages.inet@cnfpt.fr>", to=[to], cc=cc,
                   message_id_domain="cnfpt.fr", now=START)


def queue(sessions: sessionmaker[Session], count: int, now: datetime = START, cause: str = "message") -> None:
    with sessions.begin() as session:
        for number in range(count):
            address = f"rh{number}@saint-test.fr"
            row = enqueue(session, cause=f"{cause}:{number}", kind="collectivite/accuse-reception",
                          recipient=address, mail=mail(address), now=now)
            assert row is not None


def rows(sessions: sessionmaker[Session]) -> list[OutboxMail]:
    with sessions() as session:
        return list(session.scalars(select(OutboxMail).order_by(OutboxMail.id)))


def smtp_transport(server: SmtpServer) -> SmtpTransport:
    return SmtpTransport(server.host, server.port, security="none", timeout=5)


def test_enqueue_is_idempotent_by_cause_kind_recipient(sessions: sessionmaker[Session]) -> None:
    """The same (cause, kind, recipient) queued twice, even with another case, gives one row."""
    with sessions.begin() as session:
        first = enqueue(session, cause="message:1", kind="collectivite/accuse-reception",
                        recipient="RH@Saint-Test.fr", mail=mail(), now=START)
        again = enqueue(session, cause="message:1", kind="collectivite/accuse-reception",
                        recipient="Service RH <rh@saint-test.fr>", mail=mail(), now=START)
        other = enqueue(session, cause="message:1", kind="collectivite/accuse-reception",
                        recipient="dgs@saint-test.fr", mail=mail("dgs@saint-test.fr"), now=START)
    assert first is not None and other is not None and again is None
    with sessions.begin() as session:
        later = enqueue(session, cause="message:1", kind="collectivite/accuse-reception",
                        recipient="rh@saint-test.fr", mail=mail(), now=START + timedelta(days=1))
    assert later is None
    assert [(r.recipient, r.status, r.subject) for r in rows(sessions)] == [
        ("rh@saint-test.fr", "pending", "[PC-2025-0001] Accusé de réception"),
        ("dgs@saint-test.fr", "pending", "[PC-2025-0001] Accusé de réception"),
    ]


def test_enqueue_belongs_to_the_callers_transaction(sessions: sessionmaker[Session]) -> None:
    """A rolled-back cause leaves no outbox row behind."""
    with sessions() as session:
        enqueue(session, cause="message:1", kind="k", recipient="rh@saint-test.fr", mail=mail(), now=START)
        session.rollback()
    assert rows(sessions) == []


def test_concurrent_enqueue_of_the_same_key_keeps_one_row(sessions: sessionmaker[Session]) -> None:
    """Two transactions queue the same answer; the second commit finds it and adds nothing."""
    first, second = sessions(), sessions()
    try:
        key = {"cause": "message:7", "kind": "k", "recipient": "rh@saint-test.fr"}
        assert enqueue(first, **key, mail=mail(), now=START) is not None
        first.commit()
        assert enqueue(second, **key, mail=mail(), now=START) is None
        second.commit()
    finally:
        first.close()
        second.close()
    assert len(rows(sessions)) == 1


def test_drain_sends_each_mail_once_and_archives_it(
    sessions: sessionmaker[Session], smtp: SmtpServer, tmp_path: Path
) -> None:
    """Due mails reach the server once, are marked sent with one attempt, and are kept in the archive."""
    queue(sessions, 3)
    clock = ManualClock(START)
    archive = Archive(tmp_path / "archive")
    report = drain(sessions, smtp_transport(smtp), clock, archive)
    assert (report.sent, report.retried, report.failed) == (3, 0, 0)
    assert drain(sessions, smtp_transport(smtp), clock, archive).sent == 0
    received = smtp.wait_for(3)
    assert sorted(m.rcpt_tos[0] for m in received) == [f"rh{n}@saint-test.fr" for n in range(3)]
    assert all(m.mail_from == "stages.inet@cnfpt.fr" for m in received)
    for row in rows(sessions):
        assert (row.status, row.attempts, row.sent_at) == ("sent", 1, START)
        assert content_hash(row.raw) in archive
    with sessions() as session:
        assert [a.error for a in session.scalars(select(OutboxAttempt))] == [None, None, None]


def test_a_drain_that_keeps_the_connection_leaves_it_to_the_next_drain(
    sessions: sessionmaker[Session], smtp: SmtpServer
) -> None:
    """Drains that keep the connection open (the daemon's, one after each mail filed) send over one SMTP
    connection; a drain that does not closes its own, and the next one connects again."""
    clock = ManualClock(START)
    transport = smtp_transport(smtp)
    for cause in ("first", "second"):
        queue(sessions, 1, cause=cause)
        assert drain(sessions, transport, clock, keep_open=True).sent == 1
    transport.close()
    queue(sessions, 1, cause="third")
    assert drain(sessions, transport, clock).sent == 1
    queue(sessions, 1, cause="fourth")
    assert drain(sessions, transport, clock).sent == 1
    peers = [m.peer for m in smtp.wait_for(4)]
    assert None not in peers
    assert peers[0] == peers[1] and len({peers[1], peers[2], peers[3]}) == 3


def test_smtp_outage_loses_nothing_and_sends_nothing_twice(
    sessions: sessionmaker[Session], smtp: SmtpServer
) -> None:
    """Server down for hours: every mail waits; once it is back every mail arrives exactly once."""
    queue(sessions, 5)
    clock = ManualClock(START)
    rng = random.Random(5)
    smtp.stop()
    for _ in range(4):
        report = drain(sessions, smtp_transport(smtp), clock, rng=rng)
        assert report.sent == 0 and report.stopped is not None
        clock.advance(timedelta(hours=1))
    assert {r.status for r in rows(sessions)} == {"pending"}
    smtp.start()
    clock.advance(timedelta(hours=7))
    report = drain(sessions, smtp_transport(smtp), clock, rng=rng)
    assert report.sent == 5
    clock.advance(timedelta(days=2))
    assert drain(sessions, smtp_transport(smtp), clock, rng=rng).sent == 0
    received = smtp.wait_for(5)  # the drains above returned: a mail sent twice would be here already
    assert sorted(m.rcpt_tos[0] for m in smtp.messages) == sorted(m.rcpt_tos[0] for m in received)
    assert len({m.message["Message-ID"] for m in smtp.messages}) == 5 == len(smtp.messages)
    assert all(r.status == "sent" and r.last_error is None for r in rows(sessions))
    assert max(r.attempts for r in rows(sessions)) <= 5


def test_mails_claimed_before_an_outage_are_given_back_untried(
    sessions: sessionmaker[Session], smtp: SmtpServer
) -> None:
    """A drain claims its batch at once; when the server goes away at the first mail, the others are given
    back at once, untried, and go as soon as it answers again, not after their 15-minute lease."""
    queue(sessions, 4)
    clock = ManualClock(START)
    smtp.stop()
    assert drain(sessions, smtp_transport(smtp), clock, rng=random.Random(1)).stopped is not None
    untried = [r for r in rows(sessions) if r.attempts == 0]
    assert len(untried) == 3
    assert all(r.status == "pending" and r.claimed_by is None and r.next_attempt_at == START for r in untried)
    smtp.start()
    assert drain(sessions, smtp_transport(smtp), clock).sent == 3
    assert len(smtp.wait_for(3)) == 3


def test_week_long_outage_fails_no_mail(sessions: sessionmaker[Session], smtp: SmtpServer) -> None:
    """However many drains meet a dead server, no mail is given up; all go once it answers again."""
    queue(sessions, 3)
    clock = ManualClock(START)
    smtp.stop()
    for _ in range(7 * 24):
        drain(sessions, smtp_transport(smtp), clock, max_attempts=2)
        clock.advance(timedelta(hours=1))
    assert {r.status for r in rows(sessions)} == {"pending"}
    smtp.start()
    clock.advance(timedelta(hours=7))
    assert drain(sessions, smtp_transport(smtp), clock, max_attempts=2).sent == 3
    assert len(smtp.wait_for(3)) == 3


def test_temporary_refusal_is_retried_with_backoff(sessions: sessionmaker[Session], smtp: SmtpServer) -> None:
    """A 4xx records the error, waits about a minute, then the mail is sent on the next due drain."""
    queue(sessions, 1)
    clock = ManualClock(START)
    smtp.refuse_next(1)
    report = drain(sessions, smtp_transport(smtp), clock, rng=random.Random(1))
    assert (report.sent, report.retried) == (0, 1)
    (row,) = rows(sessions)
    assert row.status == "pending" and row.attempts == 1 and "451" in (row.last_error or "")
    assert START + timedelta(seconds=47) <= row.next_attempt_at <= START + timedelta(seconds=73)
    assert drain(sessions, smtp_transport(smtp), clock).sent == 0
    clock.advance(timedelta(minutes=2))
    assert drain(sessions, smtp_transport(smtp), clock).sent == 1
    (row,) = rows(sessions)
    assert (row.status, row.attempts) == ("sent", 2)
    with sessions() as session:
        errors = [a.error for a in session.scalars(select(OutboxAttempt).order_by(OutboxAttempt.id))]
    assert errors[1] is None and "451" in errors[0]
    assert len(smtp.wait_for(1)) == 1


def test_permanent_refusal_fails_at_once_and_retry_sends_it(
    sessions: sessionmaker[Session], smtp: SmtpServer
) -> None:
    """A 5xx makes the mail failed (for staff); `retry` makes it due again and it is then sent."""
    queue(sessions, 1)
    clock = ManualClock(START)
    smtp.refuse_next(1, "550 5.1.1 Mailbox unavailable")
    assert drain(sessions, smtp_transport(smtp), clock).failed == 1
    (row,) = rows(sessions)
    assert row.status == "failed" and "550" in (row.last_error or "")
    with sessions.begin() as session:
        assert retry(session, clock.now()) == 1
    assert drain(sessions, smtp_transport(smtp), clock).sent == 1
    assert len(smtp.wait_for(1)) == 1


class FlakyTransport:
    """Fails every send with a temporary error: for counting attempts."""

    def __init__(self) -> None:
        self.calls = 0

    def send(self, raw: bytes, sender: str, recipients: list[str]) -> None:
        self.calls += 1
        raise TransportError("451 try again later")


def test_gives_up_after_max_attempts_with_growing_waits(sessions: sessionmaker[Session]) -> None:
    """Each failure doubles the wait; after max_attempts the mail is failed and no longer tried."""
    queue(sessions, 1)
    clock = ManualClock(START)
    transport = FlakyTransport()
    waits = []
    for _ in range(4):
        drain(sessions, transport, clock, max_attempts=4, rng=random.Random(3))
        (row,) = rows(sessions)
        waits.append(row.next_attempt_at - clock.now())
        clock.set(row.next_attempt_at)
    (row,) = rows(sessions)
    assert (row.status, row.attempts, transport.calls) == ("failed", 4, 4)
    assert waits[0] < waits[1] < waits[2]
    clock.advance(timedelta(days=3))
    drain(sessions, transport, clock, max_attempts=4)
    assert transport.calls == 4


def test_backoff_grows_then_stops_at_six_hours() -> None:
    """Waits are about 1, 2, 4… minutes, never more than 6 h (+20 % jitter)."""
    rng = random.Random(0)
    assert timedelta(seconds=48) <= backoff(1, rng) <= timedelta(seconds=72)
    assert timedelta(seconds=96) <= backoff(2, rng) <= timedelta(seconds=144)
    assert backoff(30, rng) <= timedelta(hours=6) * 1.2


def test_mail_left_sending_by_a_crash_is_sent_after_its_lease(
    sessions: sessionmaker[Session], smtp: SmtpServer
) -> None:
    """A row claimed by a process that died is not lost: it is sent once the lease has passed."""
    queue(sessions, 1)
    with sessions.begin() as session:
        lease_end = START + timedelta(minutes=15)
        session.execute(update(OutboxMail).values(status="sending", next_attempt_at=lease_end))
    clock = ManualClock(START)
    assert drain(sessions, smtp_transport(smtp), clock).sent == 0
    clock.advance(timedelta(minutes=16))
    assert drain(sessions, smtp_transport(smtp), clock).sent == 1
    assert len(smtp.wait_for(1)) == 1


class SlowTransport:
    """Records every mail handed to it, slowly, so that two drains overlap."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.lock = threading.Lock()

    def send(self, raw: bytes, sender: str, recipients: list[str]) -> None:
        time.sleep(0.01)
        with self.lock:
            self.sent.append(raw)


def test_two_drains_at_once_never_send_a_mail_twice(sessions: sessionmaker[Session]) -> None:
    """Two daemons draining the same outbox together send each mail exactly once between them."""
    queue(sessions, 30)
    transport = SlowTransport()
    clock = ManualClock(START)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            drain(sessions, transport, clock)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert len(transport.sent) == 30 == len(set(transport.sent))
    assert {r.status for r in rows(sessions)} == {"sent"}
    assert {r.attempts for r in rows(sessions)} == {1}


def test_envelope_includes_copies() -> None:
    """The envelope goes from the From address to the outbox recipient and every To and Cc address."""
    composed = mail(cc=("dgs@saint-test.fr",))
    sender, recipients = envelope(composed.as_bytes(), "rh@saint-test.fr")
    assert sender == "stages.inet@cnfpt.fr"
    assert recipients == ["rh@saint-test.fr", "dgs@saint-test.fr"]


def test_answers_today_counts_answers_of_the_local_day(sessions: sessionmaker[Session]) -> None:
    """Answers to one address are counted per day in Paris time; reminders and digests are not answers."""
    late_evening = datetime(2025, 6, 10, 21, 30, tzinfo=UTC)  # 23:30 in Paris
    with sessions.begin() as session:
        for number, at in enumerate([START, START + timedelta(hours=3), late_evening]):
            enqueue(session, cause=f"message:{number}", kind="k", recipient=RH, mail=mail(), now=at)
        enqueue(session, cause="reminder:pc:rappel", kind="k", recipient=RH, mail=mail(), now=START)
        enqueue(session, cause="message:9", kind="k", recipient="autre@saint-test.fr", mail=mail(), now=START)
        enqueue(session, cause="message:10", kind="k", recipient=RH, mail=mail(),
                now=datetime(2025, 6, 10, 22, 30, tzinfo=UTC))  # 00:30 on the 11th in Paris
    with sessions() as session:
        assert answers_today(session, "RH@saint-test.fr", START, "Europe/Paris") == 3
        next_day = datetime(2025, 6, 11, 9, 0, tzinfo=UTC)
        assert answers_today(session, RH, next_day, "Europe/Paris") == 1
        assert answers_today(session, "personne@saint-test.fr", START, "Europe/Paris") == 0
