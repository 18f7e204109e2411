"""Journeys a member of staff makes in the console, in Debian's Chromium, against a running `mailflow web`.

The console runs as its own process (`mailflow web --now …`, in the summer of the 2025-2026
campaign) on the test's database and sends through the aiosmtpd server; the test prepares
mails with the same pipeline the daemon runs. Every page must run no script: a dialog, a
console error or a page error fails the test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import select

from mailflow.campaign.due import run_due
from mailflow.db.models import Message, Proposal, Slot
from tests.factories import REPO, collectivity, proposal_mail, screenshot_path, stop_daemon, wait_until
from tests.fixtures import free_port
from tests.fixtures.servers import unavailable
from tests.web_helpers import EMAIL, HOSTILE, PASSWORD, incomplete_proposal, ingest, quarantined_proposal, question
from tests.web_helpers import service as make_service

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"
NOW = "2025-08-05T10:00+02:00"
TEAMS = "https://teams.microsoft.com/l/meetup-join/19%3ameeting_test%40thread.v2/0"


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory, smtp_server: Any) -> Iterator[dict[str, Any]]:
    """A database with an incomplete proposal, a complete one with a Teams slot, a question and a quarantined
    mail, and `mailflow web` serving it."""
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        unavailable("Chromium", f"{CHROMIUM} not found (scripts/install-test-deps installs it)")
    folder = tmp_path_factory.mktemp("console")
    app = make_service(folder, smtp=smtp_server)
    incomplete = incomplete_proposal(app, title=f"Mission {HOSTILE}")
    ingest(app, proposal_mail(collectivity()), "complete")
    question_pk = question(app, subject="Peut-on proposer deux missions ?")
    quarantined_pk = quarantined_proposal(app)
    app.clock.set(datetime(2025, 8, 4, 7, 5, tzinfo=UTC))
    run_due(app)  # the Teams invitations: the complete proposal gets its slot
    app.outbox.drain()
    port = free_port()
    log = folder / "web.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "mailflow", "--config", str(folder / "settings.toml"), "web", "--port", str(port),
             "--now", NOW],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return requests.get(url + "/login", timeout=2).status_code == 200
        except requests.ConnectionError:
            return False

    try:
        wait_until(up, 30, "mailflow web answering", log)
        yield {"url": url, "app": app, "incomplete": incomplete, "question": question_pk,
               "quarantined": quarantined_pk, "smtp": smtp_server}
    finally:
        stop_daemon(process)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, driven by Playwright (no browser download)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any, console: dict[str, Any]) -> Iterator[Any]:
    """A signed-in page; the test fails if any dialog, console error or page error fires."""
    context = browser.new_context(base_url=console["url"], viewport={"width": 1366, "height": 900})
    tab = context.new_page()
    incidents: list[str] = []
    tab.on("dialog", lambda dialog: (incidents.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    tab.on("console", lambda message: incidents.append(f"console {message.type}: {message.text}")
           if message.type in ("error", "warning") else None)
    tab.on("pageerror", lambda error: incidents.append(f"page error: {error}"))
    tab.on("response", lambda response: incidents.append(f"HTTP {response.status}: {response.url}")
           if response.status >= 400 else None)
    tab.goto("/")
    assert tab.url.endswith("/login?next=%2F") or "/login" in tab.url
    tab.fill("input[name=email]", EMAIL)
    tab.fill("input[name=password]", PASSWORD)
    tab.click("button:has-text('Se connecter')")
    tab.wait_for_selector("h1:has-text('Tableau de bord')")
    yield tab
    context.close()
    assert incidents == []


def test_fill_the_missing_field_then_send_the_updated_acknowledgement(
    page: Any, console: dict[str, Any], tmp_path: Path
) -> None:
    """An incomplete proposal: staff type the HR address, it becomes complete, and the new acknowledgement
    (previewed first) reaches the collectivité; the page keeps the mission's HTML as text."""
    reference = console["incomplete"]
    page.click("nav >> text=Propositions")
    page.fill("input[name=q]", reference)
    page.click("button:has-text('Filtrer')")
    page.click(f"a:has-text('{reference}')")
    assert page.inner_text("#statut") == "incomplète"
    assert HOSTILE in page.inner_text("h1") or HOSTILE in page.content().replace("&lt;", "<").replace("&gt;", ">")
    field = page.locator('[id="f-collectivity.hr_email"]')
    field.fill("rh.mission@ville-test.example.fr")
    field.locator("xpath=..").locator("button").click()
    page.wait_for_selector("text=Champ corrigé.")
    assert page.inner_text("#statut") == "complète"
    page.screenshot(path=str(screenshot_path("console-proposition.png", tmp_path)), full_page=False)
    page.click("text=Prévisualiser l'accusé de réception mis à jour")
    preview = page.inner_text("#apercu")
    assert "rh.mission@ville-test.example.fr" in preview or reference in preview
    smtp = console["smtp"]
    before = len(smtp.messages)
    page.click("button:has-text('Envoyer cet accusé de réception')")
    page.wait_for_selector("text=Accusé de réception mis à jour envoyé.")
    wait_until(lambda: any(reference in str(m.message["Subject"]) for m in smtp.messages[before:]), 15,
               "the updated acknowledgement reaching the SMTP server")
    (sent,) = [m for m in smtp.messages[before:] if reference in str(m.message["Subject"])]
    assert "complète" in str(sent.message["Subject"]) or "incomplète" not in str(sent.message["Subject"])
    with console["app"].sessions() as session:
        assert session.scalars(select(Proposal.status).where(Proposal.reference == reference)).one() == "complete"
        received = select(Message.message_id).join(Proposal, Proposal.message_pk == Message.id)
        # a long Message-ID is folded onto its own line: the unfolded header starts with that line's space
        in_reply_to = str(sent.message["In-Reply-To"]).strip()
        assert in_reply_to == session.scalars(received.where(Proposal.reference == reference)).first()


def test_record_a_decision_and_see_the_september_mail(page: Any, console: dict[str, Any]) -> None:
    """Staff record "retenue": the calendar then shows the 5 September mail for that proposal."""
    reference = console["incomplete"]
    page.goto(f"/propositions/{reference}")
    page.select_option("select[name=decision]", "accepted")
    page.click("button:has-text('Enregistrer la décision')")
    page.wait_for_selector("text=Décision enregistrée.")
    assert page.inner_text("#statut") == "retenue"
    assert "décision" in page.inner_text("table.audit")
    page.click("nav >> text=Calendrier")
    row = page.locator("tr", has_text="la mission a été choisie").filter(has_text=reference)
    assert "05/09/2025" in row.first.inner_text()


def test_close_a_question(page: Any, console: dict[str, Any]) -> None:
    """A question stays in "À traiter" until staff mark it handled."""
    page.click("nav >> text=À traiter")
    item = page.locator(f"#item-question-{console['question']}")
    assert "Peut-on proposer deux missions ?" in item.inner_text()
    item.locator("button:has-text('Marquer comme traité')").click()
    page.wait_for_selector("text=Élément marqué comme traité.")
    assert page.locator(f"#item-question-{console['question']}").count() == 0
    with console["app"].sessions() as session:
        assert session.get_one(Message, console["question"]).handled_by == EMAIL


def test_release_a_quarantined_mail_and_see_it_filed(page: Any, console: dict[str, Any]) -> None:
    """Releasing a mail a past fault quarantined files it as a proposal."""
    page.click("nav >> text=Quarantaine")
    page.click("button:has-text('Libérer')")
    flash = page.inner_text(".flash")
    assert "proposition" in flash and "enregistrée" in flash
    with console["app"].sessions() as session:
        reference = session.scalars(select(Proposal.reference)
                                    .where(Proposal.message_pk == console["quarantined"])).one()
    page.click("nav >> text=Propositions")
    assert page.locator(f"a:has-text('{reference}')").count() == 1


def test_set_a_teams_link_and_find_it_in_the_next_invitation(page: Any, console: dict[str, Any]) -> None:
    """The link staff give a slot is in the mail that next announces that meeting (the day before)."""
    app = console["app"]
    with app.sessions() as session:
        slot = session.scalars(select(Slot).where(Slot.kind == "teams")).first()
        assert slot is not None
    page.click("nav >> text=Calendrier")
    row = page.locator(f"#creneau-{slot.id}")
    row.locator("input[name=meeting_url]").fill(TEAMS)
    row.locator("button").click()
    page.wait_for_selector("text=Lien de réunion enregistré.")
    smtp = console["smtp"]
    before = len(smtp.messages)
    app.clock.set(slot.starts_at - timedelta(days=1))  # the morning before the meeting, after 9 h
    run_due(app)
    app.outbox.drain()
    sent = [m for m in smtp.messages[before:] if "veille" in str(m.message["Subject"]).lower()
            or TEAMS in m.message.get_body(preferencelist=("plain",)).get_content()]
    assert sent, [str(m.message["Subject"]) for m in smtp.messages[before:]]
    assert TEAMS in sent[0].message.get_body(preferencelist=("plain",)).get_content()
