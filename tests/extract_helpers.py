"""Helpers for the extraction tests: mails carrying a document, a small filled form, the definition."""

from __future__ import annotations

import email
import email.policy
import io
import random
from email.message import EmailMessage

from mailflow.pipeline.forms.definition import load_form_definition
from tests.corpus import generate

DEFINITION = load_form_definition()


def mail_with(
    *attachments: tuple[bytes, str, str],
    body: str = "Bonjour,\n\nCi-joint notre fiche.\n",
    subject: str = "Proposition de projet collectif",
) -> EmailMessage:
    """A mail from a collectivité with the given (bytes, filename, content type) attachments."""
    message = EmailMessage()
    message["From"] = "rh@ville.example.fr"
    message["To"] = "stages.inet@cnfpt.fr"
    message["Subject"] = subject
    message["Message-ID"] = "<test@ville.example.fr>"
    message.set_content(body)
    for data, filename, content_type in attachments:
        maintype, subtype = content_type.split("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return reparse(message)


def reparse(message: EmailMessage) -> EmailMessage:
    """The message as the pipeline gets it: bytes parsed with email.policy.default."""
    return email.message_from_bytes(bytes(message), policy=email.policy.default)


def filled(i: int = 3, carrier: str = "docx", layout: str = "table2", ticks: str = "glyph"):
    """(typed values, expected record, document bytes) of one generated form."""
    rng = random.Random(i)
    typed, expected = generate.make_truth(rng, i)
    render = {"docx": generate.render_docx, "pdf": generate.render_pdf, "odt": generate.render_odt}[carrier]
    return typed, expected, render(typed, layout, "official", ticks, rng)


DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def pdf_bytes(
    pages: int = 1, text: str = "Bonjour", image: bool = False, password: str | None = None
) -> bytes:
    """A small PDF made with fpdf2: text pages, or an image-only page (a scan)."""
    from fpdf import FPDF
    from PIL import Image

    pdf = FPDF()
    pdf.set_font("helvetica", size=12)
    for _ in range(pages):
        pdf.add_page()
        if image:
            picture = Image.new("RGB", (200, 280), "white")
            buffer = io.BytesIO()
            picture.save(buffer, format="PNG")
            pdf.image(io.BytesIO(buffer.getvalue()), x=10, y=10, w=180)
        else:
            pdf.multi_cell(0, 8, text)
    if password:
        pdf.set_encryption(owner_password="owner", user_password=password)
    return bytes(pdf.output())
