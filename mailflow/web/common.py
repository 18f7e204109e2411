"""What every console view shares: the page renderer, the action runner, and safe redirects.

Views never open a transaction themselves: `action()` runs a staff action in one
transaction (see mailflow.staff), turns a StaffActionError into a French message shown on
the next page, and answers with a 303 redirect (post/redirect/get, so a reload never repeats
an action).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import jinja2
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from mailflow.campaign.export import STATUS_FR as EXPORT_STATUS_FR
from mailflow.mail import french
from mailflow.mail.templates import Templates
from mailflow.shipped import shipped
from mailflow.staff import DECISIONS, StaffActionError

if TYPE_CHECKING:
    from mailflow.context import App

STATUS_FR = {**EXPORT_STATUS_FR, **DECISIONS}
ITEM_FR = {
    "question": "question",
    "reply": "réponse",
    "quarantined": "quarantaine",
    "put-back": "remis à traiter",
    "failed-send": "envoi en échec",
}


def page_templates(mail_templates: Templates) -> Jinja2Templates:
    """The console's Jinja2 environment: templates/web, always autoescaped, the mails' French filters."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(shipped("templates") / "web")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(mail_templates.env.filters)
    env.filters["short"] = lambda value: _short(mail_templates, value)
    env.globals.update(status_fr=STATUS_FR, item_fr=ITEM_FR, decisions=DECISIONS)
    return Jinja2Templates(env=env)


def _short(mail_templates: Templates, value: Any) -> str:
    """`27/08/2025 à 9 h 30` in the campaigns' time zone (a date alone: `27/08/2025`)."""
    if value is None:
        return ""
    moment = french.local(value, mail_templates.timezone)  # the mails' own time-zone rule
    if isinstance(moment, datetime):
        return f"{moment:%d/%m/%Y} à {french.time_fr(moment, mail_templates.timezone)}"
    return f"{moment:%d/%m/%Y}"


def console(request: Request) -> App:
    """The service the console runs on (built once by `build_console`)."""
    return request.app.state.mailflow


def user(request: Request) -> str:
    """The signed-in member of staff (the gate guarantees there is one on every non-public page)."""
    return str(request.session.get("user", ""))


def flash(request: Request, message: str, kind: str = "ok") -> None:
    """A one-line message shown on the next page, written as a sentence (capital, final full stop)."""
    text = message[:1].upper() + message[1:]
    if text and text[-1] not in ".!?":
        text += "."
    request.session.setdefault("flash", []).append({"kind": kind, "text": text})


def render(request: Request, name: str, context: Mapping[str, Any], status_code: int = 200) -> Response:
    """Render a page of templates/web with the user, the CSRF token and pending messages."""
    messages = request.session.pop("flash", []) if "session" in request.scope else []
    token = request.scope["csrftoken"]() if "csrftoken" in request.scope else ""
    full = {"user": request.session.get("user") if "session" in request.scope else None,
            "csrftoken": token, "messages": messages, **context}
    return request.app.state.pages.TemplateResponse(request, name, full, status_code=status_code)


def safe_next(target: str | None, default: str = "/") -> str:
    """A local path to go to after login; anything that could leave the site gives `default`."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    if any(ord(ch) < 32 for ch in target):
        return default
    return target


def back(path: str) -> RedirectResponse:
    """303 to a page of the console (after a POST)."""
    return RedirectResponse(quote(path, safe="/?=&#%"), status_code=303)


ActionFn = Callable[["App", Session, dict[str, str], str], "str | None"]


def action(fn: ActionFn, done: str = "Enregistré.") -> Callable[[Request], Awaitable[Response]]:
    """A POST endpoint: read the form, run `fn(app, session, form, user)` in one transaction, redirect.

    `fn` returns the page to go back to (or None: the page the form came from, given as `back`).
    """

    async def endpoint(request: Request) -> Response:
        form = {key: str(value) for key, value in (await request.form()).items() if isinstance(value, str)}
        form.update({key: str(value) for key, value in request.path_params.items()})
        mailflow = console(request)
        actor = user(request)

        def run() -> str | None:
            with mailflow.sessions.begin() as session:
                return fn(mailflow, session, form, actor)

        fallback = safe_next(form.get("back"), "/")
        try:
            target = await run_in_threadpool(run)
        except StaffActionError as exc:
            flash(request, str(exc), "error")
            return back(fallback)
        flash(request, done)
        return back(safe_next(target, fallback))

    return endpoint
