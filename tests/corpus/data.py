"""Invented material for the generated corpus: collectivités, people, mission texts, label wordings.

Everything is made up. Addresses use real town names only as names; e-mail domains are example
domains; phone numbers are in ARCEP's ranges kept for fiction; SIRET numbers get a computed check digit.
"""

from __future__ import annotations

TOWNS = [
    ("Ville de Saint-Étienne", "42000 Saint-Étienne", "saint-etienne.example.fr"),
    ("Métropole Aix-Marseille-Provence", "13007 Marseille", "ampmetropole.example.fr"),
    ("Département de l'Hérault", "34087 Montpellier Cedex 4", "herault.example.fr"),
    ("Ville d'Angers", "49020 Angers Cedex 02", "ville.angers.example.fr"),
    ("Communauté d'agglomération du Grand Annecy", "74000 Annecy", "grandannecy.example.fr"),
    ("Ville de Nîmes", "30033 Nîmes Cedex 9", "nimes.example.fr"),
    ("Conseil départemental de la Haute-Garonne", "31090 Toulouse Cedex 9", "cd31.example.fr"),
    ("Ville de Créteil", "94010 Créteil Cedex", "ville-creteil.example.fr"),
    ("Brest métropole", "29238 Brest Cedex 2", "brest-metropole.example.fr"),
    ("Ville de Mulhouse", "68100 Mulhouse", "mulhouse.example.fr"),
    ("Région Grand Est", "67070 Strasbourg Cedex", "grandest.example.fr"),
    ("Ville de Saint-Denis (La Réunion)", "97400 Saint-Denis", "saintdenis.example.re"),
    ("Communauté urbaine de Dunkerque", "59386 Dunkerque Cedex 1", "cud.example.fr"),
    ("Ville d'Aubervilliers", "93300 Aubervilliers", "mairie-aubervilliers.example.fr"),
    ("Département des Côtes-d'Armor", "22023 Saint-Brieuc Cedex 1", "cotesdarmor.example.fr"),
    ("Ville de Pau", "64036 Pau Cedex", "ville-pau.example.fr"),
]

STREETS = [
    "Hôtel de Ville",
    "Place de la République",
    "1 place de l'Hôtel-de-Ville",
    "2 rue Jean-Moulin",
    "12 boulevard Gambetta",
    "Centre administratif",
    "35 avenue Foch",
    "Bâtiment C, 3e étage",
    "4 rue de l'Égalité",
    "Esplanade Charles-de-Gaulle",
    "18 quai des Tanneurs",
    "BP 1234",
]

SERVICES = [
    "Direction des ressources humaines",
    "Service emploi et compétences",
    "Pôle recrutement et mobilité",
    "Service des stages et de l'apprentissage",
    "Direction de la transformation",
    "Mission égalité et participation",
    "Direction des systèmes d'information",
]

FIRST_NAMES = [
    "Élodie",
    "Jean-Marc",
    "Sophie",
    "François",
    "Anaïs",
    "Thierry",
    "Maëlle",
    "Grégoire",
    "Chloé",
    "Hélène",
    "Loïc",
    "Nadia",
    "Jérôme",
    "Bérénice",
    "Karim",
    "Agnès",
    "Noël",
    "Zoé",
    "Yannick",
    "Solène",
]
LAST_NAMES = [
    "Lefèvre",
    "MARTIN",
    "Da Silva",
    "Nguyen",
    "BÉRARD",
    "Le Goff",
    "Durand-Lévêque",
    "Ould Ali",
    "Rousseau",
    "FAUCHÉ",
    "Giraud",
    "Perrin",
    "d'Aubigné",
    "Mercier",
    "Schneider",
    "O'Neill",
]

DGA_ROLES = [
    "Directrice générale adjointe Ressources",
    "Directeur général adjoint Aménagement et mobilités",
    "DGA Solidarités et cohésion sociale",
    "Directrice générale des services",
    "Directeur général adjoint des services chargé de la culture",
    "DGS",
    "Directrice générale adjointe Éducation, culture et sports",
    "Directeur général délégué Ressources",
]
BAD_ROLES = [
    "Directeur de la culture",
    "Cheffe du service des finances",
    "Directeur général des services techniques",
    "Responsable du pôle urbanisme",
]

TITLES = [
    "Élaborer le schéma directeur de la donnée de la collectivité",
    "Repenser l'accueil des usagers dans les services publics de proximité",
    "Préfigurer une politique d'achat public responsable",
    "Réduire la consommation énergétique du patrimoine bâti communal",
    "Construire un plan d'action pour l'attractivité des métiers en tension",
    "Évaluer la politique de soutien aux associations sportives",
    "Mettre en œuvre la sobriété foncière : scénarios pour le « zéro artificialisation nette »",
    "Moderniser la gestion des archives et la dématérialisation des actes",
]

PARAGRAPHS = [
    "La collectivité a engagé en 2024 une démarche de transformation de ses services, qui touche l'ensemble "
    "des directions et près de 3 000 agents.",
    "Les diagnostics conduits jusqu'ici ont montré des pratiques très hétérogènes d'une direction à l'autre, "
    "faute d'outils partagés et d'une gouvernance claire.",
    "Les élus souhaitent disposer, d'ici la fin du mandat, d'une feuille de route chiffrée et partagée avec "
    "les partenaires du territoire (communes, associations, services de l'État).",
    "L'enjeu est à la fois financier, organisationnel et humain : maîtriser les dépenses de fonctionnement, "
    "garantir la continuité du service public et accompagner les agents dans le changement.",
    "Il s'agit aussi de renforcer la participation des habitants et de mieux prendre en compte les publics "
    "les plus éloignés des services : personnes âgées, jeunes sans emploi, familles monoparentales.",
    "Le sujet mobilise des compétences techniques (élèves ingénieurs), juridiques et financières (élèves "
    "administrateurs) ainsi qu'une approche des publics et de la médiation (élèves conservateurs).",
    "Cette approche croisée est précisément ce qui manque aujourd'hui aux équipes, organisées en silos.",
    "Le projet s'appuiera sur les données existantes, des entretiens avec les directions et une enquête "
    "auprès des usagers ; un comité de pilotage présidé par le DGS suivra les travaux "
    "toutes les trois semaines.",
    "En 2023, la chambre régionale des comptes a recommandé de mieux suivre ces dépenses ; ses observations "
    "n'ont été que partiellement mises en œuvre.",
]

BULLETS = [
    "établir un diagnostic partagé à partir des données disponibles et d'entretiens ;",
    "identifier des pratiques inspirantes dans d'autres collectivités ;",
    "proposer des scénarios d'organisation chiffrés, avec leurs conditions de réussite ;",
    "formuler une feuille de route à trois ans et des indicateurs de suivi ;",
    "présenter les conclusions en direction générale et devant les élus.",
]

NOTES = [
    "Un bureau équipé de quatre postes et d'une imprimante sera mis à disposition.",
    "Accès au restaurant administratif au tarif agent.",
    "Vélos de service disponibles ; badges remis le premier jour.",
    "Logement possible dans une résidence partenaire (studios meublés), sur réservation.",
]

# The official labels of the 2025 form, then older or looser wordings seen in earlier campaigns.
OFFICIAL = {
    "collectivity.name": "Nom de la collectivité",
    "collectivity.siret": "N° de SIRET de la collectivité",
    "collectivity.address": "Adresse complète de la collectivité",
    "collectivity.hosting_address": "Adresse des locaux dans lesquels sera accueillie l'équipe",
    "collectivity.hr_contact": "Contact RH pour transmission de la convention",
    "collectivity.hr_email": "Courriel (impératif)",
    "dgs.last_name": "Nom",
    "dgs.first_name": "Prénom",
    "dgs.email": "Courriel",
    "dgs.phone": "Tél",
    "tutor.last_name": "Nom",
    "tutor.first_name": "Prénom",
    "tutor.role": "Fonction",
    "tutor.email": "Courriel",
    "tutor.phone": "Tél",
    "mission.title": "Intitulé du projet collectif",
    "mission.context": "Contexte et raisons d'émergence de la mission",
    "mission.stakes": "Enjeux stratégiques pour la collectivité",
    "mission.objectives": "Objectifs opérationnels et résultats attendus",
    "mission.cross_disciplinary_value": (
        "Valeur ajoutée, pour la mission, d'une approche transversale, en inter-filières"
    ),
    "logistics.accommodation": "Possibilité d'hébergement",
    "logistics.practical_notes": "Autres aspects pratiques pour les élèves",
    "logistics.driving_licence_required": "Permis B nécessaire",
    "logistics.public_transport": "Accès en transports en commun",
}
OLDER = {
    "collectivity.name": "Collectivité",
    "collectivity.siret": "Numéro SIRET",
    "collectivity.address": "Adresse de la collectivité",
    "collectivity.hosting_address": "Adresse des locaux d'accueil",
    "collectivity.hr_contact": "Contact RH",
    "collectivity.hr_email": "Courriel du contact RH",
    "dgs.phone": "Téléphone direct",
    "tutor.phone": "Téléphone",
    "dgs.email": "E-mail",
    "tutor.email": "Adresse électronique",
    "tutor.role": "Fonction exercée",
    "mission.title": "Intitulé du projet",
    "mission.context": "Contexte",
    "mission.stakes": "Enjeux",
    "mission.objectives": "Objectifs opérationnels",
    "mission.cross_disciplinary_value": "Valeur ajoutée d'une approche transversale",
    "logistics.accommodation": "Hébergement possible",
    "logistics.practical_notes": "Autres aspects pratiques",
    "logistics.driving_licence_required": "Permis B requis",
    "logistics.public_transport": "Accès en transport en commun",
}
HEADINGS = {
    "collectivity": ("COLLECTIVITÉ", "Collectivité d'accueil"),
    "dgs": ("IDENTIFICATION DU DIRECTEUR GENERAL DES SERVICES", "Directeur général des services"),
    "tutor": ("TUTEUR DU PROJET COLLECTIF", "Tuteur / tutrice du projet collectif"),
    "mission": ("MISSION DE PROJET COLLECTIF", "Mission proposée"),
    "logistics": ("ASPECTS PRATIQUES ET LOGISTIQUES", "Aspects pratiques"),
}
FICHE = [
    "FICHE PROJET COLLECTIF",
    "Élèves administrateurs, conservateurs de bibliothèques, ingénieurs en chef territoriaux 2025-2026",
    "DURÉE ET PÉRIODE",
    "Le projet collectif se déroulera du 13 octobre au 19 décembre 2025.",
    "OBJECTIFS",
    "Le projet collectif est un stage réalisé au sein d'une collectivité de plus de 40000 habitants.",
    "MISSIONS",
    "Les missions de projet collectif doivent répondre aux critères suivants :",
    "POUR PLUS D'INFORMATIONS",
    "Ingrid VIBET",
    "Tel. : 03 88 15 53 69 / 06 10 53 03 78",
]
