"""Walk a message's MIME tree: the attachments to read and the bodies that may hold a typed form."""

from __future__ import annotations

import binascii
import contextlib
import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from functools import cached_property
from pathlib import PurePath

from mailflow.mail.parsing import detached_body, detached_chunks

_DOCUMENT_TYPES = {
    "application/pdf": "pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.ms-word.document.macroenabled.12": "docx",
    "application/vnd.oasis.opendocument.text": "odt",
    "application/msword": "doc",
    "application/rtf": "rtf",
    "text/rtf": "rtf",
}
_EXTENSIONS = {".pdf": "pdf", ".docx": "docx", ".docm": "docx", ".dotx": "docx", ".odt": "odt", ".ott": "odt",
               ".doc": "doc", ".dot": "doc", ".rtf": "rtf"}
HEAD_BYTES = 4096
_NAMES = {"pdf": "PDF", "docx": "Word (.docx)", "odt": "OpenDocument (.odt)", "doc": "Word (.doc)",
          "rtf": "RTF (.rtf)"}


@dataclass(frozen=True, eq=False)
class Attachment:
    """One attached file: its decoded name, declared type and Content-Disposition, and its bytes. These
    come decoded (`source` bytes), or are decoded from the leaf when first asked for: a scan that is
    only archived is streamed to the archive (`chunks`), never held whole in memory."""

    filename: str | None
    content_type: str
    source: bytes | Message
    disposition: str | None = None

    @cached_property
    def data(self) -> bytes:
        if isinstance(self.source, bytes):
            return self.source
        return decoded(self.source) or b""

    @cached_property
    def head(self) -> bytes:
        """The first bytes, enough to tell what the file is."""
        found = b""
        for chunk in self.chunks():
            found += chunk[: HEAD_BYTES - len(found)]
            if len(found) >= HEAD_BYTES:
                break
        return found

    def chunks(self) -> Iterator[bytes]:
        """The bytes in pieces: those of a leaf whose base64 `parse` kept apart, decoded as they are read."""
        pieces = None if isinstance(self.source, bytes) or "data" in self.__dict__ else detached_chunks(self.source)
        return iter((self.data,)) if pieces is None else pieces


def decoded(part: Message) -> bytes | None:
    """A leaf part's bytes, decoded once: from the raw mail when `parse` kept its base64 out of the
    parser, else base64 straight from the parsed text (email's own decoder first copies the whole
    text to bytes, which for a 20 MB scan is 27 MB more at the peak)."""
    detached = detached_body(part)
    if detached is not None:
        return detached
    payload = part.get_payload()
    if isinstance(payload, str) and part.get("Content-Transfer-Encoding", "").strip().lower() == "base64":
        with contextlib.suppress(binascii.Error, ValueError):
            return binascii.a2b_base64(payload)
    data = part.get_payload(decode=True)
    return bytes(data) if isinstance(data, bytes | bytearray) else None


def _disposition(part: Message) -> str | None:
    try:
        return part.get_content_disposition()
    except Exception:
        return None


def _filename(part: Message) -> str | None:
    try:
        name = part.get_filename()
    except Exception:
        return None
    if name and "=?" in name:
        with contextlib.suppress(Exception):
            name = str(make_header(decode_header(name)))
    if not name:
        return None
    name = re.sub(r"[\x00-\x1f]", "", str(name)).strip()
    return PurePath(name.replace("\\", "/")).name or None


def _is_body_text(part: Message) -> bool:
    return (part.get_content_maintype() == "text" and part.get_content_subtype() in ("plain", "html")
            and part.get_content_disposition() != "attachment" and _filename(part) is None)


def collect(message: EmailMessage) -> tuple[list[Attachment], list[EmailMessage]]:
    """Attachments in tree order (forwarded messages included) and the messages whose body may be a form."""
    attachments: list[Attachment] = []
    bodies: list[EmailMessage] = [message]
    for part in message.walk():
        if part.get_content_type() == "message/rfc822":  # a forwarded mail: its body may be the form
            payload = part.get_payload()
            inner = payload[0] if isinstance(payload, list) and payload else None
            if isinstance(inner, EmailMessage):
                bodies.append(inner)
            continue
        if part.is_multipart():
            continue
        if _is_body_text(part):
            continue
        if detached_chunks(part) is not None:  # decoded when asked for
            attachments.append(Attachment(_filename(part), part.get_content_type(), part, _disposition(part)))
            continue
        try:
            data = decoded(part)
        except Exception:
            data = None
        if data is None:
            continue
        attachments.append(Attachment(_filename(part), part.get_content_type(), data, _disposition(part)))
    return attachments, bodies


def _zip_names(data: bytes) -> set[str]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist()[:5000])
            if "mimetype" in names:
                info = archive.getinfo("mimetype")
                if info.file_size < 200:
                    names.add("mimetype:" + archive.read("mimetype").decode("ascii", "replace").strip())
            return names
    except Exception:
        return set()


def sniff(attachment: Attachment) -> str | None:
    """What an attachment is, from its bytes first and its name/type second.

    Returns "pdf", "docx", "odt", "doc", "rtf", "winmail", "zip", "encrypted", "corrupt:<kind>", or None
    for files that are not forms at all (images, calendars, spreadsheets...).
    """
    data, name = attachment.head, (attachment.filename or "").lower()
    ext = PurePath(name).suffix
    claimed = _EXTENSIONS.get(ext) or _DOCUMENT_TYPES.get(attachment.content_type.lower())
    if name == "winmail.dat" or "tnef" in attachment.content_type.lower() or data[:4] == b"\x78\x9f\x3e\x22":
        return "winmail"
    if b"%PDF-" in data[:1024]:
        return "pdf"
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        names = _zip_names(attachment.data)
        if "word/document.xml" in names or (claimed == "docx" and "_rels/.rels" in names):
            return "docx"
        if "mimetype:application/vnd.oasis.opendocument.text" in names or (
                claimed == "odt" and "content.xml" in names):
            return "odt"
        if claimed in ("docx", "odt"):
            return f"corrupt:{claimed}"
        return "zip" if ext == ".zip" or "zip" in attachment.content_type.lower() else None
    if data[:4] == b"\xd0\xcf\x11\xe0":
        if claimed == "docx":
            return "encrypted"
        return "doc" if claimed == "doc" else None
    if data.lstrip()[:5] == b"{\\rtf":
        return "rtf"
    if claimed:
        return f"corrupt:{claimed}"
    return None


def kind_name(kind: str) -> str:
    """How a document kind is named in French reasons."""
    return _NAMES.get(kind, kind)
