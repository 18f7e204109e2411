"""Database connection and schema upgrades (Alembic), for SQLite and PostgreSQL alike."""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
from collections import deque
from collections.abc import Callable, Iterator
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
BUSY_SECONDS = 30  # how long a writer waits for another's transaction before giving up
READ_ONLY = "mailflow_read_only"  # the execution option of the connections that only read (`Sessions`)

log = logging.getLogger(__name__)


class DatabaseError(MailflowError):
    """The database cannot be reached or upgraded."""


def sqlite_file(url: str, base_dir: Path | None = None) -> Path | None:
    """The file of the SQLite database at `url` (a relative path taken from `base_dir`); None for another
    database, or one in memory."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    path = Path(parsed.database)
    return base_dir / path if not path.is_absolute() and base_dir is not None else path


def known_revisions() -> set[str]:
    """The schema revisions this version of mailflow can upgrade from (its migrations' ids)."""
    return {script.name.split("_", 1)[0] for script in (MIGRATIONS / "versions").glob("[0-9]*.py")}


def make_engine(url: str, base_dir: Path | None = None) -> Engine:
    """An engine for `url`; a relative SQLite path is taken from `base_dir` and its folder created."""
    parsed = make_url(url)
    path = sqlite_file(url, base_dir)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        parsed = parsed.set(database=str(path))
        engine = create_engine(parsed, connect_args={"timeout": BUSY_SECONDS, "factory": TurnTakingConnection})
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
    if connection.get_execution_options().get(READ_ONLY):
        # WAL: a transaction that only reads sees a snapshot; it waits for no writer and holds none up.
        connection.exec_driver_sql("BEGIN")
        return
    # IMMEDIATE takes the write lock at the start: two writers queue (busy_timeout) instead of
    # failing with "database is locked" when a reader tries to become a writer.
    dbapi_connection = connection.connection.dbapi_connection
    if isinstance(dbapi_connection, TurnTakingConnection):
        dbapi_connection.take_turn()
    connection.exec_driver_sql("BEGIN IMMEDIATE")


class WriteTurn:
    """The turn to write to one SQLite database, among the threads of this process, first come first served.

    SQLite lets one transaction write at a time, and a writer that finds the database busy sleeps
    between retries (1, 2, 5… up to 100 ms), often past the end of the transaction it waited for:
    the mailbox pass, filing mail after mail, and the outbox's sender lost that time at each mail.
    Threads of one process queue for the turn instead, and the first in the queue is handed it as
    soon as the transaction before it has ended. Other processes still wait on SQLite.
    """

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._holder: int | None = None
        self._queue: deque[tuple[int, threading.Event]] = deque()

    def take(self, timeout: float = BUSY_SECONDS) -> bool:
        """Wait for the turn; False when it is not taken (this thread has it already, on another
        connection, or the wait outlasted `timeout`: SQLite then decides, as without turns)."""
        me = threading.get_ident()
        with self._mutex:
            if self._holder == me:
                return False
            if self._holder is None:
                self._holder = me
                return True
            handed = threading.Event()
            self._queue.append((me, handed))
        if handed.wait(timeout):
            return True
        with self._mutex:
            if handed.is_set():  # handed over as the wait ended
                return True
            self._queue.remove((me, handed))
        log.warning("database: waited %s s for another thread's transaction; going on without the turn", timeout)
        return False

    def give_back(self) -> None:
        """End this thread's turn: the first thread in the queue has it now."""
        with self._mutex:
            if self._queue:
                self._holder, handed = self._queue.popleft()
                handed.set()
            else:
                self._holder = None


_turns: dict[str, WriteTurn] = {}
_turns_lock = threading.Lock()


def write_turn(database: str) -> WriteTurn:
    """The one turn of this process for the SQLite file `database`."""
    with _turns_lock:
        return _turns.setdefault(os.path.realpath(database), WriteTurn())


class TurnTakingConnection(sqlite3.Connection):
    """A SQLite connection that takes its database's `WriteTurn` before a transaction begins and gives
    it back once the transaction has ended: committed, rolled back, or the connection closed."""

    def __init__(self, database: str, *args: Any, **kwargs: Any):
        super().__init__(database, *args, **kwargs)
        self._turn = write_turn(str(database))
        self._holding = False

    def take_turn(self) -> None:
        if not self._holding:
            self._holding = self._turn.take()

    def commit(self) -> None:
        self._ending(super().commit)

    def rollback(self) -> None:
        self._ending(super().rollback)

    def close(self) -> None:
        self._ending(super().close)

    def _ending(self, end: Callable[[], None]) -> None:
        """End the transaction with `end` (commit, rollback, close), then give the turn back, even if it failed."""
        try:
            end()
        finally:
            if self._holding:
                self._holding = False
                self._turn.give_back()


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


class Sessions(sessionmaker[Session]):
    """Sessions on one database, that keep loaded objects usable after commit: `sessions()` to read,
    `sessions.begin()` to write.

    Nothing done in `sessions()` is committed. On SQLite its transaction is deferred: it reads a
    snapshot, never waits for a writer and never holds one up, so that the console and the commands
    answer while the daemon files a backlog. `sessions.begin()` takes the write lock first (and the
    process's turn, `WriteTurn`) and commits at the end.
    """

    def __init__(self, engine: Engine):
        super().__init__(engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False)
        self.writer = engine

    @contextlib.contextmanager
    def begin(self) -> Iterator[Session]:
        with self(bind=self.writer) as session, session.begin():
            yield session


def session_factory(engine: Engine) -> Sessions:
    """The sessions of the database behind `engine` (see `Sessions`)."""
    return Sessions(engine)
