"""Fillable PDF forms: answers typed in a PDF viewer live only in the fields; XFA-only forms are reported."""

from __future__ import annotations

import io
import random

import pdfplumber
import pytest

from mailflow.pipeline.extract import UnreadableDocument, extract_document
from tests.corpus import generate
from tests.corpus import layouts as L
from tests.corpus.render_pdf import latin, pdf_acroform
from tests.corpus.scoring import wrong_fields
from tests.extract_helpers import DEFINITION


def filled_acroform(i: int, labels_on_page: bool) -> tuple[dict, bytes]:
    rng = random.Random(i)
    typed, expected = generate.make_truth(rng, i)
    data = pdf_acroform(L.official_items(typed, notes=False), "glyph", rng=rng, labels_on_page=labels_on_page)
    expected = {s: {k: latin(v) if isinstance(v, str) else v for k, v in fields.items()}
                for s, fields in expected.items()}
    return expected, data


@pytest.mark.parametrize("labels_on_page", [True, False], ids=["labels-printed", "labels-in-tooltips"])
def test_acroform_pdf_is_read_field_by_field(labels_on_page: bool) -> None:
    """Every answer of a form filled in a viewer is read from its field, with or without printed labels."""
    expected, data = filled_acroform(4, labels_on_page)
    with pdfplumber.open(io.BytesIO(data)) as pdf:
        assert "Ville" not in pdf.pages[0].extract_text()  # the answers are not in the page's text
    forms = extract_document(data, "fiche-remplie.pdf", DEFINITION)
    assert isinstance(forms, list) and len(forms) == 1
    assert forms[0].source_kind == "pdf"
    assert wrong_fields(expected, forms[0].fields) == []


def _pdf(objects: list[bytes]) -> bytes:
    """A PDF file from numbered objects (1 0 obj ...), with a correct cross-reference table."""
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{n} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def test_xfa_only_form_is_reported_clearly() -> None:
    """An XFA form (answers in an XML packet, a "please wait" page) is unreadable, with the reason why."""
    text = b"BT /F1 12 Tf 72 720 Td (Please wait...) Tj ET"
    data = _pdf([
        b"<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [] /XFA 5 0 R >> >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 6 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(text) + text + b"\nendstream",
        b"<< /Length 20 >>\nstream\n<xdp:xdp></xdp:xdp>\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ])
    result = extract_document(data, "formulaire.pdf", DEFINITION)
    assert isinstance(result, UnreadableDocument)
    assert result.source_kind == "pdf"
    assert "XFA" in result.reason and "Word" in result.reason
