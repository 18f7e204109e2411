"""Transports against a real aiosmtpd server: STARTTLS, implicit TLS, AUTH, certificate checks, refusals."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from mailflow.clock import ManualClock
from mailflow.errors import (
    AuthenticationError,
    RecipientRefused,
    ServerUnreachable,
    SettingsError,
    SmtpAuthenticationError,
    TransportError,
)
from mailflow.mail.transport import DirectoryTransport, SmtpTransport, make_transport
from mailflow.settings import SmtpSettings
from tests.fixtures import free_port
from tests.fixtures.smtp import SmtpServer, start_smtp


def raw_mail(subject: str = "Accusé de réception") -> bytes:
    mail = EmailMessage()
    mail["From"] = "stages.inet@cnfpt.fr"
    mail["To"] = "rh@saint-test.fr"
    mail["Subject"] = subject
    mail["Message-ID"] = "<t1@cnfpt.fr>"
    mail.set_content("Nous accusons réception de votre proposition.\n")
    return mail.as_bytes(policy=policy.SMTP)


@pytest.fixture(scope="module")
def tls_server() -> Iterator[SmtpServer]:
    """An aiosmtpd server speaking implicit TLS (port 465 style), AUTH offered."""
    server = start_smtp(tls=True, auth=True)
    try:
        yield server
    finally:
        server.close()


def test_starttls_with_auth_delivers_the_exact_bytes(smtp: SmtpServer) -> None:
    """Over STARTTLS (certificate checked against ca_file) and logged in, the server gets the exact bytes."""
    transport = SmtpTransport(smtp.host, smtp.port, security="starttls", username=smtp.username or "",
                              password=lambda: smtp.password, ca_file=smtp.cafile, timeout=10)
    raw = raw_mail()
    transport.send(raw, "stages.inet@cnfpt.fr", ["rh@saint-test.fr", "dgs@saint-test.fr"])
    transport.send(raw_mail("Deuxième"), "stages.inet@cnfpt.fr", ["rh@saint-test.fr"])
    transport.close()
    first, second = smtp.wait_for(2)
    assert first.raw == raw
    assert first.mail_from == "stages.inet@cnfpt.fr"
    assert first.rcpt_tos == ("rh@saint-test.fr", "dgs@saint-test.fr")
    assert first.auth_user == smtp.username
    assert second.message["Subject"] == "Deuxième"


def test_implicit_tls_with_auth(tls_server: SmtpServer) -> None:
    """security = "tls" connects with TLS from the first byte and logs in."""
    tls_server.clear()
    transport = SmtpTransport(tls_server.host, tls_server.port, security="tls",
                              username=tls_server.username or "", password=lambda: tls_server.password,
                              ca_file=tls_server.cafile, timeout=10)
    transport.send(raw_mail(), "stages.inet@cnfpt.fr", ["rh@saint-test.fr"])
    transport.close()
    (mail,) = tls_server.wait_for(1)
    assert mail.auth_user == tls_server.username


def test_untrusted_certificate_is_refused(smtp: SmtpServer) -> None:
    """Without the test CA the self-signed certificate fails verification and nothing is sent."""
    transport = SmtpTransport(smtp.host, smtp.port, security="starttls", timeout=10)
    with pytest.raises(ServerUnreachable, match="certificate could not be verified"):
        transport.send(raw_mail(), "stages.inet@cnfpt.fr", ["rh@saint-test.fr"])
    assert smtp.messages == []


def test_wrong_password_is_an_authentication_error(smtp: SmtpServer) -> None:
    """A refused login raises an error that is both a TransportError and an AuthenticationError."""
    transport = SmtpTransport(smtp.host, smtp.port, security="starttls", username=smtp.username or "",
                              password=lambda: "wrong", ca_file=smtp.cafile, timeout=10)
    with pytest.raises(SmtpAuthenticationError, match="credentials refused") as refused:
        transport.send(raw_mail(), "stages.inet@cnfpt.fr", ["rh@saint-test.fr"])
    assert isinstance(refused.value, TransportError)
    assert isinstance(refused.value, AuthenticationError)
    assert smtp.messages == []


def test_server_down_is_unreachable() -> None:
    """Nothing listening on the port: ServerUnreachable, so the outbox waits instead of counting failures."""
    transport = SmtpTransport("127.0.0.1", free_port(), security="none", timeout=5)
    with pytest.raises(ServerUnreachable, match="cannot connect"):
        transport.send(raw_mail(), "stages.inet@cnfpt.fr", ["rh@saint-test.fr"])


def test_temporary_and_permanent_refusals(smtp: SmtpServer) -> None:
    """A 4xx is a plain TransportError (retry later); a 5xx is RecipientRefused (give up)."""
    transport = SmtpTransport(smtp.host, smtp.port, security="none", timeout=10)
    smtp.refuse_next(1)
    with pytest.raises(TransportError) as temporary:
        transport.send(raw_mail(), "stages.inet@cnfpt.fr", ["rh@saint-test.fr"])
    assert not isinstance(temporary.value, RecipientRefused)
    smtp.refuse_next(1, "554 5.7.1 Message rejected")
    with pytest.raises(RecipientRefused, match="554"):
        transport.send(raw_mail(), "stages.inet@cnfpt.fr", ["rh@saint-test.fr"])
    transport.send(raw_mail(), "stages.inet@cnfpt.fr", ["rh@saint-test.fr"])
    transport.close()
    assert len(smtp.wait_for(1)) == 1


def test_connection_dropped_by_the_server_is_reopened(smtp: SmtpServer) -> None:
    """The kept connection dies when the server restarts; the next send reconnects and succeeds."""
    transport = SmtpTransport(smtp.host, smtp.port, security="none", timeout=10)
    transport.send(raw_mail(), "stages.inet@cnfpt.fr", ["rh@saint-test.fr"])
    smtp.stop()
    smtp.start()
    transport.send(raw_mail("Après redémarrage"), "stages.inet@cnfpt.fr", ["rh@saint-test.fr"])
    transport.close()
    assert [m.message["Subject"] for m in smtp.wait_for(2)] == ["Accusé de réception", "Après redémarrage"]


def test_password_never_sent_in_clear_to_a_remote_host() -> None:
    """security = "none" with a username is refused at start unless the server is on loopback."""
    with pytest.raises(SettingsError, match="in clear"):
        SmtpTransport("smtp.example.org", 25, security="none", username="stages", password=lambda: "x")
    SmtpTransport("127.0.0.1", 25, security="none", username="stages", password=lambda: "x")


def test_directory_transport_writes_one_file_per_mail(tmp_path: Path) -> None:
    """Each mail becomes one complete .eml file named by time; no temporary file is left behind."""
    clock = ManualClock(datetime(2025, 6, 10, 7, 45, tzinfo=UTC))
    transport = DirectoryTransport(tmp_path / "outbox", clock)
    transport.check()
    transport.send(raw_mail(), "stages.inet@cnfpt.fr", ["rh@saint-test.fr"])
    transport.send(raw_mail("Deuxième"), "stages.inet@cnfpt.fr", ["rh@saint-test.fr"])
    files = sorted((tmp_path / "outbox").iterdir())
    assert len(files) == 2
    assert all(f.name.startswith("20250610T074500") and f.suffix == ".eml" for f in files)
    assert {f.read_bytes() for f in files} == {raw_mail(), raw_mail("Deuxième")}


def test_directory_transport_reports_an_unwritable_folder(tmp_path: Path) -> None:
    """A folder that cannot be created gives a TransportError naming it."""
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(TransportError, match="outbox folder"):
        DirectoryTransport(blocker / "outbox").send(raw_mail(), "a@b.fr", ["c@d.fr"])


def test_make_transport_follows_the_settings(tmp_path: Path) -> None:
    """kind = "directory" writes under the settings folder; kind = "smtp" gives an SMTP transport."""
    directory = make_transport(SmtpSettings(kind="directory", path=Path("var/outbox")), tmp_path)
    assert isinstance(directory, DirectoryTransport)
    assert directory.folder == tmp_path / "var/outbox"
    smtp = make_transport(SmtpSettings(kind="smtp", host="127.0.0.1", port=2525), tmp_path)
    assert isinstance(smtp, SmtpTransport)
    assert (smtp.host, smtp.port, smtp.security) == ("127.0.0.1", 2525, "starttls")
