"""The two floors the ingest benchmark compares mailflow with (benchmarks/ingest.py).

(a)  fetch + parse: imapclient fetching every mail of INBOX in batches and `email` parsing and
     decoding every part; what any reader of the mailbox pays.
(a') (a) plus the fastest available text layer of every attachment: pypdfium2 (PDFium, shipped
     with pdfplumber) for a PDF's text, the document XML for Word and OpenDocument; what any reader
     of the forms pays, before understanding a word of them.
"""

from __future__ import annotations

import email
import email.policy
import io
import time
import zipfile
from collections.abc import Callable

import pypdfium2
from imapclient import IMAPClient
from lxml import etree

from mailflow.mail.imap_support import without_trace

BATCH = 50  # the same batch size as mailflow's default [mailbox] batch_size
_XML_OF = ("word/document.xml", "content.xml")


def text_layer(data: bytes) -> str:
    """The cheapest text of one attachment: PDFium's text for a PDF, the XML text of a .docx or .odt."""
    if data[:5] == b"%PDF-" or b"%PDF-" in data[:1024]:
        document = pypdfium2.PdfDocument(data)
        try:
            return "\n".join(page.get_textpage().get_text_range() for page in document)
        finally:
            document.close()
    if data[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                names = set(archive.namelist())
                for name in _XML_OF:
                    if name in names:
                        root = etree.fromstring(archive.read(name), etree.XMLParser(resolve_entities=False))
                        return " ".join(root.itertext())
        except (zipfile.BadZipFile, etree.XMLSyntaxError):
            return ""
    return ""


def _fetch_and_parse(dovecot, expected: int, per_part: Callable[[bytes], object]) -> tuple[float, float]:  # noqa: ANN001
    started, cpu = time.perf_counter(), time.process_time()
    client = without_trace(IMAPClient(dovecot.host, port=dovecot.port, ssl=False))  # as mailflow reads
    client.login(dovecot.username, dovecot.password)
    client.select_folder("INBOX", readonly=True)
    uids = client.search(["UNDELETED"])
    parsed = 0
    for start in range(0, len(uids), BATCH):
        data = client.fetch(uids[start:start + BATCH], ["BODY.PEEK[]", "INTERNALDATE"])
        for entry in data.values():
            message = email.message_from_bytes(entry[b"BODY[]"], policy=email.policy.default)
            for part in message.walk():
                if not part.is_multipart():
                    payload = part.get_payload(decode=True)
                    if payload and part.get_content_disposition() == "attachment":
                        per_part(payload)
            parsed += 1
    client.logout()
    took, cpu = time.perf_counter() - started, time.process_time() - cpu
    if parsed != expected:
        raise RuntimeError(f"raw fetch read {parsed} mails, expected {expected}")
    return took, cpu


def raw_limit(dovecot, expected: int) -> tuple[float, float]:  # noqa: ANN001
    """(a) Seconds (wall clock, and CPU of this process) to fetch every mail of INBOX (batches of 50)
    and parse each, every part decoded."""
    return _fetch_and_parse(dovecot, expected, lambda _data: None)


def text_limit(dovecot, expected: int) -> tuple[float, float]:  # noqa: ANN001
    """(a') Seconds (wall clock, CPU) for (a) plus the fastest text layer of every attachment."""
    return _fetch_and_parse(dovecot, expected, text_layer)
