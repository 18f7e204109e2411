"""Every document that cannot be read ends as an UnreadableDocument with a French reason, never a crash."""

from __future__ import annotations

import io
import threading
import zipfile

import pytest

from mailflow.pipeline.extract import ExtractionLimits, extract_forms
from mailflow.pipeline.extract import convert as convert_module
from mailflow.pipeline.extract.docx import read_docx
from mailflow.pipeline.extract.limits import Deadline
from tests.extract_helpers import DEFINITION, DOCX, filled, mail_with, pdf_bytes


def _only_unreadable(message, limits: ExtractionLimits | None = None):
    result = extract_forms(message, DEFINITION, limits or ExtractionLimits())
    assert result.forms == ()
    assert len(result.unreadable) == 1
    return result.unreadable[0]


def test_password_protected_pdf_is_unreadable():
    """A PDF that needs a password is reported as protected, with its filename."""
    message = mail_with((pdf_bytes(password="secret"), "fiche.pdf", "application/pdf"))
    doc = _only_unreadable(message)
    assert doc.filename == "fiche.pdf"
    assert doc.reason == "le fichier PDF est protégé par un mot de passe"


def test_scanned_pdf_is_reported_as_a_scan():
    """A PDF made only of images is a scan: source kind "scan", to be read by a person."""
    doc = _only_unreadable(mail_with((pdf_bytes(image=True), "scan.pdf", "application/pdf")))
    assert doc.source_kind == "scan"
    assert doc.reason.startswith("document numérisé (image sans texte)")


def test_pdf_with_too_many_pages_is_not_read():
    """A PDF longer than the page limit is refused with the page count in the reason."""
    message = mail_with((pdf_bytes(pages=5), "long.pdf", "application/pdf"))
    doc = _only_unreadable(message, ExtractionLimits(max_pages=3))
    assert "5 pages (maximum 3)" in doc.reason


def test_truncated_pdf_is_reported_damaged():
    """A PDF cut in the middle is reported damaged or without text, not raised."""
    data = pdf_bytes(text="Nom de la collectivité : Ville de Test")[:200]
    doc = _only_unreadable(mail_with((data, "coupe.pdf", "application/pdf")))
    assert doc.source_kind in ("pdf", None)
    assert "PDF" in doc.reason


def test_corrupt_docx_is_reported_damaged():
    """Bytes that only start like a zip, named .docx, are a damaged Word file."""
    doc = _only_unreadable(mail_with((b"PK\x03\x04" + b"\x00" * 300, "fiche.docx", DOCX)))
    assert doc.reason.startswith("le fichier Word (.docx) est endommagé")


def test_word_package_without_its_main_document_is_reported_damaged():
    """A valid zip named .docx whose relationships name no main document, or a missing one, is damaged."""
    _, _, data = filled()
    for dropped in ("_rels/.rels", "word/document.xml"):
        source = zipfile.ZipFile(io.BytesIO(data))
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for name in source.namelist():
                if name != dropped:
                    archive.writestr(name, source.read(name))
        doc = _only_unreadable(mail_with((buffer.getvalue(), "fiche.docx", DOCX)))
        assert doc.reason == "le fichier Word (.docx) est endommagé ou illisible", dropped


def test_word_entities_are_never_expanded(tmp_path):
    """A Word body declaring entities (a local file, a billion laughs) is read without expanding them:
    nothing of the file and no blown-up text reaches the reading."""
    secret = tmp_path / "secret.txt"
    secret.write_text("MOT-DE-PASSE-SECRET", encoding="utf-8")
    _, _, data = filled()
    source = zipfile.ZipFile(io.BytesIO(data))
    body = source.read("word/document.xml").decode("utf-8")
    declaration = (f'<!DOCTYPE w:document [<!ENTITY file SYSTEM "file://{secret}">'
                   '<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
                   '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>')
    start = body.index("<w:document")
    body = body[:start] + declaration + body[start:]
    body = body.replace("<w:body>", "<w:body><w:p><w:r><w:t>&file;&d;</w:t></w:r></w:p>", 1)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in source.namelist():
            archive.writestr(name, body.encode("utf-8") if name == "word/document.xml" else source.read(name))
    text = repr(read_docx(buffer.getvalue(), ExtractionLimits(), Deadline(30)))
    assert "MOT-DE-PASSE-SECRET" not in text
    assert "aaaaaaaaaa" not in text
    assert len(extract_forms(mail_with((buffer.getvalue(), "fiche.docx", DOCX)), DEFINITION).forms) == 1


def test_encrypted_docx_is_reported_protected():
    """An encrypted Office file (an OLE container named .docx) is reported as password-protected."""
    doc = _only_unreadable(
        mail_with((b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "fiche.docx", DOCX))
    )
    assert doc.reason == "le fichier Word est protégé par un mot de passe"


def _bomb(size: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", " " * size)
    return buffer.getvalue()


def test_zip_bomb_ratio_is_refused_before_unzipping():
    """A docx whose document inflates more than the ratio limit allows is refused as a suspected zip bomb."""
    doc = _only_unreadable(mail_with((_bomb(3_000_000), "bombe.docx", DOCX)))
    assert "taux de compression anormal" in doc.reason
    assert "bombe zip" in doc.reason


def test_uncompressed_size_limit_is_refused_before_unzipping():
    """A docx that inflates past the total size limit is refused, naming the size and the limit."""
    doc = _only_unreadable(
        mail_with((_bomb(2_000_000), "gros.docx", DOCX)), ExtractionLimits(max_uncompressed_bytes=1_000_000)
    )
    assert "se décompresse en" in doc.reason and "maximum 1,0 Mo" in doc.reason


def test_attachment_over_the_size_limit_is_not_read():
    """An attachment larger than max_attachment_bytes is refused with its size."""
    _, _, data = filled()
    doc = _only_unreadable(mail_with((data, "fiche.docx", DOCX)), ExtractionLimits(max_attachment_bytes=1000))
    assert doc.reason.startswith("pièce jointe trop volumineuse")


def test_winmail_dat_is_unreadable_with_advice():
    """Outlook's winmail.dat is reported unreadable, asking for a Word or PDF attachment."""
    doc = _only_unreadable(
        mail_with((b"\x78\x9f\x3e\x22" + b"\x00" * 100, "winmail.dat", "application/ms-tnef"))
    )
    assert doc.reason.startswith("pièce jointe au format winmail.dat (Outlook) illisible")


def test_zip_archive_is_not_opened():
    """A .zip attachment is reported as not opened, asking for the form itself."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("fiche.txt", "Nom de la collectivité : Ville")
    doc = _only_unreadable(mail_with((buffer.getvalue(), "fiche.zip", "application/zip")))
    assert doc.reason.startswith("archive compressée (.zip) non ouverte")


def test_time_limit_works_in_a_worker_thread():
    """The per-document time limit stops a document read from a non-main thread (no SIGALRM)."""
    _, _, data = filled()
    message = mail_with((data, "fiche.docx", DOCX))
    results = []
    worker = threading.Thread(
        target=lambda: results.append(
            extract_forms(message, DEFINITION, ExtractionLimits(seconds_per_document=0.0))
        )
    )
    worker.start()
    worker.join(60)
    assert results, "the extraction did not return"
    assert results[0].forms == ()
    assert (
        results[0].unreadable[0].reason.startswith("lecture du document interrompue : délai de 0 s dépassé")
    )


def test_blank_form_is_reported_as_not_filled():
    """The blank form sent back unfilled is reported, not filed as an empty proposal."""
    from tests.test_extract_samples import SHARED

    blank = SHARED / "forms" / "proposition-projet-collectif-2025.docx"
    if not blank.exists():
        pytest.skip("../shared/forms not present")
    doc = _only_unreadable(mail_with((blank.read_bytes(), blank.name, DOCX)))
    assert doc.reason == "le formulaire joint n'est pas rempli (aucune réponse saisie)"


def test_doc_without_libreoffice_is_an_unsupported_format(monkeypatch):
    """Without LibreOffice a .doc is reported as a format that needs a conversion."""
    monkeypatch.setattr(convert_module, "soffice_path", lambda: None)
    doc = _only_unreadable(
        mail_with((b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "fiche.doc", "application/msword"))
    )
    assert doc.reason.startswith("format non pris en charge sans conversion (LibreOffice absent)")


def test_rtf_without_libreoffice_is_an_unsupported_format(monkeypatch):
    """Without LibreOffice an .rtf is reported as a format that needs a conversion."""
    monkeypatch.setattr(convert_module, "soffice_path", lambda: None)
    doc = _only_unreadable(mail_with((b"{\\rtf1\\ansi Nom : Test}", "fiche.rtf", "application/rtf")))
    assert "(LibreOffice absent) : document RTF (.rtf)" in doc.reason


@pytest.mark.slow
def test_doc_is_read_through_libreoffice_when_installed(tmp_path):
    """With LibreOffice installed, a legacy .doc form is converted and read (reported as docx)."""
    soffice = convert_module.soffice_path()
    if soffice is None:
        pytest.skip("LibreOffice (soffice) is not installed: the conversion path cannot run here")
    import subprocess

    _, expected, data = filled(carrier="docx", layout="table2")
    (tmp_path / "fiche.docx").write_bytes(data)
    subprocess.run(
        [
            soffice,
            f"-env:UserInstallation={(tmp_path / 'profile').as_uri()}",
            "--headless",
            "--convert-to",
            "doc",
            "--outdir",
            str(tmp_path),
            str(tmp_path / "fiche.docx"),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    result = extract_forms(
        mail_with(((tmp_path / "fiche.doc").read_bytes(), "fiche.doc", "application/msword")), DEFINITION
    )
    assert len(result.forms) == 1
    assert result.forms[0].source_kind == "docx"
    assert result.forms[0].filename == "fiche.doc"
    assert result.forms[0].fields["collectivity"]["siret"] == expected["collectivity"]["siret"]
