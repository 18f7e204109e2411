"""Who holds the mailbox and the scheduler when several mailflow daemons share one database.

PostgreSQL (the high-availability set-up): a session-level advisory lock taken on a connection of
its own, outside the pool and in autocommit, so it is never "idle in transaction". The lock lives as
long as that session: when its holder dies (crash, SIGKILL, lost host) PostgreSQL ends the session,
the lock is free, and another daemon takes it at its next try. TCP keepalives make a silent network
loss end the session within about a minute. The holder re-checks its connection at every loop; if
it is gone, leadership is lost and the daemon stops using the mailbox and the scheduler until it
holds the lock again.

SQLite: the database is a file on one machine, so a single daemon is assumed and it always leads.
Two daemons on one SQLite file are not supported (the outbox would still send each mail once, but
both would read the mailbox).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, NullPool, create_engine, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

log = logging.getLogger("mailflow.service.leader")

# One lock per database: every mailflow daemon on it competes for the same 64-bit key.
LOCK_KEY = int.from_bytes(hashlib.sha256(b"mailflow:leader").digest()[:8], "big", signed=True)
KEEPALIVE = {"keepalives": 1, "keepalives_idle": 20, "keepalives_interval": 5, "keepalives_count": 4,
             "connect_timeout": 10}


class Leadership(Protocol):
    """The right to read the mailbox and run the scheduler; at most one daemon holds it at a time."""

    def acquire(self) -> bool:
        """Try to take it without waiting; True when this daemon holds it (now or already)."""
        ...

    def held(self) -> bool:
        """Re-check that it is still held (called at every loop); False once lost."""
        ...

    def release(self) -> None:
        """Give it up (on stop), so another daemon can take it at once."""
        ...


class SingleInstance:
    """SQLite: one daemon per database is assumed, and it always leads."""

    def acquire(self) -> bool:
        """Always True."""
        return True

    def held(self) -> bool:
        """Always True."""
        return True

    def release(self) -> None:
        """Nothing to give up."""


class AdvisoryLock:
    """PostgreSQL: `pg_try_advisory_lock` held on a dedicated connection for as long as it lives."""

    def __init__(self, engine: Engine, key: int = LOCK_KEY):
        self.key = key
        self._engine = create_engine(
            engine.url, poolclass=NullPool, isolation_level="AUTOCOMMIT", connect_args=KEEPALIVE
        )
        self._connection: Connection | None = None

    def acquire(self) -> bool:
        """Take the lock if it is free; keep the connection open while it is held."""
        if self._connection is not None:
            return self.held()
        try:
            connection = self._engine.connect()
        except SQLAlchemyError as exc:
            log.warning("leadership: database unreachable: %s", _first_line(exc))
            return False
        try:
            query = text("SELECT pg_try_advisory_lock(:key)")
            taken = bool(connection.execute(query, {"key": self.key}).scalar())
        except SQLAlchemyError as exc:
            log.warning("leadership: lock query failed: %s", _first_line(exc))
            _close(connection)
            return False
        if not taken:
            _close(connection)
            return False
        self._connection = connection
        return True

    def held(self) -> bool:
        """True while the lock's session answers; a failed check drops the connection (and the lock)."""
        if self._connection is None:
            return False
        try:
            self._connection.execute(text("SELECT 1"))
            return True
        except DBAPIError as exc:
            log.error("leadership: lost the connection holding the lock: %s", _first_line(exc))
        except SQLAlchemyError as exc:
            log.error("leadership: lock check failed: %s", _first_line(exc))
        connection, self._connection = self._connection, None
        _close(connection)
        return False

    def release(self) -> None:
        """Unlock and close the dedicated connection."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        with contextlib.suppress(SQLAlchemyError):  # closing the session releases it anyway
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
        _close(connection)
        self._engine.dispose()


def leadership_for(engine: Engine) -> Leadership:
    """The leadership that fits the database: an advisory lock on PostgreSQL, a single instance on SQLite."""
    if engine.dialect.name == "postgresql":
        return AdvisoryLock(engine)
    return SingleInstance()


def identity(now: datetime) -> dict[str, Any]:
    """What `mailflow status` shows about the daemon that leads: host, pid and since when."""
    return {"host": socket.gethostname(), "pid": os.getpid(), "since": now.isoformat()}


def _close(connection: Connection) -> None:
    with contextlib.suppress(Exception):  # a broken connection may refuse even to close
        connection.close()


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [exc.__class__.__name__])[0]
