"""The mail body as a form: plain text (or HTML turned into text), without the quoted thread.

Quoted replies are cut off ('>' lines, "-----Original Message-----", Outlook "De : … Envoyé : …"
blocks, "Le … a écrit :"), so an answer quoting our acknowledgement is not read as a form. A
forwarded mail (as mailflow.forwards tells it) keeps what it forwards.
"""

from __future__ import annotations

import re
from email.message import EmailMessage

from inscriptis import get_text

from mailflow.pipeline.extract.html import html_blocks
from mailflow.pipeline.extract.limits import Deadline
from mailflow.pipeline.extract.model import Block, Para
from mailflow.pipeline.forwards import FORWARD_SEPARATOR, is_forwarded

_HEADER_START = re.compile(r"^\s*\*?(de|from)\s*:\s*\*?\s*\S", re.I)
_HEADER_NEXT = re.compile(r"^\s*\*?(envoy[ée]|sent|date|[àa]|to|objet|subject|cc)\s*:", re.I)
_SEPARATORS = re.compile(
    r"^\s*(-{2,}\s*(original message|message d'origine|message original)\s*-{2,}|_{10,})\s*$", re.I)
_WROTE = re.compile(r"^\s*(le|on)\s.{4,200}\s(a [ée]crit|wrote)\s*:\s*$", re.I)


def body_text(message: EmailMessage) -> str | None:
    """The readable text of a message's own body: text/plain, else HTML converted by inscriptis."""
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return None
    content = _content(part)
    if part.get_content_subtype() == "html":
        return get_text(content)
    if part.get_param("format", "").lower() == "flowed":
        content = _unflow(content, part.get_param("delsp", "").lower() == "yes")
    return content


def _content(part: EmailMessage) -> str:
    """The part's text. Bytes that are not in its declared charset (Latin-1 labelled UTF-8, an unknown or
    missing charset) are read as Windows-1252, what French mail clients wrote before UTF-8."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "us-ascii"
    try:
        return payload.decode(charset)
    except (LookupError, UnicodeDecodeError):
        try:
            return payload.decode("utf-8")
        except UnicodeDecodeError:
            return payload.decode("cp1252", errors="replace")


def _unflow(text: str, delsp: bool) -> str:
    """RFC 3676: a line ending with a space continues on the next line."""
    out: list[str] = []
    joining = False
    for line in text.split("\n"):
        line = line.rstrip("\r")
        if line.startswith(" "):
            line = line[1:]
        if joining:
            out[-1] += line
        else:
            out.append(line)
        joining = line.endswith(" ") and line.strip() != "--"
        if joining and delsp:
            out[-1] = out[-1][:-1]
    return "\n".join(out)


def strip_quoted(text: str, forwarded: bool = False) -> str:
    """The text the sender wrote, without the thread it quotes."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept: list[str] = []
    for i, line in enumerate(lines):
        if line.lstrip().startswith(">"):
            continue
        if FORWARD_SEPARATOR.match(line):
            if forwarded:
                continue
            break
        if _SEPARATORS.match(line) or _WROTE.match(line):
            if forwarded:
                continue
            break
        if _HEADER_START.match(line) and any(_HEADER_NEXT.match(x) for x in lines[i + 1:i + 5]):
            if forwarded:
                continue
            break
        kept.append(line)
    return "\n".join(kept)


def body_blocks(message: EmailMessage, deadline: Deadline) -> list[Block]:
    """The sender's own text: one paragraph per line of a plain body (blank lines kept, they separate
    paragraphs); paragraphs and tables of an HTML-only body."""
    forwarded = is_forwarded(message)
    part = message.get_body(preferencelist=("plain", "html"))
    if part is not None and part.get_content_subtype() == "html":
        return _cut_blocks(html_blocks(_content(part), deadline, keep_quotes=forwarded), forwarded)
    text = body_text(message)
    if not text:
        return []
    return [Para((line.rstrip(),)) for line in strip_quoted(text, forwarded).split("\n")]


def _cut_blocks(blocks: list[Block], forwarded: bool) -> list[Block]:
    """Blocks up to the first line that starts a quoted message."""
    out: list[Block] = []
    for block in blocks:
        if isinstance(block, Para):
            text = "\n".join(block.lines)
            kept = strip_quoted(text, forwarded)
            if kept != text:
                if kept.strip():
                    out.append(Para(tuple(kept.split("\n"))))
                return out
        out.append(block)
    return out
