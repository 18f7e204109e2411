"""The answer stage: which acknowledgement a mail gets, if any, queued in the outbox.

Nothing is sent from here: the mail is rendered, composed and written to the outbox in
the same transaction as the filing that caused it. Loops and backscatter are prevented
here: no answer to what failed SPF/DMARC, and at most N answers per sender and day.

Who an answer goes to is decided in one place, `answer_recipients`: the sender of the mail
itself (or its Reply-To), never the author of a message it forwards, attaches or returns. The
one exception is a proposal form forwarded by a colleague (internal domain): it is acknowledged
to the addresses in the form, with the colleague in copy.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, tzinfo
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from mailflow.campaign.export import proposal_record
from mailflow.db.models import Message, MessageStep, Proposal
from mailflow.mail.compose import AddressError
from mailflow.mail.outbox import answers_today, enqueue
from mailflow.mail.parsing import header
from mailflow.mail.template_context import acknowledgement_template, mail_context, original_context
from mailflow.pipeline.classify import Verdict, is_internal, thread_ids
from mailflow.pipeline.filing import Filed
from mailflow.pipeline.forms.definition import FormDefinition
from mailflow.pipeline.history import never_answer

if TYPE_CHECKING:
    from mailflow.context import App

AUTH_FAILURE = re.compile(r"\b(dmarc|spf)\s*=\s*(fail|softfail|permerror)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Original:
    """The mail being answered, as the templates and threading need it."""

    message: Message
    parsed: EmailMessage

    def context(self) -> dict[str, Any]:
        return original_context(self.message)


@dataclass(frozen=True)
class Recipients:
    """Who an automatic answer goes to (`to`, `cc`), or why it is not sent (`why_none`, French, for staff).

    `sender` is who a proposal in the mail is filed as coming from: the mail's own sender, or for a
    form forwarded by a colleague the form's first address (the colleague is not the collectivité).
    """

    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    why_none: str | None = None
    sender: str = ""


def choose_recipients(
    verdict: Verdict,
    fields: Mapping[str, Mapping[str, object]] | None,
    form: FormDefinition,
    internal_domains: Collection[str],
) -> Recipients:
    """Who may receive the automatic answer to a mail (with `fields`, the form found in it, if any)."""
    contact = verdict.contact or ""
    if verdict.colleague:
        if not fields:
            return Recipients(why_none="message d'un collègue\u00a0: pas de réponse automatique", sender=contact)
        found = form_addresses(fields, form)
        outside = tuple(a for a in found if not is_internal(a, internal_domains))
        if not outside:
            return Recipients(why_none="formulaire transmis par un collègue sans adresse de la collectivité"
                              "\u00a0: pas d'accusé de réception automatique", sender=contact)
        copy = (contact,) if contact and contact not in outside else ()
        return Recipients(to=outside, cc=copy, sender=outside[0])
    if not contact:
        return Recipients(why_none="pas d'adresse de réponse utilisable")
    return Recipients(to=(contact,), sender=contact)


def answer_recipients(
    session: Session,
    original: Original,
    verdict: Verdict,
    fields: Mapping[str, Mapping[str, object]] | None,
    now: datetime,
    *,
    form: FormDefinition,
    internal_domains: Collection[str],
    daily_limit: int,
    timezone: tzinfo,
) -> Recipients:
    """`choose_recipients`, then the checks that stop any answer (authentication failure, daily limit)."""
    chosen = choose_recipients(verdict, fields, form, internal_domains)
    if chosen.why_none is not None:
        return chosen
    reason = why_not_answer(session, original, chosen, now, daily_limit=daily_limit, timezone=timezone)
    return chosen if reason is None else replace(chosen, why_none=reason)


def recipients_for(
    app: App, session: Session, original: Original, verdict: Verdict,
    fields: Mapping[str, Mapping[str, object]] | None, now: datetime,
) -> Recipients:
    """`answer_recipients` with the application's rules (daily limit, time zone, form, internal domains)."""
    return answer_recipients(
        session, original, verdict, fields, now, form=app.form, internal_domains=app.internal_domains,
        daily_limit=app.settings.smtp.answers_per_sender_per_day, timezone=app.timezone,
    )


def form_addresses(fields: Mapping[str, Mapping[str, object]], form: FormDefinition) -> tuple[str, ...]:
    """The e-mail addresses typed in a form (its fields of type email), in the form's order, once each."""
    found: dict[str, None] = {}
    for definition in form.fields:
        if definition.type != "email":
            continue
        value = (fields.get(definition.section) or {}).get(definition.key)
        if isinstance(value, str) and "@" in value:
            found.setdefault(value.strip().lower(), None)
    return tuple(found)


def why_not_answer(
    session: Session, original: Original, recipients: Recipients, now: datetime, *, daily_limit: int, timezone: tzinfo
) -> str | None:
    """The reason (French, for staff) not to answer automatically, or None when an answer is fine.

    `daily_limit` answers per address and calendar day in `timezone` at most."""
    held = never_answer(session, original.message)
    if held is not None:
        return held
    if recipients.why_none or not recipients.to:
        return recipients.why_none or "pas d'adresse de réponse utilisable"
    results = " ".join(str(value) for value in original.parsed.get_all("Authentication-Results", failobj=[]))
    failure = AUTH_FAILURE.search(results)
    if failure:
        return (
            f"pas de réponse automatique : l'authentification de l'expéditeur a échoué "
            f"({failure.group(1).upper()}={failure.group(2).lower()})"
        )
    for recipient in recipients.to:
        if answers_today(session, recipient, now, timezone) >= daily_limit:
            return f"pas de réponse automatique : limite de {daily_limit} réponses par jour atteinte pour {recipient}"
    return None


def acknowledge_proposal(
    app: App, session: Session, filed: Filed, original: Original, recipients: Recipients, now: datetime
) -> int | None:
    """Queue the acknowledgement of a proposal just filed (complete, incomplete, new version or late): the
    outbox row's id, or None when it was queued before or cannot be addressed."""
    proposal = filed.proposal
    record = {**proposal_record(proposal), "other_missions": filed.others}
    template = acknowledgement_template(record, late=proposal.late)
    return _queue(
        app, session, template, original, recipients, now,
        proposal=proposal, record=record, cause=f"message:{original.message.id}:{proposal.reference}",
    )


def acknowledge_message(
    app: App,
    session: Session,
    template: str,
    original: Original,
    recipients: Recipients,
    now: datetime,
    *,
    unreadable: Sequence[dict[str, str]] = (),
) -> int | None:
    """Queue an answer about a mail that filed nothing (question received, document unreadable): the
    outbox row's id, or None."""
    return _queue(app, session, template, original, recipients, now, unreadable=unreadable,
                  cause=f"message:{original.message.id}")


def _queue(
    app: App,
    session: Session,
    template: str,
    original: Original,
    recipients: Recipients,
    now: datetime,
    *,
    cause: str,
    proposal: Proposal | None = None,
    record: dict[str, Any] | None = None,
    unreadable: Sequence[dict[str, str]] = (),
) -> int | None:
    try:
        mail = answer_mail(app, template, original, recipients, now, proposal=proposal, record=record,
                           unreadable=unreadable)
    except AddressError as exc:
        session.add(MessageStep(message=original.message, step="not-answered", at=now,
                                detail=f"pas de réponse automatique : adresse inutilisable ({exc})"))
        return None
    return enqueue(session, cause=cause, kind=template, recipient=recipients.to[0], mail=mail, now=now,
                   proposal=proposal)


def answer_mail(
    app: App,
    template: str,
    original: Original,
    recipients: Recipients,
    now: datetime,
    *,
    proposal: Proposal | None = None,
    record: dict[str, Any] | None = None,
    unreadable: Sequence[dict[str, str]] = (),
) -> EmailMessage:
    """The answer to `original`, rendered and composed, not queued (the console previews it first)."""
    calendar = app.calendars.get(proposal.campaign) if proposal is not None and proposal.campaign else None
    if calendar is None and proposal is None:
        calendar = app.current_calendar(original.message.received_at)
    context = mail_context(
        proposal=record,
        label=app.label_for(proposal.form if proposal is not None else None),
        campaign=calendar,
        original=original.context(),
        unreadable=unreadable,
        now=now,
        recipient=recipients.to[0] if recipients.to else None,
    )
    rendered = app.templates.render(template, context)
    return app.compose(
        rendered,
        to=list(recipients.to),
        cc=list(recipients.cc),
        in_reply_to=header(original.parsed, "Message-ID") or None,
        references=thread_ids(original.parsed),
        auto_submitted="auto-replied",
        now=now,
    )
