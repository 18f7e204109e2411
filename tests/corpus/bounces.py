"""Generated bounces, delay and read reports, as the main MTAs and mail services write them."""

from __future__ import annotations

from tests.corpus.robot_formats import (
    ACK_ID,
    ACK_SUBJECT,
    DATE,
    OURS,
    RobotMail,
    as_bytes,
    delivery_status,
    our_acknowledgement,
    report,
)

# -- bounces ---------------------------------------------------------------------------------------


def bounces() -> list[RobotMail]:
    """Non-delivery, delay and read reports, in the formats of the main MTAs and mail services."""
    rcpt = "rh@commune-a.example.fr"
    postfix_text = f"""This is the mail system at host mx1.relais-test.example.net.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients. It's attached below.

For further assistance, please send mail to postmaster.

If you do so, please include this problem report. You can
delete your own text from the attached returned message.

                   The mail system

<{rcpt}>: host mx.commune-a.example.fr[192.0.2.10] said: 550 5.1.1
    <{rcpt}>: Recipient address rejected: User unknown in virtual mailbox
    table (in reply to RCPT TO command)
"""
    exim_text = f"""This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  {rcpt}
    host mx.commune-a.example.fr [192.0.2.10]
    SMTP error from remote mail server after RCPT TO:<{rcpt}>:
    550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown

------ This is a copy of the message, including all the headers. ------

{our_acknowledgement(rcpt)}"""
    sendmail_text = f"""The original message was received at Tue, 10 Jun 2025 09:44:05 +0200
from relay.cnfpt-test.example.net [192.0.2.1]

   ----- The following addresses had permanent fatal errors -----
<{rcpt}>
    (reason: 550 5.1.1 <{rcpt}>... User unknown)

   ----- Transcript of session follows -----
... while talking to mx.commune-a.example.fr.:
>>> DATA
<<< 550 5.1.1 <{rcpt}>... User unknown
550 5.1.1 <{rcpt}>... User unknown
<<< 503 5.0.0 Need RCPT (recipient)
"""
    qmail_text = f"""Hi. This is the qmail-send program at mail.hebergeur-test.example.net.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<{rcpt}>:
192.0.2.10 does not like recipient.
Remote host said: 550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown
Giving up on 192.0.2.10.

--- Below this line is a copy of the message.

{our_acknowledgement(rcpt)}"""
    mails = [
        ("postfix-dsn", report(
            f"""Return-Path: <>
From: MAILER-DAEMON@mx1.relais-test.example.net (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: {OURS}
Auto-Submitted: auto-replied
Date: {DATE.format(1)}
Message-Id: <20250610074601.4B2C81A2@mx1.relais-test.example.net>""",
            "4B2C81A2.1749541561/mx1.relais-test.example.net", postfix_text,
            delivery_status(reporting="mx1.relais-test.example.net", recipient=rcpt, status="5.1.1",
                 diagnostic="550 5.1.1 Recipient address rejected: User unknown",
                 extra="X-Postfix-Queue-ID: 4B2C81A2\nX-Postfix-Sender: rfc822; stages.inet@cnfpt.fr\n"),
            our_acknowledgement(rcpt))),
        ("postfix-delayed", report(
            f"""From: MAILER-DAEMON@mx1.relais-test.example.net (Mail Delivery System)
Subject: Delayed Mail (still being retried)
To: {OURS}
Date: {DATE.format(2)}
Message-Id: <20250610074602.4B2C81A3@mx1.relais-test.example.net>""",
            "delay.4B2C81A3/mx1", postfix_text.replace("could not\nbe delivered", "has not yet\nbeen delivered"),
            delivery_status(reporting="mx1.relais-test.example.net", recipient=rcpt, status="4.4.1", action="delayed",
                 diagnostic="421 4.4.1 connection timed out"),
            "From: INET - Stages <stages.inet@cnfpt.fr>\nSubject: Rappel\nMessage-ID: <r1@stages.inet.cnfpt.fr>\n",
            returned_type="text/rfc822-headers")),
        ("postfix-french-template", f"""From: MAILER-DAEMON@mail.collectivite-b.example.fr
 (=?utf-8?q?Syst=C3=A8me_de_messagerie?=)
Subject: =?utf-8?q?Message_non_remis_=C3=A0_son_destinataire?=
To: {OURS}
Date: {DATE.format(3)}
Message-Id: <20250610074603.77AA@mail.collectivite-b.example.fr>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Ceci est le système de messagerie de mail.collectivite-b.example.fr.

Nous sommes au regret de vous informer que votre message n'a pas pu être remis
à un ou plusieurs destinataires. Il est joint ci-dessous.

<dgs@collectivite-b.example.fr> : boîte aux lettres inconnue

--- Message original ---

{our_acknowledgement("dgs@collectivite-b.example.fr")}"""),
        ("exim", f"""Return-path: <>
X-Failed-Recipients: {rcpt}
Auto-Submitted: auto-replied
From: Mail Delivery System <Mailer-Daemon@mail.hebergeur-test.example.net>
To: {OURS}
Subject: Mail delivery failed: returning message to sender
Message-Id: <E1uOvXa-0003AB-7k@mail.hebergeur-test.example.net>
Date: {DATE.format(4)}

{exim_text}"""),
        ("exim-behind-a-gateway", f"""From: Passerelle de messagerie <passerelle@agglo-c.example.fr>
To: {OURS}
Subject: Votre message
Message-Id: <gw-88213@agglo-c.example.fr>
Date: {DATE.format(5)}

{exim_text}"""),
        ("sendmail-dsn", report(
            f"""From: Mail Delivery Subsystem <MAILER-DAEMON@relay.departement-d.example.fr>
To: <{OURS}>
Subject: Returned mail: see transcript for details
Auto-Submitted: auto-generated (failure)
Date: {DATE.format(6)}
Message-Id: <202506100746.55A7k6Zq011234@relay.departement-d.example.fr>""",
            "55A7k6Zq011234.1749541566/relay.departement-d.example.fr", sendmail_text,
            delivery_status(reporting="relay.departement-d.example.fr", recipient=rcpt, status="5.1.1",
                 diagnostic="550 5.1.1 User unknown"),
            our_acknowledgement(rcpt))),
        ("sendmail-plain-old", f"""From: Mail Delivery Subsystem <MAILER-DAEMON@vieux-serveur.example.org>
To: {OURS}
Subject: Returned mail: User unknown
Date: {DATE.format(7)}
Message-Id: <199806100746.KAA01234@vieux-serveur.example.org>

{sendmail_text}
   ----- Original message follows -----

{our_acknowledgement(rcpt)}"""),
        ("qmail", f"""From: MAILER-DAEMON@mail.hebergeur-test.example.net
To: {OURS}
Subject: failure notice
Date: {DATE.format(8)}
Message-ID: <qmail-1749541568@mail.hebergeur-test.example.net>

{qmail_text}"""),
        ("qmail-relayed", f"""From: Support <support@hebergeur-test.example.net>
To: {OURS}
Subject: Notification
Date: {DATE.format(9)}

{qmail_text}"""),
        ("microsoft-365-ndr-en", report(
            f"""From: Microsoft Outlook <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@cnfpt.fr>
To: <{OURS}>
Subject: Undeliverable: {ACK_SUBJECT}
Date: {DATE.format(10)}
Message-ID: <a1b2c3d4-0000-4000-8000-ndr000000001@PAXPR01MB0001.eurprd01.prod.example.outlook.com>
In-Reply-To: {ACK_ID}
References: {ACK_ID}
Content-Language: en-US
X-MS-Exchange-Message-Is-Ndr:
X-MS-Exchange-Organization-SCL: -1
Auto-Submitted: auto-replied""",
            "_000_a1b2c3d4ndr_",
            f"""Your message to {rcpt} couldn't be delivered.
{rcpt.split("@")[0]} wasn't found at commune-a.example.fr.

Action Required
Unknown To address

How to Fix It
The address may be misspelled or may not exist.""",
            delivery_status(reporting="PAXPR01MB0001.eurprd01.prod.example.outlook.com", recipient=rcpt,
                            status="5.1.10", diagnostic="550 5.1.10 RESOLVER.ADR.RecipientNotFound; "
                            "Recipient not found by SMTP address lookup"),
            our_acknowledgement(rcpt))),
        ("microsoft-365-ndr-fr", report(
            f"""From: Microsoft Outlook <postmaster@cnfpt.fr>
To: <{OURS}>
Subject: =?utf-8?q?Non_remis=C2=A0=3A_?= {ACK_SUBJECT}
Date: {DATE.format(11)}
Message-ID: <b1b2c3d4-0000-4000-8000-ndr000000002@PAXPR01MB0001.eurprd01.prod.example.outlook.com>
Content-Language: fr-FR
X-MS-Exchange-Message-Is-Ndr:""",
            "_000_b1b2c3d4ndr_",
            f"""Échec de la remise à ces destinataires ou groupes :

{rcpt}
L'adresse de messagerie que vous avez entrée est introuvable. Vérifiez l'adresse
du destinataire et renvoyez le message.""",
            delivery_status(reporting="PAXPR01MB0001.eurprd01.prod.example.outlook.com", recipient=rcpt, status="5.1.1",
                 diagnostic="550 5.1.1 RESOLVER.ADR.RecipientNotFound"),
            our_acknowledgement(rcpt))),
        ("microsoft-ndr-text-only-fr", f"""From: Microsoft Outlook
 <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@cnfpt.fr>
To: {OURS}
Subject: =?utf-8?q?Non_remis=C2=A0=3A_Proposition_de_projet_collectif?=
Date: {DATE.format(12)}
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Échec de la remise à ces destinataires ou groupes :

{rcpt}
Le destinataire n'a pas été trouvé."""),
        ("exchange-2003", f"""From: System Administrator <postmaster@ancien-exchange.example.org>
To: {OURS}
Subject: Undeliverable: Proposition de projet collectif
Date: {DATE.format(13)}
Message-ID: <ex2003-0042@ancien-exchange.example.org>
MIME-Version: 1.0
Content-Type: text/plain; charset=iso-8859-1

Your message

  To:      {rcpt}
  Subject: Proposition de projet collectif
  Sent:    10/06/2025 09:44

did not reach the following recipient(s):

{rcpt} on 10/06/2025 09:46
    The e-mail account does not exist at the organization this message was sent to.
    <ancien-exchange.example.org #5.1.1>"""),
        ("gmail-dsn", report(
            f"""From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>
To: {OURS}
Subject: Delivery Status Notification (Failure)
Date: {DATE.format(14)}
Message-ID: <6848a1b2.050a0220.1.abcd.GMR@mx.google.com>
In-Reply-To: {ACK_ID}
References: {ACK_ID}""",
            "000000000000abcdef0123456789",
            f"""** Address not found **

Your message wasn't delivered to {rcpt} because the address couldn't be found,
or is unable to receive mail.

The response from the remote server was:
550 5.1.1 The email account that you tried to reach does not exist.""",
            delivery_status(reporting="mx.google.com", recipient=rcpt, status="5.1.1",
                 diagnostic="550-5.1.1 The email account that you tried to reach does not exist."),
            f"From: INET - Stages <{OURS}>\nSubject: {ACK_SUBJECT}\nMessage-ID: {ACK_ID}\n",
            returned_type="text/rfc822-headers")),
        ("yahoo", f"""From: MAILER-DAEMON@yahoo.com
To: {OURS}
Subject: Failure Notice
Date: {DATE.format(15)}

Sorry, we were unable to deliver your message to the following address.

<{rcpt}>:
Remote host said: 550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown [RCPT_TO]

--- Below this line is a copy of the message.

{our_acknowledgement(rcpt)}"""),
        ("domino", f"""From: Notes Mail Router <routeur@notes.collectivite-e.example.fr>
To: {OURS}
Subject: DELIVERY FAILURE: User Jean Martin (jmartin@collectivite-e.example.fr) not listed in Domino Directory
Date: {DATE.format(16)}
Message-ID: <OF12AB34CD.5678EF90-ON00258A1B.0012C345@collectivite-e.example.fr>

Your message

  Subject: Proposition de projet collectif

was not delivered to:

  jmartin@collectivite-e.example.fr

because:

  User Jean Martin (jmartin@collectivite-e.example.fr) not listed in Domino Directory"""),
        ("french-provider-avis", f"""From: Service de messagerie <ne-pas-repondre@fai-test.example.fr>
To: {OURS}
Subject: =?utf-8?q?Avis_de_non-remise?=
Date: {DATE.format(17)}
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Votre message n'a pas pu être remis aux destinataires suivants :

    mairie@village-f.example.fr : boîte aux lettres pleine

Objet du message : {ACK_SUBJECT}"""),
        ("french-echec-remise", f"""From: Messagerie de la ville <messagerie@ville-g.example.fr>
To: {OURS}
Subject: =?utf-8?q?=C3=89chec_de_la_remise_du_message?=
Date: {DATE.format(18)}
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Le message suivant n'a pas pu être distribué : le destinataire est inconnu.

   Destinataire : rh@ville-g.example.fr
   Objet : {ACK_SUBJECT}"""),
        ("amavis-virus", f"""From: Content-filter at mx.relais-test.example.net <postmaster@mx.relais-test.example.net>
To: {OURS}
Subject: VIRUS (Eicar-Signature) IN MAIL FROM YOU
Date: {DATE.format(19)}
Message-ID: <VAvHGmGKxyZt@mx.relais-test.example.net>

Our content checker found
    virus: Eicar-Signature

in an email to you from:
   {OURS}

Content type: Virus
Our internal reference code for your message is 12345-06/AbCdEf"""),
        ("mailscanner-virus", f"""From: MailScanner <mailscanner@antispam.collectivite-h.example.fr>
To: {OURS}
Subject: Warning: E-mail viruses detected
Date: {DATE.format(20)}

Our virus detector has just been triggered by a message you sent:-
  To: rh@collectivite-h.example.fr
  Subject: Proposition
Any infected parts of the message have not been delivered."""),
        ("french-antivirus", f"""From: Antivirus <securite@collectivite-h.example.fr>
To: {OURS}
Subject: =?utf-8?q?Alerte_virus=C2=A0=3A_message_bloqu=C3=A9?=
Date: {DATE.format(21)}
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Un message qui vous était destiné a été bloqué : il contenait un fichier dangereux."""),
        ("outlook-read-receipt", report(
            f"""From: Marie Durand <marie.durand@commune-a.example.fr>
To: {OURS}
Subject: =?utf-8?q?Lu=C2=A0=3A_?= {ACK_SUBJECT}
Date: {DATE.format(22)}
Message-ID: <mdn.0042@commune-a.example.fr>
In-Reply-To: {ACK_ID}
References: {ACK_ID}""",
            "----=_mdn_0042",
            "Votre message a été lu le mardi 10 juin 2025 09:46:22 (UTC+01:00).",
            f"""Reporting-UA: commune-a.example.fr; Microsoft Outlook 16.0
Final-Recipient: rfc822;marie.durand@commune-a.example.fr
Original-Message-ID: {ACK_ID}
Disposition: manual-action/MDN-sent-manually; displayed
""",
            f"From: INET - Stages <{OURS}>\nSubject: {ACK_SUBJECT}\nMessage-ID: {ACK_ID}\n",
            returned_type="text/rfc822-headers", report_type="disposition-notification")),
        ("read-receipt-plain", f"""From: Paul Leroy <paul.leroy@commune-a.example.fr>
To: {OURS}
Subject: =?utf-8?q?Lu=C2=A0=3A_?= {ACK_SUBJECT}
Date: {DATE.format(23)}
In-Reply-To: {ACK_ID}
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Votre message

  À : paul.leroy@commune-a.example.fr
  Objet : {ACK_SUBJECT}

a été lu le mardi 10 juin 2025 09:46."""),
    ]
    return [RobotMail(name, "bounce", as_bytes(text)) for name, text in mails]
