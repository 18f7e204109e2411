"""Write the demo mails of `examples/inbox/`: what the stages mailbox receives in June 2025, and a stage
offer sent in November 2021 for the scolarité 2022-2023 (the year of the shipped stages calendar).

Everything is invented (people, addresses on example.fr domains, SIRET numbers with a
correct check digit). Run `python examples/make_inbox.py` to write them again.
"""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from pathlib import Path

from docx import Document
from stdnum import luhn

HERE = Path(__file__).parent / "inbox"
PARIS_SUMMER = timezone(timedelta(hours=2))
DOCX = "vnd.openxmlformats-officedocument.wordprocessingml.document"

COLLECTIVITIES = [
    {
        "name": "Ville de Saint-Exemple", "domain": "saint-exemple.example.fr", "siret_body": "2130001230001",
        "address": "Hôtel de Ville, 1 place de la Mairie, 13000 Saint-Exemple",
        "hosting": "Direction générale des services, 4 rue des Écoles, 13000 Saint-Exemple",
        "hr": "Mme Sophie Bernard, service des ressources humaines", "dgs": ("MOREAU", "Jacques"),
        "tutor": ("PETIT", "Hélène", "Directrice générale adjointe Solidarités"),
        "title": "Évaluer et refonder la politique d'accueil des usagers dans les services municipaux",
    },
    {
        "name": "Communauté d'agglomération du Val-Fictif", "domain": "val-fictif.example.fr",
        "siret_body": "2000456780001",
        "address": "Hôtel d'agglomération, 10 avenue du Parc, 59000 Val-Fictif",
        "hosting": "Pôle aménagement, 12 avenue du Parc, 59000 Val-Fictif",
        "hr": "M. Karim Haddad, pôle emploi et compétences", "dgs": ("LAMBERT", "Sylvie"),
        "tutor": ("ROUX", "Marc", "Directeur général adjoint Aménagement et mobilités"),
        "title": "Préparer le schéma directeur des mobilités douces de l'agglomération",
    },
]


def siret(siren_start: str) -> str:
    """A SIRET whose SIREN and SIRET check digits are both right."""
    siren = siren_start[:8] + luhn.calc_check_digit(siren_start[:8])
    return siren + "0001" + luhn.calc_check_digit(siren + "0001")


def form_lines(c: dict, *, hr_email: bool = True) -> list[str]:
    d = c["domain"]
    return [
        "PROPOSITION DE PROJET COLLECTIF", "", "COLLECTIVITÉ",
        f"Nom de la collectivité : {c['name']}",
        f"N° de SIRET de la collectivité : {siret(c['siret_body'])}",
        f"Adresse complète de la collectivité : {c['address']}",
        f"Adresse des locaux dans lesquels sera accueillie l'équipe : {c['hosting']}",
        f"Contact RH pour transmission de la convention : {c['hr']}",
        f"Courriel (impératif) : {'rh@' + d if hr_email else ''}", "",
        "IDENTIFICATION DU DIRECTEUR GENERAL DES SERVICES",
        f"Nom : {c['dgs'][0]}", f"Prénom : {c['dgs'][1]}", f"Courriel : dgs@{d}", "Tél : 01 99 00 12 34", "",
        "TUTEUR DU PROJET COLLECTIF",
        f"Nom : {c['tutor'][0]}", f"Prénom : {c['tutor'][1]}", f"Fonction : {c['tutor'][2]}",
        f"Courriel : tuteur@{d}", "Tél : 01 99 00 56 78", "",
        "MISSION DE PROJET COLLECTIF", "",
        "Intitulé du projet collectif :", c["title"], "",
        "Contexte et raisons d'émergence de la mission :",
        "La collectivité a engagé en 2024 une démarche de modernisation de ses services.", "",
        "Enjeux stratégiques pour la collectivité :",
        "Améliorer la qualité du service rendu et l'efficience de l'organisation.", "",
        "Objectifs opérationnels et résultats attendus :",
        "- établir un diagnostic partagé ;", "- proposer un plan d'actions chiffré.", "",
        "Valeur ajoutée, pour la mission, d'une approche transversale, en inter-filières :",
        "Le sujet croise organisation, équipements et offre culturelle.", "",
        "ASPECTS PRATIQUES ET LOGISTIQUES",
        "Possibilité d'hébergement : Non", "Autres aspects pratiques pour les élèves : bureau équipé",
        "Permis B nécessaire : Non", "Accès en transports en commun : Oui",
    ]


def base(sender: str, subject: str, when: datetime, ident: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "INET - Stages <stages.inet@cnfpt.fr>"
    message["Subject"] = subject
    message["Date"] = format_datetime(when)
    message["Message-ID"] = f"<{ident}>"
    return message


def docx_bytes(lines: list[str]) -> bytes:
    document = Document()
    for line in lines:
        document.add_paragraph(line)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def mails() -> dict[str, EmailMessage]:
    one, two = COLLECTIVITIES
    found: dict[str, EmailMessage] = {}

    body = base(f"Sophie Bernard <rh@{one['domain']}>", "Proposition de projet collectif 2025-2026",
                datetime(2025, 6, 3, 10, 12, tzinfo=PARIS_SUMMER), f"demo-1@{one['domain']}")
    body.set_content("Bonjour,\n\nVoici notre proposition.\n\n" + "\n".join(form_lines(one)) + "\n\nCordialement,\n")
    found["01-proposition-dans-le-corps.eml"] = body

    word = base(f"Karim Haddad <rh@{two['domain']}>", "Projet collectif : fiche du Val-Fictif",
                datetime(2025, 6, 5, 15, 40, tzinfo=PARIS_SUMMER), f"demo-2@{two['domain']}")
    word.set_content("Bonjour,\n\nVeuillez trouver ci-joint notre fiche de proposition.\n\nBien cordialement,\n")
    word.add_attachment(docx_bytes(form_lines(two, hr_email=False)), maintype="application", subtype=DOCX,
                        filename="Fiche projet collectif - Val-Fictif.docx")
    found["02-fiche-word-incomplete.eml"] = word

    question = base("Julie Garnier <j.garnier@commune-test.example.fr>", "Question sur les projets collectifs",
                    datetime(2025, 6, 6, 9, 5, tzinfo=PARIS_SUMMER), "demo-3@commune-test.example.fr")
    question.set_content("Bonjour,\n\nLa contribution de 4 000 € est-elle due si notre mission n'est pas "
                         "retenue ?\n\nMerci par avance,\nJulie Garnier\n")
    found["03-question.eml"] = question

    auto = base("Marc Roux <tuteur@val-fictif.example.fr>", "Réponse automatique : absent du bureau",
                datetime(2025, 6, 6, 11, 0, tzinfo=PARIS_SUMMER), "demo-4@val-fictif.example.fr")
    auto["Auto-Submitted"] = "auto-replied"
    auto.set_content("Je suis absent jusqu'au 16 juin.\n")
    found["04-reponse-automatique.eml"] = auto

    offer = base("Nadia Weber <n.weber@haut-exemple.example.fr>", "Offre de stage d'observation",
                 datetime(2021, 11, 15, 9, 30, tzinfo=timezone(timedelta(hours=1))), "demo-5@haut-exemple.example.fr")
    offer.set_content(
        "Madame, Monsieur,\n\n"
        "Suite à la brochure « Accueillir un ou une élève en stage », le Département du Haut-Exemple propose\n"
        "d'accueillir un élève administrateur territorial en stage d'observation, du 14 mars au 8 avril 2022.\n\n"
        "L'élève sera placé auprès de M. Laurent Fischer, directeur général des services\n"
        "(dgs@haut-exemple.example.fr), qui assurera son tutorat. La mission lui fera découvrir le pilotage\n"
        "de la collectivité, les relations avec les élus et une semaine dans un centre médico-social.\n\n"
        "Intitulé de la mission : Découverte de la direction générale et de l'action sociale de proximité\n"
        f"SIRET : {siret('22670001')}\n"
        "Adresse : Hôtel du Département, 1 place du Quartier Blanc, 67000 Haut-Exemple\n"
        "Contact pour la convention : Mme Nadia Weber, direction des ressources humaines "
        "(n.weber@haut-exemple.example.fr)\n\n"
        "Bien cordialement,\n\nNadia Weber\n")
    found["05-offre-de-stage.eml"] = offer
    return found


def main() -> None:
    HERE.mkdir(exist_ok=True)
    for name, message in mails().items():
        (HERE / name).write_bytes(message.as_bytes(policy=SMTP))
        print(HERE / name)


if __name__ == "__main__":
    main()
