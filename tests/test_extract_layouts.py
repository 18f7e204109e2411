"""How the extractor copes with the ways people fill and send the form."""

from __future__ import annotations

import io
import posixpath
import zipfile
from email.message import EmailMessage

import docx
import pytest

from mailflow.pipeline.extract import extract_forms
from mailflow.pipeline.extract.normalize import parse_checkbox, parse_phone
from tests.corpus.generate import render_pdf
from tests.corpus.scoring import wrong_fields
from tests.extract_helpers import DEFINITION, DOCX, filled, mail_with, reparse

BODY_FORM = """Bonjour,

PROPOSITION DE PROJET COLLECTIF

COLLECTIVITE
Nom de la collectivite : Ville de Testville
N° de SIRET : 217 500 016 00018
Adresse complete de la collectivite : 1 place de la Mairie, 75001 Paris
Adresse des locaux dans lesquels sera accueillie l'equipe : 3 rue Haute, 75002 Paris
Contact RH pour transmission de la convention : M. Paul Roux <paul.roux@testville.example.fr>
Courriel (imperatif) :

IDENTIFICATION DU DIRECTEUR GENERAL DES SERVICES
Nom : MARTIN
Prenom : Anne
Courriel : anne.martin@testville.example.fr
Tel : 02 62 12 34 56

TUTEUR DU PROJET COLLECTIF
Nom : DURAND
Prenom : Luc
Fonction : DGA Ressources
Courriel : luc.durand@testville.example.fr

MISSION DE PROJET COLLECTIF
Intitulé du projet collectif : Un projet
Contexte : Premier paragraphe.

Second paragraphe.
Enjeux stratégiques pour la collectivité : Des enjeux.
Objectifs opérationnels et résultats attendus :
- un ;
- deux.
Valeur ajoutée d'une approche transversale : Beaucoup.
Permis B nécessaire : [x] Oui [ ] Non

Bien cordialement,
Tél : 01 99 00 00 00
"""


def _body_mail(text: str, subject: str = "Proposition") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "rh@testville.example.fr"
    message["Subject"] = subject
    message.set_content(text)
    return reparse(message)


def test_body_form_with_accentless_labels_and_contact_email():
    """A form typed in the body is read; an empty HR e-mail line takes the address on the contact line."""
    result = extract_forms(_body_mail(BODY_FORM), DEFINITION)
    assert len(result.forms) == 1
    fields = result.forms[0].fields
    assert result.forms[0].source_kind == "body" and result.forms[0].filename is None
    assert fields["collectivity"]["hr_contact"] == "M. Paul Roux"
    assert fields["collectivity"]["hr_email"] == "paul.roux@testville.example.fr"
    assert fields["collectivity"]["siret"] == "21750001600018"
    assert fields["dgs"]["phone"] == "+262262123456"
    assert fields["tutor"]["phone"] is None
    assert fields["mission"]["context"] == "Premier paragraphe.\n\nSecond paragraphe."
    assert fields["mission"]["objectives"] == "- un ;\n- deux."
    assert fields["logistics"]["driving_licence_required"] is True
    assert fields["logistics"]["accommodation"] is None


def test_reply_quoting_a_form_is_not_a_form():
    """A reply whose only form-like text is quoted ('>' lines) is not read as a form."""
    quoted = "\n".join("> " + line for line in BODY_FORM.splitlines())
    result = extract_forms(_body_mail("Merci, bien reçu.\n\n" + quoted, "RE: Proposition"), DEFINITION)
    assert result.forms == ()


def test_outlook_quoted_block_is_cut():
    """Text after an Outlook "De : … Envoyé : …" header block belongs to the quoted mail and is ignored."""
    text = "Merci pour votre accusé.\n\nDe : INET Stages\nEnvoyé : lundi 2 juin 2025\nÀ : RH\nObjet : AR\n\n"
    result = extract_forms(_body_mail(text + BODY_FORM, "RE: [PC-2025-0001] Accusé de réception"), DEFINITION)
    assert result.forms == ()


def test_forwarded_mail_keeps_the_forwarded_form():
    """A form in the body of a forwarded mail ("TR:") is read."""
    text = (
        "Pour info.\n\n-------- Message transféré --------\nDe : a@b.example.fr\nDate : 1 juin\n\n"
        + BODY_FORM
    )
    result = extract_forms(_body_mail(text, "TR: Proposition"), DEFINITION)
    assert len(result.forms) == 1


def test_question_mail_is_not_a_form():
    """A question that mentions the form's topics without its labels gives no form and nothing unreadable."""
    text = (
        "Bonjour,\nLe tuteur peut-il être notre directeur de la culture ?\nTél : 01 99 00 81 12\nCordialement"
    )
    result = extract_forms(_body_mail(text), DEFINITION)
    assert result.forms == () and result.unreadable == ()


def test_html_only_body_with_a_table_is_read():
    """An HTML-only body laid out as a two-column table is read cell by cell."""
    rows = "".join(
        f"<tr><td>{label} :</td><td>{value}</td></tr>"
        for label, value in [
            ("Nom de la collectivité", "Ville de Testville"),
            ("N° de SIRET de la collectivité", "21750001600018"),
            ("Adresse complète de la collectivité", "1 place de la Mairie<br>75001 Paris"),
            ("Contact RH pour transmission de la convention", "M. Paul Roux"),
            ("Courriel (impératif)", "Paul.Roux@testville.example.fr"),
        ]
    )
    tutor = "".join(
        f"<p>{label} : {value}</p>"
        for label, value in [
            ("Nom", "DURAND"),
            ("Prénom", "Luc"),
            ("Fonction", "DGS"),
            ("Courriel", "luc@testville.example.fr"),
        ]
    )
    html = (
        f"<html><body><p>Bonjour,</p><h2>COLLECTIVITÉ</h2><table>{rows}</table>"
        f"<h2>TUTEUR DU PROJET COLLECTIF</h2>{tutor}</body></html>"
    )
    message = EmailMessage()
    message["Subject"] = "Proposition"
    message.set_content(html, subtype="html")
    result = extract_forms(reparse(message), DEFINITION)
    assert len(result.forms) == 1
    fields = result.forms[0].fields
    assert fields["collectivity"]["address"] == "1 place de la Mairie, 75001 Paris"
    assert fields["collectivity"]["hr_email"] == "paul.roux@testville.example.fr"
    assert fields["tutor"]["role"] == "DGS"


@pytest.mark.parametrize(
    "layout", ["table2", "grid", "nested", "labelabove", "paragraphs", "nextline", "textbox"]
)
def test_docx_layouts_are_read(layout):
    """Every Word layout (tables, grids, nested tables, paragraphs, text boxes) gives the typed values."""
    _, expected, data = filled(i=8, carrier="docx", layout=layout, ticks="sdt")
    result = extract_forms(mail_with((data, "fiche.docx", DOCX)), DEFINITION)
    assert len(result.forms) == 1
    assert wrong_fields(expected, result.forms[0].fields) == []


@pytest.mark.parametrize("ticks", ["glyph", "sdt", "legacy", "x", "highlight", "deleted", "strike", "square"])
def test_docx_tick_styles_are_read(ticks):
    """Ticks as ☒, content controls, legacy fields, typed X, highlighting, deletion or striking all count."""
    _, expected, data = filled(i=9, carrier="docx", layout="table2", ticks=ticks)
    fields = extract_forms(mail_with((data, "fiche.docx", DOCX)), DEFINITION).forms[0].fields
    assert fields["logistics"] == expected["logistics"]


def _repackaged(data: bytes, *, main: str = "word/document.xml", content_type: str | None = None) -> bytes:
    """A Word package rewritten with its main document at `main` (the relationships following it), and
    that part declared with `content_type` (a macro-enabled document, a template…)."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info.filename)
            name = info.filename
            if name == "word/document.xml":
                name = main
            elif name == "word/_rels/document.xml.rels":
                name = posixpath.join(posixpath.dirname(main), "_rels", posixpath.basename(main) + ".rels")
            elif name == "_rels/.rels":
                content = content.replace(b"word/document.xml", main.encode())
            elif name == "[Content_Types].xml":
                content = content.replace(b"/word/document.xml", b"/" + main.encode())
                if content_type is not None:
                    content = content.replace(
                        b"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
                        content_type.encode())
            target.writestr(name, content)
    return out.getvalue()


@pytest.mark.parametrize(("filename", "content_type"), [
    ("fiche.docm", "application/vnd.ms-word.document.macroEnabled.main+xml"),
    ("fiche.dotx", "application/vnd.openxmlformats-officedocument.wordprocessingml.template.main+xml"),
])
def test_macro_enabled_documents_and_templates_are_read(filename, content_type):
    """A form saved as a macro-enabled document or as a template is read like a .docx (nothing runs)."""
    _, expected, data = filled(i=11, carrier="docx", layout="table2", ticks="sdt")
    result = extract_forms(mail_with((_repackaged(data, content_type=content_type), filename, DOCX)), DEFINITION)
    assert result.unreadable == ()
    assert len(result.forms) == 1
    assert wrong_fields(expected, result.forms[0].fields) == []


def test_the_main_document_is_found_through_the_package_relationships():
    """A Word package whose body is not at word/document.xml (other software names it otherwise) is read."""
    _, expected, data = filled(i=12, carrier="docx", layout="grid", ticks="legacy")
    result = extract_forms(mail_with((_repackaged(data, main="word/document2.xml"), "fiche.docx", DOCX)), DEFINITION)
    assert len(result.forms) == 1
    assert wrong_fields(expected, result.forms[0].fields) == []


def test_same_form_as_docx_and_pdf_counts_once():
    """A form attached both as .docx and as its PDF export is one form."""
    typed, _, data = filled(i=4, carrier="docx", layout="table2")
    import random

    pdf = render_pdf(typed, "table2", "official", "glyph", random.Random(1))
    result = extract_forms(
        mail_with((data, "fiche.docx", DOCX), (pdf, "fiche.pdf", "application/pdf")), DEFINITION
    )
    assert len(result.forms) == 1
    assert result.forms[0].source_kind == "docx"


def test_two_different_forms_in_one_mail_are_both_returned():
    """Two attachments with different missions give two forms, in attachment order."""
    _, first, one = filled(i=4)
    _, second, two = filled(i=5)
    result = extract_forms(
        mail_with((one, "mission-1.docx", DOCX), (two, "mission-2.docx", DOCX)), DEFINITION
    )
    assert [f.filename for f in result.forms] == ["mission-1.docx", "mission-2.docx"]
    assert result.forms[1].fields["mission"]["title"] == second["mission"]["title"]


def test_forwarded_message_attachment_is_searched():
    """A form attached to a mail that is itself attached (message/rfc822) is found."""
    _, expected, data = filled(i=6)
    inner = mail_with((data, "fiche.docx", DOCX))
    outer = EmailMessage()
    outer["Subject"] = "TR: proposition"
    outer.set_content("Je vous transfère la proposition reçue.")
    outer.add_attachment(inner)
    result = extract_forms(reparse(outer), DEFINITION)
    assert len(result.forms) == 1
    assert result.forms[0].fields["collectivity"]["name"] == expected["collectivity"]["name"]


def test_inline_images_and_calendars_are_ignored():
    """A signature image or an .ics invitation is neither a form nor an unreadable document."""
    message = mail_with(
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 50, "image001.png", "image/png"),
        (b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", "invite.ics", "text/calendar"),
    )
    result = extract_forms(message, DEFINITION)
    assert result.forms == () and result.unreadable == ()


def test_fiche_headings_before_the_form_do_not_confuse_the_reader():
    """The fiche pages ("OBJECTIFS", "MISSIONS", INET's phone) before the form are not read as answers."""
    document = docx.Document()
    for line in [
        "OBJECTIFS",
        "Objectifs opérationnels et résultats attendus",
        "Un texte de la fiche.",
        "Tel. : 03 88 15 53 69",
        "PROPOSITION DE PROJET COLLECTIF",
        "COLLECTIVITÉ",
        "Nom de la collectivité : Ville A",
        "N° de SIRET de la collectivité : 21750001600018",
        "Adresse complète de la collectivité : 1 rue X",
        "Contact RH : Mme B",
        "Courriel (impératif) : b@a.example.fr",
        "IDENTIFICATION DU DIRECTEUR GENERAL DES SERVICES",
        "Nom : C",
        "Prénom : D",
        "MISSION DE PROJET COLLECTIF",
        "Objectifs opérationnels et résultats attendus",
        "Le vrai objectif.",
    ]:
        document.add_paragraph(line)
    buffer = io.BytesIO()
    document.save(buffer)
    fields = extract_forms(mail_with((buffer.getvalue(), "f.docx", DOCX)), DEFINITION).forms[0].fields
    assert fields["mission"]["objectives"] == "Le vrai objectif."
    assert fields["dgs"]["phone"] is None and fields["tutor"]["phone"] is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("☒ Oui ☐ Non", True),
        ("☐ Oui ☒ Non", False),
        ("☐ Oui ☐ Non", None),
        ("X Oui ☐ Non", True),
        ("■ Oui □ Non", True),
        ("☑ Non", False),
        ("Oui", True),
        ("Non", False),
        ("☐ Oui", True),
        ("Oui (métro ligne 9)", True),
        ("[x] Oui [ ] Non", True),
        ("[ ] Oui [x] Non", False),
        ("☒ Oui ☒ Non", None),
        ("\ue000Oui\ue001 ☐ Non", True),
        ("☐ Oui \ue002☐ Non\ue003", True),
    ],
)
def test_checkbox_answers(text, expected):
    """Each way of answering a Oui/Non question gives the expected boolean (None when unanswered or both)."""
    assert parse_checkbox([text]) is expected


@pytest.mark.parametrize(
    ("typed", "e164"),
    [
        ("05.36.49.12.80", "+33536491280"),
        ("+33 (0)5 36 49 12 95", "+33536491295"),
        ("02 62 12 34 56", "+262262123456"),
        ("0690 12 34 56", "+590690123456"),
        ("0594 30 12 34", "+594594301234"),
    ],
)
def test_phone_numbers_become_e164(typed, e164):
    """French and overseas numbers are written in E.164, overseas ones with their own country code."""
    assert parse_phone(typed) == e164
