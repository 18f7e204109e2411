"""What every generated robot mail shares: the mail it answers or returns, and the report layout.

See tests/corpus/robots.py for the corpus itself.
"""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass
from email.message import EmailMessage

OURS = "stages.inet@cnfpt.fr"
ACK_ID = "<ack.PC-2025-0007.20250610094402@stages.inet.cnfpt.fr>"
ACK_SUBJECT = "[PC-2025-0007] Accusé de réception de votre proposition de projet collectif"
DATE = "Tue, 10 Jun 2025 09:46:{:02d} +0200"


@dataclass(frozen=True)
class RobotMail:
    """One generated mail: a short name, its family (bounce, list, auto-reply) and its bytes as sent
    (UTF-8 headers included, as some software writes them)."""

    name: str
    family: str
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        message = email.message_from_bytes(self.raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        return message


def as_bytes(text: str) -> bytes:
    """A mail written as text (LF line ends) as the bytes a server receives (CRLF)."""
    return text.strip("\n").replace("\n", "\r\n").encode("utf-8") + b"\r\n"


def our_acknowledgement(recipient: str = "rh@commune-a.example.fr", n: int = 0) -> str:
    """One of mailflow's acknowledgements, as it is returned inside a bounce."""
    return f"""From: INET - Stages <{OURS}>
To: {recipient}
Subject: {ACK_SUBJECT}
Date: Tue, 10 Jun 2025 09:44:{n:02d} +0200
Message-ID: {ACK_ID}
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Madame, Monsieur,

Nous accusons réception de votre proposition de projet collectif, enregistrée sous la
référence PC-2025-0007.

Le service des stages de l'INET
"""


def delivery_status(*, reporting: str, recipient: str, status: str, diagnostic: str, action: str = "failed",
         extra: str = "") -> str:
    return f"""Reporting-MTA: dns; {reporting}
{extra}Arrival-Date: Tue, 10 Jun 2025 09:44:05 +0200

Final-Recipient: rfc822; {recipient}
Original-Recipient: rfc822;{recipient}
Action: {action}
Status: {status}
Remote-MTA: dns; mx.{recipient.rpartition("@")[2]}
Diagnostic-Code: smtp; {diagnostic}
"""


def report(headers: str, boundary: str, text: str, dsn: str, returned: str, *,
            returned_type: str = "message/rfc822", report_type: str = "delivery-status") -> str:
    return f"""{headers}
MIME-Version: 1.0
Content-Type: multipart/report; report-type={report_type};
\tboundary="{boundary}"

This is a MIME-encapsulated message.

--{boundary}
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

{text}
--{boundary}
Content-Type: message/{report_type}

{dsn}
--{boundary}
Content-Type: {returned_type}

{returned}
--{boundary}--
"""
