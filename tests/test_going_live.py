"""Going live on a mailbox with years of history (real Dovecot, real SMTP server, the `mailflow` command).

The first start leaves the history alone: nothing answered, nothing moved, nothing flagged; `check`
says what is there; `--dry-run` changes nothing anywhere; `import-history` files the old proposals
and sends nothing; a mail arriving afterwards is handled; a mail staff put back is left to them.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, inspect, select, text

from mailflow.db.models import Message, Proposal
from tests.factories import collectivity, mail, proposal_mail, question_mail, write_settings

PROCESSED, ATTENTION = "mailflow/Traités", "mailflow/À traiter"
OLD = datetime(2023, 1, 3, 9, 30, tzinfo=UTC)
LAST_YEAR = datetime(2024, 5, 14, 10, 0, tzinfo=UTC)


@pytest.fixture
def workdir(tmp_path: Path, imap_server, smtp, monkeypatch: pytest.MonkeyPatch) -> Path:  # noqa: ANN001
    """Settings for the test Dovecot and SMTP server, a fresh SQLite database, no handle_since."""
    write_settings(tmp_path, imap=imap_server, smtp=smtp)
    monkeypatch.setenv("MAILFLOW_TEST_IMAP_PASSWORD", imap_server.password)
    return tmp_path


def mailflow(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "MAILFLOW_CRASH_AT"}
    return subprocess.run(
        [sys.executable, "-m", "mailflow", "--config", str(workdir / "settings.toml"), *args],
        capture_output=True, text=True, timeout=180, env=env,
    )


def history(imap_server) -> None:  # noqa: ANN001
    """Eight mails from 2023-2024 as a shared mailbox holds them: read, answered, internal, forwarded."""
    def put(message, at: datetime, *flags: str) -> None:  # noqa: ANN001
        imap_server.append(message.as_bytes(), internaldate=at, flags=flags)

    put(proposal_mail(collectivity(70_001), date=OLD), OLD, "\\Seen")
    put(proposal_mail(collectivity(70_002), date=LAST_YEAR), LAST_YEAR, "\\Seen", "\\Answered")
    put(proposal_mail(collectivity(70_003), date=LAST_YEAR), LAST_YEAR)
    put(question_mail(date=OLD), OLD, "\\Seen")
    put(question_mail(sender="elu@ville-ancienne.example.fr", date=LAST_YEAR), LAST_YEAR, "\\Answered")
    put(mail(sender="Collègue <collegue@cnfpt.fr>", subject="Réunion de service", date=LAST_YEAR,
             body="Bonjour,\n\nLa réunion est déplacée à 14 h.\n"), LAST_YEAR, "\\Seen")
    put(mail(sender="Collègue <collegue@cnfpt.fr>", subject="TR: Proposition de la commune", date=LAST_YEAR,
             body="Pour information.\n\n-------- Message transféré --------\nDe : maire@commune.example.fr\n"
                  "Objet : Proposition\n\nBonjour, voici notre idée de mission.\n"), LAST_YEAR)
    put(question_mail(sender="dgs@ville-ancienne.example.fr", date=OLD), OLD)


def box(imap_server) -> dict[str, list[tuple[bytes, tuple]]]:  # noqa: ANN001
    """Every folder's mails (bytes and flags), read without changing anything."""
    found = {}
    with imap_server.connect() as client:
        for flags, _sep, name in client.list_folders():
            if b"\\Noselect" in flags or b"\\NonExistent" in flags:
                continue
            client.select_folder(name, readonly=True)
            uids = sorted(client.search("ALL"))
            data = client.fetch(uids, ["BODY.PEEK[]", "FLAGS"]) if uids else {}
            flags = {u: tuple(sorted(f for f in data[u][b"FLAGS"] if f != b"\\Recent")) for u in uids}
            found[name] = [(data[u][b"BODY[]"], flags[u]) for u in uids]
    return found


def rows(workdir: Path) -> dict[str, list[tuple]]:
    """Every row of every table of the database."""
    engine = create_engine(f"sqlite:///{workdir / 'mailflow.sqlite3'}")
    with engine.connect() as connection:
        return {table: [tuple(r) for r in connection.execute(text(f'SELECT * FROM "{table}"'))]  # noqa: S608
                for table in inspect(connection).get_table_names()}


def files(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*") if path.is_file())


def answered(smtp) -> list[str]:  # noqa: ANN001
    """The addresses that received an automatic answer (not the staff digest)."""
    return sorted(r for m in smtp.messages if m.message["Auto-Submitted"] == "auto-replied" for r in m.rcpt_tos)


def count(workdir: Path, model, *where) -> int:  # noqa: ANN001
    engine = create_engine(f"sqlite:///{workdir / 'mailflow.sqlite3'}")
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


@pytest.mark.timeout(600)
def test_first_start_on_a_mailbox_with_history(workdir: Path, imap_server, smtp) -> None:  # noqa: ANN001
    """History stays untouched and unanswered; check, dry run, import-history, then new mail handled."""
    history(imap_server)
    before = box(imap_server)

    checked = mailflow(workdir, "check")
    assert "history" in checked.stdout and "8 mail(s)" in checked.stdout, checked.stdout
    assert "import-history" in checked.stdout
    assert box(imap_server) == before, "check created or changed something"

    rehearsed = mailflow(workdir, "run", "--once", "--dry-run")
    assert rehearsed.returncode == 0, rehearsed.stderr
    assert "left untouched: 8 older mail(s)" in rehearsed.stdout, rehearsed.stdout
    assert box(imap_server) == before and smtp.messages == []
    assert all(table == [] for name, table in rows(workdir).items() if name != "alembic_version")

    first = mailflow(workdir, "run", "--once")
    assert first.returncode == 0, first.stderr
    assert smtp.messages == [], "an old mail was answered"
    assert box(imap_server)["INBOX"] == before["INBOX"], "an old mail was moved or flagged"
    assert count(workdir, Message) == 0
    checked = mailflow(workdir, "check")
    assert "8 mail(s) received before" in checked.stdout, checked.stdout

    # A rehearsal with new mail waiting (one with a 5 MB scan): decided in full, nothing changed anywhere,
    # nothing written to the archive.
    imap_server.append(question_mail(sender="nouvelle@commune-test.example.fr", date=None).as_bytes())
    with_scan = proposal_mail(collectivity(70_010))
    with_scan.add_attachment(random.Random(2).randbytes(5_000_000), maintype="image", subtype="jpeg",
                             filename="plans.jpg")
    imap_server.append(with_scan.as_bytes())
    waiting, database, archived = box(imap_server), rows(workdir), files(workdir / "archive")
    rehearsed = mailflow(workdir, "run", "--once", "--dry-run")
    assert rehearsed.returncode == 0, rehearsed.stderr
    assert "would file: 1" in rehearsed.stdout and "would move: 2" in rehearsed.stdout, rehearsed.stdout
    assert "nouvelle@commune-test.example.fr" in rehearsed.stdout
    assert box(imap_server) == waiting and rows(workdir) == database and smtp.messages == []
    assert files(workdir / "archive") == archived

    # Mail arriving after the first start is handled as usual.
    second = mailflow(workdir, "run", "--once")
    assert second.returncode == 0, second.stderr
    assert answered(smtp) == sorted(["nouvelle@commune-test.example.fr", collectivity(70_010)["sender"]])
    assert len(imap_server.messages(ATTENTION)) == 1 and len(imap_server.messages(PROCESSED)) == 1
    assert box(imap_server)["INBOX"] == before["INBOX"]

    # import-history files the old proposals for the record, sends nothing, moves nothing.
    sent = len(answered(smtp))
    dry = mailflow(workdir, "import-history", "--since", "2023-01-01", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would file: 3" in dry.stdout and "would send (answers, reminders, digest): 0" in dry.stdout, dry.stdout
    assert count(workdir, Proposal) == 1
    imported = mailflow(workdir, "import-history", "--since", "2023-01-01")
    assert imported.returncode == 0, imported.stderr
    assert count(workdir, Proposal) == 4
    assert len(answered(smtp)) == sent
    assert box(imap_server)["INBOX"] == before["INBOX"]
    again = mailflow(workdir, "run", "--once")
    assert again.returncode == 0 and len(answered(smtp)) == sent
    assert box(imap_server)["INBOX"] == before["INBOX"]


def test_answered_own_and_put_back_mails_are_left_to_staff(workdir: Path, imap_server, smtp) -> None:  # noqa: ANN001
    """\\Answered: filed, not answered; our own digest stays unread; a mail dragged back is not handled again."""
    assert mailflow(workdir, "run", "--once").returncode == 0  # first start: an empty mailbox
    imap_server.append(question_mail(sender="deja@commune-test.example.fr").as_bytes(), flags=("\\Answered",))
    own = mail(sender="INET - Stages <stages.inet@cnfpt.fr>", subject="Synthèse du jour",
               body="Synthèse quotidienne.\n", message_id="<digest-1@stages.inet.cnfpt.fr>",
               headers={"Auto-Submitted": "auto-generated"})
    imap_server.append(own.as_bytes())
    question = question_mail(sender="question@commune-test.example.fr", message_id="<q-1@commune-test.example.fr>")
    imap_server.append(question.as_bytes())
    assert mailflow(workdir, "run", "--once").returncode == 0
    assert answered(smtp) == ["question@commune-test.example.fr"]
    inbox = box(imap_server)["INBOX"]
    assert len(inbox) == 1 and b"digest-1@stages.inet.cnfpt.fr" in inbox[0][0]
    assert b"\\Seen" not in inbox[0][1], "mailflow's own mail was marked read"
    assert len(imap_server.messages(ATTENTION)) == 2

    # Staff drag the question back into INBOX: neither answered nor moved again, shown to staff.
    with imap_server.connect() as client:
        client.select_folder(ATTENTION)
        uids = client.search(["HEADER", "Message-ID", "q-1@commune-test.example.fr"])
        client.move(uids, "INBOX")
    assert mailflow(workdir, "run", "--once").returncode == 0
    assert answered(smtp) == ["question@commune-test.example.fr"]
    assert len(imap_server.messages("INBOX")) == 2
    status = mailflow(workdir, "status")
    assert "remis dans la boîte par l'équipe" in status.stdout and "<q-1@commune-test.example.fr>" in status.stdout
    assert mailflow(workdir, "run", "--once").returncode == 0
    assert len(imap_server.messages("INBOX")) == 2, "a put-back mail was moved again"

    reprocessed = mailflow(workdir, "mail", "reprocess", "q-1@commune-test.example.fr")
    assert reprocessed.returncode == 0, reprocessed.stderr
    assert "now moved" in reprocessed.stdout
    assert len(imap_server.messages("INBOX")) == 1
    assert count(workdir, Message, Message.state == "left") == 1
