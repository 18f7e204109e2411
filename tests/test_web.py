"""The console over HTTP, in process: who gets in, CSRF, escaping, lockout, and what staff actions change."""

from __future__ import annotations

import html
import random
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from starlette.routing import Route

from mailflow.campaign.due import run_due
from mailflow.cli import cli
from mailflow.db.models import AuditEntry, Message, OutboxMail, Proposal, QuarantineEntry, Slot, StaffUser
from mailflow.web.app import build_console
from tests.factories import REPO, collectivity, mail, proposal_mail
from tests.web_helpers import (
    EMAIL,
    HOSTILE,
    PASSWORD,
    client,
    console_settings,
    csrf,
    incomplete_proposal,
    ingest,
    login,
    quarantined_proposal,
    question,
    service,
)


@pytest.fixture
def app(tmp_path: Path):  # noqa: ANN201
    return service(tmp_path)


def _paths(app) -> list[tuple[str, str]]:  # noqa: ANN001
    """Every route of the console with its parameters filled, and its methods."""
    found = []
    for route in build_console(app).routes:
        if not isinstance(route, Route):
            continue
        path = re.sub(r"\{[a-z_]+:int\}", "1", route.path)
        path = re.sub(r"\{kind:str\}", "mail", path)
        path = path.replace("{reference}", "PC-2025-0001")
        for method in sorted(route.methods or []):
            if method != "HEAD":
                found.append((method, path))
    return found


def test_every_route_without_a_session_leads_to_the_login_page(app) -> None:  # noqa: ANN001
    """No page, download or action answers a visitor who has not signed in: all go to /login."""
    incomplete_proposal(app)
    http = client(app)
    checked = 0
    for method, path in _paths(app):
        if path.startswith(("/login", "/auth/")):
            continue
        response = http.request(method, path)
        assert response.status_code == 303, (method, path, response.status_code)
        assert response.headers["location"].startswith("/login"), (method, path)
        checked += 1
    assert checked >= 15
    with app.sessions() as session:
        assert session.scalars(select(AuditEntry).where(AuditEntry.actor != "test")).all() == []


def test_login_then_back_to_the_page_asked_for_but_never_to_another_site(app) -> None:  # noqa: ANN001
    """After login the user lands on the page they asked for; an outside address gives the dashboard."""
    http = client(app)
    assert http.get("/propositions").headers["location"] == "/login?next=%2Fpropositions"
    assert login(http, next_="/propositions").headers["location"] == "/propositions"
    for hostile in ("https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:alert(1)"):
        other = client(app)
        assert login(other, next_=hostile).headers["location"] == "/"


def test_session_cookie_is_httponly_and_samesite(app) -> None:  # noqa: ANN001
    """The session cookie is out of reach of scripts and of other sites' forms."""
    http = client(app)
    response = login(http)
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("mailflow_session="))
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    for header in http.get("/login").headers.get_list("set-cookie"):
        assert "httponly" in header.lower()


def test_secure_cookies_behind_https(tmp_path: Path) -> None:
    """With an https:// base URL the session cookie is sent over HTTPS only."""
    app = service(tmp_path, extra='base_url = "https://stages.inet.example"\n')
    response = login(client(app, "https://stages.inet.example"))
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("mailflow_session="))
    assert "secure" in cookie.lower()


def test_a_post_without_a_valid_csrf_token_is_refused(app) -> None:  # noqa: ANN001
    """A signed-in user's POST without the form's token (or with another) is refused and changes nothing."""
    reference = incomplete_proposal(app)
    http = client(app)
    login(http)
    for token in (None, "forged-token"):
        data = {"decision": "accepted"} | ({"csrftoken": token} if token else {})
        response = http.post(f"/propositions/{reference}/decision", data=data)
        assert response.status_code == 403
        assert "jeton de sécurité absent ou invalide" in response.text
    with app.sessions() as session:
        assert session.scalars(select(Proposal.status)).one() == "incomplete"


def test_login_is_slowed_then_locked_after_repeated_failures(app) -> None:  # noqa: ANN001
    """Five wrong passwords lock the account: even the right one is refused until the lock ends."""
    http = client(app)
    for _ in range(4):
        response = login(http, password="wrong password!!")
        assert response.status_code == 401
        assert "incorrect" in response.text
    response = login(http, password="wrong password!!")
    assert "verrouillé" in response.text
    response = login(http)
    assert response.status_code == 401 and "verrouillé" in response.text
    with app.sessions() as session:
        user = session.scalars(select(StaffUser)).one()
        assert user.locked_until is not None
        assert session.scalars(select(AuditEntry.action).where(AuditEntry.action == "locked")).one()
    assert http.get("/").status_code == 303


def test_unknown_address_is_refused_like_a_wrong_password(app) -> None:  # noqa: ANN001
    """An address without an account gets the same message as a wrong password."""
    response = login(client(app), email="inconnu@inet.example.fr")
    assert response.status_code == 401 and "Adresse ou mot de passe incorrect" in response.text


def test_a_wrong_address_or_a_button_address_opened_gives_a_french_page(app) -> None:  # noqa: ANN001
    """A mistyped address, an old link, or a button's address opened in a tab: the console's page, in French."""
    with client(app) as http:
        login(http)
        reference = incomplete_proposal(app)
        for path, status in (("/proposals", 404), ("/static/absent.css", 404),
                             (f"/propositions/{reference}/decision", 405)):
            page = http.get(path)
            assert page.status_code == status, path
            assert "text/html" in page.headers["content-type"], path
            assert "Introuvable" in page.text and "Retour au tableau de bord" in page.text, path
            assert "Not Found" not in page.text and "Method Not Allowed" not in page.text, path
    assert "Introuvable" in client(app).get("/static/absent.css").text  # before signing in too


def test_hostile_html_from_a_mail_is_shown_as_text(app) -> None:  # noqa: ANN001
    """Sender name, subject, attachment name and mission text carrying HTML are escaped on every page."""
    values = {**collectivity(), "title": f"Mission {HOSTILE}", "hr_email": ""}
    message = proposal_mail(values, subject=f"Proposition {HOSTILE}")
    message.replace_header("From", f'"Claire {HOSTILE}" <{values["sender"]}>')
    message.add_attachment(b"%PDF-1.4 not really", maintype="application", subtype="pdf",
                           filename=f"fiche{HOSTILE}.pdf")
    pk = ingest(app, message, "hostile")
    question(app, subject=f"Question {HOSTILE}")
    with app.sessions() as session:
        reference = session.scalars(select(Proposal.reference).where(Proposal.message_pk == pk)).one()
    http = client(app)
    login(http)
    for path in ("/", "/propositions", f"/propositions/{reference}", "/a-traiter", "/envois", "/quarantaine",
                 f"/propositions/{reference}/accuse"):
        page = http.get(path)
        assert page.status_code == 200, path
        assert re.search(r"<\s*(script|img)", page.text, re.IGNORECASE) is None, path
        assert "script-src 'none'" in page.headers["content-security-policy"]
    page = http.get(f"/propositions/{reference}").text
    assert "&lt;script&gt;" in page


def test_a_question_with_a_big_scan_shows_its_words_and_downloads_whole(app) -> None:  # noqa: ANN001
    """A question carrying a 5 MB scan (read from its archived file in pieces): the staff read its words
    on the page of things to do, and download the original mail byte for byte."""
    message = mail(sender="dgs@ville.example.fr", subject="Plans", body="Pouvez-vous regarder ces plans\u00a0?\n")
    message.add_attachment(random.Random(3).randbytes(5_000_000), maintype="image", subtype="jpeg",
                           filename="plans.jpg")
    pk = ingest(app, message, "big-question")
    http = client(app)
    login(http)
    assert "Pouvez-vous regarder ces plans" in http.get("/a-traiter").text
    assert http.get(f"/courriels/{pk}/original").content == message.as_bytes()


def test_downloads_are_attachments_with_generated_names(app) -> None:  # noqa: ANN001
    """An attachment and an original are downloads named by mailflow, with nosniff."""
    message = mail(sender="rh@ville.example.fr", subject="Pièce", body="Voir pièce jointe.\n")
    message.add_attachment(b"<html><script>alert(1)</script></html>", maintype="text", subtype="html",
                           filename="page.html")
    pk = ingest(app, message, "attachment")
    http = client(app)
    login(http)
    with app.sessions() as session:
        message_row = session.get_one(Message, pk)
        attachment = message_row.attachments[0]
    response = http.get(f"/documents/{attachment.id}")
    expected = f'attachment; filename="courriel-{pk}-document-{attachment.id}.bin"'
    assert response.headers["content-disposition"] == expected
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["x-content-type-options"] == "nosniff"
    original = http.get(f"/courriels/{pk}/original")
    assert original.headers["content-disposition"].startswith("attachment;")
    assert original.content == message.as_bytes()


def test_a_download_whose_archived_file_is_missing_says_so(app) -> None:  # noqa: ANN001
    """An original gone from the archive (a restore that missed it) is a page that says so, not a server error."""
    pk = ingest(app, mail(sender="rh@ville.example.fr", subject="Bonjour", body="Une question.\n"), "gone")
    with app.sessions() as session:
        app.archive.path(session.get_one(Message, pk).content_hash).unlink()
    http = client(app)
    login(http)
    response = http.get(f"/courriels/{pk}/original")
    assert response.status_code == 404
    page = html.unescape(response.text)
    assert "Impossible d'afficher ce courriel\u00a0: son fichier est absent de l'archive" in page


def test_correcting_the_missing_field_completes_the_proposal_and_is_audited(app) -> None:  # noqa: ANN001
    """Filling the missing HR address with the pipeline's rules makes the proposal complete; the page shows who."""
    reference = incomplete_proposal(app)
    http = client(app)
    login(http)
    page = http.get(f"/propositions/{reference}")
    bad = http.post(f"/propositions/{reference}/champ",
                    data={"csrftoken": csrf(page.text), "path": "collectivity.hr_email", "value": "pas une adresse"})
    assert bad.status_code == 303
    assert "incomplète" in http.get(f"/propositions/{reference}").text
    http.post(f"/propositions/{reference}/champ",
              data={"csrftoken": csrf(page.text), "path": "collectivity.hr_email", "value": "RH@Ville.example.fr"})
    page = http.get(f"/propositions/{reference}").text
    assert re.search(r'id="statut">complète<', page)
    assert EMAIL in page and "rh@ville.example.fr" in page
    with app.sessions() as session:
        p = session.scalars(select(Proposal)).one()
        assert p.status == "complete" and p.missing == []
        assert p.fields["collectivity"]["hr_email"] == "rh@ville.example.fr"
        actions = [a.action for a in session.scalars(select(AuditEntry).where(AuditEntry.reference == reference))]
    assert actions.count("correction") == 2 and "status" in actions


def test_a_corrected_value_is_stored_as_the_reader_stores_it(app) -> None:  # noqa: ANN001
    """A phone typed the French way is kept in international form and stays valid; a yes/no field takes only
    « oui » or « non » (anything else is refused, not taken for « non »)."""
    reference = incomplete_proposal(app)
    http = client(app)
    login(http)
    token = csrf(http.get(f"/propositions/{reference}").text)
    for path, value in (("logistics.accommodation", "peut-être"), ("tutor.phone", "03 88 15 53 69"),
                        ("collectivity.hr_email", "rh@ville.example.fr")):
        answer = http.post(f"/propositions/{reference}/champ", data={
            "csrftoken": token, "path": path, "value": value, "back": f"/propositions/{reference}"})
        assert answer.headers["location"] == f"/propositions/{reference}"  # refused or not, back to the page
        if path == "logistics.accommodation":
            shown = http.get(answer.headers["location"]).text
            assert "répondez « oui » ou « non »" in shown, re.findall(r"flash[^<]*", shown)
    with app.sessions() as session:
        p = session.scalars(select(Proposal)).one()
        assert (p.status, p.problems) == ("complete", [])
        assert p.fields["tutor"]["phone"] == "+33388155369"
        assert p.fields["logistics"]["accommodation"] is False  # as the form said: « peut-être » was refused


def test_each_version_shows_the_mail_it_was_read_from(app) -> None:  # noqa: ANN001
    """« Document d'origine » is the mail of the version shown: the reply for version 2, the first mail for 1."""
    values = {**collectivity(), "hr_email": ""}
    ingest(app, proposal_mail(values), "first")
    ingest(app, mail(sender=values["sender"], subject="RE: [PC-2025-0001] Accusé de réception",
                     body="Bonjour,\n\nLe courriel du contact RH est rh.nouveau@ville.example.fr.\n"), "reply")
    http = client(app)
    login(http)
    for query, shown, hidden in (("", "rh.nouveau@ville.example.fr", "Nom de la collectivité"),
                                 ("?version=1", "Nom de la collectivité", "rh.nouveau@ville.example.fr")):
        page = http.get(f"/propositions/PC-2025-0001{query}").text
        origin = page.split("<h2>Document d", 1)[1].split("</section>", 1)[0]
        assert shown in origin and hidden not in origin, query


def test_decision_note_and_open_items(app) -> None:  # noqa: ANN001
    """A decision and a note are recorded; a question stays in À traiter until someone marks it handled."""
    reference = incomplete_proposal(app)
    question_pk = question(app, subject="Deux missions possibles ?")
    http = client(app)
    login(http)
    token = csrf(http.get("/").text)
    http.post(f"/propositions/{reference}/decision", data={"csrftoken": token, "decision": "accepted"})
    http.post(f"/propositions/{reference}/note", data={"csrftoken": token, "note": "Appeler la DGS lundi."})
    page = http.get(f"/propositions/{reference}").text
    assert "Appeler la DGS lundi." in page and re.search(r'id="statut">retenue<', page)
    todo = http.get("/a-traiter").text
    assert "Deux missions possibles ?" in todo
    http.post(f"/a-traiter/mail/{question_pk}/traite", data={"csrftoken": token})
    assert "Deux missions possibles ?" not in http.get("/a-traiter").text
    with app.sessions() as session:
        message = session.get_one(Message, question_pk)
        assert message.handled_by == EMAIL and message.handled_at is not None


def test_release_from_quarantine_files_the_proposal(app) -> None:  # noqa: ANN001
    """Releasing a mail quarantined by a past fault runs it again: it is filed and leaves the quarantine."""
    quarantined_proposal(app)
    http = client(app)
    login(http)
    page = http.get("/quarantaine").text
    assert "erreur interne" in page
    entry_id = re.search(r"/quarantaine/(\d+)/liberer", page).group(1)
    response = http.post(f"/quarantaine/{entry_id}/liberer", data={"csrftoken": csrf(page)})
    assert response.status_code == 303
    assert "Aucun courriel en quarantaine" in http.get("/quarantaine").text
    with app.sessions() as session:
        assert session.scalars(select(QuarantineEntry.released_at)).one() is not None
        assert session.scalars(select(Proposal.reference)).one()
        assert session.scalars(select(AuditEntry.actor).where(AuditEntry.action == "release")).one() == EMAIL


def test_every_cli_action_that_changes_data_leaves_an_audit_line(tmp_path: Path) -> None:
    """users add, proposals set-status, quarantine release, outbox retry, mail reprocess, import-history and
    digest --send each write who did what."""
    app = service(tmp_path)
    reference = incomplete_proposal(app)
    quarantined_proposal(app)
    with app.sessions() as session:
        asked = session.get_one(Message, question(app)).message_id
    settings = str(console_settings(tmp_path))
    runner = CliRunner()
    commands = [
        (["users", "add", "second@inet.example.fr"], PASSWORD + "\n", "user-add"),
        (["proposals", "set-status", reference, "rejected"], None, "decision"),
        (["quarantine", "release", "1"], None, "release"),
        (["outbox", "retry"], None, "retry-send"),
        (["mail", "reprocess", asked], None, "reprocess"),
        (["import-history", "--since", "2025-01-01"], None, "import-history"),
        (["digest", "--send"], None, "digest-send"),
    ]
    for args, stdin, action in commands:
        result = runner.invoke(cli, ["--config", settings, *args], input=stdin, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        with app.sessions() as session:
            entry = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(1)).one()
        assert entry.action == action and entry.actor.startswith("cli"), (args, entry.action)
    with app.sessions() as session:
        decision = session.scalars(select(AuditEntry).where(AuditEntry.action == "decision")).one()
        assert (decision.reference, decision.before, decision.after) == (reference, "incomplete", "rejected")
        assert session.scalars(select(OutboxMail)).all()


def test_the_cli_never_reprocesses_a_mail_that_filed_a_proposal(tmp_path: Path) -> None:
    """`mailflow mail reprocess` refuses, as the console does, a mail that gave a proposal: run again, it
    would file the proposal a second time and acknowledge it twice."""
    app = service(tmp_path)
    reference = incomplete_proposal(app)
    with app.sessions() as session:
        filed_from = session.scalars(select(Message.message_id).join(Proposal, Proposal.message_pk == Message.id)).one()
        queued = len(session.scalars(select(OutboxMail)).all())
    result = CliRunner().invoke(cli, ["--config", str(console_settings(tmp_path)), "mail", "reprocess", filed_from])
    assert result.exit_code == 1, result.output
    assert f"déjà donné lieu à la proposition {reference}" in result.output
    with app.sessions() as session:
        assert session.scalars(select(Proposal.reference)).all() == [reference]
        assert len(session.scalars(select(OutboxMail)).all()) == queued
        assert session.scalars(select(Message.state).where(Message.message_id == filed_from)).one() != "recorded"
        assert not session.scalars(select(AuditEntry).where(AuditEntry.action == "reprocess")).all()


def test_list_filters_and_search_ignore_case_and_accents(app) -> None:  # noqa: ANN001
    """The list finds a proposal by its collectivité typed without accents, and filters by status."""
    wanted = incomplete_proposal(app, name="Commune de Béziers-sur-Orb")
    other = incomplete_proposal(app)
    http = client(app)
    login(http)
    page = http.get("/propositions", params={"q": "beziers sur orb"}).text
    assert wanted in page and other not in page
    assert "2\u00a0propositions." in http.get("/propositions", params={"statut": "incomplete"}).text
    assert "0\u00a0proposition." in http.get("/propositions", params={"statut": "accepted"}).text


def test_the_console_benchmark_runs_on_a_small_lot() -> None:
    """`benchmarks/console.py --proposals 50` prints a time for the dashboard and the list."""
    result = subprocess.run([sys.executable, str(REPO / "benchmarks" / "console.py"), "--proposals", "50",
                             "--runs", "2"], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "dashboard" in result.stdout and "list" in result.stdout


def test_attach_a_reply_and_take_its_value_into_a_field(app) -> None:  # noqa: ANN001
    """A reply giving the missing HR address: attached to the proposal, the value fills the field, then closed."""
    reference = incomplete_proposal(app)
    reply = question(app, subject="Adresse du contact RH", sender="rh@ville.example.fr")
    http = client(app)
    login(http)
    token = csrf(http.get("/a-traiter").text)
    http.post(f"/a-traiter/{reply}/rattacher", data={"csrftoken": token, "reference": reference,
                                                     "path": "collectivity.hr_email", "value": "rh@ville.example.fr"})
    page = http.get(f"/propositions/{reference}").text
    assert re.search(r'id="statut">complète<', page) and "Adresse du contact RH" in page
    http.post(f"/a-traiter/mail/{reply}/traite", data={"csrftoken": token})
    assert "Adresse du contact RH" not in http.get("/a-traiter").text
    http.post(f"/a-traiter/{reply}/remettre", data={"csrftoken": token, "back": f"/propositions/{reference}"})
    assert "Adresse du contact RH" in http.get("/a-traiter").text
    with app.sessions() as session:
        actions = set(session.scalars(select(AuditEntry.action)))
    assert {"attach", "correction", "handled", "put-back"} <= actions


def test_accept_a_value_flagged_for_checking(app) -> None:  # noqa: ANN001
    """A value read without confidence is accepted: the flag goes, the proposal becomes complete, the audit says who."""
    pk = ingest(app, proposal_mail(collectivity()), "to-check")
    with app.sessions.begin() as session:
        proposal = session.scalars(select(Proposal).where(Proposal.message_pk == pk)).one()
        proposal.flags = [{"to_check": "collectivity.siret", "reason": "lu sans certitude"}]
        proposal.status = "to_check"
        reference = proposal.reference
    http = client(app)
    login(http)
    page = http.get(f"/propositions/{reference}").text
    assert "Valeurs à vérifier" in page and re.search(r'id="statut">à vérifier<', page)
    text = "collectivity.siret\u00a0: lu sans certitude"
    stale = http.post(f"/propositions/{reference}/signalement", data={"csrftoken": csrf(page), "index": "0",
                                                                      "flag": "autre chose"})
    assert stale.status_code == 303 and "a déjà été traitée" in http.get(f"/propositions/{reference}").text
    http.post(f"/propositions/{reference}/signalement", data={"csrftoken": csrf(page), "index": "0", "flag": text})
    page = http.get(f"/propositions/{reference}").text
    assert "Valeurs à vérifier" not in page and re.search(r'id="statut">complète<', page)
    with app.sessions() as session:
        assert session.scalars(select(Proposal.flags).where(Proposal.reference == reference)).one() == []
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "flag-accepted")).one()
        assert (entry.actor, entry.before, entry.after) == (EMAIL, text, "complete")


def test_move_a_proposal_to_another_free_teams_slot(app) -> None:  # noqa: ANN001
    """Staff give a proposal another free slot time; a time already taken is refused."""
    ingest(app, proposal_mail(collectivity()), "first")
    ingest(app, proposal_mail(collectivity()), "second")
    app.clock.set(datetime(2025, 8, 4, 7, 5, tzinfo=UTC))
    run_due(app)
    with app.sessions() as session:
        first, second = session.scalars(select(Slot).where(Slot.kind == "teams").order_by(Slot.starts_at)).all()
        reference = session.get_one(Proposal, first.proposal_pk).reference
    http = client(app)
    login(http)
    page = http.get(f"/propositions/{reference}").text
    assert "Changer de créneau" in page
    token = csrf(page)
    taken = http.post(f"/creneaux/{first.id}/deplacer", data={"csrftoken": token,
                                                             "starts_at": second.starts_at.isoformat()})
    assert taken.status_code == 303
    assert "pas libre" in http.get(f"/propositions/{reference}").text
    later = first.starts_at + timedelta(days=1)
    http.post(f"/creneaux/{first.id}/deplacer", data={"csrftoken": token, "starts_at": later.isoformat()})
    with app.sessions() as session:
        assert session.get_one(Slot, first.id).starts_at == later
        assert session.scalars(select(AuditEntry.action).where(AuditEntry.action == "slot")).one()


def test_reprocess_a_question_but_never_a_mail_that_filed_a_proposal(app) -> None:  # noqa: ANN001
    """Reprocessing runs a question through the pipeline again; a mail that filed a proposal is refused."""
    question_pk = question(app)
    reference = incomplete_proposal(app)
    http = client(app)
    login(http)
    token = csrf(http.get("/a-traiter").text)
    http.post(f"/a-traiter/{question_pk}/retraiter", data={"csrftoken": token})
    assert "Courriel retraité" in http.get("/a-traiter").text
    with app.sessions() as session:
        proposal_mail_pk = session.scalars(select(Proposal.message_pk)).one()
    http.post(f"/a-traiter/{proposal_mail_pk}/retraiter", data={"csrftoken": token})
    assert f"déjà donné lieu à la proposition {reference}" in http.get("/a-traiter").text
    with app.sessions() as session:
        assert len(session.scalars(select(Proposal)).all()) == 1
        assert session.get_one(Message, question_pk).verdict == "question"
