"""The HTML digest of 4 September 2025 as staff see it, rendered in Debian's Chromium; screenshot in docs/."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import sync_playwright
from sqlalchemy import select

from mailflow.campaign.digest import SENT_KEY, build_digest
from mailflow.db.models import Proposal
from mailflow.db.state import put_state
from mailflow.pipeline.run import ingest_files
from tests.campaign_factories import add_proposal
from tests.factories import collectivity, make_app, question_mail, screenshot_path
from tests.fixtures.servers import unavailable

CHROMIUM = "/usr/bin/chromium"
EVE = datetime(2025, 9, 4, 5, 30, tzinfo=UTC)  # Thursday 07:30 in Paris, the day before the teams are formed


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright (no download: the system build)."""
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        unavailable("Chromium", f"{CHROMIUM} not found (scripts/install-test-deps installs it)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


def eve_digest(tmp_path: Path) -> str:
    """The HTML part of the digest of 4 September: decisions to take, a question, a late and a flagged proposal."""
    app = make_app(tmp_path)
    app.clock.set(datetime(2025, 6, 20, 9, tzinfo=UTC))
    for n in range(3):
        add_proposal(app, datetime(2025, 6, 2 + n, 9, tzinfo=UTC), values=collectivity(900 + n))
    add_proposal(app, datetime(2025, 6, 10, 9, tzinfo=UTC), status="incomplete", values=collectivity(905),
                 missing=("collectivity.hr_email", "tutor.role"))
    add_proposal(app, datetime(2025, 6, 25, 9, tzinfo=UTC), status="late", values=collectivity(906))
    flagged = add_proposal(app, datetime(2025, 6, 12, 9, tzinfo=UTC), values=collectivity(907))
    with app.sessions.begin() as session:
        proposal = session.scalars(select(Proposal).where(Proposal.reference == flagged)).one()
        proposal.flags = ["la fonction du tuteur (« DGST ») est à vérifier : DGS ou DGA ?"]
    question = tmp_path / "question.eml"
    question.write_bytes(question_mail("secretariat@ville-question.example.fr",
                                       date=datetime(2025, 9, 3, 14, tzinfo=UTC)).as_bytes())
    with app.sessions.begin() as session:  # the previous digest went on 3 September
        put_state(session, SENT_KEY, {"sent_at": datetime(2025, 9, 3, 5, 30, tzinfo=UTC).isoformat()},
                  app.clock.now())
    app.clock.set(datetime(2025, 9, 3, 14, 5, tzinfo=UTC))
    ingest_files(app, [question])
    message = build_digest(app, EVE)
    assert message is not None
    return message.get_body(("html",)).get_content()


def test_digest_reads_in_a_browser_at_outlook_width(tmp_path: Path, browser: Any) -> None:
    """In Chromium at a laptop's reading-pane width: 720 px wide, nothing cut off, the to-do list first,
    « HORS DÉLAI » and « À VÉRIFIER » in colour, links to the console (screenshot: see screenshot_path)."""
    html = eve_digest(tmp_path)
    page = browser.new_page(viewport={"width": 800, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.set_content(html)
    layout = page.evaluate("""() => {
        const main = document.querySelector('table[width="720"]');
        const marks = [...document.querySelectorAll('span')].filter(s => /HORS DÉLAI|À VÉRIFIER/.test(s.textContent));
        return {
            width: main.getBoundingClientRect().width,
            overflow: document.documentElement.scrollWidth > window.innerWidth,
            marks: marks.map(s => [s.textContent, getComputedStyle(s).backgroundColor,
                                   s.getBoundingClientRect().width]),
            text: document.body.innerText.replace(/\u00a0/g, ' '),
            links: [...document.querySelectorAll('a')].map(a => a.href),
        };
    }""")
    assert layout["width"] == 720 and not layout["overflow"]
    text = layout["text"]
    assert text.startswith("Synthèse du jeudi 4 septembre 2025\n")
    assert "À faire : 5 décisions à prendre, 1 question en attente, 1 proposition à vérifier." in text
    order = ["À vérifier en premier : lecture incertaine (1)", "Nouveau depuis",
             "Décisions à prendre avant le vendredi 5 septembre (demain)", "À traiter (1)", "Hors délai (1)",
             "Incomplètes (1)", "Campagnes", "Envois prévus"]
    positions = [text.find(heading) for heading in order]
    assert -1 not in positions and positions == sorted(positions), positions
    colours = {text: colour for text, colour, width in layout["marks"] if width > 0}
    assert colours["HORS DÉLAI"] == "rgb(176, 0, 32)" and colours["À VÉRIFIER"] == "rgb(192, 88, 0)"
    assert any(link.startswith("http://127.0.0.1:8400/a-traiter#item-question-") for link in layout["links"])
    assert page.get_by_text("Pouvons-nous proposer deux missions ?", exact=False).count() == 1
    assert errors == []
    page.screenshot(path=str(screenshot_path("digest-2025-09-04.png", tmp_path)), full_page=True)
    page.close()
