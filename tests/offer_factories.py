"""Stage offers as collectivités send them: a short letter in the body, or the same letter in Word.

Everything is invented: names, example domains, SIRET numbers shaped and check-digited like real ones.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from email.message import EmailMessage

from docx import Document

from tests.factories import mail, siret

NOVEMBER_2021 = datetime(2021, 11, 2, 9, 0, tzinfo=UTC)
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def offer_values(n: int) -> dict[str, str]:
    """One invented collectivité offering a stage, all it must say filled and valid."""
    domain = f"ville-stage-{n}.example.fr"
    return {
        "town": f"Ville de Stage-Test-{n}",
        "siret": siret(5000 + n),
        "address": f"Hôtel de Ville, {n} place de la Mairie, 67000 Stage-Test-{n}",
        "tutor": "M. Paul DURAND",
        "tutor_role": "directeur général des services",
        "tutor_email": f"dgs@{domain}",
        "hr": "Mme Claire MARTIN",
        "hr_email": f"rh@{domain}",
        "sender": f"rh@{domain}",
    }


def offer_letter(values: dict[str, str], stage: str, *, title: str = "Découverte de la direction générale") -> str:
    """A short letter offering `stage` (e.g. "un stage d'observation à un élève administrateur territorial,
    du 14 mars au 8 avril 2022"), with the few labelled lines collectivités add at the end."""
    v = values
    return (
        "Madame, Monsieur,\n\n"
        f"Suite à la brochure de l'INET, la {v['town']} a le plaisir de proposer {stage}.\n\n"
        f"L'élève sera placé auprès de {v['tutor']}, {v['tutor_role']} ({v['tutor_email']}), qui assurera "
        "son tutorat. La mission lui permettra de découvrir le pilotage de la collectivité, les relations "
        "entre les élus et l'administration et le fonctionnement des services de proximité.\n\n"
        f"Intitulé de la mission : {title}\n"
        f"SIRET : {v['siret']}\n"
        f"Adresse : {v['address']}\n"
        f"Contact pour la convention : {v['hr']}, direction des ressources humaines ({v['hr_email']})\n\n"
        "Nous restons à votre disposition pour tout complément.\n\n"
        "Bien cordialement,\n\n"
        f"{v['hr']}\n"
    )


def letter_docx(text: str) -> bytes:
    """The letter as a Word document, one paragraph per line (python-docx)."""
    document = Document()
    for line in text.split("\n"):
        document.add_paragraph(line)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def offer_mail(values: dict[str, str], stage: str, *, date: datetime = NOVEMBER_2021, attached: bool = False,
               subject: str = "Offre de stage", **letter: str) -> EmailMessage:
    """The offer in the body, or (`attached`) in a Word letter under a two-line covering note."""
    text = offer_letter(values, stage, **letter)
    if not attached:
        return mail(sender=values["sender"], subject=subject, body=text, date=date)
    message = mail(sender=values["sender"], subject=subject, date=date,
                   body="Bonjour,\n\nVous trouverez ci-joint notre courrier.\n\nCordialement\n")
    message.add_attachment(letter_docx(text), maintype="application", subtype=DOCX_TYPE.split("/")[1],
                           filename="Courrier offre de stage.docx")
    return message
