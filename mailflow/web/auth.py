"""Signing in: a local account (Argon2 password, throttled), or Microsoft 365 restricted to the staff list.

Microsoft 365 uses the OpenID Connect authorization code flow with PKCE through MSAL, with the
application and tenant of `[mailbox.oauth2]`; MSAL checks the state, the nonce and the ID token.
Whoever signs in, the session is started afresh and the only place to go next is a path of
the console (`safe_next`), never another site.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import msal
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from mailflow.mail.entra import _session
from mailflow.mail.oauth_credentials import read_credentials

from .accounts import authenticate, normalise
from .common import console, flash, render, safe_next

if TYPE_CHECKING:
    from mailflow.context import App

CALLBACK = "/auth/callback"


def _start_session(request: Request, email: str, method: str) -> None:
    request.session.clear()
    request.session.update(user=email, method=method, since=datetime.now(UTC).timestamp())


def login_page(request: Request) -> Response:
    """The login form (also where every page sends a visitor without a session)."""
    if request.session.get("user"):
        return RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
    return render(request, "login.html", {"next": safe_next(request.query_params.get("next")), "error": None,
                                          "email": "", "microsoft": console(request).settings.web.microsoft_signin})


async def login(request: Request) -> Response:
    """Check the password; a failure is slowed down after a few, and locks the account after more."""
    form = await request.form()
    email, password = str(form.get("email", "")), str(form.get("password", ""))
    target = safe_next(str(form.get("next", "")))
    app = console(request)

    def check() -> Any:
        with app.sessions.begin() as session:
            return authenticate(session, email, password, app.settings.web, app.clock.now())

    result = await run_in_threadpool(check)
    if result.delay:
        await asyncio.sleep(result.delay)
    if result.email is None:
        return render(request, "login.html", {"next": target, "error": result.reason, "email": email,
                                              "microsoft": app.settings.web.microsoft_signin}, status_code=401)
    _start_session(request, result.email, "password")
    return RedirectResponse(target, status_code=303)


async def logout(request: Request) -> Response:
    """End the session."""
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


def _msal_app(app: App) -> msal.ConfidentialClientApplication:
    oauth2 = app.settings.mailbox.oauth2 or app.settings.smtp.oauth2
    if oauth2 is None:
        raise LookupError("Microsoft 365 sign-in needs [mailbox.oauth2]")
    credentials = read_credentials(oauth2, "mailbox.oauth2")
    return msal.ConfidentialClientApplication(
        credentials.client_id,
        client_credential=credentials.for_msal(),
        authority=f"{oauth2.authority.rstrip('/')}/{credentials.tenant_id}",
        instance_discovery=False,
        http_client=_session(oauth2.ca_file),
    )


def microsoft(request: Request) -> Response:
    """Send the browser to Microsoft 365 (authorization code flow with PKCE)."""
    app = console(request)
    if not app.settings.web.microsoft_signin:
        return RedirectResponse("/login", status_code=303)
    flow = _msal_app(app).initiate_auth_code_flow(
        scopes=[], redirect_uri=app.settings.web.base_url + CALLBACK, response_mode="query")
    request.session["msal_flow"] = json.dumps(flow)
    request.session["msal_next"] = safe_next(request.query_params.get("next"))
    return RedirectResponse(flow["auth_uri"], status_code=303)


def callback(request: Request) -> Response:
    """Back from Microsoft 365: accept the signed-in address only if it is in `[web] staff`."""
    app = console(request)
    raw_flow = request.session.pop("msal_flow", None)
    target = safe_next(request.session.pop("msal_next", None))
    if not raw_flow or not app.settings.web.microsoft_signin:
        flash(request, "La connexion Microsoft 365 a expiré : veuillez recommencer.", "error")
        return RedirectResponse("/login", status_code=303)
    try:
        result = _msal_app(app).acquire_token_by_auth_code_flow(json.loads(raw_flow), dict(request.query_params))
    except ValueError:  # MSAL: state or nonce mismatch, a replayed or forged answer
        result = {"error": "invalid_state"}
    claims = result.get("id_token_claims") or {} if isinstance(result, dict) else {}
    email = normalise(str(claims.get("preferred_username") or claims.get("email") or ""))
    allowed = {normalise(address) for address in app.settings.web.staff}
    if "error" in result or not email:
        flash(request, "La connexion Microsoft 365 a échoué : veuillez recommencer.", "error")
        return RedirectResponse("/login", status_code=303)
    if email not in allowed:
        flash(request, f"L'adresse {email} n'a pas accès à la console.", "error")
        return RedirectResponse("/login", status_code=303)
    _start_session(request, email, "microsoft")
    return RedirectResponse(target, status_code=303)


routes = [
    Route("/login", login_page, methods=["GET"]),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/auth/microsoft", microsoft, methods=["GET"]),
    Route(CALLBACK, callback, methods=["GET"]),
]
