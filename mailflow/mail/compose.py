"""Composing a safe outgoing mail: every header value that may come from a sender is reduced to one
bounded line, addresses are validated, and the written headers are read back before the mail is queued."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import EmailPolicy, compat32
from email.utils import format_datetime, getaddresses

from email_validator import EmailNotValidError, validate_email

from mailflow.errors import MailflowError
from mailflow.mail.parsing import HeaderClasses

MAX_SUBJECT = 200
MAX_HEADER_TEXT = 300
MAX_REFERENCES = 10
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]+")
_SPACES = re.compile(r" {2,}")
_MSGID = re.compile(r"<[^<>\s\"]{1,250}@[^<>\s\"@]{1,250}>")


class AddressError(MailflowError):
    """An address to write in a header is not a valid e-mail address (the mail is not composed)."""


class HeaderError(MailflowError):
    """A composed mail would not read back with the headers it was given (a bug; nothing is sent)."""


@dataclass(frozen=True)
class RenderedMail:
    """A template rendered for one mail: a one-line subject, a text body and an HTML body."""

    subject: str
    text: str
    html: str


def one_line(text: str, limit: int = MAX_SUBJECT) -> str:
    """Text made safe for a header: one bounded line, with no encoded-word syntax left.

    Control characters and line breaks become spaces (non-breaking spaces stay: French typography).
    `=?` is split, because the email package decodes a literal `=?utf-8?b?…?=` in a header value
    it is given, which could otherwise smuggle a line break, and a header, into the mail.
    """
    flat = _SPACES.sub(" ", _CONTROL.sub(" ", text)).strip().replace("=?", "= ?")
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


class MailPolicy(EmailPolicy):
    """policy.SMTP, except that Subject is folded by the legacy encoder.

    The modern folder can put two encoded words on either side of a fold, and RFC 2047
    readers then drop the space between them ("reçue après" is shown "reçueaprès").
    """

    def fold(self, name: str, value: str) -> str:
        if name.lower() == "subject":
            return self._subject(name, value)
        return super().fold(name, value)

    def fold_binary(self, name: str, value: str) -> bytes:
        if name.lower() == "subject":
            return self._subject(name, value).encode("ascii")
        return super().fold_binary(name, value)

    def _subject(self, name: str, value: str) -> str:
        words = str(value).split(" ")
        plain = 0
        while plain < len(words) and words[plain].isascii():
            plain += 1
        header = Header(header_name=name)
        if plain:
            header.append(" ".join(words[:plain]), "us-ascii")
        if plain < len(words):
            header.append(" ".join(words[plain:]), "utf-8")
        folded = header.encode(linesep=self.linesep, maxlinelen=self.max_line_length or 78)
        return f"{name}: {folded}{self.linesep}"


MAIL_POLICY = MailPolicy(linesep="\r\n", header_factory=HeaderClasses())


def parse_address(value: str) -> Address:
    """One address (`Name <a@b>` or `a@b`) as a header object; AddressError when it is not one."""
    flat = one_line(value, MAX_HEADER_TEXT * 2)
    pairs = [pair for pair in getaddresses([flat]) if pair[1]]
    if len(pairs) != 1:
        raise AddressError(f"not one e-mail address: {flat[:80]!r}")
    name, spec = pairs[0]
    try:
        valid = validate_email(
            spec, check_deliverability=False, allow_smtputf8=False, globally_deliverable=False,
            test_environment=True,
        )
    except EmailNotValidError as exc:
        raise AddressError(f"not a valid e-mail address: {spec[:80]!r} ({exc})") from None
    local, _, domain = valid.ascii_email.rpartition("@")
    return Address(display_name=one_line(name, 100), username=local, domain=domain)


def message_ids(values: Iterable[str | None]) -> list[str]:
    """The well-formed `<id@domain>` Message-IDs in header values a sender wrote, in order, once each."""
    found: list[str] = []
    for value in values:
        for match in _MSGID.findall(value or ""):
            if match not in found:
                found.append(match)
    return found


def new_message_id(domain: str, now: datetime) -> str:
    """A Message-ID on our domain: the UTC time for people, random bits for uniqueness."""
    stamp = now.astimezone(UTC).strftime("%Y%m%d%H%M%S")
    return f"<{stamp}.{secrets.token_hex(10)}@{domain}>"


def compose(
    rendered: RenderedMail,
    *,
    sender: str,
    to: list[str],
    cc: Sequence[str] = (),
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    auto_submitted: str = "auto-replied",
    message_id_domain: str,
    now: datetime,
    attachments: Sequence[tuple[str, str, bytes]] = (),
) -> EmailMessage:
    """An outgoing mail: text and HTML alternatives, threaded to the mail it answers, marked automatic.

    Every header value that may come from a sender (subject, display names, Message-IDs) is
    reduced to one bounded line, so it cannot add headers or break the mail. `attachments` are
    (filename, MIME type, bytes).
    """
    if not to:
        raise AddressError("a mail needs at least one recipient")
    mail = EmailMessage(policy=MAIL_POLICY)
    mail["From"] = parse_address(sender)
    mail["To"] = [parse_address(address) for address in to]
    if cc:
        mail["Cc"] = [parse_address(address) for address in cc]
    mail["Subject"] = one_line(rendered.subject)
    mail["Date"] = format_datetime(now.astimezone(UTC))
    mail["Message-ID"] = new_message_id(message_id_domain, now)
    parent = message_ids([in_reply_to])
    if parent:
        mail["In-Reply-To"] = parent[0]
    thread = message_ids([*references, *parent])[-MAX_REFERENCES:]
    if thread:
        mail["References"] = " ".join(thread)
    mail["Auto-Submitted"] = one_line(auto_submitted, 40)
    mail["X-Auto-Response-Suppress"] = "All"
    mail["Content-Language"] = "fr-FR"
    mail.set_content(rendered.text, charset="utf-8")
    mail.add_alternative(rendered.html, subtype="html", charset="utf-8")
    for filename, mime_type, data in attachments:
        maintype, _, subtype = mime_type.partition("/")
        mail.add_attachment(
            data, maintype=maintype or "application", subtype=subtype or "octet-stream",
            filename=one_line(filename, 150),
        )
    _check_headers(mail)
    return mail


def preview(mail: EmailMessage) -> str:
    """A composed mail as staff proof-read it: main headers decoded, then the text and HTML parts."""
    lines = [f"{name}: {mail[name]}" for name in
             ("From", "To", "Cc", "Subject", "Date", "Message-ID", "In-Reply-To", "Auto-Submitted")
             if mail[name] is not None]
    for kind in ("plain", "html"):
        part = mail.get_body((kind,))
        if part is not None:
            content = part.get_content().replace("\r\n", "\n")
            lines += ["", f"----- {'text' if kind == 'plain' else 'HTML'} part -----", content.rstrip("\n")]
    for attachment in mail.iter_attachments():
        lines.append(f"----- attachment: {attachment.get_filename()} ({attachment.get_content_type()}) -----")
    return "\n".join(lines) + "\n"


def _check_headers(mail: EmailMessage) -> None:
    """Serialise the headers (as the generator does, without the body) and read them back: the same
    names, in the same order, or HeaderError."""
    head = b"".join(mail.policy.fold_binary(name, value) for name, value in mail.items()) + b"\r\n"
    written = [name.lower() for name in BytesHeaderParser(policy=compat32).parsebytes(head)]
    if written != [name.lower() for name in mail]:
        raise HeaderError(f"headers changed when written: {written} (subject {str(mail['Subject'])[:80]!r})")


@dataclass(frozen=True)
class Composer:
    """`compose` bound to what every mail mailflow sends shares: our sender and our Message-ID domain."""

    sender: str
    message_id_domain: str

    def __call__(self, rendered: RenderedMail, *, to: list[str], now: datetime, **options: object) -> EmailMessage:
        """Compose `rendered` for `to`; `options` are compose()'s (cc, in_reply_to, references, …)."""
        return compose(rendered, sender=self.sender, message_id_domain=self.message_id_domain, to=to, now=now,
                       **options)  # type: ignore[arg-type]
