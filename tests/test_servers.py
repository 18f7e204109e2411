"""The test servers really work: Dovecot (login, APPEND/FETCH, IDLE, restart), aiosmtpd, PostgreSQL."""

from __future__ import annotations

import smtplib
import ssl
import threading
import time
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest
import sqlalchemy as sa
from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from tests.fixtures.dovecot import DovecotServer
from tests.fixtures.smtp import SmtpServer

RAW = (
    b"From: Mairie de Saint-Test <rh@saint-test.fr>\r\n"
    b"To: stages.inet@cnfpt.fr\r\n"
    b"Subject: =?utf-8?q?Proposition_de_projet_collectif?=\r\n"
    b"Message-ID: <servers-test@saint-test.fr>\r\n"
    b"Date: Mon, 02 Jun 2025 10:00:00 +0200\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n"
    b"Bonjour,\r\nveuillez trouver notre proposition. \xc3\xa9t\xc3\xa9\r\n"
)


def test_imap_login_plain(imap_server: DovecotServer) -> None:
    """A client logs in with the test user's password over plain IMAP and sees an empty INBOX."""
    client = IMAPClient(imap_server.host, port=imap_server.port, ssl=False, timeout=10)
    try:
        client.login(imap_server.username, imap_server.password)
        assert client.select_folder("INBOX")[b"EXISTS"] == 0
    finally:
        client.logout()


def test_imap_login_starttls_verifies_certificate(imap_server: DovecotServer) -> None:
    """STARTTLS upgrades the plain port with a certificate that verifies against `cafile`."""
    client = IMAPClient(imap_server.host, port=imap_server.port, ssl=False, timeout=10)
    try:
        client.starttls(ssl.create_default_context(cafile=str(imap_server.cafile)))
        client.login(imap_server.username, imap_server.password)
        assert client.folder_exists("INBOX")
    finally:
        client.logout()


def test_imap_login_implicit_tls_verifies_certificate(imap_server: DovecotServer) -> None:
    """The TLS port presents a certificate for 127.0.0.1 that verifies against `cafile`."""
    context = ssl.create_default_context(cafile=str(imap_server.cafile))
    client = IMAPClient(imap_server.host, port=imap_server.tls_port, ssl=True, ssl_context=context,
                        timeout=10)
    try:
        client.login(imap_server.username, imap_server.password)
        assert client.folder_exists("INBOX")
    finally:
        client.logout()


def test_imap_tls_rejects_unknown_certificate(imap_server: DovecotServer) -> None:
    """With only the system CAs the self-signed certificate is refused: the verification above is real."""
    with pytest.raises(ssl.SSLCertVerificationError):
        IMAPClient(imap_server.host, port=imap_server.tls_port, ssl=True,
                   ssl_context=ssl.create_default_context(), timeout=10)


def test_imap_wrong_password_is_refused(imap_server: DovecotServer) -> None:
    """A wrong password is refused, and the right one works at once afterwards."""
    client = IMAPClient(imap_server.host, port=imap_server.port, ssl=False, timeout=10)
    with pytest.raises(LoginError):
        client.login(imap_server.username, "not-the-password")
    good = imap_server.connect()
    assert good.folder_exists("INBOX")
    good.logout()


def test_append_then_fetch_returns_same_bytes(imap_server: DovecotServer) -> None:
    """A message appended with an INTERNALDATE is fetched back byte for byte, with that date."""
    received = datetime(2025, 6, 2, 8, 0, tzinfo=UTC)
    imap_server.append(RAW, internaldate=received)
    client = imap_server.connect()
    try:
        client.select_folder("INBOX", readonly=True)
        (uid,) = client.search("ALL")
        data = client.fetch([uid], ["BODY.PEEK[]", "INTERNALDATE"])[uid]
    finally:
        client.logout()
    assert data[b"BODY[]"] == RAW
    assert data[b"INTERNALDATE"].astimezone(UTC) == received
    assert imap_server.messages() == [RAW]


def test_append_to_folder_and_clear(imap_server: DovecotServer) -> None:
    """Appending to a new folder creates it; clear() empties INBOX and removes the other folders."""
    imap_server.append(RAW, folder="Traités/2025")
    imap_server.append(RAW)
    assert imap_server.messages("Traités/2025") == [RAW]
    assert "Traités/2025" in imap_server.folders()
    imap_server.clear()
    assert imap_server.folders() == ["INBOX"]
    assert imap_server.messages() == []


def test_idle_wakes_up_when_another_connection_appends(imap_server: DovecotServer) -> None:
    """A client in IDLE hears of a mail APPENDed by another connection within a few seconds."""
    watcher = imap_server.connect()
    try:
        watcher.select_folder("INBOX")
        watcher.idle()
        threading.Timer(0.3, imap_server.append, args=(RAW,)).start()
        started = time.monotonic()
        responses: list = []
        while not responses and time.monotonic() - started < 10:
            responses = watcher.idle_check(timeout=1)
        watcher.idle_done()
    finally:
        watcher.logout()
    assert (1, b"EXISTS") in responses


def test_dovecot_restart_keeps_mail(imap_server: DovecotServer) -> None:
    """After stop() and start() the server answers on the same port with the same mail."""
    imap_server.append(RAW)
    port = imap_server.port
    imap_server.stop()
    assert not imap_server.running
    with pytest.raises(OSError):
        IMAPClient(imap_server.host, port=port, ssl=False, timeout=5)
    imap_server.start()
    assert imap_server.port == port
    assert imap_server.messages() == [RAW]


def test_dovecot_survives_kill(imap_server: DovecotServer) -> None:
    """After kill() (a crash) start() brings the server back with its mail."""
    imap_server.append(RAW)
    imap_server.kill()
    assert not imap_server.running
    imap_server.start()
    assert imap_server.messages() == [RAW]


def _proposal_mail() -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = "INET - Stages <stages.inet@cnfpt.fr>"
    mail["To"] = "Mairie de Saint-Test <rh@saint-test.fr>"
    mail["Subject"] = "Accusé de réception de votre proposition"
    mail["Message-ID"] = "<ack-1@mailflow.test>"
    mail.set_content("Bonjour,\n\nnous avons bien reçu votre proposition.\n")
    return mail


def test_smtp_message_received_intact(smtp: SmtpServer) -> None:
    """A message sent with smtplib arrives with its envelope, headers and body unchanged."""
    with smtplib.SMTP(smtp.host, smtp.port, timeout=10) as client:
        client.send_message(_proposal_mail(), to_addrs=["rh@saint-test.fr", "dgs@saint-test.fr"])
    (mail,) = smtp.wait_for(1)
    assert mail.mail_from == "stages.inet@cnfpt.fr"
    assert mail.rcpt_tos == ("rh@saint-test.fr", "dgs@saint-test.fr")
    assert mail.message["Subject"] == "Accusé de réception de votre proposition"
    assert mail.message["Message-ID"] == "<ack-1@mailflow.test>"
    body = mail.message.get_content().splitlines()
    assert body == ["Bonjour,", "", "nous avons bien reçu votre proposition."]
    assert b"Message-ID: <ack-1@mailflow.test>" in mail.raw


def test_smtp_auth_and_starttls(smtp: SmtpServer) -> None:
    """After STARTTLS (verified against `cafile`) the test user logs in; the message records who sent it."""
    with smtplib.SMTP(smtp.host, smtp.port, timeout=10) as client:
        client.starttls(context=smtp.ssl_context())
        client.login(smtp.username, smtp.password)
        client.send_message(_proposal_mail())
    (mail,) = smtp.wait_for(1)
    assert mail.auth_user == smtp.username


def test_smtp_wrong_password_is_refused(smtp: SmtpServer) -> None:
    """A wrong SMTP password gets a 535 and nothing is received."""
    with (smtplib.SMTP(smtp.host, smtp.port, timeout=10) as client,
          pytest.raises(smtplib.SMTPAuthenticationError) as refused):
        client.login(smtp.username, "not-the-password")
    assert refused.value.smtp_code == 535
    assert smtp.messages == []


def test_smtp_refusal_then_acceptance(smtp: SmtpServer) -> None:
    """refuse_next() makes the next message fail with a 4xx; the one after is kept."""
    smtp.refuse_next(1)
    with smtplib.SMTP(smtp.host, smtp.port, timeout=10) as client:
        with pytest.raises(smtplib.SMTPDataError) as refused:
            client.send_message(_proposal_mail())
        assert refused.value.smtp_code == 451
        client.send_message(_proposal_mail())
    assert len(smtp.wait_for(1)) == 1


def test_smtp_stop_then_start_on_same_port(smtp: SmtpServer) -> None:
    """While stopped the port refuses connections; after start() the same port receives mail again."""
    port = smtp.port
    smtp.stop()
    with pytest.raises(OSError):
        smtplib.SMTP(smtp.host, port, timeout=5)
    smtp.start()
    with smtplib.SMTP(smtp.host, port, timeout=10) as client:
        client.send_message(_proposal_mail())
    assert len(smtp.wait_for(1)) == 1


def test_postgres_query(postgres_url: str) -> None:
    """SQLAlchemy connects to the PostgreSQL server and runs a query."""
    engine = sa.create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT 1 + 1")).scalar_one() == 2
    finally:
        engine.dispose()


def test_db_url_is_a_fresh_database(db_url: str) -> None:
    """Each `db_url` is an empty database a test can create tables in (SQLite and PostgreSQL)."""
    engine = sa.create_engine(db_url)
    try:
        assert sa.inspect(engine).get_table_names() == []
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE probe (label TEXT NOT NULL)"))
            conn.execute(sa.text("INSERT INTO probe (label) VALUES ('é')"))
            assert conn.execute(sa.text("SELECT label FROM probe")).scalar_one() == "é"
    finally:
        engine.dispose()
