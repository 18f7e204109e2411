"""Propositions: the list (filters, search) and one proposal's page with its actions."""

from __future__ import annotations

import re
import unicodedata
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mailflow import staff
from mailflow.campaign.upcoming import upcoming
from mailflow.db.models import Attachment, AuditEntry, Message, OutboxMail, Proposal, Slot
from mailflow.mail.compose import preview
from mailflow.mail.parsing import parse
from mailflow.mail.spool import opened
from mailflow.pipeline.forms.definition import FormDefinition

from .common import DECISIONS, STATUS_FR, action, console, render

if TYPE_CHECKING:
    from mailflow.context import App

PAGE = 100


def search_key(text: str) -> str:
    """Text as the search compares it: no accents, no case, punctuation as single spaces ("Béziers" ~ "beziers")."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").casefold()
    return " ".join(NOT_WORD.split(plain)).strip()


NOT_WORD = re.compile(r"[^0-9a-z@.]+")
SEARCHED = (("collectivity", "name"), ("mission", "title"), ("dgs", "first_name"), ("dgs", "last_name"),
            ("dgs", "email"), ("tutor", "first_name"), ("tutor", "last_name"), ("tutor", "email"))


def list_page(request: Request) -> Response:
    """Current versions, newest first, filtered by campaign, status and decision, searchable.

    Only the columns shown and searched are read (not every proposal's fields), so that the list
    stays fast with thousands of proposals; the search ignores case and accents.
    """
    app = console(request)
    q = request.query_params
    campaign, status, text = q.get("campagne", ""), q.get("statut", ""), q.get("q", "").strip()
    page = int(q["page"]) if q.get("page", "").isdigit() and int(q["page"]) > 0 else 1
    searched = [Proposal.fields[path].as_string() for path in SEARCHED]
    query = (select(Proposal.reference, Proposal.version, Proposal.status, Proposal.received_at, Proposal.sender,
                    func.json_array_length(Proposal.missing) + func.json_array_length(Proposal.problems), *searched)
             .where(Proposal.status != "superseded").order_by(Proposal.received_at.desc()))
    if campaign:
        query = query.where(Proposal.campaign == campaign)
    if status == "sans-decision":
        query = query.where(Proposal.status.not_in(list(DECISIONS)))
    elif status:
        query = query.where(Proposal.status == status)
    with app.sessions() as session:
        if text:  # the search folds accents, which SQL cannot do the same way on SQLite and PostgreSQL
            wanted = search_key(text)
            rows = [r for r in session.execute(query)
                    if wanted in search_key(" ".join(str(x) for x in (r[0], r[4], *r[6:]) if x))]
            total, rows = len(rows), rows[(page - 1) * PAGE: page * PAGE]
        else:
            total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
            rows = session.execute(query.limit(PAGE).offset((page - 1) * PAGE)).all()
    shown = [{"reference": r[0], "version": r[1], "status": r[2], "received_at": r[3], "sender": r[4],
              "missing": r[5], "name": r[6] or "", "title": r[7] or ""} for r in rows]
    return render(request, "proposals.html", {
        "rows": shown, "total": total, "page": page, "pages": max(1, -(-total // PAGE)),
        "campaigns": sorted(app.calendars), "filters": {"campagne": campaign, "statut": status, "q": text},
        "statuses": STATUS_FR,
    })


def _body_text(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain", "html"))
    if body is None:
        return ""
    try:
        return str(body.get_content())
    except (LookupError, ValueError):
        return ""


def mail_text(app: App, message: Message) -> str:
    """The readable text of a received mail, from its archived file (the proposal page, the to-do list)."""
    try:
        with opened(app.archive.mail(message.content_hash)) as raw:
            return _body_text(parse(raw))
    except (OSError, KeyError):
        return "(original absent de l'archive)"


def _received(app: App, message: Message) -> dict[str, Any]:
    return {"id": message.id, "at": message.received_at, "sender": message.sender, "subject": message.subject,
            "text": mail_text(app, message), "attachments": [{"id": a.id, "filename": a.filename or "(sans nom)",
                                           "size": a.size} for a in message.attachments]}


def _sent(row: OutboxMail) -> dict[str, Any]:
    mail = BytesParser(policy=policy.default).parsebytes(row.raw)
    assert isinstance(mail, EmailMessage)
    return {"id": row.id, "at": row.sent_at or row.created_at, "recipient": row.recipient, "subject": row.subject,
            "status": row.status, "text": _body_text(mail)}


def _fields(app: App, p: Proposal) -> list[dict[str, Any]]:
    problems = {item.split(":", 1)[0]: item.split(":", 1)[1].strip() for item in p.problems or [] if ":" in item}
    sections = []
    for section in app.forms.get(p.form, app.form).sections:
        values = (p.fields or {}).get(section.key) or {}
        rows = []
        for f in section.fields:
            value = values.get(f.key)
            shown = "oui" if value is True else "non" if value is False else "" if value is None else str(value)
            rows.append({"path": f.path, "label": f.mail_label, "value": shown, "type": f.type,
                         "required": f.required, "missing": f.path in (p.missing or []),
                         "problem": problems.get(f.path)})
        sections.append({"key": section.key, "fields": rows})
    return sections


def proposal_page(request: Request) -> Response:
    """Every field as read, the original, versions, mails in and out, reminders to come, the audit trail."""
    app = console(request)
    reference = request.path_params["reference"]
    with app.sessions() as session:
        versions = list(session.scalars(
            select(Proposal).where(Proposal.reference == reference).order_by(Proposal.version.desc())))
        if not versions:
            return render(request, "not_found.html", {"what": f"la proposition {reference}"}, status_code=404)
        wanted = request.query_params.get("version", "")
        p = next((v for v in versions if str(v.version) == wanted), versions[0])
        messages = [v.message for v in reversed(versions)] + staff.attached_messages(session, reference)
        received = [_received(app, m) for m in dict.fromkeys(messages)]
        sent = [_sent(o) for o in session.scalars(select(OutboxMail).where(
            OutboxMail.proposal_pk.in_([v.id for v in versions])).order_by(OutboxMail.created_at))]
        slots = [{"row": s, "free": staff.free_slots(session, app.calendars[s.campaign], s)
                  if s.campaign in app.calendars else []}
                 for s in session.scalars(select(Slot).where(Slot.proposal_pk.in_([v.id for v in versions])))]
        trail = list(session.scalars(select(AuditEntry).where(AuditEntry.reference == reference)
                                     .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())))
        source = _source(session, p)
        coming = [u for u in upcoming(app, app.clock.now(), days=400, campaign=p.campaign, digests=False,
                                      session=session) if u.reference == reference] if p.campaign else []
        context = {"p": p, "current": p is versions[0], "versions": versions, "sections": _fields(app, p),
                   "received": received, "sent": sent, "slots": slots, "trail": trail, "source": source,
                   "coming": coming, "flags": [staff.flag_text(f) for f in p.flags or []]}
    return render(request, "proposal.html", context)


def _source(session: Session, p: Proposal) -> dict[str, Any]:
    """Where the form was read: an attachment (download, or PDF in the browser) or the mail body."""
    if p.source_kind == "body" or not p.source_filename:
        return {"kind": "body"}
    found = session.scalars(select(Attachment).where(
        Attachment.message_pk == p.message_pk, Attachment.filename == p.source_filename)).first()
    if found is None:
        return {"kind": "body"}
    return {"kind": "attachment", "id": found.id, "filename": found.filename,
            "pdf": found.content_type == "application/pdf"}


def acknowledgement_preview(request: Request) -> Response:
    """The updated acknowledgement exactly as it would go, before staff send it."""
    app = console(request)
    reference = request.path_params["reference"]
    with app.sessions() as session:
        try:
            mail = staff.updated_acknowledgement(app, session, reference)
        except staff.StaffActionError as exc:
            return render(request, "not_found.html", {"what": str(exc)}, status_code=400)
        p = staff.current(session, reference)
    return render(request, "preview.html", {"p": p, "mail": preview(mail), "to": mail["To"],
                                            "subject": mail["Subject"]})


def _correct(app: App, session: Session, form: dict[str, str], actor: str) -> str:
    definition = _form_of(app, session, form["reference"])
    p = staff.correct_field(session, definition, form["reference"], form.get("path", ""), form.get("value", ""),
                            actor, app.clock.now())
    return f"/propositions/{p.reference}"


def _accept_flag(app: App, session: Session, form: dict[str, str], actor: str) -> str:
    index = int(form["index"]) if form.get("index", "").isdigit() else -1
    definition = _form_of(app, session, form["reference"])
    p = staff.accept_flag(session, definition, form["reference"], index, form.get("flag", ""), actor, app.clock.now())
    return f"/propositions/{p.reference}"


def _form_of(app: App, session: Session, reference: str) -> FormDefinition:
    """The definition of a proposal's own form (a stage offer's fields are not a projet collectif's)."""
    found = session.scalars(select(Proposal.form).where(Proposal.reference == reference).limit(1)).first()
    return app.forms.get(found or "", app.form)


def _decide(app: App, session: Session, form: dict[str, str], actor: str) -> str:
    _, p = staff.decide(session, form["reference"], form.get("decision", ""), actor, app.clock.now())
    return f"/propositions/{p.reference}"


def _note(app: App, session: Session, form: dict[str, str], actor: str) -> str:
    p = staff.set_note(session, form["reference"], form.get("note", ""), actor, app.clock.now())
    return f"/propositions/{p.reference}"


def _send(app: App, session: Session, form: dict[str, str], actor: str) -> str:
    staff.send_updated_acknowledgement(app, session, form["reference"], actor)
    return f"/propositions/{form['reference']}"


async def send_acknowledgement(request: Request) -> Response:
    """Queue the updated acknowledgement, then hand the outbox to the transport at once."""
    response = await action(_send, "Accusé de réception mis à jour envoyé.")(request)
    app = console(request)
    await run_in_threadpool(app.outbox.drain)
    return response


routes = [
    Route("/propositions", list_page, methods=["GET"]),
    Route("/propositions/{reference}", proposal_page, methods=["GET"]),
    Route("/propositions/{reference}/accuse", acknowledgement_preview, methods=["GET"]),
    Route("/propositions/{reference}/accuse", send_acknowledgement, methods=["POST"]),
    Route("/propositions/{reference}/champ", action(_correct, "Champ corrigé."), methods=["POST"]),
    Route("/propositions/{reference}/signalement", action(_accept_flag, "Valeur acceptée."), methods=["POST"]),
    Route("/propositions/{reference}/decision", action(_decide, "Décision enregistrée."), methods=["POST"]),
    Route("/propositions/{reference}/note", action(_note, "Note enregistrée."), methods=["POST"]),
]
