"""Transports: how an outgoing mail leaves mailflow (an SMTP server, or a folder of .eml files).

The outbox decides *what* to send and *when*; a transport only hands bytes over and says, with
a `TransportError`, why it could not. `ServerUnreachable` means nothing can be sent right now
(the outbox stops and waits); `RecipientRefused` means this mail will never be accepted (the
outbox stops retrying it); anything else is retried later.
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import os
import smtplib
import ssl
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from mailflow.clock import Clock, SystemClock
from mailflow.errors import (
    RecipientRefused,
    ServerUnreachable,
    SettingsError,
    SmtpAuthenticationError,
    TransportError,
)
from mailflow.files import why_not_creatable, write_atomically
from mailflow.mail.oauth import SMTP_REFUSED_HINT, TokenSource
from mailflow.settings import SmtpSettings


class Transport(Protocol):
    """Hands one mail to the next hop; raises TransportError when it could not."""

    def send(self, raw: bytes, sender: str, recipients: list[str]) -> None: ...








class SmtpTransport:
    """Sends through an SMTP server: implicit TLS, STARTTLS or plain, with optional AUTH.

    Certificates are verified against the system CAs (or `ca_file`) and the host name. A
    password is never sent over an unencrypted connection except to a loopback address. The
    connection is kept open between mails and reopened once if the server dropped it.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        security: str = "starttls",
        username: str = "",
        password: Callable[[], str | None] = lambda: None,
        token_source: TokenSource | None = None,
        ca_file: Path | None = None,
        timeout: float = 60,
        local_hostname: str | None = None,
    ):
        if security not in ("tls", "starttls", "none"):
            raise SettingsError(f'[smtp] security: expected "tls", "starttls" or "none", got "{security}"')
        if security == "none" and username and not _loopback(host):
            raise SettingsError(
                f'[smtp] security = "none" with a username: the password would cross the network in clear '
                f"to {host}; use starttls or tls"
            )
        self.host, self.port, self.security = host, port, security
        self.username = username
        self._password = password
        self._token_source = token_source
        self.ca_file = ca_file
        self.timeout = timeout
        self.local_hostname = local_hostname
        self._client: smtplib.SMTP | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: SmtpSettings, token_source: TokenSource | None = None) -> SmtpTransport:
        """A transport configured from `[smtp]`; `token_source` gives OAuth2 tokens when auth = "oauth2"."""
        if settings.auth == "oauth2" and token_source is None:
            raise SettingsError('[smtp] auth = "oauth2" needs a token source (see mailflow.oauth2)')
        return cls(
            settings.host, settings.port, security=settings.security, username=settings.username,
            password=settings.password, token_source=token_source if settings.auth == "oauth2" else None,
            ca_file=settings.ca_file, timeout=settings.timeout_seconds,
        )

    def send(self, raw: bytes, sender: str, recipients: list[str]) -> None:
        """Hand `raw` to the server for `recipients`; every refused recipient makes it fail."""
        if not recipients:
            raise RecipientRefused("no recipient given for this mail")
        with self._lock:
            for attempt in (1, 2):
                client = self._client or self._connect()
                self._client = client
                try:
                    refused = client.sendmail(sender, recipients, raw)
                except smtplib.SMTPServerDisconnected as exc:
                    self._drop()
                    if attempt == 2:
                        raise ServerUnreachable(f"{self._where()}: connection lost ({exc})") from exc
                    continue
                except smtplib.SMTPRecipientsRefused as exc:
                    self._reset()
                    raise _refusal(exc.recipients, self._where()) from exc
                except smtplib.SMTPResponseException as exc:
                    self._reset()
                    raise _response_error(exc, self._where()) from exc
                except (OSError, smtplib.SMTPException) as exc:
                    self._drop()
                    raise TransportError(f"{self._where()}: {exc.__class__.__name__}: {exc}") from exc
                if refused:
                    raise _refusal(refused, self._where())
                return

    def check(self) -> None:
        """Connect, log in and say goodbye: raises the error a real send would meet (`mailflow check`)."""
        with self._lock:
            self._drop()
            self._connect().quit()

    def close(self) -> None:
        """Say goodbye to the server if a connection is open."""
        with self._lock:
            if self._client is not None:
                with contextlib.suppress(OSError, smtplib.SMTPException):
                    self._client.quit()
                self._client = None

    def _where(self) -> str:
        return f"SMTP {self.host}:{self.port}"

    def _context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)

    def _connect(self) -> smtplib.SMTP:
        try:
            client = self._open()
        except ssl.SSLCertVerificationError as exc:
            raise ServerUnreachable(
                f"{self._where()}: the server's certificate could not be verified ({exc.verify_message}); "
                "set [smtp] ca_file if it is signed by a private authority"
            ) from exc
        except (ssl.SSLError, smtplib.SMTPNotSupportedError) as exc:
            raise ServerUnreachable(f"{self._where()}: TLS failed ({exc})") from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise ServerUnreachable(f"{self._where()}: cannot connect ({type(exc).__name__}: {exc})") from exc
        try:
            self._login(client)
        except BaseException:
            _abort(client)
            raise
        return client

    def _open(self) -> smtplib.SMTP:
        if self.security == "tls":
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=self._context(),
                local_hostname=self.local_hostname,
            )
            client.ehlo()
            return client
        client = smtplib.SMTP(self.host, self.port, timeout=self.timeout, local_hostname=self.local_hostname)
        client.ehlo()
        if self.security == "starttls":
            if not client.has_extn("starttls"):
                _abort(client)
                raise smtplib.SMTPNotSupportedError("the server does not offer STARTTLS")
            client.starttls(context=self._context())
            client.ehlo()
        return client

    def _login(self, client: smtplib.SMTP) -> None:
        if not self.username:
            return
        try:
            if self._token_source is not None:
                token = self._token_source()
                initial = f"user={self.username}\x01auth=Bearer {token}\x01\x01"
                client.auth("XOAUTH2", lambda challenge=None: initial if challenge is None else "",
                            initial_response_ok=True)
            else:
                password = self._password()
                if password is None:
                    raise SettingsError("[smtp] username is set but no password_env or password_file")
                client.login(self.username, password)
        except smtplib.SMTPAuthenticationError as exc:
            hint = "check the password, and that SMTP AUTH is enabled for this mailbox"
            if self._token_source is not None:

                hint = SMTP_REFUSED_HINT
            raise SmtpAuthenticationError(
                f"{self._where()}: credentials refused for {self.username} "
                f"({exc.smtp_code} {_text(exc.smtp_error)}); {hint}"
            ) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise SmtpAuthenticationError(f"{self._where()}: the server offers no AUTH ({exc})") from exc

    def _reset(self) -> None:
        if self._client is not None:
            try:
                self._client.rset()
            except (OSError, smtplib.SMTPException):
                self._drop()

    def _drop(self) -> None:
        if self._client is not None:
            _abort(self._client)
            self._client = None


def _abort(client: smtplib.SMTP) -> None:
    with contextlib.suppress(OSError):
        client.close()


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _refusal(refused: dict[str, tuple[int, bytes]], where: str) -> TransportError:
    details = "; ".join(f"{address}: {code} {_text(reply)}" for address, (code, reply) in refused.items())
    if all(code >= 500 for code, _ in refused.values()):
        return RecipientRefused(f"{where}: recipient refused ({details})")
    return TransportError(f"{where}: recipient temporarily refused ({details})")


def _response_error(exc: smtplib.SMTPResponseException, where: str) -> TransportError:
    message = f"{where}: {exc.smtp_code} {_text(exc.smtp_error)}"
    if exc.smtp_code in (421, 454):
        return ServerUnreachable(message)
    return RecipientRefused(message) if exc.smtp_code >= 500 else TransportError(message)


class DirectoryTransport:
    """Writes each mail as `<folder>/<timestamp>-<id>.eml` (the embedded default, and for proof-reading).

    The file appears whole or not at all (temporary file, fsync, rename). The envelope is not
    kept: the mail's own To and Cc headers say who it is for.
    """

    def __init__(self, folder: Path, clock: Clock | None = None):
        self.folder = folder
        self.clock = clock or SystemClock()

    def check(self) -> None:
        """Raise TransportError unless the folder accepts files, or can be created by the first mail where
        it is absent; creates nothing (`mailflow check`)."""
        try:
            if not self.folder.exists():
                why = why_not_creatable(self.folder)
                if why is not None:
                    raise TransportError(f"outbox folder {why}")
                return
            with tempfile.TemporaryFile(dir=self.folder):
                pass
        except OSError as exc:
            raise TransportError(f"outbox folder {self.folder}: not writable ({exc.strerror})") from exc

    def send(self, raw: bytes, sender: str, recipients: list[str]) -> None:
        """Write `raw` to a new file in the folder."""
        stamp = self.clock.now().strftime("%Y%m%dT%H%M%S%fZ")
        name = f"{stamp}-{base64.b32encode(os.urandom(5)).decode().lower()}.eml"
        try:
            write_atomically(self.folder / name, raw)
        except OSError as exc:
            raise TransportError(f"outbox folder {self.folder}: cannot write ({exc.strerror})") from exc


def make_transport(
    settings: SmtpSettings,
    base: Path,
    token_source: TokenSource | None = None,
    *,
    clock: Clock | None = None,
) -> Transport:
    """The transport `[smtp]` asks for; a relative directory path is taken from `base`."""
    if settings.kind == "directory":
        folder = settings.path if settings.path.is_absolute() else base / settings.path
        return DirectoryTransport(folder, clock)
    return SmtpTransport.from_settings(settings, token_source)

