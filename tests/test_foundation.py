"""The foundation: schema migrations, `mailflow check`, and an installed package that finds its data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from mailflow.db import engine as db
from mailflow.db.models import Base
from tests.factories import REPO, run_mailflow, write_settings


def mailflow(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return run_mailflow(*args, cwd=cwd, env=env)


def test_migrations_create_exactly_the_models_schema(db_url: str) -> None:
    """Alembic's migrations build the schema the models describe, on SQLite and PostgreSQL."""
    engine = db.make_engine(db_url)
    db.upgrade(engine)
    db.upgrade(engine)  # a second upgrade at the next start changes nothing
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        tables = set(inspect(connection).get_table_names())
    assert differences == []
    assert {"messages", "proposals", "outbox", "quarantine", "reminders", "slots"} <= tables


def test_schema_head_is_the_newest_migration(tmp_path: Path) -> None:
    """The revision a start compares with, to leave Alembic unloaded, is the newest migration's."""
    engine = db.make_engine(f"sqlite:///{tmp_path / 'm.sqlite3'}")
    assert ScriptDirectory.from_config(db.alembic_config(engine)).get_current_head() == db.SCHEMA_HEAD
    assert db.schema_revision(engine) is None
    db.upgrade(engine)
    assert db.schema_revision(engine) == db.SCHEMA_HEAD


def test_a_start_on_an_upgraded_database_does_not_load_alembic(tmp_path: Path) -> None:
    """Alembic stays out of the daemon's memory once the schema is at the newest migration."""
    url = f"sqlite:///{tmp_path / 'm.sqlite3'}"
    db.upgrade(db.make_engine(url))
    script = ("import sys; from mailflow.db import engine as db; db.upgrade(db.make_engine(sys.argv[1])); "
              "print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))")
    result = subprocess.run([sys.executable, "-c", script, url], capture_output=True, text=True, check=True, cwd=REPO)
    assert result.stdout.strip() == "[]"


def test_the_daemon_migrates_a_new_database_without_loading_alembic(db_url: str) -> None:
    """The daemon's first start on a new schema migrates it in a process of its own: Alembic and its
    templates never stay in the memory of the process that runs for months (SQLite and PostgreSQL)."""
    script = ("import sys; from mailflow.db import engine as db; engine = db.make_engine(sys.argv[1]); "
              "db.upgrade_apart(engine); print(db.schema_revision(engine), "
              "sorted({m.split('.')[0] for m in sys.modules} & {'alembic', 'mako'}))")
    result = subprocess.run([sys.executable, "-c", script, db_url], capture_output=True, text=True, check=True,
                            cwd=REPO)
    assert result.stdout.split() == [db.SCHEMA_HEAD, "[]"]


def test_db_upgrade_command(tmp_path: Path) -> None:
    """`mailflow db upgrade` creates the schema and says so."""
    settings = write_settings(tmp_path)
    result = mailflow("--config", str(settings), "db", "upgrade")
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout
    assert (tmp_path / "mailflow.sqlite3").exists()


def test_check_creates_nothing_and_upgrades_nothing(tmp_path: Path) -> None:
    """`mailflow check` on a fresh install creates no database, Maildir or outbox folder, and says what
    `mailflow run` will create; on a database at an older schema it says so and leaves it there; an
    unknown schema (a newer mailflow's) fails."""
    settings = write_settings(tmp_path)
    before = sorted(path.name for path in tmp_path.iterdir())

    fresh = mailflow("--config", str(settings), "check")

    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == before
    lines = fresh.stdout.splitlines()
    assert any(line.startswith("OK   database") and "does not exist yet" in line for line in lines), lines
    assert any(line.startswith("OK   mailbox: maildir") and "does not exist yet" in line for line in lines), lines
    assert any(line.startswith("OK   smtp: directory") and "does not exist yet" in line for line in lines), lines

    engine = db.make_engine(f"sqlite:///{tmp_path / 'mailflow.sqlite3'}")
    command.upgrade(db.alembic_config(engine), "0002")
    older = mailflow("--config", str(settings), "check")
    assert older.returncode == 0, older.stdout + older.stderr
    assert "schema 0002, brought to " + db.SCHEMA_HEAD in older.stdout
    assert db.schema_revision(engine) == "0002"

    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    newer = mailflow("--config", str(settings), "check")
    assert newer.returncode == 1
    assert any(line.startswith("FAIL database") and "schema 9999 is unknown" in line
               for line in newer.stdout.splitlines()), newer.stdout
    assert db.schema_revision(engine) == "9999"


def test_check_fails_where_run_could_not_create_its_folders(tmp_path: Path) -> None:
    """A database, Maildir or outbox folder to be created under a file (a typo in a path): `mailflow check`
    says FAIL for each, naming the path, rather than « does not exist yet »; it still creates nothing."""
    settings = write_settings(tmp_path, database_url=f"sqlite:///{tmp_path / 'blocker' / 'mailflow.sqlite3'}")
    text = settings.read_text(encoding="utf-8")
    settings.write_text(text.replace('path = "inbox"', 'path = "blocker/inbox"')
                        .replace('path = "outbox"', 'path = "blocker/outbox"'), encoding="utf-8")
    (tmp_path / "blocker").write_text("a file where a folder was meant\n", encoding="utf-8")

    result = mailflow("--config", str(settings), "check")

    assert result.returncode == 1, result.stdout
    lines = result.stdout.splitlines()
    for name, path in (("database", "mailflow.sqlite3"), ("mailbox", "inbox"), ("smtp", "outbox")):
        assert any(line.startswith(f"FAIL {name}") and f"blocker/{path}: absent, and cannot be created" in line
                   for line in lines), (name, lines)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker", "settings.toml"]


def test_check_reports_a_wrong_smtp_port_and_exits_1(tmp_path: Path, smtp) -> None:  # noqa: ANN001
    """`mailflow check` with the SMTP server on a wrong port: FAIL with the reason, exit 1."""
    class Closed:
        host, port = smtp.host, 1

    settings = write_settings(tmp_path, smtp=Closed)
    result = mailflow("--config", str(settings), "check")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert any(line.startswith("OK   settings") for line in lines)
    assert any(line.startswith("OK   database") for line in lines)
    smtp_line = next(line for line in lines if line.startswith("FAIL smtp"))
    assert "127.0.0.1:1" in smtp_line or "refused" in smtp_line.lower()


def test_check_passes_against_real_servers(tmp_path: Path, imap_server, smtp) -> None:  # noqa: ANN001
    """`mailflow check` against the test Dovecot and aiosmtpd: every line OK, exit 0."""
    settings = write_settings(tmp_path, imap=imap_server, smtp=smtp)
    env = {**os.environ, "MAILFLOW_TEST_IMAP_PASSWORD": imap_server.password}
    result = mailflow("--config", str(settings), "check", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("settings", "database", "calendars", "mailbox", "smtp"):
        assert any(line.startswith(f"OK   {name}") for line in result.stdout.splitlines()), name


def test_check_reports_a_wrong_imap_port(tmp_path: Path, imap_server) -> None:  # noqa: ANN001
    """A mailbox on a port where nothing listens: `FAIL mailbox` naming host and port, exit 1."""
    class Wrong:
        host, port, username, password = imap_server.host, 1, imap_server.username, imap_server.password

    settings = write_settings(tmp_path, imap=Wrong)
    env = {**os.environ, "MAILFLOW_TEST_IMAP_PASSWORD": imap_server.password}
    result = mailflow("--config", str(settings), "check", env=env)
    assert result.returncode == 1
    assert any(line.startswith("FAIL mailbox") and ":1" in line for line in result.stdout.splitlines())


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_installed_package_finds_its_templates_and_calendars(tmp_path: Path) -> None:
    """A wheel installed elsewhere runs from another folder with the shipped templates and calendars."""
    wheels = tmp_path / "wheels"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(REPO)],
        capture_output=True, text=True, timeout=240,
    )
    if built.returncode != 0 and "hatchling" in built.stderr:
        built = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(wheels), str(REPO)],
            capture_output=True, text=True, timeout=240,
        )
    assert built.returncode == 0, built.stderr
    (wheel,) = wheels.glob("mailflow-*.whl")
    site = tmp_path / "site"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(site), str(wheel)],
        capture_output=True, text=True, timeout=240,
    )
    assert installed.returncode == 0, installed.stderr
    assert (site / "mailflow" / "_shipped" / "templates" / "collectivite" / "accuse-reception.txt.j2").is_file()
    assert (site / "mailflow" / "_shipped" / "schedules" / "projet-collectif-2025-2026.toml").is_file()

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "settings.toml").write_text('[database]\nurl = "sqlite:///var/m.sqlite3"\n', encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(site)}
    where = subprocess.run([sys.executable, "-c", "import mailflow; print(mailflow.__file__)"],
                           capture_output=True, text=True, env=env, cwd=elsewhere, timeout=60)
    assert where.stdout.startswith(str(site))
    result = mailflow("templates", "list", cwd=elsewhere, env=env)
    assert result.returncode == 0, result.stderr
    assert "collectivite/accuse-reception" in result.stdout.split()
    listing = mailflow("schedule", "list", "--now", "2025-06-01T09:00+02:00", cwd=elsewhere, env=env)
    assert listing.returncode == 0, listing.stderr
    assert "2025" in listing.stdout
