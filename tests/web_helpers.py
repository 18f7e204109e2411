"""Factories for the console tests: a service with a few mails filed, an account, and a signed-in client."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from starlette.testclient import TestClient

from mailflow.clock import ManualClock
from mailflow.db.models import Message, Proposal
from mailflow.mail.mailbox import IncomingMail, MailRef
from mailflow.pipeline import run as pipeline
from mailflow.service.app import build_app
from mailflow.settings import load_settings
from mailflow.web.accounts import add_user
from mailflow.web.app import build_console
from tests.factories import collectivity, proposal_mail, question_mail, write_settings

EMAIL, PASSWORD = "agent@inet.example.fr", "un mot de passe assez long"
WEB = "\n[web]\nfailure_delay_seconds = 0\nlockout_after = 5\n"
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def console_settings(folder: Path, smtp: Any = None, extra: str = "", database_url: str | None = None) -> Path:
    """settings.toml for a console test (no slow-down of failed logins, so tests stay fast)."""
    return write_settings(folder, smtp=smtp, extra=WEB + extra, database_url=database_url)


def service(
    folder: Path, smtp: Any = None, now: datetime | None = None, extra: str = "", database_url: str | None = None
) -> Any:
    """The service the console runs on, on a fresh database, with one account."""
    settings = load_settings(console_settings(folder, smtp, extra, database_url))
    app = build_app(settings, clock=ManualClock(now or datetime(2025, 6, 10, 8, 0, tzinfo=UTC)))
    with app.sessions.begin() as session:
        add_user(session, EMAIL, PASSWORD, "test", app.clock.now())
    return app


def ingest(app: Any, message: Any, name: str) -> int:
    """Record and process one mail as the daemon would; return the mail's id."""
    raw = message.as_bytes()
    incoming = IncomingMail(ref=MailRef(key=name, size=len(raw)), raw=raw, received_at=app.clock.now())
    pk = pipeline.record(app, incoming, "file", None)
    pipeline.process(app, pk, raw)
    return pk


def incomplete_proposal(app: Any, **changes: str) -> str:
    """A proposal filed without the HR contact's address; its reference."""
    values = {**collectivity(), "hr_email": "", **changes}
    pk = ingest(app, proposal_mail(values), f"proposal-{values['siret']}")
    with app.sessions() as session:
        return session.scalars(select(Proposal.reference).where(Proposal.message_pk == pk)).one()


def question(app: Any, **kwargs: Any) -> int:
    """A question waiting for staff; the mail's id."""
    return ingest(app, question_mail(**kwargs), "question")


def quarantined_proposal(app: Any) -> int:
    """A good proposal that a past fault put in quarantine (as after an internal error since fixed)."""
    message = proposal_mail()
    raw = message.as_bytes()
    incoming = IncomingMail(ref=MailRef(key="q", size=len(raw)), raw=raw, received_at=app.clock.now())
    pk = pipeline.record(app, incoming, "file", None)
    with app.sessions.begin() as session:
        row = session.get_one(Message, pk)
        pipeline._quarantine(app, session, row, "erreur interne lors du traitement (test) : "  # noqa: SLF001
                             "le message est conservé pour un traitement manuel")
    return pk


def csrf(html: str) -> str:
    """The CSRF token of the first form of a page."""
    found = re.search(r'name="csrftoken" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def client(app: Any, base_url: str = "http://127.0.0.1") -> TestClient:
    """An in-process HTTP client of the console (cookies kept, redirects not followed)."""
    return TestClient(build_console(app), follow_redirects=False, base_url=base_url)


def login(http: TestClient, email: str = EMAIL, password: str = PASSWORD, next_: str = "") -> Any:
    """Sign in through the login form, as a browser does."""
    page = http.get("/login")
    return http.post("/login", data={"csrftoken": csrf(page.text), "email": email, "password": password,
                                     "next": next_})
