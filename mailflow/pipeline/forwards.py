"""Forwarded mail: the one place that says whether a mail forwards another, and whose it was.

Classification needs it to choose who may receive an automatic answer (the forwarder, never
the forwarded message's author); extraction needs it to keep the forwarded text rather than
cut it as a quoted thread. Both ask here, so they never disagree.
"""

from __future__ import annotations

import re
from email.message import EmailMessage, Message
from email.utils import getaddresses

from mailflow.mail.parsing import header

# "TR:", "Fwd:", "FW:", "WG:" (German), "Transféré :", possibly after "RE:" prefixes.
FORWARD_SUBJECT = re.compile(
    r"^\s*(?:(?:re|aw|sv)\s*:\s*)*(?:tr|fwd?|wg|transf[ée]r[ée])\s*:", re.IGNORECASE
)
# The line a mail client writes above an inline forwarded message (Gmail, Thunderbird, Apple Mail).
FORWARD_SEPARATOR = re.compile(
    r"^\s*(?:-{2,}\s*(?:forwarded message|message transf[ée]r[ée])\s*-{2,}"
    r"|begin forwarded message\s*:|d[ée]but du message r[ée]exp[ée]di[ée]\s*:)\s*$",
    re.IGNORECASE | re.MULTILINE,
)
# An inline forwarded header block, as Outlook (French or English) and Thunderbird write it.
FORWARDED_FROM = re.compile(
    r"^(?:>\s*)?\*?(?:De|From)\s*:\s*\*?\s*(?P<from>.+?)\s*$\n(?:^(?:>\s*)?[^\n]*\n){0,6}?"
    r"^(?:>\s*)?\*?(?:Envoy[ée]|Sent|Date)\s*:",
    re.IGNORECASE | re.MULTILINE,
)


def forwards_by_subject(message: Message) -> bool:
    """The subject says the mail is a forward (`TR:`, `Fwd:`…)."""
    return bool(FORWARD_SUBJECT.match(_subject(message)))


def is_forwarded(message: EmailMessage) -> bool:
    """A forward: a `TR:`/`Fwd:` subject, an attached message (message/rfc822), or a forward separator
    ("---------- Forwarded message ---------", "Début du message réexpédié :") in the body."""
    if forwards_by_subject(message) or attached_messages(message):
        return True
    text = own_text(message)
    return bool(text and FORWARD_SEPARATOR.search(text))


def attached_messages(message: Message) -> list[Message]:
    """The messages carried whole inside this one (message/rfc822 parts), in tree order."""
    found = []
    for part in message.walk():
        if part.get_content_type() == "message/rfc822":
            payload = part.get_payload()
            inner = payload[0] if isinstance(payload, list) and payload else None
            if isinstance(inner, Message):
                found.append(inner)
    return found


def forwarded_author(message: EmailMessage) -> str | None:
    """Who wrote the forwarded message (for staff only: the author never receives anything).

    The attached message's From, else the first inline "De : … Envoyé : …" block's address.
    """
    for inner in attached_messages(message):
        for _name, address in getaddresses([header(inner, "From")]):
            if "@" in address:
                return address.strip().lower()
    text = own_text(message)
    match = FORWARDED_FROM.search(text or "")
    if not match:
        return None
    value = match.group("from").replace("[mailto:", "<").replace("]", ">")
    for _name, address in getaddresses([value]):
        if "@" in address:
            return address.strip().lower()
    return None


def own_text(message: Message) -> str | None:
    """The mail's own plain-text body (not the attached messages'), or None."""
    if not isinstance(message, EmailMessage):
        return None
    try:
        body = message.get_body(preferencelist=("plain",))
        text = body.get_content() if body is not None else None
    except (LookupError, ValueError, AssertionError, KeyError):
        return None
    return text if isinstance(text, str) else None


def _subject(message: Message) -> str:
    return header(message, "Subject")

