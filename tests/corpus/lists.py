"""Generated list mail (posts, digests, notices, newsletters) and auto-replies."""

from __future__ import annotations

from tests.corpus.robot_formats import (
    ACK_ID,
    ACK_SUBJECT,
    DATE,
    OURS,
    RobotMail,
    as_bytes,
)

# -- list mail --------------------------------------------------------------------------------------


POST_BODY = "Bonjour à tous,\n\nQuelqu'un a-t-il déjà accueilli une équipe d'élèves de l'INET ?\nMerci de vos retours."


def _post(author: str, subject: str, list_headers: str, n: int, body: str = POST_BODY) -> str:
    return f"""{list_headers}
From: {author}
To: liste-info@listes.cdg-test.example.fr
Subject: {subject}
Date: {DATE.format(30 + n)}
Message-ID: <post.{n}.20250610@mairie-{n}.example.fr>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

{body}
"""


def _digest(headers: str, intro: str, boundary: str = "===============digest42==") -> str:
    items = "".join(
        f"""--{boundary}
Content-Type: message/rfc822
MIME-Version: 1.0

From: Agent {i} <agent{i}@mairie-{i}.example.fr>
Subject: Projets collectifs {i}
Date: {DATE.format(i)}
Message-ID: <digest-item-{i}@mairie-{i}.example.fr>
Content-Type: text/plain; charset=utf-8

Message {i} de la liste.

"""
        for i in (1, 2)
    )
    return f"""{headers}
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer{boundary}"

--outer{boundary}
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

{intro}

--outer{boundary}
Content-Type: multipart/digest; boundary="{boundary}"

{items}--{boundary}--

--outer{boundary}--
"""


def lists() -> list[RobotMail]:
    """Posts and digests of mailing lists and newsletters, with every usual sign, and with one alone."""
    mailman2 = """Return-Path: <liste-info-bounces@listes.cdg-test.example.fr>
Sender: "Liste-info" <liste-info-bounces@listes.cdg-test.example.fr>
Errors-To: liste-info-bounces@listes.cdg-test.example.fr
X-BeenThere: liste-info@listes.cdg-test.example.fr
X-Mailman-Version: 2.1.39
Precedence: list
List-Id: Informations RH des collectivites <liste-info.listes.cdg-test.example.fr>
List-Unsubscribe: <https://listes.cdg-test.example.fr/mailman/options/liste-info>,
 <mailto:liste-info-request@listes.cdg-test.example.fr?subject=unsubscribe>
List-Archive: <https://listes.cdg-test.example.fr/pipermail/liste-info/>
List-Post: <mailto:liste-info@listes.cdg-test.example.fr>
List-Help: <mailto:liste-info-request@listes.cdg-test.example.fr?subject=help>
List-Subscribe: <https://listes.cdg-test.example.fr/mailman/listinfo/liste-info>,
 <mailto:liste-info-request@listes.cdg-test.example.fr?subject=subscribe>"""
    mailman3 = """Return-Path: <liste-info-bounces+stages.inet=cnfpt.fr@lists.cdg-test.example.fr>
Message-ID-Hash: 3Q7ZL5XKQ2VJ6J3YJ2H6D5R7C4N2B5TQ
X-Message-ID-Hash: 3Q7ZL5XKQ2VJ6J3YJ2H6D5R7C4N2B5TQ
X-MailFrom: agent@mairie-3.example.fr
X-Mailman-Rule-Misses: dmarc-mitigation; no-senders; approved; emergency; loop; banned-address; member-moderation
X-Mailman-Version: 3.3.9
Precedence: list
List-Id: <liste-info.lists.cdg-test.example.fr>
Archived-At: <https://lists.cdg-test.example.fr/archives/message/3Q7ZL5XKQ2VJ6J3YJ2H6D5R7C4N2B5TQ/>
List-Archive: <https://lists.cdg-test.example.fr/archives/list/liste-info@lists.cdg-test.example.fr/>
List-Help: <mailto:liste-info-request@lists.cdg-test.example.fr?subject=help>
List-Owner: <mailto:liste-info-owner@lists.cdg-test.example.fr>
List-Post: <mailto:liste-info@lists.cdg-test.example.fr>
List-Subscribe: <mailto:liste-info-join@lists.cdg-test.example.fr>
List-Unsubscribe: <mailto:liste-info-leave@lists.cdg-test.example.fr>"""
    sympa = """Return-Path: <rh-territoriale-owner@listes.region-test.example.fr>
X-Loop: rh-territoriale@listes.region-test.example.fr
X-Sequence: 1842
Errors-To: rh-territoriale-owner@listes.region-test.example.fr
Precedence: list
List-Id: <rh-territoriale.listes.region-test.example.fr>
List-Help: <mailto:sympa@listes.region-test.example.fr?subject=help>
List-Subscribe: <mailto:sympa@listes.region-test.example.fr?subject=subscribe%20rh-territoriale>
List-Unsubscribe: <mailto:sympa@listes.region-test.example.fr?subject=unsubscribe%20rh-territoriale>
List-Post: <mailto:rh-territoriale@listes.region-test.example.fr>
List-Owner: <mailto:rh-territoriale-request@listes.region-test.example.fr>
List-Archive: <https://listes.region-test.example.fr/sympa/arc/rh-territoriale>"""
    google = """Sender: rh-collectivites@googlegroups.com
Mailing-list: list rh-collectivites@googlegroups.com; contact rh-collectivites+owners@googlegroups.com
List-ID: <rh-collectivites.googlegroups.com>
X-Spam-Checked-In-Group: agent@mairie-5.example.fr
X-Google-Group-Id: 418273645512
List-Post: <https://groups.google.com/group/rh-collectivites/post>, <mailto:rh-collectivites@googlegroups.com>
List-Help: <https://support.google.com/a/example/bin/topic.py?topic=25838>,
 <mailto:rh-collectivites+help@googlegroups.com>
List-Archive: <https://groups.google.com/group/rh-collectivites/>
List-Subscribe: <https://groups.google.com/group/rh-collectivites/subscribe>,
 <mailto:rh-collectivites+subscribe@googlegroups.com>
List-Unsubscribe: <mailto:googlegroups-manage+418273645512+unsubscribe@googlegroups.com>,
 <https://groups.google.com/group/rh-collectivites/subscribe>
Precedence: list
X-Original-Sender: agent@mairie-5.example.fr"""
    author = "=?utf-8?q?Agn=C3=A8s_Petit?= <agnes.petit@mairie-{}.example.fr>"
    mails = [
        ("mailman2-post", _post(author.format(1), "[Liste-info] Accueil des élèves de l'INET", mailman2, 1)),
        ("mailman2-digest-mime", _digest(mailman2.replace("Precedence: list\n", "") + f"""
From: liste-info-request@listes.cdg-test.example.fr
Subject: Liste-info Digest, Vol 42, Issue 7
To: liste-info@listes.cdg-test.example.fr
Reply-To: liste-info@listes.cdg-test.example.fr
Date: {DATE.format(40)}
Message-ID: <mailman.42.1749541600.1234.liste-info@listes.cdg-test.example.fr>""",
            "Send Liste-info mailing list submissions to\n\tliste-info@listes.cdg-test.example.fr\n\n"
            "Today's Topics:\n\n   1. Projets collectifs 1\n   2. Projets collectifs 2")),
        ("mailman2-digest-french-plain", f"""X-Mailman-Version: 2.1.39
From: liste-info-request@listes.cdg-test.example.fr
Subject: Lot Liste-info, Vol 42, Parution 8
To: liste-info@listes.cdg-test.example.fr
Date: {DATE.format(41)}
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Envoyez vos messages pour la liste Liste-info à
	liste-info@listes.cdg-test.example.fr

Thèmes du jour :

   1. Projets collectifs (Agnès Petit)

----------------------------------------------------------------------

Message: 1
Date: Mon, 9 Jun 2025 10:00:00 +0200
From: Agnès Petit <agnes.petit@mairie-1.example.fr>
Subject: Projets collectifs

Bonjour à tous."""),
        ("digest-stripped-to-its-mime-type", _digest(f"""From: Lettre RH <lettre-rh@cdg-test.example.fr>
Subject: Les messages de la semaine
To: {OURS}
Date: {DATE.format(42)}""", "Les messages de la semaine.")),
        ("mailman3-post", _post(author.format(3), "[liste-info] Convention de stage", mailman3, 3)),
        ("mailman3-bounces-return-path-only", _post(author.format(4), "Convention de stage",
                                                    mailman3.splitlines()[0], 4)),
        ("mailman-moderation-notice", f"""From: liste-info-bounces@listes.cdg-test.example.fr
To: {OURS}
Subject: =?utf-8?q?Votre_message_=C3=A0_Liste-info_attend_l=27approbation_du_mod=C3=A9rateur?=
Date: {DATE.format(43)}
Message-ID: <mailman.43.1749541601.liste-info@listes.cdg-test.example.fr>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Votre message à la liste Liste-info attend l'approbation du modérateur."""),
        ("mailman-request-reminder", f"""From: liste-info-request@listes.cdg-test.example.fr
To: {OURS}
Subject: listes.cdg-test.example.fr mailing list memberships reminder
Date: {DATE.format(44)}
Message-ID: <mailman.44.1749541602.reminder@listes.cdg-test.example.fr>

This is a reminder, sent out once a month, about your listes.cdg-test.example.fr
mailing list memberships."""),
        ("sympa-post", _post(author.format(6), "[rh-territoriale] Accueil d'élèves", sympa, 6)),
        ("sympa-owner-return-path-only", _post(author.format(7), "Accueil d'élèves", sympa.splitlines()[0], 7)),
        ("sympa-digest", _digest(f"""From: rh-territoriale-request@listes.region-test.example.fr
Subject: =?utf-8?q?R=C3=A9sum=C3=A9_de_la_liste_rh-territoriale?=
To: rh-territoriale@listes.region-test.example.fr
Date: {DATE.format(45)}""", "Sommaire :\n\n  - Projets collectifs 1\n  - Projets collectifs 2")),
        ("google-groups-post", _post(author.format(8), "Appel à projets", google, 8)),
        ("google-groups-mailing-list-header-only", _post(author.format(9), "Appel à projets",
                                                          google.splitlines()[1], 9)),
        ("listserv-digest-plain", f"""From: Automatic digest processor <LISTSERV@LISTSERV.UNIV-TEST.EXAMPLE.FR>
Reply-To: Liste des responsables RH <RH-L@LISTSERV.UNIV-TEST.EXAMPLE.FR>
Sender: Liste des responsables RH <RH-L@LISTSERV.UNIV-TEST.EXAMPLE.FR>
To: Recipients of RH-L digests <RH-L@LISTSERV.UNIV-TEST.EXAMPLE.FR>
Subject: RH-L Digest - 8 Jun 2025 to 9 Jun 2025 (#2025-112)
Date: {DATE.format(46)}

There are 2 messages totaling 40 lines in this issue.

Topics of the day:

  1. Projets collectifs (2)"""),
        ("listserv-digest-mime", _digest("""From: Automatic digest processor <LISTSERV@LISTSERV.UNIV-TEST.EXAMPLE.FR>
Sender: Liste des responsables RH <RH-L@LISTSERV.UNIV-TEST.EXAMPLE.FR>
To: Recipients of RH-L digests <RH-L@LISTSERV.UNIV-TEST.EXAMPLE.FR>
Subject: RH-L Digest - 9 Jun 2025 to 10 Jun 2025 (#2025-113)""", "There are 2 messages in this issue.")),
        ("majordomo", _post(author.format(10), "Ordre du jour", "Sender: owner-elus-rh@liste.asso-test.example.org\n"
                            "Precedence: bulk", 10)),
        ("majordomo-sender-only", _post(author.format(11), "Ordre du jour",
                                        "Sender: owner-elus-rh@liste.asso-test.example.org", 11)),
        ("ezmlm", _post(author.format(12), "Annonce", """\
Mailing-List: contact annonces-help@asso-test.example.org; run by ezmlm
Precedence: bulk
List-Post: <mailto:annonces@asso-test.example.org>
List-Help: <mailto:annonces-help@asso-test.example.org>
List-Unsubscribe: <mailto:annonces-unsubscribe@asso-test.example.org>
Delivered-To: mailing list annonces@asso-test.example.org""", 12)),
        ("newsletter", _post("La lettre du CDG <lettre@cdg-test.example.fr>", "La lettre RH de juin",
                             """List-Unsubscribe: <https://envoi.cdg-test.example.fr/u/8f3a>,
 <mailto:unsub-8f3a@envoi.cdg-test.example.fr>
List-Unsubscribe-Post: List-Unsubscribe=One-Click""", 13)),
        ("bulk-precedence-only", _post("Le Journal des territoires <redaction@journal-test.example.fr>",
                                       "Votre édition du jour", "Precedence: bulk", 14)),
    ]
    return [RobotMail(name, "list", as_bytes(text)) for name, text in mails]


# -- auto-replies -----------------------------------------------------------------------------------


def _auto(person: str, subject: str, headers: str, body: str, n: int) -> str:
    return f"""From: {person}
To: INET - Stages <{OURS}>
Subject: {subject}
Date: {DATE.format(n)}
Message-ID: <auto.{n}.20250610@commune-a.example.fr>
In-Reply-To: {ACK_ID}
References: {ACK_ID}
{headers}
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

{body}
"""


def auto_replies() -> list[RobotMail]:
    """Vacation and out-of-office replies, help-desk acknowledgements, with and without their headers."""
    person = "=?utf-8?q?Sophie_Bernard?= <sophie.bernard@commune-a.example.fr>"
    away = "Bonjour,\n\nJe suis absente du bureau jusqu'au lundi 23 juin inclus.\nEn cas d'urgence, " \
           "contactez rh@commune-a.example.fr.\n\nCordialement"
    mails = [
        ("outlook-exchange-oof-fr", _auto(person, f"=?utf-8?q?R=C3=A9ponse_automatique=C2=A0=3A_?= {ACK_SUBJECT}",
                                          "Auto-Submitted: auto-generated\nX-Auto-Response-Suppress: All\n"
                                          "X-MS-Exchange-Inbox-Rules-Loop: sophie.bernard@commune-a.example.fr\n"
                                          "Thread-Topic: Accusé de réception", away, 1)),
        ("outlook-exchange-oof-en", _auto(person, f"Automatic reply: {ACK_SUBJECT}",
                                          "Auto-Submitted: auto-generated\nX-Auto-Response-Suppress: All", away, 2)),
        ("exchange-oof-headers-dropped-by-a-relay", _auto(person, f"Réponse automatique : {ACK_SUBJECT}",
                                                          "X-Auto-Response-Suppress: All", away, 3)),
        ("exchange-2003-oof", _auto(person, f"Out of Office AutoReply: {ACK_SUBJECT}", "X-Mailer: Exchange",
                                    away, 4)),
        ("outlook-rule-template", _auto(person, "Absence du bureau", "X-Mailer: Microsoft Outlook 16.0", away, 5)),
        ("exchange-mailbox-rule", _auto(person, "Accusé de réception", "X-MS-Exchange-Generated-Message-Source: "
                                        "Mailbox Rules Agent", "Votre message a bien été reçu par la mairie.", 6)),
        ("gmail-vacation", _auto("Luc Moreau <luc.moreau.mairie@gmail.example.com>",
                                 "=?utf-8?q?Cong=C3=A9s_jusqu=27au_6_juillet?=", "Auto-Submitted: auto-replied",
                                 "Je suis en congés, je vous répondrai à mon retour.", 7)),
        ("zimbra-vacation", _auto(person, f"Re: {ACK_SUBJECT}", "Auto-Submitted: auto-replied (zimbra; vacation)",
                                  away, 8)),
        ("thunderbird-template-filter", _auto(person, "Absent(e) du bureau jusqu'au 23 juin",
                                              "User-Agent: Mozilla Thunderbird", away, 9)),
        ("sieve-vacation", _auto(person, f"Auto: {ACK_SUBJECT}", "Auto-Submitted: auto-replied (vacation)\n"
                                 "Precedence: bulk", away, 10)),
        ("cpanel-autoresponder", _auto("contact@village-f.example.fr", "=?utf-8?q?R=C3=A9ponse_automatique?=",
                                       "X-Autorespond: 8\nPrecedence: auto_reply",
                                       "Merci pour votre message, nous vous répondrons rapidement.", 11)),
        ("qmail-autoresponder", _auto("contact@village-f.example.fr", f"Re: {ACK_SUBJECT}", "X-Autoreply: yes",
                                      "Votre message a été reçu.", 12)),
        ("domino-out-of-office", _auto("Jean Martin <jmartin@collectivite-e.example.fr>",
                                       f"Absent(e) du bureau : {ACK_SUBJECT}", "Auto-Submitted: auto-generated\n"
                                       "X-Mailer: IBM Notes Release 9.0.1", away, 13)),
        ("helpdesk-acknowledgement", _auto("Support informatique <support@agglo-c.example.fr>",
                                           "[Ticket #48213] Votre demande a bien été enregistrée",
                                           "Auto-Submitted: auto-generated\nX-Auto-Response-Suppress: All",
                                           "Votre demande a été enregistrée sous le numéro 48213.", 14)),
        ("noreply-platform", _auto("Plateforme RH <no-reply@plateforme-rh.example.fr>",
                                   "Votre message a bien été transmis", "", "Ne répondez pas à ce message.", 15)),
        ("donotreply-platform", _auto("Mairie <donotreply@commune-a.example.fr>", "Accusé de réception", "",
                                      "Ceci est un message automatique.", 16)),
        ("message-d-absence", _auto(person, "Message d'absence", "", away, 17)),
        ("je-suis-absente", _auto(person, "Je suis absente jusqu'au 23 juin", "", away, 18)),
    ]
    return [RobotMail(name, "auto-reply", as_bytes(text)) for name, text in mails]
