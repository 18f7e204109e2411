"""À traiter, Quarantaine, and the downloads of what mails brought (originals and attachments).

Everything that came in a mail is served as a download (Content-Disposition: attachment) under
a name made here, never the sender's, with `nosniff`; only a PDF may open in the browser, and
then in a sandbox (no script, no same-origin access).
"""

from __future__ import annotations

import logging
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.exc import NoResultFound
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from mailflow import staff
from mailflow.db.models import Attachment, Message, Proposal, QuarantineEntry
from mailflow.errors import AlreadyFiled
from mailflow.pipeline.filing import filed_from, refuse_if_filed

from .common import action, back, console, flash, render, user
from .proposals import mail_text

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from mailflow.context import App

SAFE_TYPES = {"application/pdf": "pdf", "application/msword": "doc", "application/vnd.oasis.opendocument.text": "odt",
              "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
              "text/plain": "txt", "image/png": "png", "image/jpeg": "jpg"}


def todo_page(request: Request) -> Response:
    """Questions, replies, quarantined mails, mails put back and failed sends, each until closed."""
    app = console(request)
    with app.sessions() as session:
        items = staff.open_items(session)
        texts = {i.id: mail_text(app, session.get_one(Message, i.id)) for i in items if i.kind != "failed-send"}
        references = list(session.scalars(select(Proposal.reference).where(Proposal.status != "superseded")
                                          .order_by(Proposal.reference).distinct()))
    return render(request, "todo.html", {"items": items, "texts": texts, "references": references})


def quarantine_page(request: Request) -> Response:
    """Quarantined mails not released yet, with their reason and the original to download."""
    app = console(request)
    with app.sessions() as session:
        entries = list(session.scalars(select(QuarantineEntry).where(QuarantineEntry.released_at.is_(None))
                                       .order_by(QuarantineEntry.created_at)))
        rows = [{"id": e.id, "at": e.created_at, "reason": e.reason, "message_pk": e.message_pk,
                 "sender": e.message.sender, "subject": e.message.subject,
                 "attachments": [(a.id, a.filename or "(sans nom)") for a in e.message.attachments]}
                for e in entries]
    return render(request, "quarantine.html", {"rows": rows})


async def release(request: Request) -> Response:
    """Run a quarantined mail through the pipeline again, and say what it became."""
    app = console(request)
    entry_id = int(request.path_params["entry_id"])
    try:
        message = await run_in_threadpool(staff.release, app, entry_id, user(request))
    except NoResultFound:
        flash(request, "Ce courriel n'est plus en quarantaine.", "error")
        return back("/quarantaine")
    with app.sessions() as session:
        reference = filed_from(session, message.id)
    outcome = f"proposition {reference} enregistrée" if reference else (message.reason or message.verdict or "")
    flash(request, f"Courriel sorti de quarantaine : {outcome}.")
    return back("/quarantaine")


def _handled(app: App, session: Session, form: dict[str, str], actor: str) -> str:
    staff.mark_handled(session, form["kind"], int(form["item_id"]), actor, app.clock.now())
    return "/a-traiter"


def _put_back(app: App, session: Session, form: dict[str, str], actor: str) -> str | None:
    staff.put_back(session, int(form["item_id"]), actor, app.clock.now())
    return None


def _attach(app: App, session: Session, form: dict[str, str], actor: str) -> str:
    now = app.clock.now()
    proposal = staff.attach(session, int(form["item_id"]), form.get("reference", ""), actor, now)
    if form.get("path") and form.get("value", "").strip():
        definition = app.forms.get(proposal.form, app.form)
        staff.correct_field(session, definition, proposal.reference, form["path"], form["value"], actor, now)
    return "/a-traiter"


async def reprocess(request: Request) -> Response:
    """Run a mail through the pipeline again (after a fix), as quarantine release does."""
    app = console(request)
    pk = int(request.path_params["item_id"])

    def run() -> str:
        with app.sessions.begin() as session:
            message = session.get_one(Message, pk)
            refuse_if_filed(session, pk)
            entry = QuarantineEntry(message=message, reason="retraitement demandé", created_at=app.clock.now())
            session.add(entry)
            session.flush()
            entry_id = entry.id
        result = staff.release(app, entry_id, user(request))
        return result.reason or result.verdict or ""

    try:
        flash(request, f"Courriel retraité : {await run_in_threadpool(run)}.")
    except (staff.StaffActionError, AlreadyFiled) as exc:
        flash(request, str(exc), "error")
    return back("/a-traiter")


def _download(request: Request, what: str, path: Path, name: str, content_type: str,
              inline: bool = False) -> Response:
    """An archived file, read from disk a piece at a time as it is sent (a 20 MB scan is never held whole).

    The file is looked at once, here, and the response told what was seen, so that a file gone in
    between is a plain 404 rather than an error in the middle of the response."""
    try:
        seen = path.stat()
    except OSError:
        seen = None
    if seen is None or not stat.S_ISREG(seen.st_mode):
        log.error("archived file missing: %s", path)
        return render(request, "not_found.html", {"what": f"{what}\u00a0: son fichier est absent de l'archive"},
                      status_code=404)
    headers = {"Content-Security-Policy": "sandbox; default-src 'none'; object-src 'self'"} if inline else {}
    return FileResponse(path, media_type=content_type, filename=name, headers=headers, stat_result=seen,
                        content_disposition_type="inline" if inline else "attachment")


def original(request: Request) -> Response:
    """The received mail exactly as it arrived (.eml), as a download."""
    app = console(request)
    with app.sessions() as session:
        message = session.get(Message, int(request.path_params["message_pk"]))
        if message is None:
            return render(request, "not_found.html", {"what": "ce courriel"}, status_code=404)
        path = app.archive.path(message.content_hash)
    return _download(request, "ce courriel", path, f"courriel-{message.id}.eml", "message/rfc822")


def document(request: Request) -> Response:
    """An attachment, named by mailflow; `?voir=1` opens a PDF in the browser, sandboxed."""
    app = console(request)
    with app.sessions() as session:
        found = session.get(Attachment, int(request.path_params["attachment_pk"]))
        if found is None:
            return render(request, "not_found.html", {"what": "ce document"}, status_code=404)
        path = app.archive.path(found.content_hash)
        reference = filed_from(session, found.message_pk)
    extension = SAFE_TYPES.get(found.content_type, "bin")
    content_type = found.content_type if found.content_type in SAFE_TYPES else "application/octet-stream"
    name = f"{reference or 'courriel-' + str(found.message_pk)}-document-{found.id}.{extension}"
    inline = request.query_params.get("voir") == "1" and extension == "pdf"
    return _download(request, "ce document", path, name, content_type, inline=inline)


routes = [
    Route("/a-traiter", todo_page, methods=["GET"]),
    Route("/a-traiter/{kind:str}/{item_id:int}/traite", action(_handled, "Élément marqué comme traité."),
          methods=["POST"]),
    Route("/a-traiter/{item_id:int}/remettre", action(_put_back, "Courriel remis à traiter."), methods=["POST"]),
    Route("/a-traiter/{item_id:int}/rattacher", action(_attach, "Courriel rattaché à la proposition."),
          methods=["POST"]),
    Route("/a-traiter/{item_id:int}/retraiter", reprocess, methods=["POST"]),
    Route("/quarantaine", quarantine_page, methods=["GET"]),
    Route("/quarantaine/{entry_id:int}/liberer", release, methods=["POST"]),
    Route("/courriels/{message_pk:int}/original", original, methods=["GET"]),
    Route("/documents/{attachment_pk:int}", document, methods=["GET"]),
]
