"""Database connection and schema upgrades (Alembic), for SQLite and PostgreSQL alike."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from mailflow.apart import run_apart
from mailflow.errors import MailflowError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
# The newest migration's revision; tests check it against Alembic's own view of the scripts.
SCHEMA_HEAD = "0003"


class DatabaseError(MailflowError):
    """The database cannot be reached or upgraded."""


def make_engine(url: str, base_dir: Path | None = None) -> Engine:
    """An engine for `url`; a relative SQLite path is taken from `base_dir` and its folder created."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        path = Path(parsed.database)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        path.parent.mkdir(parents=True, exist_ok=True)
        parsed = parsed.set(database=str(path))
        engine = create_engine(parsed, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(parsed, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling would let a SAVEPOINT commit the caller's work;
    # we emit BEGIN IMMEDIATE ourselves instead (see _sqlite_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    # IMMEDIATE takes the write lock at the start: two writers queue (busy_timeout) instead of
    # failing with "database is locked" when a reader tries to become a writer.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def alembic_config(engine: Engine) -> Config:
    """An Alembic configuration bound to `engine`, with the migrations shipped in the package."""
    from alembic.config import Config  # noqa: PLC0415 - see `upgrade`

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine) -> None:
    """Bring the schema to the latest migration (run at every start, and by `mailflow db upgrade`).

    A schema already at the newest migration, the case at almost every start, is left without loading
    Alembic, which would otherwise stay in the daemon's memory (some 11 MB) for nothing."""
    try:
        if schema_revision(engine) == SCHEMA_HEAD:
            return
        from alembic import command  # noqa: PLC0415 - loaded only when the schema must change

        command.upgrade(alembic_config(engine), "head")
    except SQLAlchemyError as exc:
        raise DatabaseError(f"database {engine.url.render_as_string()}: upgrade failed: {exc}") from exc


def upgrade_apart(engine: Engine) -> None:
    """`upgrade`, with Alembic run in a short-lived process of its own when the schema must change: the
    daemon, which runs for months, never keeps Alembic and its template engine in memory (some 12 MB)."""
    try:
        if schema_revision(engine) == SCHEMA_HEAD:
            return
    except SQLAlchemyError as exc:
        raise DatabaseError(f"database {engine.url.render_as_string()}: upgrade failed: {exc}") from exc
    run_apart("mailflow.db.engine:upgrade_url", engine.url.render_as_string(hide_password=False))


def upgrade_url(url: str) -> None:
    """`upgrade` the database at `url` (run apart by `upgrade_apart`)."""
    engine = make_engine(url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()


def schema_revision(engine: Engine) -> str | None:
    """The migration the database is at (Alembic's `alembic_version` table), None for a new database."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return connection.scalar(text("SELECT version_num FROM alembic_version"))


def ping(engine: Engine) -> None:
    """Raise DatabaseError unless the database answers."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        raise DatabaseError(f"database {engine.url.render_as_string()}: {exc.__class__.__name__}: {exc}") from exc


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit."""
    return sessionmaker(engine, expire_on_commit=False)
