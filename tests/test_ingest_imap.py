"""Ingestion against a real Dovecot: every mail filed exactly once, through crashes, restarts and IDLE."""

from __future__ import annotations

import logging
import random
import signal
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.exc import OperationalError

from mailflow.db.models import Attachment, Message, MessageStep, OutboxMail, Proposal
from mailflow.errors import MailboxError
from mailflow.mail.imap_support import batches
from mailflow.mail.mailbox import make_mailbox
from mailflow.mail.spool import SPOOL_BYTES, SpooledMail
from mailflow.pipeline.archive import content_hash
from mailflow.service import daemon as daemon_module
from mailflow.service.app import build_app
from mailflow.service.daemon import Daemon
from mailflow.settings import load_settings
from tests.factories import (
    collectivity,
    proposal_mail,
    question_mail,
    run_mailflow,
    start_daemon,
    stop_daemon,
    wait_until,
    write_settings,
)

JUNE = datetime(2025, 6, 10, 9, 0, tzinfo=UTC)
PROCESSED, ATTENTION = "mailflow/Traités", "mailflow/À traiter"


@pytest.fixture
def workdir(tmp_path: Path, imap_server, monkeypatch: pytest.MonkeyPatch) -> Path:  # noqa: ANN001
    """A settings file pointing at the test Dovecot, an outbox directory and a fresh SQLite database."""
    write_settings(tmp_path, imap=imap_server, handle_since="2025-06-01")  # the mails are dated June 2025
    monkeypatch.setenv("MAILFLOW_TEST_IMAP_PASSWORD", imap_server.password)
    return tmp_path


def deliver(imap_server, count: int, questions_every: int = 0, start: int = 0) -> tuple[int, int]:  # noqa: ANN001
    """Append `count` mails (proposals, and a question every N); return (proposals, questions)."""
    proposals = questions = 0
    for n in range(start, start + count):
        if questions_every and n % questions_every == 0:
            raw = question_mail(sender=f"question{n}@commune-test.example.fr", date=JUNE).as_bytes()
            questions += 1
        else:
            raw = proposal_mail(collectivity(10_000 + n), date=JUNE).as_bytes()
            proposals += 1
        imap_server.append(raw, internaldate=JUNE)
    return proposals, questions


def mailflow(
    workdir: Path, *args: str, crash_at: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    return run_mailflow(*args, config=workdir / "settings.toml", crash_at=crash_at, timeout=timeout)


@pytest.fixture
def daemon(workdir: Path) -> Iterator[subprocess.Popen]:
    """`mailflow run` in the background, stopped with SIGTERM at the end."""
    process = start_daemon(workdir)
    yield process
    stop_daemon(process)


def db(workdir: Path):  # noqa: ANN201
    return create_engine(f"sqlite:///{workdir / 'mailflow.sqlite3'}")


def count(workdir: Path, model, *where) -> int:  # noqa: ANN001
    """Rows of `model` matching `where`; -1 while the daemon has not created the schema yet."""
    try:
        with db(workdir).connect() as connection:
            return connection.execute(select(func.count()).select_from(model).where(*where)).scalar_one()
    except OperationalError:
        return -1


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_two_hundred_mails_delivered_while_running_are_each_filed_and_moved_once(
    imap_server, workdir: Path, daemon: subprocess.Popen  # noqa: ANN001
) -> None:
    """200 mails delivered while the daemon runs: each recorded, filed and moved exactly once."""
    proposals, questions = deliver(imap_server, 200, questions_every=10)
    log = workdir / "daemon.log"
    wait_until(lambda: count(workdir, Message, Message.state == "moved") == 200, 180, "200 mails moved", log)
    assert imap_server.messages("INBOX") == []
    assert len(imap_server.messages(PROCESSED)) == proposals
    assert len(imap_server.messages(ATTENTION)) == questions
    assert count(workdir, Message) == 200
    assert count(workdir, Proposal) == proposals
    acks = count(workdir, OutboxMail, OutboxMail.kind.startswith("collectivite/"))
    assert acks == 200  # one acknowledgement per proposal, one per question
    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(10) == 0


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_crashes_at_every_step_lose_nothing_and_file_nothing_twice(imap_server, workdir: Path) -> None:  # noqa: ANN001
    """SIGKILL at fetch, archive, commit, process and move, 25 times over 100 mails: all filed exactly once.

    Batches of 4 (fetch, moves): a crash then leaves at most a few mails processed but not yet moved,
    so that the 25 crashes fall at every step rather than on an already drained mailbox."""
    settings = workdir / "settings.toml"
    settings.write_text(settings.read_text().replace("poll_seconds = 450\n", "poll_seconds = 450\nbatch_size = 4\n"))
    proposals, questions = deliver(imap_server, 100, questions_every=5)
    rng = random.Random(20250620)
    points = ["fetched", "archived", "recorded", "processed", "moved"]
    kills = 0
    for attempt in range(25):
        point = points[attempt % len(points)]
        result = mailflow(workdir, "run", "--once", crash_at=f"{point}:{rng.randint(1, 4)}")
        if result.returncode == -signal.SIGKILL:
            kills += 1
        else:
            assert result.returncode == 0, result.stderr
    assert kills >= 20
    final = mailflow(workdir, "run", "--once")
    assert final.returncode == 0, final.stderr

    assert imap_server.messages("INBOX") == []
    assert len(imap_server.messages(PROCESSED)) + len(imap_server.messages(ATTENTION)) == 100
    assert count(workdir, Message) == 100
    assert count(workdir, Message, Message.state != "moved") == 0
    assert count(workdir, Proposal) == proposals
    with db(workdir).connect() as connection:
        acks = connection.execute(
            select(OutboxMail.proposal_pk, func.count()).where(OutboxMail.proposal_pk.is_not(None))
            .group_by(OutboxMail.proposal_pk)
        ).all()
        assert len(acks) == proposals and all(n == 1 for _, n in acks)
        expected = set(connection.execute(select(Message.content_hash)).scalars())
        expected |= set(connection.execute(select(Attachment.content_hash)).scalars())
        expected |= {content_hash(raw) for raw in connection.execute(select(OutboxMail.raw)).scalars()}
    stored = {p.name for p in (workdir / "archive").rglob("*") if p.is_file()}
    assert {h for h in expected if len(h) == 64} - stored == set(), "archive file missing"
    assert {name for name in stored if not name.startswith(".tmp-")} - expected == set(), "orphaned archive file"


@pytest.mark.slow
def test_server_restart_is_survived_without_losing_mail(
    imap_server, workdir: Path, daemon: subprocess.Popen  # noqa: ANN001
) -> None:
    """Dovecot stopped and restarted while the daemon waits in IDLE: it sees at once that the server ended
    its session (not when IDLE would end, up to 30 s later), reconnects by itself and misses nothing."""
    log = workdir / "daemon.log"
    deliver(imap_server, 5)
    wait_until(lambda: count(workdir, Message, Message.state == "moved") == 5, 60, "first 5 mails moved", log)
    imap_server.stop()
    wait_until(lambda: "mailbox unreachable" in log.read_text(errors="replace"), 20, "the end of the session seen", log)
    imap_server.start()
    deliver(imap_server, 5, start=5)
    wait_until(lambda: count(workdir, Message, Message.state == "moved") == 10, 90, "5 more mails moved", log)
    wait_until(lambda: "mailbox reachable again" in log.read_text(errors="replace"), 30, "the end of the outage", log)
    assert daemon.poll() is None
    assert imap_server.messages("INBOX") == []
    assert count(workdir, Message) == 10


def test_a_server_ending_the_session_ends_the_wait_in_idle(imap_server, workdir: Path) -> None:  # noqa: ANN001
    """Dovecot stopped while the mailbox waits in IDLE for ten minutes: the wait ends as soon as the server
    ends the session (BYE, then the connection closed), with an error the daemon retries on."""
    mailbox = make_mailbox(load_settings(workdir / "settings.toml").mailbox, workdir)
    ended: list[BaseException] = []

    def wait() -> None:
        try:
            mailbox.wait(600)
        except MailboxError as exc:
            ended.append(exc)

    waiting = threading.Thread(target=wait, daemon=True)
    waiting.start()
    try:
        wait_until(lambda: imap_server.idling() >= 1, 30, "the mailbox waiting in IDLE")
        imap_server.stop()
        wait_until(lambda: ended, 60, "the wait ended")
    finally:
        imap_server.start()
    waiting.join(10)
    assert "the server ended the session" in str(ended[0])


def test_mail_arriving_during_a_pass_is_read_at_once_not_left_to_the_server(
    imap_server, workdir: Path, monkeypatch: pytest.MonkeyPatch,  # noqa: ANN001
) -> None:
    """A pass lists the mailbox once: a mail arriving while it files the others is read by a second pass
    straight away. The daemon waits for the server (IDLE) only after a pass that found nothing: Dovecot
    may announce a mail that arrived before IDLE began only at its next check, 30 s later."""
    settings = workdir / "settings.toml"
    settings.write_text(settings.read_text().replace("poll_seconds = 450\n",
                                                      "poll_seconds = 450\nreader_processes = 0\n"))
    app = build_app(load_settings(settings))
    daemon = Daemon(app, tick_seconds=600)
    deliver(imap_server, 2)
    arrived: list[int] = []

    def pass_during_which_a_mail_arrives(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        report = real_pass(*args, **kwargs)
        if not arrived:
            deliver(imap_server, 1, start=2)
            arrived.append(1)
        return report

    real_pass = daemon_module.ingest_pass
    monkeypatch.setattr(daemon_module, "ingest_pass", pass_during_which_a_mail_arrives)
    waits: list[float] = []
    monkeypatch.setattr(app.mailbox, "wait", lambda seconds, interrupted=None: waits.append(seconds))
    try:
        daemon._lead_once()  # noqa: SLF001 - one turn of the service loop
        assert count(workdir, Message, Message.state == "moved") == 2
        assert waits == []
        daemon._lead_once()  # noqa: SLF001
        assert count(workdir, Message, Message.state == "moved") == 3
        assert waits == []
        daemon._lead_once()  # noqa: SLF001 - nothing new: now it waits for the server
        assert waits == [600]
    finally:
        daemon.readers.close()
        app.mailbox.close()


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_idle_over_tls_wakes_on_new_mail(imap_server, workdir: Path, security: str) -> None:  # noqa: ANN001
    """Over implicit TLS and STARTTLS (certificate verified), a wait in IDLE ends as soon as a mail
    arrives, not at its ten minutes: what the server says is not left unread in the TLS layer."""
    settings = workdir / "settings.toml"
    port = imap_server.tls_port if security == "tls" else imap_server.port
    settings.write_text(settings.read_text().replace(
        f'port = {imap_server.port}\nsecurity = "none"\n',
        f'port = {port}\nsecurity = "{security}"\nca_file = "{imap_server.cafile}"\n'))
    mailbox = make_mailbox(load_settings(settings).mailbox, workdir)
    mailbox.connect()
    assert mailbox.idle_supported
    assert mailbox.waiting() == []
    done = threading.Event()
    waiting = threading.Thread(target=lambda: (mailbox.wait(600), done.set()), daemon=True)
    waiting.start()
    try:
        wait_until(lambda: imap_server.idling() >= 1, 30, "the mailbox waiting in IDLE")
        deliver(imap_server, 1)
        wait_until(done.is_set, 30, "the IDLE wake-up")
        assert len(mailbox.waiting()) == 1
    finally:
        mailbox.close()


@pytest.mark.slow
def test_new_mail_is_seen_through_idle_without_waiting_for_a_poll(
    imap_server, workdir: Path, daemon: subprocess.Popen  # noqa: ANN001
) -> None:
    """With polling set to seven minutes and a half, a new mail is still filed within seconds: IDLE woke the daemon."""
    settings = (workdir / "settings.toml").read_text()
    assert "poll_seconds = 450" in settings
    log = workdir / "daemon.log"
    deliver(imap_server, 1)
    wait_until(lambda: count(workdir, Message, Message.state == "moved") == 1, 30, "the first mail", log)
    wait_until(lambda: imap_server.idling() >= 1, 30, "the daemon waiting in IDLE", log)
    deliver(imap_server, 1, start=1)
    took = wait_until(lambda: count(workdir, Message, Message.state == "moved") == 2, 20, "the IDLE wake-up", log)
    assert took < 20 < 450


@pytest.mark.slow
def test_uidvalidity_change_refiles_nothing(imap_server, workdir: Path) -> None:  # noqa: ANN001
    """A folder recreated with the same mails (new UIDVALIDITY) files nothing twice."""
    settings = workdir / "settings.toml"
    text = settings.read_text().replace('security = "none"\n', 'security = "none"\nfolder = "Propositions"\n')
    settings.write_text(text)
    raws = [proposal_mail(collectivity(20_000 + n), date=JUNE).as_bytes() for n in range(3)]
    for raw in raws:
        imap_server.append(raw, folder="Propositions", internaldate=JUNE)
    assert mailflow(workdir, "run", "--once").returncode == 0
    assert count(workdir, Proposal) == 3
    with imap_server.connect() as client:
        client.delete_folder("Propositions")
        client.create_folder("Propositions")
    for raw in raws:
        imap_server.append(raw, folder="Propositions", internaldate=JUNE)
    result = mailflow(workdir, "run", "--once")
    assert result.returncode == 0, result.stderr
    assert count(workdir, Proposal) == 3
    assert count(workdir, Message) == 3
    assert imap_server.messages("Propositions") == []


def test_mail_over_the_size_limit_is_quarantined_with_its_headers(imap_server, workdir: Path) -> None:  # noqa: ANN001
    """A mail larger than max_message_bytes is not downloaded whole: quarantined by size, headers kept."""
    settings = workdir / "settings.toml"
    text = settings.read_text().replace("poll_seconds = 450\n", "poll_seconds = 450\nmax_message_bytes = 4096\n")
    settings.write_text(text)
    big = proposal_mail(collectivity(30_000), date=JUNE)
    big.add_attachment(b"x" * 20_000, maintype="application", subtype="octet-stream", filename="annexe.bin")
    imap_server.append(big.as_bytes(), internaldate=JUNE)
    assert mailflow(workdir, "run", "--once").returncode == 0
    listing = mailflow(workdir, "quarantine", "list")
    assert "message trop volumineux" in listing.stdout
    assert count(workdir, Proposal) == 0
    assert len(imap_server.messages(ATTENTION)) == 1


def test_a_big_mail_is_fetched_a_piece_at_a_time_and_filed_as_the_server_has_it(  # noqa: ANN001
    imap_server, workdir: Path, tmp_path: Path
) -> None:
    """A mail over 4 MB (a form and a scanned annex) comes from the server a megabyte at a time into an
    unnamed file, never whole in memory: the archive holds the server's very bytes, the annex whole, and
    the form is filed."""
    big = proposal_mail(collectivity(30_001), date=JUNE)
    annex = random.Random(11).randbytes(6_000_000)
    big.add_attachment(annex, maintype="image", subtype="jpeg", filename="plans-scannes.jpg")
    imap_server.append(big.as_bytes(), internaldate=JUNE)
    (served,) = imap_server.messages()
    mailbox = make_mailbox(load_settings(workdir / "settings.toml").mailbox, workdir, spool=tmp_path / "spool")
    try:
        (incoming,) = mailbox.fetch(mailbox.waiting())
    finally:
        mailbox.close()
    assert isinstance(incoming.raw, SpooledMail) and len(incoming.raw) == len(served) > SPOOL_BYTES
    assert content_hash(incoming.raw) == content_hash(served)
    assert list((tmp_path / "spool").iterdir()) == []  # the file has no name: nothing to clean after a crash
    incoming.raw.close()

    assert mailflow(workdir, "run", "--once").returncode == 0
    assert count(workdir, Proposal) == 1
    assert count(workdir, Message, Message.content_hash == content_hash(served)) == 1
    assert count(workdir, Attachment, Attachment.filename == "plans-scannes.jpg",
                 Attachment.content_hash == content_hash(annex), Attachment.size == len(annex)) == 1
    assert len(imap_server.messages(PROCESSED)) == 1


def test_mails_are_fetched_and_read_ahead_in_batches_bounded_in_bytes() -> None:
    """Fifty small mails make one batch; large mails come a few at a time, and one over the bound alone."""
    small, large, huge = 100_000, 6_000_000, 30_000_000
    sizes = [small] * 60 + [large] * 3 + [huge] + [small] * 2
    found = [[sizes[i] for i in batch] for batch in batches(range(len(sizes)), 50, lambda i: sizes[i], 16_000_000)]
    assert [len(b) for b in found] == [50, 12, 1, 1, 2]  # 10 small and 2 large; the 3rd large; the huge one
    assert [i for b in batches(range(len(sizes)), 50, lambda i: sizes[i], 16_000_000) for i in b] == list(range(66))
    assert all(sum(b) <= 16_000_000 or len(b) == 1 for b in found)


def test_fetched_mails_never_reach_the_logs_even_at_debug_level(
    workdir: Path, imap_server, caplog: pytest.LogCaptureFixture,  # noqa: ANN001
) -> None:
    """Every logger at DEBUG: fetching mail writes none of its content to the logs. (imaplib's trace,
    which IMAPClient turns on, wrote each fetched mail, and built its repr even when nothing was logged.)"""
    raw = proposal_mail(collectivity(20_001), date=JUNE).as_bytes()
    imap_server.append(raw, internaldate=JUNE)
    mailbox = make_mailbox(load_settings(workdir / "settings.toml").mailbox, workdir)
    with caplog.at_level(logging.DEBUG):
        mailbox.connect()
        fetched = list(mailbox.fetch(mailbox.waiting()))
        mailbox.close()
    assert [mail.raw.replace(b"\r\n", b"\n") for mail in fetched] == [raw.replace(b"\r\n", b"\n")]
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "imapclient" in {record.name.split(".")[0] for record in caplog.records}  # the command log is kept
    assert "Content-Transfer-Encoding" not in logged and "Bonjour" not in logged


def test_a_backlog_is_answered_batch_by_batch(imap_server, workdir: Path) -> None:  # noqa: ANN001
    """Twelve mails waiting and batches of four: the first answers leave before the last mails are read,
    not once the whole backlog is filed."""
    settings = workdir / "settings.toml"
    settings.write_text(settings.read_text().replace("poll_seconds = 450\n", "poll_seconds = 450\nbatch_size = 4\n"))
    deliver(imap_server, 12)
    process = start_daemon(workdir)
    try:
        wait_until(lambda: count(workdir, OutboxMail, OutboxMail.status == "sent") == 12, 120, "12 answers sent",
                   workdir / "daemon.log")
    finally:
        stop_daemon(process)
    with db(workdir).connect() as connection:
        first_sent = connection.execute(select(func.min(OutboxMail.sent_at))).scalar_one()
        last_read = connection.execute(
            select(func.max(MessageStep.at)).where(MessageStep.step == "classified")).scalar_one()
    assert first_sent < last_read
