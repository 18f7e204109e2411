"""History left alone: which mails of the watched folder mailflow handles, and which it never answers.

The stages mailbox is years old and shared with the people who run it. mailflow handles the mail
received (server arrival time) since it first watched the mailbox, a moment noted once in the
database, or since `[mailbox] handle_since` when set. Older mail stays where it is, untouched; it is
never answered, whatever else happens to it (`mailflow import-history` files it for the record).
A mail staff already answered, or put back in the folder after mailflow filed it, is not answered
either: staff have dealt with it. Mail mailflow sent itself (digest, alerts) stays for staff to read.
"""

from __future__ import annotations

import re
from datetime import datetime, time
from email.message import EmailMessage
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from mailflow.db.models import Message, MessageStep
from mailflow.db.state import get_state, put_state
from mailflow.mail.parsing import header
from mailflow.settings import Settings

STATE_KEY = "history"
HOLD = "hold"  # the step that says why a mail is never answered automatically
FILES = "file"  # the mailbox name of `mailflow ingest`

# Message states beyond recorded → processed → moved: the mail stays in the watched folder.
LEFT = "left"  # mailflow's own mail, or history filed for the record without moving it
RETURNED = "returned"  # put back in the folder by staff after mailflow filed it
GONE = "gone"  # deleted or moved by staff while mailflow worked on it
STAYING = (LEFT, RETURNED)

ANSWERED_BY_STAFF = ("déjà marqué «\u00a0répondu\u00a0» dans la boîte\u00a0: l'équipe s'en est occupée, "
                     "pas de réponse automatique")
RETURNED_BY_STAFF = "remis dans la boîte par l'équipe"
OWN_MAIL = "envoyé par mailflow lui-même\u00a0: laissé non lu dans la boîte pour l'équipe"


def first_watch(session: Session) -> datetime | None:
    """When mailflow first watched the mailbox, or None before its first pass."""
    row = get_state(session, STATE_KEY)
    since = row.value.get("since") if row is not None else None
    return datetime.fromisoformat(since) if since else None


def watch(session: Session, settings: Settings, mailbox: str, now: datetime) -> datetime:
    """Note the first watch (`now`) unless one is known, and the line in force; return the line (not committed).

    The line is kept in the database so that every stage that decides on an answer reads it there.
    """
    row = get_state(session, STATE_KEY)
    value = dict(row.value) if row is not None else {}
    since = value.get("since") or now.replace(microsecond=0).isoformat()
    explicit = explicit_line(settings)
    line = explicit or datetime.fromisoformat(since)
    wanted = {"since": since, "mailbox": value.get("mailbox") or mailbox, "line": line.isoformat(),
              "explicit": explicit is not None}
    if wanted != value:
        put_state(session, STATE_KEY, wanted, now)
    return line


def line_in_force(session: Session) -> tuple[datetime | None, bool]:
    """The line noted at the last watch, and whether it came from `handle_since` (None before any watch)."""
    row = get_state(session, STATE_KEY)
    if row is None or not row.value.get("line"):
        return None, False
    return datetime.fromisoformat(row.value["line"]), bool(row.value.get("explicit"))


def explicit_line(settings: Settings) -> datetime | None:
    """`[mailbox] handle_since` as a moment: midnight of that day in the campaigns' time zone."""
    day = settings.mailbox.handle_since
    if day is None:
        return None
    return datetime.combine(day, time(0, 0), tzinfo=ZoneInfo(settings.campaigns.timezone))


def handling_line(settings: Settings, watched_since: datetime | None) -> datetime | None:
    """Mail received before this moment is history: `handle_since` when set, else the first watch."""
    return explicit_line(settings) or watched_since


def is_history(received_at: datetime, line: datetime | None) -> bool:
    """True when a mail received at `received_at` is older than the line (compared to the second)."""
    return line is not None and received_at.replace(microsecond=0) < line.replace(microsecond=0)


def hold(session: Session, message: Message, reason: str, now: datetime) -> None:
    """Note that this mail must never be answered automatically, and why (not committed)."""
    session.add(MessageStep(message=message, step=HOLD, at=now, detail=reason))


def never_answer(session: Session, message: Message) -> str | None:
    """Why this mail must never get an automatic answer (French, for staff), or None.

    A hold noted when it was recorded (flagged answered, imported history) or a reception
    before the line in force: any mail for `handle_since`, the watched folder's for the first watch
    (a file given to `mailflow ingest` is dated by its own Date header).
    """
    held = next((step.detail for step in message.steps if step.step == HOLD and step.detail), None)
    if held:
        return held
    line, explicit = line_in_force(session)
    if line is not None and (explicit or message.mailbox != FILES) and is_history(message.received_at, line):
        return (f"reçu le {message.received_at.astimezone(line.tzinfo):%d/%m/%Y}, avant le {line:%d/%m/%Y} "
                "(début du traitement automatique)\u00a0: pas de réponse automatique")
    return None


def is_own_mail(parsed: EmailMessage, message_id_domain: str) -> bool:
    """A mail mailflow itself sent (digest, alert, answer copied to the mailbox): its Message-ID is ours."""
    match = re.search(r"@([^>\s]+)>?\s*$", header(parsed, "Message-ID"))
    return bool(match) and match.group(1).lower() == message_id_domain.lower()


def was_put_back(existing: Message, received_at: datetime, uidvalidity: int | None) -> bool:
    """A known, filed mail found again in the watched folder with its arrival time: staff moved it back.

    IMAP keeps a mail's INTERNALDATE when it is moved; a second delivery of the same mail has a new one.
    """
    return (
        uidvalidity is not None
        and existing.state in ("moved", GONE)
        and existing.received_at.replace(microsecond=0) == received_at.replace(microsecond=0)
    )

