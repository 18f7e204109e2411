"""A reply in a proposal's thread that gives missing values: filed as the proposal's next version.

The reading itself is `reply_values.read_reply` (pure); this module looks up the proposal, files
the new version with what was read and queues the updated acknowledgement, in the caller's
transaction. What the reply did not give stays for staff (the caller keeps the mail in « À traiter »).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from email.message import EmailMessage
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailflow.db.models import Message, Proposal
from mailflow.pipeline.acknowledge import Original, acknowledge_proposal, recipients_for
from mailflow.pipeline.classify import Verdict
from mailflow.pipeline.extract.body import body_text, strip_quoted
from mailflow.pipeline.filing import file_proposal
from mailflow.pipeline.reply_values import merged, read_reply
from mailflow.pipeline.validate import validate_fields

if TYPE_CHECKING:
    from mailflow.context import App


def complete_from_reply(
    app: App, session: Session, message: Message, original: Original, verdict: Verdict, parsed: EmailMessage,
    now: datetime, note: Callable[[str, str], None],
) -> tuple[str, str]:
    """File the missing or invalid fields a reply gives as a new version and queue its acknowledgement.

    Returns the mail's verdict ("proposal" when the reply gave every wanted field, else "reply": it
    stays for staff) and, for its reason, the fields still to read. `note(step, detail)` records a step.
    """
    unread = _complete(app, session, message, original, verdict, parsed, now, note)
    if unread == ():
        return "proposal", " : les éléments manquants ont été lus et enregistrés"
    left = f" ; restent à lire par le service : {', '.join(map(app.form.label, unread))}" if unread else ""
    return "reply", left


def _complete(
    app: App, session: Session, message: Message, original: Original, verdict: Verdict, parsed: EmailMessage,
    now: datetime, note: Callable[[str, str], None],
) -> tuple[str, ...] | None:
    """The wanted fields the reply did not give, or None when it gave none (nothing filed)."""
    current = session.scalars(
        select(Proposal).where(Proposal.reference == verdict.reference).order_by(Proposal.version.desc()).limit(1)
    ).first()
    if current is None or current.status not in ("incomplete", "late"):
        return None
    wanted = [*(current.missing or []), *(p.partition(":")[0].strip() for p in current.problems or [])]
    read = read_reply(strip_quoted(body_text(parsed) or ""), wanted, app.form, verdict.contact or "")
    if not wanted or not read.values:
        return None
    fields = merged(current.fields or {}, read.values)
    validation = validate_fields(fields, app.form)
    filed = file_proposal(
        session, form=app.form.name, fields=fields, missing=validation.missing, problems=validation.problems,
        to_check=validation.to_check,
        source_kind="body", source_filename=None, message=message, sender=current.sender,
        received_at=message.received_at, campaign=app.campaign_for(app.form.name, current.received_at),
        thread_reference=current.reference, now=now, flags=list(current.flags or []),
    )
    proposal = filed.proposal
    note("filed", f"{proposal.reference} v{proposal.version} ({proposal.status}) : "
                  f"{', '.join(map(app.form.label, read.values))} lus dans la réponse")
    recipients = recipients_for(app, session, original, verdict, fields, now)
    if recipients.why_none is not None:
        note("not-answered", recipients.why_none)
    elif acknowledge_proposal(app, session, filed, original, recipients, now) is not None:
        note("answered", f"accusé de réception de {proposal.reference} mis en file")
    return read.unread
