"""Property tests: no input makes the extractor raise anything but its own documented errors."""

from __future__ import annotations

import email
import email.policy
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailflow.errors import ExtractionError
from mailflow.pipeline.extract import Extraction, UnreadableDocument, convert, extract_document, extract_forms
from tests.extract_helpers import DEFINITION, DOCX, filled, mail_with, pdf_bytes

_DOCX = filled(i=2)[2]
_PDF = pdf_bytes(text="Nom de la collectivité : Ville\nN° de SIRET : 21690266800013")
NAMES = st.sampled_from(
    [
        "fiche.docx",
        "fiche.pdf",
        "fiche.odt",
        "fiche.doc",
        "fiche.rtf",
        "winmail.dat",
        "fiche.zip",
        "image.png",
        None,
    ]
)
TYPES = st.sampled_from(
    [
        DOCX,
        "application/pdf",
        "application/vnd.oasis.opendocument.text",
        "application/octet-stream",
        "image/png",
        "text/plain",
    ]
)
PREFIXES = st.sampled_from(
    [b"", b"%PDF-1.7\n", b"PK\x03\x04", b"\xd0\xcf\x11\xe0", b"{\\rtf1 ", b"\x78\x9f\x3e\x22"]
)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _read(data: bytes, name: str | None, content_type: str):
    # LibreOffice is left out here (one process per example would make this test minutes long);
    # the conversion path has its own test in test_extract_bad_input.py.
    try:
        with mock.patch.object(convert, "soffice_path", return_value=None):
            return extract_document(data, name, DEFINITION, content_type=content_type)
    except ExtractionError:
        return None


@SETTINGS
@given(prefix=PREFIXES, data=st.binary(max_size=4000), name=NAMES, content_type=TYPES)
def test_random_bytes_never_escape(prefix, data, name, content_type):
    """Random bytes behind any magic number and name give forms, an unreadable verdict, or nothing."""
    result = _read(prefix + data, name, content_type)
    assert result is None or isinstance(result, UnreadableDocument | list)
    if isinstance(result, UnreadableDocument):
        assert result.reason


@SETTINGS
@given(
    positions=st.lists(st.integers(min_value=0, max_value=len(_DOCX) - 1), min_size=1, max_size=20),
    value=st.integers(min_value=0, max_value=255),
)
def test_damaged_docx_never_escapes(positions, value):
    """A real .docx with bytes overwritten is read or reported unreadable, never raised."""
    data = bytearray(_DOCX)
    for position in positions:
        data[position] = value
    result = _read(bytes(data), "fiche.docx", DOCX)
    assert result is None or isinstance(result, UnreadableDocument | list)


@SETTINGS
@given(cut=st.integers(min_value=0, max_value=len(_PDF)), junk=st.binary(max_size=200))
def test_damaged_pdf_never_escapes(cut, junk):
    """A real PDF cut short and followed by junk is read or reported unreadable, never raised."""
    result = _read(_PDF[:cut] + junk, "fiche.pdf", "application/pdf")
    assert result is None or isinstance(result, UnreadableDocument | list)


@SETTINGS
@given(raw=st.binary(max_size=3000))
def test_any_message_bytes_give_an_extraction(raw):
    """Whatever bytes arrive as a mail, extract_forms returns an Extraction."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(extract_forms(message, DEFINITION), Extraction)


@SETTINGS
@given(body=st.text(max_size=2000), subject=st.text(max_size=80))
def test_any_body_text_gives_an_extraction(body, subject):
    """Any text typed in a body (and any subject) gives an Extraction, maybe with no form."""
    message = mail_with(body=body, subject=" ".join(subject.splitlines()))
    result = extract_forms(message, DEFINITION)
    assert isinstance(result, Extraction)
    assert all(f.source_kind == "body" for f in result.forms)
