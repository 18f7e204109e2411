"""Classify a mail before reading any form: ignore what must never be answered, find its thread.

`classify_message` is a pure function of the parsed mail and of a `thread_of` lookup
passed in (the database, in production). Whether a candidate is a proposal or a question
is decided afterwards, by extraction: a mail is a proposal when a form is found in it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.utils import getaddresses
from typing import Literal

REFERENCE = re.compile(r"\[([A-Z]{1,6}(?:-HC)?-\d{4}-\d{4})\]")
MESSAGE_ID = re.compile(r"<[^<>\s]+>")
FORWARD_SUBJECT = re.compile(r"^\s*(?:(?:re|tr|fw|fwd|aw|wg)\s*:\s*)*(?:tr|fw|fwd|wg)\s*:", re.IGNORECASE)
AUTO_REPLY_SUBJECT = re.compile(
    r"^\s*(?:r[ée]ponse automatique|automatic reply|auto(?:matic)?[- ]?reply|absence du bureau|out of (?:the )?office|"
    r"absent(?:e)? du bureau|autoreply)\b",
    re.IGNORECASE,
)
BOUNCE_SENDERS = re.compile(r"^(?:mailer-daemon|postmaster|mail-daemon|mailerdaemon)@", re.IGNORECASE)
BULK_PRECEDENCE = {"bulk", "junk", "list", "auto_reply", "auto-reply"}
# An inline forwarded block, as Outlook (French or English) and Thunderbird write it.
FORWARDED_FROM = re.compile(
    r"^(?:>\s*)?(?:De|From)\s*:\s*(?P<from>.+?)\s*$\n(?:^(?:>\s*)?[^\n]*\n){0,6}?^(?:>\s*)?(?:Envoy[ée]|Sent|Date)\s*:",
    re.IGNORECASE | re.MULTILINE,
)

VerdictKind = Literal["ignored", "reply", "candidate"]
ThreadLookup = Callable[[Sequence[str], Sequence[str]], str | None]


@dataclass(frozen=True)
class Verdict:
    """What a mail is, before extraction, and why (the reason is French: staff read it)."""

    kind: VerdictKind
    reason: str
    reference: str | None = None
    contact: str | None = None
    forwarded: bool = False


def classify_message(
    message: EmailMessage,
    *,
    own_addresses: Collection[str],
    own_domains: Collection[str],
    thread_of: ThreadLookup,
) -> Verdict:
    """Tell ignored mail (auto-replies, bounces, lists, our own) from replies and candidates.

    `thread_of(message_ids, references)` returns the proposal reference a reply belongs
    to, given the ids in In-Reply-To/References and the `[PC-…]` references in the subject.
    """
    ignored = _why_ignored(message, own_addresses, own_domains)
    if ignored:
        return Verdict("ignored", ignored)
    contact = reply_address(message)
    forwarded = is_forwarded(message)
    if forwarded:
        contact = forwarded_sender(message) or contact
    subject = header(message, "Subject")
    ids = thread_ids(message)
    subject_refs = REFERENCE.findall(subject)
    reference = thread_of(ids, subject_refs) if (ids or subject_refs) else None
    if reference:
        return Verdict("reply", f"réponse dans le fil de {reference}", reference, contact, forwarded)
    reason = "message transféré, jugé sur son contenu" if forwarded else "message d'un correspondant extérieur"
    return Verdict("candidate", reason, None, contact, forwarded)


def _why_ignored(message: EmailMessage, own_addresses: Collection[str], own_domains: Collection[str]) -> str | None:
    auto_submitted = header(message, "Auto-Submitted").strip().lower()
    if auto_submitted and not auto_submitted.startswith("no"):
        return f"réponse automatique (Auto-Submitted: {auto_submitted}) : ni dépôt ni accusé de réception"
    for name in ("X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress", "X-Auto-Response-Suppression"):
        if header(message, name):
            return f"réponse automatique (en-tête {name}) : ni dépôt ni accusé de réception"
    precedence = header(message, "Precedence").strip().lower()
    if precedence in BULK_PRECEDENCE:
        return f"envoi automatique ou en nombre (Precedence: {precedence})"
    if header(message, "List-Id") or header(message, "List-Unsubscribe") or header(message, "List-Post"):
        return "message d'une liste de diffusion (en-têtes List-*)"
    content_type = message.get_content_type()
    if content_type == "multipart/report" or _has_part(message, "message/delivery-status"):
        return "avis de non-remise ou accusé de lecture (multipart/report)"
    if "Return-Path" in message and header(message, "Return-Path").strip() in ("<>", ""):
        return "avis de non-remise (Return-Path vide)"
    sender = reply_address(message) or ""
    if BOUNCE_SENDERS.match(sender) or BOUNCE_SENDERS.match(from_address(message) or ""):
        return "avis de non-remise (MAILER-DAEMON)"
    own = {a.lower() for a in own_addresses}
    if (from_address(message) or "").lower() in own and not is_forwarded(message):
        return "message émis par le service des stages lui-même"
    domain = _id_domain(header(message, "Message-ID"))
    if domain and domain in {d.lower() for d in own_domains}:
        return "message émis par mailflow lui-même (Message-ID de notre domaine)"
    if AUTO_REPLY_SUBJECT.match(header(message, "Subject")):
        return "réponse automatique (objet du message) : ni dépôt ni accusé de réception"
    return None


def header(message: Message, name: str) -> str:
    """A header as text, '' when absent; a header the parser chokes on is returned as written."""
    try:
        value = message.get(name)
        return "" if value is None else str(value)
    except Exception:  # noqa: BLE001 - email's header parser raises many kinds of errors on hostile input
        wanted = name.lower()
        raw = next((v for k, v in message.raw_items() if k.lower() == wanted), "")
        return " ".join(str(raw).split())


def from_address(message: Message) -> str | None:
    """The From address, lower-cased."""
    return _first_address(header(message, "From"))


def reply_address(message: Message) -> str | None:
    """Where an answer goes: Reply-To where set, else From (lower-cased)."""
    return _first_address(header(message, "Reply-To")) or from_address(message)


def thread_ids(message: Message) -> list[str]:
    """Message-IDs in In-Reply-To and References (encoded words decoded by the parser)."""
    text = header(message, "In-Reply-To") + " " + header(message, "References")
    return list(dict.fromkeys(MESSAGE_ID.findall(text)))


def is_forwarded(message: EmailMessage) -> bool:
    """A forward: `TR:`/`Fwd:` subject, or an attached message/rfc822 carrying the content."""
    if FORWARD_SUBJECT.match(header(message, "Subject")):
        return True
    return any(part.get_content_type() == "message/rfc822" for part in message.walk())


def forwarded_sender(message: EmailMessage) -> str | None:
    """The original sender of a forwarded mail: the attached mail's From, or the inline 'De :' line."""
    for part in message.walk():
        if part.get_content_type() == "message/rfc822":
            payload = part.get_payload()
            inner = payload[0] if isinstance(payload, list) and payload else None
            if isinstance(inner, Message):
                found = reply_address(inner)
                if found:
                    return found
    body = message.get_body(preferencelist=("plain",)) if isinstance(message, EmailMessage) else None
    if body is None:
        return None
    try:
        text = body.get_content()
    except (LookupError, ValueError):
        return None
    match = FORWARDED_FROM.search(text)
    if not match:
        return None
    return _first_address(match.group("from").replace("[mailto:", "<").replace("]", ">"))


def _first_address(value: str) -> str | None:
    for _name, address in getaddresses([value]):
        if "@" in address:
            try:
                return str(Address(addr_spec=address.strip())).lower()
            except (ValueError, IndexError):
                return address.strip().lower()
    return None


def _id_domain(message_id: str) -> str | None:
    match = re.search(r"@([^>\s]+)>?", message_id)
    return match.group(1).lower() if match else None


def _has_part(message: Message, content_type: str) -> bool:
    return any(part.get_content_type() == content_type for part in message.walk())
