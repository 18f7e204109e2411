"""Building blocks of the layout corpus (issue 16): the blank form's own text, items in reading order, mails.

The forms of `tests/corpus/classes_*.py` are laid out the ways people re-type, export and send the
form, each class by its own generator. What every generator shares is here: the truth (from
`generate.make_truth`), the blank form's headings, notes and sub-headings, last year's wording, and
the mail around the document.
"""

from __future__ import annotations

import io
import random
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

from tests.corpus import data as D
from tests.corpus import generate as G

SECTIONS = G.SECTIONS
CHECKBOXES = G.CHECKBOXES
MULTILINE = G.MULTILINE
ADDRESSES = G.ADDRESSES

# The blank 2025 form (../shared/forms) prints these between its labels: notes under two headings and
# two sub-headings of the practical part. They are never values.
NOTES = {
    "tutor": "LE PROJET DOIT FAIRE L’OBJET D’UN PORTAGE PAR LE/LA DGS OU UN/UNE DGA",
    "mission": "UNE SEULE OFFRE SERA PROPOSEE AU CHOIX DES ELEVES SI LA COLLECTIVITE SOUHAITE PROPOSER "
    "PLUSIEURS MISSIONS.",
}
SUBHEADINGS = {"logistics.accommodation": "Hébergement :",
               "logistics.driving_licence_required": "Accessibilité du lieu de stage :"}

# Last year's form: other wording (not in the form definition's variants), no accents, other order.
LAST_YEAR = {
    "collectivity.name": "Nom de la collectivite d'accueil du projet",
    "collectivity.siret": "Numero de SIRET",
    "collectivity.address": "Adresse complete de la collectivite (siege)",
    "collectivity.hosting_address": "Adresse des locaux ou sera accueillie l'equipe d'eleves",
    "collectivity.hr_contact": "Contact RH charge de la transmission de la convention",
    "collectivity.hr_email": "Courriel du contact RH (imperatif)",
    "dgs.last_name": "Nom",
    "dgs.first_name": "Prenom",
    "dgs.email": "Courriel",
    "dgs.phone": "Telephone",
    "tutor.last_name": "Nom",
    "tutor.first_name": "Prenom",
    "tutor.role": "Fonction occupee",
    "tutor.email": "Courriel",
    "tutor.phone": "Telephone",
    "mission.title": "Intitule de la mission proposee",
    "mission.context": "Contexte et raisons d'emergence du projet collectif",
    "mission.stakes": "Enjeux strategiques de la mission pour la collectivite",
    "mission.objectives": "Objectifs operationnels et resultats attendus du projet",
    "mission.cross_disciplinary_value": "Valeur ajoutee pour la mission d'une approche transversale et "
    "inter-filieres",
    "logistics.accommodation": "Possibilite d'hebergement des eleves",
    "logistics.practical_notes": "Autres aspects pratiques (restauration, bureau, materiel)",
    "logistics.driving_licence_required": "Permis B necessaire pour la mission",
    "logistics.public_transport": "Acces au lieu de stage en transports en commun",
}
LAST_YEAR_HEADINGS = {
    "collectivity": "LA COLLECTIVITE D'ACCUEIL",
    "dgs": "IDENTIFICATION DU DIRECTEUR GENERAL DES SERVICES (DGS)",
    "tutor": "TUTEUR OU TUTRICE DU PROJET COLLECTIF",
    "mission": "LA MISSION DE PROJET COLLECTIF",
    "logistics": "ASPECTS PRATIQUES ET LOGISTIQUES DU STAGE",
}
LAST_YEAR_ORDER = ("mission", "collectivity", "tutor", "dgs", "logistics")


@dataclass(frozen=True)
class Item:
    """One thing printed on the form, in reading order: a heading, a note, or a field and its value."""

    kind: str  # "heading", "note", "field"
    key: str  # section key, "" for a note, dotted path for a field
    text: str  # the heading, note or label as printed
    value: Any = None


@dataclass(frozen=True)
class Sample:
    """One generated mail of a class, and the record the extractor must read from it."""

    name: str
    layout: str
    message: EmailMessage
    source_kind: str
    fields: dict[str, dict[str, Any]]
    filename: str | None = None


def strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def truth(rng: random.Random, i: int) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """What was typed and the expected record (defects included: missing, invalid, e-mail in contact)."""
    return G.make_truth(rng, i)


def official_items(typed: dict[str, Any], *, notes: bool = True, order: tuple[str, ...] = SECTIONS,
                   labels: dict[str, str] | None = None, headings: dict[str, str] | None = None,
                   ) -> list[Item]:
    """The form in reading order, as the blank form prints it (notes and sub-headings included)."""
    items: list[Item] = []
    for section in order:
        heading = (headings or {}).get(section) or D.HEADINGS[section][0]
        items.append(Item("heading", section, heading))
        if notes and section in NOTES:
            items.append(Item("note", "", NOTES[section]))
        for path in G.PATHS:
            if not path.startswith(section + "."):
                continue
            if notes and path in SUBHEADINGS:
                items.append(Item("note", "", SUBHEADINGS[path]))
            label = (labels or {}).get(path) or D.OFFICIAL[path]
            items.append(Item("field", path, label, typed[path]))
    return items


def lines_of(path: str, value: Any, ticks: str = "glyph") -> list[str]:
    """The lines typed for a field (a tick box rendered as text)."""
    if path in CHECKBOXES:
        return [G.tick_text(value, ticks)]
    return G.value_lines(path, value)


def colon(item: Item) -> str:
    return G.with_colon(item.key, item.text)


def mail(i: int, subject: str, body: str = "Bonjour,\n\nVeuillez trouver ci-joint notre proposition.\n\n"
         "Cordialement,\n") -> EmailMessage:
    """A collectivité's mail (no attachment yet), with a Message-ID unique to the case."""
    town, _, domain = D.TOWNS[i % len(D.TOWNS)]
    message = EmailMessage()
    message["From"] = f"Service RH <rh@{domain}>"
    message["To"] = "stages.inet@cnfpt.fr"
    message["Subject"] = f"{subject} – {town}"
    message["Date"] = format_datetime(datetime(2025, 6, 3, 8, 30, tzinfo=UTC) + timedelta(hours=5 * i))
    message["Message-ID"] = make_msgid(idstring=f"layout{i}", domain=domain)
    message.set_content(body)
    return message


MIME = {"docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "pdf": "application/pdf", "odt": "application/vnd.oasis.opendocument.text"}


def attached(i: int, data: bytes, kind: str, filename: str | None = None) -> tuple[EmailMessage, str]:
    """A mail carrying one document; returns it and the attachment's file name."""
    town = D.TOWNS[i % len(D.TOWNS)][0]
    filename = filename or f"Proposition projet collectif {town}.{kind}"
    message = mail(i, "Proposition de projet collectif")
    maintype, subtype = MIME[kind].split("/")
    message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return message, filename


def font_path() -> Path | None:
    return G._pdf_font()


def docx_bytes(document) -> bytes:  # noqa: ANN001 - a python-docx Document
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()
