"""Classify a mail before reading any form: ignore what must never be answered, find its thread.

`classify_message` is a pure function of the parsed mail and of a `thread_of` lookup
passed in (the database, in production). Whether a candidate is a proposal or a question
is decided afterwards, by extraction: a mail is a proposal when a form is found in it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.utils import getaddresses
from typing import Literal

from mailflow.mail.parsing import header
from mailflow.pipeline.forwards import forwarded_author, is_forwarded
from mailflow.pipeline.robots import why_automatic

REFERENCE = re.compile(r"\[([A-Z]{1,6}(?:-HC)?-\d{4}-\d{4})\]")
MESSAGE_ID = re.compile(r"<[^<>\s]+>")
SYNTHETIC_ID_DOMAIN = "sans-message-id.mailflow.invalid"

VerdictKind = Literal["ignored", "internal", "reply", "candidate"]
ThreadLookup = Callable[[Sequence[str], Sequence[str]], str | None]


@dataclass(frozen=True)
class Verdict:
    """What a mail is, before extraction, and why (the reason is French: staff read it).

    `contact` is the only address an automatic answer may go to: the mail's own Reply-To or
    From, never the author of a message it forwards or returns (`author`, for staff only).
    `colleague` is set when the sender is at the institute (an internal domain): such a mail
    is never answered, except a proposal form it forwards (acknowledged to the form's addresses).
    """

    kind: VerdictKind
    reason: str
    reference: str | None = None
    contact: str | None = None
    forwarded: bool = False
    author: str | None = None
    colleague: bool = False


def classify_message(
    message: EmailMessage,
    *,
    own_addresses: Collection[str],
    own_domains: Collection[str],
    thread_of: ThreadLookup,
    internal_domains: Collection[str] = (),
    automatic: Callable[[EmailMessage], str | None] = why_automatic,
) -> Verdict:
    """Tell ignored mail (robots, lists, our own) and staff's mail from replies and candidates.

    `thread_of(message_ids, references)` returns the proposal reference a reply belongs
    to, given the ids in In-Reply-To/References and the `[PC-…]` references in the subject.
    `automatic(message)`: why software wrote the mail, None when a person did (`why_automatic`, or
    its answer from the reader process that read the mail).
    """
    ignored = _why_ignored(message, own_addresses, own_domains, automatic)
    if ignored:
        return Verdict("ignored", ignored)
    contact = reply_address(message)
    forwarded = is_forwarded(message)
    author = forwarded_author(message) if forwarded else None
    colleague = is_internal(from_address(message), internal_domains)
    if colleague and not forwarded:
        domain = (from_address(message) or "").rpartition("@")[2]
        return Verdict("internal", f"message d'un collègue ({domain})\u00a0: à traiter par le service des stages, "
                       "sans réponse automatique", None, contact, colleague=True)
    subject = header(message, "Subject")
    ids = thread_ids(message)
    subject_refs = REFERENCE.findall(subject)
    reference = thread_of(ids, subject_refs) if (ids or subject_refs) else None
    if reference:
        return Verdict("reply", f"réponse dans le fil de {reference}", reference, contact, forwarded, author,
                       colleague)
    if colleague:
        reason = "message transféré par un collègue, jugé sur son contenu"
    elif forwarded:
        reason = "message transféré, jugé sur son contenu"
    else:
        reason = "message d'un correspondant extérieur"
    return Verdict("candidate", reason, None, contact, forwarded, author, colleague)


def _why_ignored(message: EmailMessage, own_addresses: Collection[str], own_domains: Collection[str],
                 automatic: Callable[[EmailMessage], str | None]) -> str | None:
    robot = automatic(message)
    if robot:
        return f"{robot}\u00a0: ni dépôt ni réponse"
    own = {a.lower() for a in own_addresses}
    if (from_address(message) or "").lower() in own and not is_forwarded(message):
        return "message émis par le service des stages lui-même"
    domain = _id_domain(header(message, "Message-ID"))
    if domain and domain in {d.lower() for d in own_domains}:
        return "message émis par mailflow lui-même (Message-ID de notre domaine)"
    return None


def is_internal(address: str | None, internal_domains: Collection[str]) -> bool:
    """Whether `address` is at one of the institute's own domains (or a subdomain of one)."""
    if not address or "@" not in address:
        return False
    domain = address.rpartition("@")[2].lower().rstrip(".")
    for internal in internal_domains:
        internal = internal.lower().strip().lstrip("@").rstrip(".")
        if internal and (domain == internal or domain.endswith("." + internal)):
            return True
    return False


def message_id_of(message: Message, content_hash: str) -> str:
    """The mail's Message-ID, or a stable one made from its content hash when it has none usable,
    so that every mail can be named (`mailflow mail show`)."""
    value = header(message, "Message-ID").strip()
    found = MESSAGE_ID.search(value)
    if found:
        return found.group(0)
    if value and "@" in value and not any(c in value for c in "<> \t"):
        return f"<{value}>"  # written without its angle brackets
    return f"<{content_hash[:32]}@{SYNTHETIC_ID_DOMAIN}>"


EARLIEST_DATE = datetime(1990, 1, 1, tzinfo=UTC)
FUTURE_TOLERANCE = timedelta(days=2 * 366)


def believable_date(value: datetime | None, now: datetime) -> datetime | None:
    """A Date header worth believing: not before 1990 (a year 101 is a broken client) and not far in the
    future (over two years after `now`); None otherwise, and the arrival time is used instead."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    if value < EARLIEST_DATE or value > now + FUTURE_TOLERANCE:
        return None
    return value




def from_address(message: Message) -> str | None:
    """The From address, lower-cased."""
    return _first_address(header(message, "From"))


def reply_address(message: Message) -> str | None:
    """Where an answer goes (lower-cased): Reply-To when it is at the sender's own domain (a secretariat
    writing for a colleague), else From. An answer repeats words of the mail (its subject, its form): sent
    to another domain's Reply-To, it would carry a stranger's text to a third party from INET's address."""
    sender = from_address(message)
    reply_to = _first_address(header(message, "Reply-To"))
    if reply_to and sender and _same_domain(reply_to, sender):
        return reply_to
    return sender


def _same_domain(first: str, second: str) -> bool:
    a, b = first.rpartition("@")[2].rstrip("."), second.rpartition("@")[2].rstrip(".")
    return a == b or a.endswith("." + b) or b.endswith("." + a)


def thread_ids(message: Message) -> list[str]:
    """Message-IDs in In-Reply-To and References (encoded words decoded by the parser)."""
    text = header(message, "In-Reply-To") + " " + header(message, "References")
    return list(dict.fromkeys(MESSAGE_ID.findall(text)))


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
