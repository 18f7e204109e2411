"""Polling, the fallback of "IMAP, with IDLE … polling as fallback": a running daemon that does not wait in
IDLE, because `[mailbox] idle = false` or because the server does not offer IDLE, still files a new mail
and acknowledges it, within `poll_seconds`.

Real Dovecot, real aiosmtpd, `mailflow run` in a child process (as the IDLE tests of test_ingest_imap.py run
it). That the daemon polls rather than idles is checked from outside, where a user or an operator could see
it: `mailflow status` says "(polling)" and no session of the daemon ever waits in IDLE on the server (Dovecot's
process titles, `DovecotServer.idling()`). The daemon itself logs nothing about how it waits.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.exc import OperationalError, ProgrammingError

from mailflow.db.models import Message, ServiceState
from mailflow.mail.mailbox import make_mailbox
from mailflow.settings import load_settings
from tests.factories import (
    collectivity,
    proposal_mail,
    run_mailflow,
    start_daemon,
    stop_daemon,
    wait_until,
    write_settings,
)
from tests.fixtures import ServerUnavailable
from tests.fixtures.dovecot import DovecotServer, start_dovecot
from tests.fixtures.servers import unavailable
from tests.fixtures.smtp import SmtpServer

JUNE = datetime(2025, 6, 10, 9, 0, tzinfo=UTC)
PROCESSED = "mailflow/Traités"
POLL_SECONDS = 5  # the least `[mailbox] poll_seconds` accepts (mailflow/settings.py: ge=5)
DAEMON_TICK_SECONDS = 30  # mailflow.service.daemon.TICK_SECONDS: the longest a wait lasts in `mailflow run`


@pytest.fixture(scope="module")
def dovecot_without_idle() -> Iterator[DovecotServer]:
    """A private Dovecot that offers every capability it normally does except IDLE.

    `imap_capability` replaces the CAPABILITY list Dovecot advertises, before and after login; the list
    written is the one this Dovecot gave after login, minus IDLE, so mailflow sees the server as it is but
    for IDLE. (Dovecot would still accept an IDLE command it does not advertise: a client that sent one
    anyway would show up in `idling()`.) A server of its own, so the session's Dovecot keeps IDLE."""
    try:
        server = start_dovecot()
    except ServerUnavailable as exc:
        unavailable("Dovecot", str(exc))
    try:
        client = server.connect()
        try:
            offered = [capability.decode() for capability in client.capabilities()]
        finally:
            client.logout()
        assert "IDLE" in offered, offered
        server.stop()
        with server.config.open("a", encoding="utf-8") as config:
            config.write("# tests/test_polling.py: the same capabilities, IDLE left out\n"
                         f"imap_capability = {' '.join(c for c in offered if c != 'IDLE')}\n")
        server.start()
        yield server
    finally:
        server.close()


@dataclass
class Watch:
    """A daemon's working folder and database, seen from outside."""

    workdir: Path
    engine: Any

    @property
    def log(self) -> Path:
        return self.workdir / "daemon.log"

    def moved(self) -> int:
        """Mails filed and moved on the server; -1 while the daemon has not created the schema yet."""
        try:
            with self.engine.connect() as connection:
                return connection.execute(
                    select(func.count()).select_from(Message).where(Message.state == "moved")
                ).scalar_one()
        except (OperationalError, ProgrammingError):  # no table yet (SQLite, PostgreSQL)
            return -1

    def mailbox_state(self) -> dict[str, Any] | None:
        """What the daemon recorded of its last contact with the mailbox (written after each pass)."""
        try:
            with self.engine.connect() as connection:
                return connection.execute(
                    select(ServiceState.value).where(ServiceState.key == "mailbox")
                ).scalar_one_or_none()
        except (OperationalError, ProgrammingError):  # no table yet (SQLite, PostgreSQL)
            return None


@pytest.fixture
def watch(tmp_path: Path) -> Iterator[Watch]:
    watching = Watch(tmp_path, None)
    yield watching
    if watching.engine is not None:
        watching.engine.dispose()


def settings_for(watch: Watch, imap: DovecotServer, smtp: SmtpServer, *, idle: bool,
                 monkeypatch: pytest.MonkeyPatch) -> Path:
    """settings.toml for the test servers with `idle` and the shortest `poll_seconds` (mails dated June 2025)."""
    monkeypatch.setenv("MAILFLOW_TEST_IMAP_PASSWORD", imap.password)
    path = write_settings(watch.workdir, imap=imap, smtp=smtp, handle_since="2025-06-01")
    text = path.read_text(encoding="utf-8")
    assert "poll_seconds = 450\n" in text
    path.write_text(text.replace("poll_seconds = 450\n",
                                 f"idle = {'true' if idle else 'false'}\npoll_seconds = {POLL_SECONDS}\n"),
                    encoding="utf-8")
    settings = load_settings(path)
    assert (settings.mailbox.idle, settings.mailbox.poll_seconds) == (idle, POLL_SECONDS)
    watch.engine = create_engine(settings.database.url)
    return path


def a_new_mail_is_filed_and_acknowledged_by_polling(watch: Watch, imap: DovecotServer, smtp: SmtpServer) -> None:
    """`mailflow run`; once its first pass found nothing, a proposal is appended: the daemon files it within a
    poll and its acknowledgement reaches the SMTP server, while no session of it ever waits in IDLE."""
    idle_sessions: list[int] = []
    others_idling = imap.idling()  # sessions of other tests' clients on a shared server, if any

    def sampled(condition: Any) -> Any:
        def predicate() -> bool:
            idle_sessions.append(imap.idling())
            return bool(condition())
        return predicate

    daemon = start_daemon(watch.workdir)
    try:
        wait_until(sampled(lambda: watch.mailbox_state() is not None), 60, "the daemon's first pass", watch.log)
        assert watch.mailbox_state()["mode"] == "polling"
        assert watch.moved() == 0

        values = collectivity(20_001)
        mail = proposal_mail(values, date=JUNE)
        imap.append(mail.as_bytes(), internaldate=JUNE)
        took = wait_until(sampled(lambda: watch.moved() == 1), 60, "the new mail filed", watch.log)
        # Found by a poll (every POLL_SECONDS), well before the daemon's own look at 30 s would have.
        assert took < DAEMON_TICK_SECONDS - 5, f"filed {took:.1f} s after it arrived"

        (ack,) = smtp.wait_for(1, timeout=60)
        assert ack.rcpt_tos == (values["sender"],)
        assert str(ack.message["In-Reply-To"]).strip() == mail["Message-ID"]  # a long one is folded onto its own line
        assert ack.message["Auto-Submitted"] == "auto-replied"
        assert imap.messages("INBOX") == []
        assert len(imap.messages(PROCESSED)) == 1

        status = run_mailflow("status", config=watch.workdir / "settings.toml", timeout=60)
        assert status.returncode == 0, status.stderr
        (contact,) = [line for line in status.stdout.splitlines() if line.startswith("mailbox: last contact")]
        assert contact.endswith("(polling)"), status.stdout
        assert daemon.poll() is None, watch.log.read_text(errors="replace")
    finally:
        stop_daemon(daemon)
    assert daemon.returncode == 0, watch.log.read_text(errors="replace")[-3000:]
    assert len(idle_sessions) > 20 and max(idle_sessions) <= others_idling, "a session of the daemon waited in IDLE"


@pytest.mark.slow  # about 8-10 s: a daemon's start, one poll interval, `mailflow status`
def test_with_idle_off_the_daemon_polls_and_files_a_new_mail(
    imap_server: DovecotServer, smtp: SmtpServer, watch: Watch, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`idle = false`, `poll_seconds = 5`, on a Dovecot that offers IDLE: the daemon never waits in IDLE
    (no session of it does, and `mailflow status` says "polling"), yet a mail appended while it runs is
    filed within a poll, moved to the processed folder, and acknowledged through the SMTP server."""
    client = imap_server.connect()
    try:
        assert client.has_capability("IDLE")  # the server would let it idle: the settings alone say no
    finally:
        client.logout()
    settings_for(watch, imap_server, smtp, idle=False, monkeypatch=monkeypatch)
    a_new_mail_is_filed_and_acknowledged_by_polling(watch, imap_server, smtp)


@pytest.mark.slow  # about 8-10 s, as above
def test_a_server_without_idle_is_polled_even_with_idle_on(
    dovecot_without_idle: DovecotServer, smtp: SmtpServer, watch: Watch, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`idle = true` (the default), but the server does not offer IDLE: the daemon falls back to polling
    every `poll_seconds` (it never sends IDLE, `mailflow status` says "polling") and still files and
    acknowledges a mail appended while it runs."""
    server = dovecot_without_idle
    if not server.running:
        server.start()
    server.clear()
    client = server.connect()
    try:
        assert not client.has_capability("IDLE")
        assert all(client.has_capability(c) for c in ("UIDPLUS", "MOVE", "NAMESPACE"))
    finally:
        client.logout()
    settings_for(watch, server, smtp, idle=True, monkeypatch=monkeypatch)
    a_new_mail_is_filed_and_acknowledged_by_polling(watch, server, smtp)


@pytest.mark.slow  # about 8 s: one poll interval of 6 s
def test_polling_waits_the_interval_the_settings_ask_for(
    dovecot_without_idle: DovecotServer, smtp: SmtpServer, watch: Watch, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without IDLE a wait lasts `poll_seconds`, whatever the daemon asks for its own look at the folder
    (30 s): an interval set longer to spare a server is honoured (it was cut to the daemon's 30 s)."""
    server = dovecot_without_idle
    if not server.running:
        server.start()
    path = settings_for(watch, server, smtp, idle=True, monkeypatch=monkeypatch)
    path.write_text(path.read_text(encoding="utf-8").replace(f"poll_seconds = {POLL_SECONDS}\n",
                                                             "poll_seconds = 6\n"), encoding="utf-8")
    settings = load_settings(path)
    mailbox = make_mailbox(settings.mailbox, watch.workdir, readonly=True)
    mailbox.connect()
    try:
        started = time.monotonic()
        mailbox.wait(1)  # a look of the daemon's own due sooner than the interval
        waited = time.monotonic() - started
    finally:
        mailbox.close()
    assert waited >= 6, f"polled after {waited:.1f} s, not after poll_seconds = 6"
