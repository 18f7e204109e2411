"""The console as an ASGI application: one gate for who may see what, CSRF on every POST, safe headers.

Layers, outermost first:
- `SecurityHeaders`: a Content-Security-Policy that allows no script at all (the console has
  none), `nosniff`, no framing by other sites, no referrer outside;
- Starlette's signed-cookie session (HttpOnly, SameSite=Lax, Secure when the base URL is HTTPS);
- `StaffOnly`: the one permission check: every path but the login pages and the stylesheet
  needs a signed-in member of staff, else the login page;
- asgi-csrf: every POST carries the token of its form, or is refused with 403.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from asgi_csrf import asgi_csrf
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import auth, campaign, items, proposals
from .common import page_templates, render

if TYPE_CHECKING:
    from mailflow.context import App

PUBLIC = ("/login", "/auth/", "/static/")
CSP = ("default-src 'none'; script-src 'none'; style-src 'self'; img-src 'self' data:; frame-src 'self'; "
       "form-action 'self'; base-uri 'none'; frame-ancestors 'self'")
STATIC = Path(__file__).parent / "static"


def session_secret(path: Path) -> str:
    """The key signing session cookies: read from `path`, created there (mode 600) on first start."""
    if path.exists():
        return path.read_text(encoding="ascii").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.touch(mode=0o600)
    path.write_text(key, encoding="ascii")
    return key


class SecurityHeaders:
    """Adds the security headers to every response (pages, downloads, errors)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(name, _http_only(value) if name.lower() == b"set-cookie" else value)
                           for name, value in message.get("headers", [])]
                names = {name.lower() for name, _ in headers}
                if b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", CSP.encode()))
                headers += [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin"),
                            (b"x-frame-options", b"SAMEORIGIN"), (b"cache-control", b"no-store")]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def _http_only(cookie: bytes) -> bytes:
    # asgi-csrf's cookie needs no script either (the token travels in each form): HttpOnly too.
    return cookie if b"httponly" in cookie.lower() else cookie + b"; HttpOnly"


class StaffOnly:
    """The one permission check: no page, download or action without a signed-in member of staff."""

    def __init__(self, app: ASGIApp, session_hours: int) -> None:
        self.app = app
        self.session_seconds = session_hours * 3600

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "/")
        if scope["type"] != "http" or path.startswith(PUBLIC):
            await self.app(scope, receive, send)
            return
        session = scope.get("session", {})
        since = session.get("since", 0)
        now = datetime.now(UTC).timestamp()
        if session.get("user") and now - since < self.session_seconds:
            await self.app(scope, receive, send)
            return
        session.clear()
        target = path if scope["method"] == "GET" else "/"
        query = "" if target == "/" else "?" + _next_query(target, scope.get("query_string", b""))
        await RedirectResponse("/login" + query, status_code=303)(scope, receive, send)


def _next_query(path: str, query: bytes) -> str:
    full = path + ("?" + query.decode("latin-1") if query else "")
    return urlencode({"next": full})


async def _csrf_refused(scope: Scope, send: Send, _reason: Any) -> None:
    response = PlainTextResponse("Requête refusée : jeton de sécurité absent ou invalide. "
                                 "Rechargez la page et recommencez.", status_code=403)
    await response(scope, lambda: None, send)  # type: ignore[arg-type,return-value]


async def _not_found(request: Request, _exc: Exception) -> Response:
    return render(request, "not_found.html", {"what": "cette page\u00a0: l'adresse est inconnue"}, status_code=404)


async def _not_allowed(request: Request, _exc: Exception) -> Response:
    return render(request, "not_found.html", {"what": "cette adresse directement\u00a0: elle sert aux boutons de "
                                                      "la console"}, status_code=405)


def build_console(app: App) -> Starlette:
    """The console for one mailflow service (its settings, database, archive and templates)."""
    web = app.settings.web
    secret = session_secret(app.settings.resolve(web.secret_file))
    routes = [*auth.routes, *proposals.routes, *items.routes, *campaign.routes,
              Mount("/static", StaticFiles(directory=STATIC), name="static")]
    middleware = [
        Middleware(SecurityHeaders),
        Middleware(SessionMiddleware, secret_key=secret, session_cookie="mailflow_session",
                   max_age=web.session_hours * 3600, same_site="lax", https_only=web.secure),
        Middleware(StaffOnly, session_hours=web.session_hours),
        Middleware(asgi_csrf, signing_secret=secret, cookie_secure=web.secure, cookie_samesite="Lax",
                   always_protect={"/login", "/logout"}, send_csrf_failed=_csrf_refused),
    ]
    console = Starlette(routes=routes, middleware=middleware,
                        exception_handlers={404: _not_found, 405: _not_allowed})
    console.state.mailflow = app
    console.state.pages = page_templates(app.templates)
    console.state.coming = {}  # the dashboard's plan of the next 7 days, while nothing changes
    return console
