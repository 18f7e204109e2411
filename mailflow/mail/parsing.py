"""Reading a raw mail: its header block alone (to record it cheaply), or the whole message, in chunks; and
what a sender wrote made safe to store."""

from __future__ import annotations

import binascii
import email.feedparser
import email.parser
import email.policy
import re
import secrets
from collections.abc import Iterator
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import EmailMessage, Message
from functools import lru_cache


class _RememberedHeaders(HeaderRegistry):
    """email's header registry, remembering the headers it parsed. The modern policy parses a header
    again at every read, and the stages read each part's Content-Type and Content-Transfer-Encoding
    hundreds of times per mail: that was a tenth of the daemon's time. Header objects are immutable.
    It keeps the last 256, those of the mails at hand: as many hits as 4,096 on the benchmark's mails,
    where 4,096 kept other mails' headers and their parse trees (some 25 MB in a daemon after 1,000 mails)."""

    @lru_cache(maxsize=256)  # noqa: B019 - one registry for the process's life
    def __call__(self, name: str, value: str) -> BaseHeader:
        return super().__call__(name, value)


POLICY = email.policy.default.clone(header_factory=_RememberedHeaders())


def header_block(head: bytes) -> bytes:
    """The header section of a raw mail, up to and including the blank line that ends it."""
    ends = [found for found in (head.find(b"\r\n\r\n"), head.find(b"\n\n")) if found >= 0]
    return head[: min(ends) + 2] if ends else head


def parse_headers(raw: bytes) -> EmailMessage:
    """Only the header block of a raw mail: enough to record it, without decoding its body."""
    message = email.parser.BytesHeaderParser(policy=POLICY).parsebytes(header_block(raw))
    assert isinstance(message, EmailMessage)
    return message


PARSE_CHUNK = 1 << 20
STREAM_CHUNK = 1 << 20
# Sixty-four full lines of base64 or more: an attachment's body, but its last line.
BASE64_RUN = re.compile(rb"(?m)^(?:[A-Za-z0-9+/]{40,}+\r?\n){64,}+")  # possessive: no backtracking stack
LAST_LINE = re.compile(rb"[A-Za-z0-9+/]*={0,2}\r?\n")
_DETACHED = "_mailflow_detached"


def parse(raw: bytes) -> EmailMessage:
    """Parse raw bytes into an EmailMessage (modern policy); malformed parts are recorded as defects.

    email's parser holds a body as a list of lines, then as one string, beside the raw bytes: a
    20 MB scan was held four times over. The long base64 runs of attachments are kept out of it: the
    parser reads the mail with a marker line in their place, and `detached_body` decodes them
    from `raw` itself. Text parts get their own text back, so every other reader sees the usual tree.
    """
    runs = [span for span in map(_with_last_line, BASE64_RUN.finditer(raw)) if span is not None]
    if not runs:
        return _parse_bytes(raw)
    token = secrets.token_hex(8)
    view = memoryview(raw)
    pieces, spans, done = [], {}, 0
    for number, (start, end) in enumerate(runs):
        marker = f"mailflow-detached-{token}-{number}"
        pieces += [view[done:start], marker.encode() + b"\n"]
        spans[marker] = (start, end)
        done = end
    pieces.append(view[done:])
    message = _parse_bytes(b"".join(pieces))
    _reattach(message, raw, spans, re.compile(f"(mailflow-detached-{token}-[0-9]+)(\n|\\Z)"))
    return message


def _with_last_line(run: re.Match[bytes]) -> tuple[int, int] | None:
    """The run and the short or padded line that ends it, so that it decodes in one piece; None when
    its letters do not make whole groups of four (a line of odd width after it: left to the parser)."""
    raw, (start, end) = run.string, run.span()
    last = LAST_LINE.match(raw, end)
    for stop in ((last.end(), end) if last else (end,)):
        letters = stop - start - raw.count(b"\n", start, stop) - raw.count(b"\r", start, stop)
        if letters % 4 == 0:
            return start, stop
    return None


def _parse_bytes(raw: bytes) -> EmailMessage:
    parser = email.feedparser.BytesFeedParser(policy=POLICY)
    view = memoryview(raw)
    for start in range(0, len(raw), PARSE_CHUNK):  # in 1 MB chunks: in one piece the peak is higher still
        parser.feed(bytes(view[start : start + PARSE_CHUNK]))
    message = parser.close()
    assert isinstance(message, EmailMessage)
    return message


def _reattach(message: EmailMessage, raw: bytes, spans: dict[str, tuple[int, int]],
              marker: re.Pattern[str]) -> None:
    """Leave detached the runs of non-text base64 leaves; give every other part (and the text before
    and after a multipart's parts) its text back."""
    view = memoryview(raw)
    for part in message.walk():
        for side in ("preamble", "epilogue"):
            text = getattr(part, side, None)
            if text and marker.search(text):
                setattr(part, side, _restored(text, marker, spans, raw))
        # The payload as parsed (8-bit bytes kept as surrogates): get_payload() would replace them.
        payload = part._payload  # noqa: SLF001
        if not isinstance(payload, str) or not marker.search(payload):
            continue
        pieces = marker.split(payload)[::3]  # the text around the markers (split also gives both groups)
        where = [spans[f.group(1)] for f in marker.finditer(payload)]
        binary = (part.get_content_maintype() not in ("text", "message", "multipart")
                  and str(part.get("Content-Transfer-Encoding", "")).strip().lower() == "base64")
        if binary and _decodes_in_pieces(raw, where, pieces):
            setattr(part, _DETACHED, (pieces, [view[a:b] for a, b in where]))
        else:
            part.set_payload(_restored(payload, marker, spans, raw))


def _restored(text: str, marker: re.Pattern[str], spans: dict[str, tuple[int, int]], raw: bytes) -> str:
    """`text` with each marker replaced by the lines it stood for. A marker on the last line has lost its
    line ending to the boundary that follows, as those lines' own last line ending would have."""
    def original(found: re.Match[str]) -> str:
        start, end = spans[found.group(1)]
        written = raw[start:end].decode("ascii")
        return written if found.group(2) else written.removesuffix("\n").removesuffix("\r")
    return marker.sub(original, text)


def _decodes_in_pieces(raw: bytes, where: list[tuple[int, int]], pieces: list[str]) -> bool:
    """Whether decoding the runs and the text between them one by one gives what decoding the whole
    gives: every run and piece in whole groups of four ASCII letters, and padding only at the very end.
    A detached body therefore always decodes, in pieces as well as whole."""
    if any(not piece.isascii() or _base64_length(piece) % 4 for piece in pieces) or any(
            (end - start - raw.count(b"\n", start, end) - raw.count(b"\r", start, end)) % 4 for start, end in where):
        return False
    padded = ["=" in pieces[0]] if pieces[0].strip() else []
    for (start, end), piece in zip(where, pieces[1:], strict=True):
        padded.append(raw.find(b"=", start, end) >= 0)
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


def _chunks(pieces: list[str], runs: list[memoryview], chunk: int) -> Iterator[bytes]:
    yield binascii.a2b_base64(pieces[0])
    for run, piece in zip(runs, pieces[1:], strict=True):
        carry = b""  # letters of a group of four cut by the chunk's end (runs are whole groups: see parse)
        for start in range(0, len(run), chunk):
            letters = carry + bytes(run[start:start + chunk]).translate(None, b"\r\n")
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
    pieces, runs = found
    try:
        if len(runs) == 1 and not "".join(pieces).strip():
            return binascii.a2b_base64(runs[0])  # the usual case: the whole body in one run, without a copy
        decoded = bytearray()
        for chunk in _chunks(pieces, runs, STREAM_CHUNK):
            decoded += chunk
        return bytes(decoded)
    except (binascii.Error, ValueError):
        text = [pieces[0]]
        for run, piece in zip(runs, pieces[1:], strict=True):
            text += [bytes(run).decode("ascii"), piece]
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
