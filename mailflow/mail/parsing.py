"""Reading a raw mail: its header block alone (to record it cheaply), or the whole message, in chunks; and
what a sender wrote made safe to store."""

from __future__ import annotations

import email.feedparser
import email.parser
import email.policy
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import EmailMessage, Message
from functools import lru_cache

from mailflow.mail.mailbox import header_block


class _RememberedHeaders(HeaderRegistry):
    """email's header registry, remembering the headers it parsed. The modern policy parses a header
    again at every read, and the stages read each part's Content-Type and Content-Transfer-Encoding
    hundreds of times per mail: that was a tenth of the daemon's time. Header objects are immutable."""

    @lru_cache(maxsize=4096)  # noqa: B019 - one registry for the process's life
    def __call__(self, name: str, value: str) -> BaseHeader:
        return super().__call__(name, value)


POLICY = email.policy.default.clone(header_factory=_RememberedHeaders())


def parse_headers(raw: bytes) -> EmailMessage:
    """Only the header block of a raw mail: enough to record it, without decoding its body."""
    message = email.parser.BytesHeaderParser(policy=POLICY).parsebytes(header_block(raw))
    assert isinstance(message, EmailMessage)
    return message


PARSE_CHUNK = 1 << 20


def parse(raw: bytes) -> EmailMessage:
    """Parse raw bytes into an EmailMessage (modern policy); malformed parts are recorded as defects.

    The bytes are fed in 1 MB chunks: parsing a 27 MB mail in one piece peaks at about 7 times its
    size, in chunks at about 3 times.
    """
    parser = email.feedparser.BytesFeedParser(policy=POLICY)
    view = memoryview(raw)
    for start in range(0, len(raw), PARSE_CHUNK):
        parser.feed(bytes(view[start : start + PARSE_CHUNK]))
    message = parser.close()
    assert isinstance(message, EmailMessage)
    return message


def header(message: Message, name: str) -> str:
    """A header as text, '' when absent; a header the parser chokes on is returned as written."""
    try:
        value = message.get(name)
        return "" if value is None else str(value)
    except Exception:  # noqa: BLE001 - email's header parser raises many kinds of errors on hostile input
        wanted = name.lower()
        raw = next((v for k, v in message.raw_items() if k.lower() == wanted), "")
        return " ".join(str(raw).split())


def storable(text: str) -> str:
    """Text from a sender made safe for any database: no NUL character, no lone surrogate."""
    return text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


def part_filename(part: EmailMessage) -> str:
    """The display name of an attached file, "" when absent or when its header cannot be decoded."""
    try:
        return part.get_filename() or ""
    except Exception:  # noqa: BLE001 - a broken Content-Disposition only loses the display name
        return ""
