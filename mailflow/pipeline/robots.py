"""Mail written by software, never by a person: bounces, list mail, auto-replies, robot senders.

An automatic answer to any of these is at best noise and at worst a mail loop, so none is ever
answered. Bounces are recognised by GNU Mailman's `flufl.bounce`, which knows the formats of
many MTAs (DSNs, Exim, Postfix, qmail, Exchange, GroupWise…); the rules below cover what it
does not: the standard headers (RFC 3834 Auto-Submitted, RFC 2369/2919 List-*, Precedence),
the headers list managers and Microsoft add, role senders, and the subjects of plain-text
notices in French and English. Each rule returns the French reason staff read.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from email.message import Message
from email.utils import getaddresses

from flufl.bounce import all_failures

from mailflow.mail.parsing import header
from mailflow.pipeline.forwards import forwards_by_subject, own_text

log = logging.getLogger("mailflow.pipeline.robots")
# flufl.bounce logs one INFO line per detector and mail, and a traceback before re-raising; its failures
# are logged here, once, as a warning.
logging.getLogger("flufl.bounce").setLevel(logging.CRITICAL)

AUTO_REPLY_HEADERS = ("X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-AutoReply-From", "X-Mail-Autoreply",
                      "X-FC-MachineGenerated", "X-Vacation")
# Microsoft: headers Exchange puts only on mail it generated itself (NDRs, rule replies, OOF).
MICROSOFT_GENERATED = ("X-MS-Exchange-Message-Is-Ndr", "X-MS-Exchange-Generated-Message-Source")
# X-Auto-Response-Suppress lists what the sender asks not to receive; these values cover an auto-reply.
SUPPRESSED_AUTO_REPLY = {"all", "autoreply", "oof"}
BULK_PRECEDENCE = {"bulk", "junk", "list", "auto_reply", "auto-reply"}
LIST_HEADERS = ("List-Id", "List-Unsubscribe", "List-Post", "List-Help", "List-Subscribe", "List-Owner",
                "List-Archive", "Mailing-List", "X-Mailing-List", "X-BeenThere", "X-Loop", "X-Sequence",
                "X-Google-Group-Id", "X-Listprocessor-Version", "X-Listserver", "X-List-Administrivia")
LIST_HEADER_PREFIXES = ("x-mailman-", "x-sympa-", "x-ezmlm-")
# Local parts of robots and of the role addresses that send mail but read none.
ROBOT_LOCAL = re.compile(
    r"^(?:mailer-?daemon|mail-?daemon|postmaster|ndr|nondeliver(?:y|able)|bounces?(?:[+-].*)?|"
    r"no-?reply|no_reply|noreply[-+.].*|do-?not-?reply|do_not_reply|donotreply|ne-?pas-?repondre|"
    r"listserv|majordomo|sympa|mailman|ezmlm|autoreply|auto-reply|vacation|"
    r"microsoftexchange[0-9a-f]*|owner-.+|.+-(?:owner|request|bounces?)(?:\+.*)?)$",
    re.IGNORECASE,
)
ROBOT_NAMES = re.compile(
    r"^(?:mail delivery (?:subsystem|system|service)|mailer[- ]daemon|postmaster|microsoft outlook|"
    r"microsoft exchange|mail administrator|system administrator|administrateur syst[èe]me|mail router|"
    r"syst[èe]me de messagerie|service de messagerie|automatic digest processor|"
    r"content[- ]filter at .+|mailscanner|antivirus|anti-virus)$",
    re.IGNORECASE,
)
# Return-Path of a list manager: the list's owner or bounce address (Sympa, Majordomo, Mailman).
LIST_RETURN_PATH = re.compile(r"^(?:owner-.+|.+-(?:owner|request|bounces)(?:\+.*)?)$", re.IGNORECASE)
# Subjects of notices written as plain text, by MTAs, virus scanners and mail clients (start of subject).
NOTICE_SUBJECT = re.compile(
    r"^\s*(?:returned mail|undeliver(?:able|ed)|non ?remis|message non (?:remis|d[ée]livr[ée])|"
    r"[ée]chec de (?:la )?(?:remise|distribution)|(?:avis|rapport) de non[- ]remise|remise diff[ée]r[ée]e|"
    r"delivery (?:failure|status notification|has failed|delayed|notification)|mail delivery failed|"
    r"failure notice|delayed mail|warning: could not send|nondeliverable|mail system error|"
    r"unzustellbar|non recapitabile|"
    r"virus\s*\(|\[virus|\{virus|alerte virus|virus (?:found|detected|alert)|banned contents? alert|"
    r"warning: e-?mail viruses detected|message (?:blocked|bloqu[ée])|notification antivirus|"
    r"lu\s*:|non lu\s*:|read\s*:|not read\s*:|accus[ée] de lecture\b)",
    re.IGNORECASE,
)
AUTO_REPLY_SUBJECT = re.compile(
    r"^\s*(?:r[ée]ponse automatique|automatic reply|auto(?:matic)?[- ]?reply|autoreply|auto\s*:|"
    r"absence du bureau|out of (?:the )?office|absent(?:\(e\)|e)? du bureau|message d'absence|"
    r"i am out of the office|je suis absente?\b)",
    re.IGNORECASE,
)
# The first line of plain-text bounces that flufl.bounce misses once a gateway has stripped their headers.
NOTICE_OPENING = re.compile(
    r"^\s*(?:this message was created automatically by mail delivery software|"
    r"this is the mail system at host|hi\. this is the qmail-send program|"
    r"i'm sorry to have to inform you that your message could not|"
    r"your message did not reach some or all of the intended recipients|"
    r"[ée]chec de la remise [àa] ces destinataires|votre message n'a pas pu [êe]tre (?:remis|distribu[ée])|"
    r"le message suivant n'a pas pu [êe]tre (?:remis|distribu[ée])|delivery to the following recipients? failed)",
    re.IGNORECASE,
)
TEXT_BUDGET = 64_000
# Part types that only software writes: delivery reports, read receipts, abuse reports, digests.
REPORT_TYPES = {"message/delivery-status", "message/disposition-notification", "message/feedback-report",
                "message/global-delivery-status", "text/rfc822-headers", "multipart/digest"}


def why_automatic(message: Message) -> str | None:
    """Why `message` was written by software and must never be answered (French, for staff); None for a person."""
    for rule in RULES:
        reason = rule(message)
        if reason:
            return reason
    return None


def _auto_reply(message: Message) -> str | None:
    auto_submitted = header(message, "Auto-Submitted").strip().lower()
    if auto_submitted and not auto_submitted.startswith("no"):
        return f"réponse automatique (Auto-Submitted: {auto_submitted})"
    for name in AUTO_REPLY_HEADERS:
        if name in message:
            return f"réponse automatique (en-tête {name})"
    for name in MICROSOFT_GENERATED:
        if name in message:
            return f"message produit par Microsoft Exchange (en-tête {name})"
    suppress = {v.strip().lower() for v in header(message, "X-Auto-Response-Suppress").split(",")}
    if suppress & SUPPRESSED_AUTO_REPLY:
        return "réponse automatique (X-Auto-Response-Suppress\u00a0: l'expéditeur refuse les réponses automatiques)"
    if AUTO_REPLY_SUBJECT.match(header(message, "Subject")):
        return "réponse automatique (objet du message)"
    return None


def _list_mail(message: Message) -> str | None:
    precedence = header(message, "Precedence").strip().lower()
    if precedence in BULK_PRECEDENCE:
        return f"envoi automatique ou en nombre (Precedence: {precedence})"
    for name in LIST_HEADERS:
        if name in message:
            return f"message d'une liste de diffusion (en-tête {name})"
    for name in message:
        if name.lower().startswith(LIST_HEADER_PREFIXES):
            return f"message d'une liste de diffusion (en-tête {name})"
    for name in ("Return-Path", "Sender", "Errors-To"):
        local = _local_part(header(message, name))
        if local and LIST_RETURN_PATH.match(local):
            return f"message d'une liste de diffusion ({name}\u00a0: {local}@…)"
    return None


def _report(message: Message) -> str | None:
    if message.get_content_type() == "multipart/report":
        kind = message.get_param("report-type", "") or ""
        return f"avis de non-remise ou accusé de lecture (multipart/report {kind})".replace(" )", ")")
    for part in _own_parts(message):
        if part.get_content_type() in REPORT_TYPES:
            if part.get_content_type() == "multipart/digest":
                return "recueil (digest) d'une liste de diffusion"
            return f"avis de non-remise ou accusé de lecture ({part.get_content_type()})"
    return None


def _bounce(message: Message) -> str | None:
    if "Return-Path" in message and header(message, "Return-Path").strip() in ("<>", ""):
        return "avis de non-remise (Return-Path vide)"
    if "X-Failed-Recipients" in message:
        return "avis de non-remise (X-Failed-Recipients)"
    if forwards_by_subject(message):
        return None  # a person forwarding a bounce (`TR: Non remis…`) wrote this mail: its body is not a bounce
    try:
        temporary, permanent = all_failures(_for_detectors(message))
    except Exception:  # noqa: BLE001 - a detector choking on a malformed mail must not stop classification
        log.warning("flufl.bounce could not scan a mail; judged by the other rules", exc_info=True)
        return None
    if temporary or permanent:
        return "avis de non-remise (reconnu par flufl.bounce)"
    first_line = next((line for line in (own_text(message) or "").splitlines() if line.strip()), "")
    if NOTICE_OPENING.match(first_line):
        return "avis de non-remise (texte d'un serveur de messagerie)"
    return None


def _robot_sender(message: Message) -> str | None:
    for name in ("From", "Sender", "Reply-To"):
        for display, address in getaddresses([header(message, name)]):
            local = address.rpartition("@")[0] if "@" in address else address
            if local and ROBOT_LOCAL.match(local.strip()):
                return f"expéditeur automatique ({address.strip().lower()})"
            if display and ROBOT_NAMES.match(display.strip()):
                return f"expéditeur automatique ({display.strip()})"
    return None


def _notice_subject(message: Message) -> str | None:
    subject = header(message, "Subject")
    if NOTICE_SUBJECT.match(subject):
        return f"avis automatique (objet\u00a0: «\u00a0{subject.strip()[:60]}\u00a0»)"
    return None


def _own_parts(part: Message) -> Iterator[Message]:
    """The parts of this mail, not those of a message it carries (a report forwarded by a person is not a report)."""
    yield part
    if part.get_content_maintype() == "message":
        return
    payload = part.get_payload()
    if isinstance(payload, list):
        for sub in payload:
            if isinstance(sub, Message):
                yield from _own_parts(sub)


def _for_detectors(part: Message) -> Message:
    """A copy of the mail as the bounce detectors need it: its structure and headers, its text parts cut
    to TEXT_BUDGET characters and every other leaf emptied. The detectors read every line of every part;
    on a mail carrying 18 MB of attachments that took close to a minute, on this copy milliseconds."""
    copy = Message()
    for name, value in part.raw_items():
        copy[name] = value
    payload = part.get_payload()
    if isinstance(payload, list):
        copy.set_payload([_for_detectors(sub) for sub in payload if isinstance(sub, Message)])
    elif isinstance(payload, str) and part.get_content_maintype() in ("text", "message"):
        copy.set_payload(payload[:TEXT_BUDGET])
    else:
        copy.set_payload("")
    return copy


RULES: tuple[Callable[[Message], str | None], ...] = (
    _auto_reply, _list_mail, _report, _bounce, _robot_sender, _notice_subject
)


def _local_part(value: str) -> str:
    for _name, address in getaddresses([value]):
        if "@" in address:
            return address.rpartition("@")[0].strip()
    return ""

