"""Reading a raw mail, in memory or spooled to a file: its header block alone (to record it cheaply),
its date, or the whole message, in chunks; and what a sender wrote made safe to store."""

from __future__ import annotations

import binascii
import email.feedparser
import email.parser
import email.policy
import re
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import EmailMessage, Message
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import NamedTuple

from mailflow.mail.spool import RawMail, SpooledMail


class HeaderClasses(HeaderRegistry):
    """email's header registry, making each header's class once. The standard one builds a new class
    (`type(...)`) for every header it parses or sets: a few percent of the daemon's time."""

    def __init__(self) -> None:
        super().__init__()
        self._classes: dict[str, type[BaseHeader]] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        made = self._classes.get(key)
        if made is None:
            made = self._classes[key] = super().__getitem__(name)
        return made


class _RememberedHeaders(HeaderClasses):
    """email's header registry, remembering the headers it parsed. The modern policy parses a header
    again at every read, and the stages read each part's Content-Type and Content-Transfer-Encoding
    hundreds of times per mail: that was a tenth of the daemon's time. Header objects are immutable.
    It keeps the last 256, those of the mails at hand: as many hits as 4,096 on the benchmark's mails,
    where 4,096 kept other mails' headers and their parse trees (some 25 MB in a daemon after 1,000 mails)."""

    @lru_cache(maxsize=256)  # noqa: B019 - one registry for the process's life
    def __call__(self, name: str, value: str) -> BaseHeader:
        return super().__call__(name, value)


POLICY = email.policy.default.clone(header_factory=_RememberedHeaders())


def header_block(raw: RawMail) -> bytes:
    """The header section of a raw mail, up to and including the blank line that ends it (for a spooled
    mail, looked for in its first HEAD_BYTES)."""
    head = raw if isinstance(raw, bytes) else raw[:HEAD_BYTES]
    ends = [found for found in (head.find(b"\r\n\r\n"), head.find(b"\n\n")) if found >= 0]
    return head[: min(ends) + 2] if ends else head


def header_date(raw: RawMail) -> datetime | None:
    """The `Date` header of a raw mail as an aware datetime, or None when absent or unreadable."""
    headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(header_block(raw))
    value = headers.get("Date")
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(str(value))
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_headers(raw: RawMail) -> EmailMessage:
    """Only the header block of a raw mail: enough to record it, without decoding its body."""
    message = email.parser.BytesHeaderParser(policy=POLICY).parsebytes(header_block(raw))
    assert isinstance(message, EmailMessage)
    return message


PARSE_CHUNK = 1 << 20
STREAM_CHUNK = 1 << 20
WINDOW_BYTES = 1 << 20  # a spooled mail is scanned this much at a time
HEAD_BYTES = 1 << 20  # where a spooled mail's header block is looked for
# Sixty-four full lines of base64 or more: an attachment's body, but its last line.
BASE64_RUN = re.compile(rb"(?m)^(?:[A-Za-z0-9+/]{40,}+\r?\n){64,}+")  # possessive: no backtracking stack
BASE64_LINES = re.compile(rb"(?:[A-Za-z0-9+/]{40,}+\r?\n)*+")
LAST_LINE = re.compile(rb"[A-Za-z0-9+/]*={0,2}\r?\n")
_DETACHED = "_mailflow_detached"


class _Run(NamedTuple):
    """A run of base64 lines in the raw mail, its last line included; its letters make whole groups of four."""

    start: int
    end: int
    padded: bool


def parse(raw: RawMail) -> EmailMessage:
    """Parse raw bytes into an EmailMessage (modern policy); malformed parts are recorded as defects.

    email's parser holds a body as a list of lines, then as one string, beside the raw bytes: a
    20 MB scan was held four times over. The long base64 runs of attachments are kept out of it: the
    parser reads the mail with a marker line in their place, and `detached_body` decodes them
    from `raw` itself, read when asked for when the mail is spooled to a file. Text parts get their
    own text back, so every other reader sees the usual tree.
    """
    runs = _runs(raw)
    source = memoryview(raw) if isinstance(raw, bytes) else raw
    token = secrets.token_hex(8)
    parser = email.feedparser.BytesFeedParser(policy=POLICY)
    done, spans = 0, {}
    for number, run in enumerate(runs):
        marker = f"mailflow-detached-{token}-{number}"
        _feed(parser, source, done, run.start)
        parser.feed(marker.encode() + b"\n")
        spans[marker] = run
        done = run.end
    _feed(parser, source, done, len(source))
    message = parser.close()
    assert isinstance(message, EmailMessage)
    if runs:
        _reattach(message, source, spans, re.compile(f"(mailflow-detached-{token}-[0-9]+)(\n|\\Z)"))
    return message


def _feed(parser: email.feedparser.BytesFeedParser, source: memoryview | SpooledMail, start: int, end: int) -> None:
    for at in range(start, end, PARSE_CHUNK):  # in 1 MB chunks: in one piece the peak is higher still
        parser.feed(bytes(source[at : min(end, at + PARSE_CHUNK)]))


def _windows(raw: RawMail) -> Iterator[tuple[int, bytes]]:
    """The mail in windows that end at a line's end, with where each starts: one window for a mail in
    memory, WINDOW_BYTES at a time for a spooled one."""
    if isinstance(raw, bytes):
        yield 0, raw
        return
    at = 0
    while at < len(raw):
        window = raw[at : at + WINDOW_BYTES]
        if not window:
            return  # the file is shorter than it was: the parser gets what there is
        if at + len(window) < len(raw) and (cut := window.rfind(b"\n") + 1):
            window = window[:cut]
        yield at, window
        at += len(window)


def _runs(raw: RawMail) -> list[_Run]:
    """The base64 runs of `raw` that decode in one piece. A run that reaches the end of its window goes
    on in the next one; of a run begun fewer than 64 lines before a window's end, those lines are left
    to the parser, and the rest is a run of its own."""
    runs: list[_Run] = []
    begun: tuple[int, int] | None = None  # where a run reaching its window's end began, and its letters
    line_start = True  # the window begins a line (not so after a line longer than a window)
    for at, window in _windows(raw):
        last_window = at + len(window) >= len(raw)
        resume = 0 if line_start else window.find(b"\n") + 1 or len(window)
        line_start = window.endswith(b"\n")
        if begun is not None:
            resume = BASE64_LINES.match(window).end()
            start, letters = begun
            begun = None
            if resume == len(window) and not last_window:
                begun = (start, letters + _letters(window, 0, resume))
                continue
            runs += _ended(window, at, start, letters + _letters(window, 0, resume), resume)
        for run in BASE64_RUN.finditer(window, resume):
            if run.end() == len(window) and not last_window:
                begun = (at + run.start(), _letters(window, *run.span()))
                break
            runs += _ended(window, at, at + run.start(), _letters(window, *run.span()), run.end())
    return runs


def _ended(window: bytes, at: int, start: int, letters: int, end: int) -> list[_Run]:
    """The run from `start` to `end` (in `window`, which starts at `at`) with the short or padded line that
    ends it, so that it decodes in one piece; none when its letters do not make whole groups of four
    (a line of odd width after it: left to the parser)."""
    last = LAST_LINE.match(window, end)
    if last and (letters + _letters(window, end, last.end())) % 4 == 0:
        return [_Run(start, at + last.end(), b"=" in last.group())]
    return [_Run(start, at + end, False)] if letters % 4 == 0 else []


def _letters(window: bytes, start: int, end: int) -> int:
    return end - start - window.count(b"\n", start, end) - window.count(b"\r", start, end)


def _reattach(message: EmailMessage, source: memoryview | SpooledMail, spans: dict[str, _Run],
              marker: re.Pattern[str]) -> None:
    """Leave detached the runs of non-text base64 leaves; give every other part (and the text before
    and after a multipart's parts) its text back."""
    for part in message.walk():
        for side in ("preamble", "epilogue"):
            text = getattr(part, side, None)
            if text and marker.search(text):
                setattr(part, side, _restored(text, marker, spans, source))
        # The payload as parsed (8-bit bytes kept as surrogates): get_payload() would replace them.
        payload = part._payload  # noqa: SLF001
        if not isinstance(payload, str) or not marker.search(payload):
            continue
        pieces = marker.split(payload)[::3]  # the text around the markers (split also gives both groups)
        where = [spans[f.group(1)] for f in marker.finditer(payload)]
        binary = (part.get_content_maintype() not in ("text", "message", "multipart")
                  and str(part.get("Content-Transfer-Encoding", "")).strip().lower() == "base64")
        if binary and _decodes_in_pieces(where, pieces):
            setattr(part, _DETACHED, (pieces, source, where))
        else:
            part.set_payload(_restored(payload, marker, spans, source))


def _restored(text: str, marker: re.Pattern[str], spans: dict[str, _Run], source: memoryview | SpooledMail) -> str:
    """`text` with each marker replaced by the lines it stood for. A marker on the last line has lost its
    line ending to the boundary that follows, as those lines' own last line ending would have."""
    def original(found: re.Match[str]) -> str:
        run = spans[found.group(1)]
        written = bytes(source[run.start : run.end]).decode("ascii")
        return written if found.group(2) else written.removesuffix("\n").removesuffix("\r")
    return marker.sub(original, text)


def _decodes_in_pieces(runs: list[_Run], pieces: list[str]) -> bool:
    """Whether decoding the runs and the text between them one by one gives what decoding the whole
    gives: every piece in whole groups of four ASCII letters (as every run is), and padding only at the
    very end. A detached body therefore always decodes, in pieces as well as whole."""
    if any(not piece.isascii() or _base64_length(piece) % 4 for piece in pieces):
        return False
    padded = ["=" in pieces[0]] if pieces[0].strip() else []
    for run, piece in zip(runs, pieces[1:], strict=True):
        padded.append(run.padded)
        if piece.strip():
            padded.append("=" in piece)
    return not any(padded[:-1])


def _base64_length(text: str) -> int:
    return sum(1 for c in text if c.isalnum() or c in "+/=")


def detached_chunks(part: Message, chunk: int = STREAM_CHUNK) -> Iterator[bytes] | None:
    """The decoded bytes of a leaf whose base64 runs `parse` kept out of the parser, a megabyte of base64
    at a time (to be written somewhere without the whole in memory); None for any other leaf."""
    found = getattr(part, _DETACHED, None)
    return None if found is None else _chunks(*found, chunk)


def _chunks(pieces: list[str], source: memoryview | SpooledMail, runs: list[_Run], chunk: int) -> Iterator[bytes]:
    yield binascii.a2b_base64(pieces[0])
    for run, piece in zip(runs, pieces[1:], strict=True):
        carry = b""  # letters of a group of four cut by the chunk's end (runs are whole groups: see parse)
        for start in range(run.start, run.end, chunk):
            letters = carry + bytes(source[start : min(run.end, start + chunk)]).translate(None, b"\r\n")
            whole = len(letters) - len(letters) % 4
            carry = letters[whole:]
            yield binascii.a2b_base64(letters[:whole])
        yield binascii.a2b_base64(piece)


def detached_body(part: Message) -> bytes | None:
    """The decoded bytes of a leaf whose base64 runs `parse` kept out of the parser; None for any other.

    A body that does not decode as it stands (padding in its middle…) is given back to the part as
    text, None is returned, and the caller decodes it as email would, leniently."""
    found = getattr(part, _DETACHED, None)
    if found is None:
        return None
    pieces, source, runs = found
    try:
        if len(runs) == 1 and not "".join(pieces).strip():  # the usual case: the whole body in one run
            return binascii.a2b_base64(source[runs[0].start : runs[0].end])
        decoded = bytearray()
        for chunk in _chunks(pieces, source, runs, STREAM_CHUNK):
            decoded += chunk
        return bytes(decoded)
    except (binascii.Error, ValueError):
        text = [pieces[0]]
        for run, piece in zip(runs, pieces[1:], strict=True):
            text += [bytes(source[run.start : run.end]).decode("ascii"), piece]
        part.set_payload("".join(text))
        delattr(part, _DETACHED)
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


def storable(text: str) -> str:
    """Text from a sender made safe for any database: no NUL character, no lone surrogate."""
    return text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


def part_filename(part: EmailMessage) -> str:
    """The display name of an attached file, "" when absent or when its header cannot be decoded."""
    try:
        return part.get_filename() or ""
    except Exception:  # noqa: BLE001 - a broken Content-Disposition only loses the display name
        return ""
