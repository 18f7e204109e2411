"""The proposals spreadsheet, read back with openpyxl as staff open it in Excel."""

from __future__ import annotations

import email
import email.policy
import io
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner
from openpyxl import load_workbook
from openpyxl.workbook import Workbook
from sqlalchemy import select

from mailflow.campaign.digest import build_digest
from mailflow.cli import cli
from mailflow.clock import ManualClock
from mailflow.context import App
from mailflow.db.models import OutboxMail, Proposal, Slot
from mailflow.service.app import build_app
from mailflow.settings import load_settings
from tests.campaign_factories import add_proposal, set_status
from tests.factories import REPO, collectivity, write_settings

NOW = datetime(2025, 8, 28, 5, 30, tzinfo=UTC)  # Thursday 07:30 in Paris


def filed(tmp_path: Path) -> tuple[App, Path, dict[str, str]]:
    """Five proposals: accepted with a slot and a mail sent, a corrected resubmission, an incomplete one with
    a bad SIRET and a formula-like title, one received when no campaign was open."""
    config = write_settings(tmp_path)
    app = build_app(load_settings(config), clock=ManualClock(datetime(2025, 6, 14, 9, tzinfo=UTC)))
    refs: dict[str, str] = {}
    refs["accepted"] = add_proposal(app, datetime(2025, 6, 14, 9, tzinfo=UTC), values=collectivity(801))
    first = add_proposal(app, datetime(2025, 6, 15, 9, tzinfo=UTC), status="incomplete", missing=("tutor.email",))
    refs["resubmitted"] = add_proposal(app, datetime(2025, 6, 16, 9, tzinfo=UTC), reference=first)
    messy = collectivity(803)
    messy["title"] = '=HYPERLINK("x")\x01\x02 titre'
    refs["incomplete"] = add_proposal(
        app, datetime(2025, 6, 17, 9, tzinfo=UTC), status="incomplete", values=messy,
        missing=("collectivity.hr_email",),
    )
    refs["outside"] = add_proposal(app, datetime(2024, 12, 2, 9, tzinfo=UTC), campaign=None)
    with app.sessions.begin() as session:
        bad = session.scalars(select(Proposal).where(Proposal.reference == refs["incomplete"])).one()
        bad.problems = ["collectivity.siret: numéro SIRET invalide (clé de contrôle)"]
        accepted = session.scalars(select(Proposal).where(Proposal.reference == refs["accepted"])).one()
        session.add(Slot(campaign="projet-collectif-2025-2026", kind="teams", proposal_pk=accepted.id,
                         starts_at=datetime(2025, 8, 27, 7, 30, tzinfo=UTC),
                         ends_at=datetime(2025, 8, 27, 8, 0, tzinfo=UTC)))
        session.add(OutboxMail(cause="reminder:x", kind="collectivite/rappel-reunion-teams",
                               recipient="dgs@ville-test-801.example.fr",
                               subject="Réunion Teams du mercredi 27 août", message_id="<r@x>", raw=b"x",
                               status="sent", attempts=1, next_attempt_at=NOW, proposal_pk=accepted.id,
                               created_at=datetime(2025, 8, 4, 7, tzinfo=UTC),
                               sent_at=datetime(2025, 8, 4, 7, 0, 5, tzinfo=UTC)))
    app.clock.set(datetime(2025, 8, 27, 12, tzinfo=UTC))
    set_status(app, refs["accepted"], "accepted")
    app.clock.set(NOW)
    return app, config, refs


def rows(book: Workbook, sheet: str) -> dict[str, dict[str, object]]:
    """Each row of a sheet by reference, as {header: value}."""
    table = list(book[sheet].iter_rows(values_only=True))
    return {row[0]: dict(zip(table[0], row, strict=True)) for row in table[1:]}


def test_spreadsheet_reads_in_french_with_real_dates(tmp_path: Path) -> None:
    """French headers from the form, one sheet per campaign, one row per current proposal, dates in Paris time,
    Oui / Non, statuses, decision, slot and last mail in words; header frozen and filtered, columns sized."""
    app, _, refs = filed(tmp_path)
    mail = build_digest(app, NOW, force=True)
    [attachment] = [p for p in mail.iter_attachments() if p.get_filename().endswith(".xlsx")]
    assert attachment.get_filename() == "propositions-2025-08-28.xlsx"
    book = load_workbook(io.BytesIO(attachment.get_content()))
    assert book.sheetnames == ["Projets collectifs 2025-2026", "Sans campagne"]
    sheet = book["Projets collectifs 2025-2026"]
    headers = [c.value for c in sheet[1]]
    assert headers[:6] == ["Référence", "Version", "Statut", "Décision", "Reçue le", "Expéditeur"]
    assert "Nom de la collectivité" in headers and "Courriel du contact RH (impératif)" in headers
    assert "Permis B nécessaire" in headers and "Éléments manquants" in headers
    assert not [h for h in headers if "." in h or "_" in h]  # no collectivity.hr_email
    current = rows(book, "Projets collectifs 2025-2026")
    assert list(current) == [refs["accepted"], refs["resubmitted"], refs["incomplete"]]
    accepted = current[refs["accepted"]]
    assert accepted["Reçue le"] == datetime(2025, 6, 14, 11, 0)  # 09:00 UTC is 11:00 in Paris
    assert accepted["Statut"] == "retenue" and accepted["Décision"] == "retenue"
    assert accepted["Accès en transports en commun"] == "Oui"
    assert accepted["Créneau : Réunion Teams avec les élèves de l'INET (projet collectif)"] == datetime(
        2025, 8, 27, 9, 30
    )
    assert accepted["Dernier courriel envoyé"] == "Réunion Teams du mercredi 27 août"
    assert accepted["Envoyé le"] == datetime(2025, 8, 4, 9, 0, 5)
    assert current[refs["resubmitted"]]["Version"] == 2
    assert current[refs["resubmitted"]]["Décision"] == "à prendre"
    incomplete = current[refs["incomplete"]]
    assert incomplete["Statut"] == "incomplète" and incomplete["Décision"] is None
    assert incomplete["Éléments manquants"] == "Courriel du contact RH (impératif)"
    assert incomplete["Éléments non valides"] == (
        "N° de SIRET de la collectivité\u00a0: numéro SIRET invalide (clé de contrôle)"
    )
    assert incomplete["Intitulé du projet collectif"] == '=HYPERLINK("x") titre'  # text, never a formula
    title_cell = sheet.cell(row=4, column=headers.index("Intitulé du projet collectif") + 1)
    assert title_cell.data_type == "s"
    assert sheet.cell(row=2, column=5).number_format == "dd/mm/yyyy hh:mm"
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == f"A1:{sheet.cell(row=1, column=len(headers)).column_letter}4"
    assert sheet.column_dimensions["F"].width >= len("dgs@ville-test-801.example.fr")
    assert all(10 <= dimension.width <= 62 for dimension in sheet.column_dimensions.values())
    assert list(rows(book, "Sans campagne")) == [refs["outside"]]


def test_proposals_export_xlsx_is_the_same_spreadsheet(tmp_path: Path) -> None:
    """`mailflow proposals export --format xlsx` writes the sheets and rows the digest attaches."""
    app, config, _ = filed(tmp_path)
    output = tmp_path / "export.xlsx"
    result = CliRunner().invoke(cli, ["--config", str(config), "proposals", "export", "--format", "xlsx",
                                      "--output", str(output)])
    assert result.exit_code == 0, result.output
    exported = load_workbook(output)
    mail = build_digest(app, datetime.now(UTC), force=True)
    [attachment] = [p for p in mail.iter_attachments() if p.get_filename().endswith(".xlsx")]
    attached = load_workbook(io.BytesIO(attachment.get_content()))
    assert exported.sheetnames == attached.sheetnames
    for name in exported.sheetnames:
        assert rows(exported, name) == rows(attached, name)


def test_the_daemon_queues_the_digest_without_loading_openpyxl(tmp_path: Path) -> None:
    """The spreadsheet is written in a short-lived process: the daemon, which runs for months, attaches it to
    the digest but never keeps openpyxl (nor OAuth2's libraries, without OAuth2) in its memory."""
    filed(tmp_path)
    script = (
        "import sys; from pathlib import Path; from datetime import datetime; from mailflow.clock import ManualClock; "
        "import mailflow.cli, mailflow.service.daemon, mailflow.pipeline.run; "
        "from mailflow.settings import load_settings; from mailflow.service.app import build_app; "
        "from mailflow.campaign.digest import queue_digest; "
        "app = build_app(load_settings(Path(sys.argv[1])), clock=ManualClock(datetime.fromisoformat(sys.argv[2]))); "
        "print(queue_digest(app, app.clock.now(), 'test', force=True), "
        "sorted({m.split('.')[0] for m in sys.modules} & {'openpyxl', 'cryptography', 'msal'}))"
    )
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path / "settings.toml"), NOW.isoformat()],
                            capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1", "[]"]
    app = build_app(load_settings(tmp_path / "settings.toml"), clock=ManualClock(NOW))
    with app.sessions() as session:
        [digest] = session.scalars(select(OutboxMail).where(OutboxMail.cause == "test")).all()
    mail = email.message_from_bytes(digest.raw, policy=email.policy.default)
    [attachment] = [p for p in mail.iter_attachments() if p.get_filename().endswith(".xlsx")]
    assert load_workbook(io.BytesIO(attachment.get_content())).sheetnames == ["Projets collectifs 2025-2026",
                                                                               "Sans campagne"]
