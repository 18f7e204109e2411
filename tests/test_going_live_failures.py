"""Going live, continued (real Dovecot and SMTP server): a second mission is a second proposal; login
problems explain themselves; a server with "." as separator; a daemon killed while it sends.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from mailflow.db.models import OutboxMail, Proposal
from mailflow.pipeline.run import ingest_pass
from tests.factories import (
    collectivity,
    mail,
    make_app,
    proposal_body,
    proposal_mail,
    question_mail,
    run_mailflow,
    stop_daemon,
    wait_until,
    write_settings,
)
from tests.fixtures.dovecot import DovecotServer, start_dovecot

JUNE = datetime(2025, 6, 10, 9, 0, tzinfo=UTC)
RULE = "une seule offre sera proposée au choix des élèves"


def proposals(app) -> list[tuple[str, int, str]]:  # noqa: ANN001
    with app.sessions() as session:
        rows = session.execute(select(Proposal.reference, Proposal.version, Proposal.status).order_by(Proposal.id))
        return [tuple(r) for r in rows]


def text_of(received) -> str:  # noqa: ANN001
    return received.message.get_body(preferencelist=("plain",)).get_content()


def test_a_second_mission_is_a_second_proposal_and_a_reply_in_the_thread_a_new_version(
    tmp_path: Path, imap_server, smtp, monkeypatch: pytest.MonkeyPatch  # noqa: ANN001
) -> None:
    """Two missions from one collectivité: two proposals, the one-offer rule told; a reply in the thread: v2."""
    app = make_app(tmp_path, imap=imap_server, smtp=smtp, monkeypatch=monkeypatch)
    first = collectivity(81_000)
    second = {**first, "title": "Mission numéro deux : refondre l'accueil des usagers"}
    imap_server.append(proposal_mail(first, date=JUNE).as_bytes(), internaldate=JUNE)
    ingest_pass(app)
    app.outbox.drain()
    imap_server.append(proposal_mail(second, date=JUNE).as_bytes(), internaldate=JUNE)
    ingest_pass(app)
    app.outbox.drain()
    assert proposals(app) == [("PC-2025-0001", 1, "complete"), ("PC-2025-0002", 1, "complete")]
    assert len(smtp.messages) == 2
    told = " ".join(text_of(smtp.messages[1]).split())
    assert RULE in told and "PC-2025-0001" in told
    assert RULE not in " ".join(text_of(smtp.messages[0]).split())
    with app.sessions() as session:
        flags = session.scalars(select(Proposal.flags).where(Proposal.reference == "PC-2025-0002")).one()
    assert any(RULE in flag for flag in flags), flags

    # A reply in the thread of the first acknowledgement, with a corrected form: version 2 of the first.
    corrected = {**first, "context": "Contexte corrigé : la réorganisation commence en janvier."}
    ack = smtp.messages[0].message
    reply = mail(sender=first["sender"], subject=f"RE: {ack['Subject']}", body=proposal_body(corrected),
                 date=JUNE, headers={"In-Reply-To": ack["Message-ID"], "References": ack["Message-ID"]})
    imap_server.append(reply.as_bytes(), internaldate=JUNE)
    # The second mission sent again as a new mail, same title: version 2 of the second.
    imap_server.append(proposal_mail(second, date=JUNE, subject="Proposition (renvoi)").as_bytes(),
                       internaldate=JUNE)
    ingest_pass(app)
    assert proposals(app) == [
        ("PC-2025-0001", 1, "superseded"), ("PC-2025-0002", 1, "superseded"),
        ("PC-2025-0001", 2, "complete"), ("PC-2025-0002", 2, "complete"),
    ]


# -- login problems --------------------------------------------------------------------------------


def daemon(workdir: Path, env: dict[str, str]) -> subprocess.Popen:
    with (workdir / "daemon.log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "mailflow", "--config", str(workdir / "settings.toml"), "run"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
        )


@pytest.fixture
def workdir(tmp_path: Path, imap_server, smtp) -> Path:  # noqa: ANN001
    write_settings(tmp_path, imap=imap_server, smtp=smtp, handle_since="2025-06-01")
    return tmp_path


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MAILFLOW_CRASH_AT", "MAILFLOW_TEST_IMAP_PASSWORD")}
    return {**env, **extra}


@pytest.mark.timeout(300)
def test_a_wrong_password_is_explained_in_one_line_and_recorded(workdir: Path, imap_server) -> None:  # noqa: ANN001
    """Wrong password: the log has the cause and the remedy once, however often the daemon tries again (two
    more refused logins seen by the server), no traceback, the daemon keeps running; status and check say it."""
    process = daemon(workdir, environment(MAILFLOW_TEST_IMAP_PASSWORD="not-the-password"))
    log = workdir / "daemon.log"
    try:
        wait_until(lambda: "cannot log in to the mailbox" in log.read_text(errors="replace"), 60, "the cause", log)
        env = environment(MAILFLOW_TEST_IMAP_PASSWORD="not-the-password")
        status = run_mailflow("status", config=workdir / "settings.toml", env=env)
        assert "login refused" in status.stdout and "last error at" in status.stdout, status.stdout
        check = run_mailflow("check", config=workdir / "settings.toml", env=env)
        assert check.returncode == 1
        assert "FAIL daemon: the daemon cannot log in to the mailbox since" in check.stdout, check.stdout
        refused_before = refused_logins(imap_server)  # `check` logs in too
        wait_until(lambda: refused_logins(imap_server) - refused_before >= 2, 120, "two more tries, refused", log)
        assert process.poll() is None
    finally:
        stop_daemon(process)
    text = log.read_text(errors="replace")
    assert "Traceback" not in text, text
    assert "what to do" in text
    assert text.count("cannot log in to the mailbox") == 1, text


def refused_logins(server) -> int:  # noqa: ANN001
    """How many logins the private Dovecot refused so far (its log has one line for each)."""
    return server.log.read_text(errors="replace").count("(auth failed,")


@pytest.mark.timeout(120)
def test_an_unset_password_variable_stops_run_with_exit_2(workdir: Path) -> None:  # noqa: ANN001
    """The password variable is not set: `run` refuses to start (exit 2, one line), status shows the cause."""
    result = run_mailflow("run", config=workdir / "settings.toml", env=environment(), timeout=60)
    assert result.returncode == 2, result.stderr
    assert "MAILFLOW_TEST_IMAP_PASSWORD is not set" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    status = run_mailflow("status", config=workdir / "settings.toml", env=environment())
    assert "MAILFLOW_TEST_IMAP_PASSWORD is not set" in status.stdout, status.stdout


# -- a server with "." as hierarchy separator ----------------------------------------------------------


@pytest.fixture
def dotted() -> Iterator[DovecotServer]:
    server = start_dovecot(separator=".")
    try:
        yield server
    finally:
        server.close()


def test_folders_are_created_and_used_with_the_servers_separator(
    tmp_path: Path, dotted: DovecotServer, smtp, monkeypatch: pytest.MonkeyPatch  # noqa: ANN001
) -> None:
    """With "." as separator the folders are mailflow.Traités and mailflow.À traiter, and mail goes there."""
    app = make_app(tmp_path, imap=dotted, smtp=smtp, monkeypatch=monkeypatch)
    dotted.append(proposal_mail(collectivity(82_000), date=JUNE).as_bytes(), internaldate=JUNE)
    dotted.append(question_mail(date=JUNE).as_bytes(), internaldate=JUNE)
    ingest_pass(app)
    assert {"mailflow.Traités", "mailflow.À traiter", "mailflow.Ignorés"} <= set(dotted.folders())
    assert len(dotted.messages("mailflow.Traités")) == 1
    assert len(dotted.messages("mailflow.À traiter")) == 1
    assert dotted.messages("INBOX") == []


# -- a daemon killed while it sends ---------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_mail_claimed_by_a_killed_daemon_is_sent_within_a_minute_of_its_restart(
    tmp_path: Path, imap_server, smtp, monkeypatch: pytest.MonkeyPatch  # noqa: ANN001
) -> None:
    """SIGKILL right after the daemon claimed a mail to send: after a restart every mail is sent within a minute."""
    app = make_app(tmp_path, imap=imap_server, smtp=smtp, monkeypatch=monkeypatch, handle_since="2025-06-01")
    for n in range(3):
        imap_server.append(question_mail(sender=f"q{n}@commune-test.example.fr", date=JUNE).as_bytes(),
                           internaldate=JUNE)
    log = tmp_path / "daemon.log"
    killed = daemon(tmp_path, environment(MAILFLOW_TEST_IMAP_PASSWORD=imap_server.password,
                                          MAILFLOW_CRASH_AT="claimed:1"))
    assert killed.wait(120) == -signal.SIGKILL
    with app.sessions() as session:
        claimed = session.scalars(select(OutboxMail).where(OutboxMail.status == "sending",
                                                            OutboxMail.kind != "staff/digest")).all()
        # the answers queued when the sender woke, claimed in one commit (the next mails may be filed meanwhile)
        assert claimed and all(row.claimed_by for row in claimed)
        answers = select(func.count()).select_from(OutboxMail).where(OutboxMail.kind != "staff/digest")
        assert len(claimed) <= session.scalar(answers) <= 3  # the staff digest may be queued too, on a working day
    assert smtp.messages == []

    restarted = daemon(tmp_path, environment(MAILFLOW_TEST_IMAP_PASSWORD=imap_server.password))
    try:
        took = wait_until(lambda: len(answered(smtp)) == 3, 60, "the three answers sent", log)
    finally:
        stop_daemon(restarted)
    assert took < 60
    assert sorted(answered(smtp)) == [f"q{n}@commune-test.example.fr" for n in range(3)]


def answered(smtp) -> list[str]:  # noqa: ANN001
    """The recipients of the answers the SMTP server received (not the staff digest)."""
    return [r for m in smtp.messages for r in m.rcpt_tos if r.startswith("q")]
